//! The ssh transport against a throwaway sshd on loopback.

use std::fs;

use vsm_core::UpdateScope;
use vsm_deploy::{
    GroupPlan, LocalTransport, ScanLimits, SnapshotStore, SshTransport, Transport, apply_to_server,
};
use vsm_hypervisor::testing::sshd::TestSshd;

use crate::fixtures::{ctx, read_tree, shop, tmp, write_tree};

#[tokio::test]
async fn ssh_apply_matches_local_apply() {
    let sshd =
        TestSshd::start().expect("test sshd starts (run `cargo xtask deps` if it is missing)");
    let (src, st, remote, local) = (tmp(), tmp(), tmp(), tmp());
    shop(&src.path);
    let manifest = crate::fixtures::MANIFEST.replace(
        "  - name: app\n",
        "    activate: { command: \"echo activated > activated.txt\" }\n  - name: app\n",
    );
    // A long target path exercises the tar long-name entries.
    let long = format!("{}/deep.txt", "x".repeat(120));
    write_tree(
        &src.path,
        &[
            ("vsm-definition.yaml", &manifest),
            (&format!("web/static/{long}"), "deep"),
        ],
    );
    let store = SnapshotStore::open(&st.path).expect("open");
    let v1 = store
        .import(&src.path, &ScanLimits::default())
        .expect("import")
        .definition;
    let web = vsm_core::GroupName::new("web").unwrap();
    let d1 = GroupPlan::new(&store, &v1, &web)
        .unwrap()
        .for_server(&ctx("web", "web-1", "127.0.0.1"))
        .unwrap();

    let t = SshTransport::new(sshd.target(), remote.path.clone());
    let r = apply_to_server(&t, &d1)
        .await
        .unwrap_or_else(|e| panic!("ssh apply: {e:?}\n{}", sshd.log()));
    assert_eq!(
        (r.scope, r.written, r.activated),
        (UpdateScope::All, 5, true)
    );
    let lt = LocalTransport::new(local.path.clone());
    apply_to_server(&lt, &d1).await.expect("local apply");
    assert_eq!(read_tree(&remote.path), read_tree(&local.path));
    assert_eq!(read_tree(&remote.path)[&format!("www/{long}")].0, "deep");

    // Re-apply: nothing travels.
    let again = apply_to_server(&t, &d1).await.expect("re-apply");
    assert_eq!((again.scope, again.written), (UpdateScope::None, 0));

    // A failing switch over ssh leaves v1 in place.
    let before = read_tree(&remote.path);
    write_tree(
        &src.path,
        &[
            ("packages/shop.txt", "v2"),
            ("web/static/zz/new.txt", "new"),
        ],
    );
    let v2 = store
        .import(&src.path, &ScanLimits::default())
        .expect("import v2")
        .definition;
    let d2 = GroupPlan::new(&store, &v2, &web)
        .unwrap()
        .for_server(&ctx("web", "web-1", "127.0.0.1"))
        .unwrap();
    fs::write(remote.path.join("www/zz"), "blocker").expect("blocker");
    let err = apply_to_server(&t, &d2).await.expect_err("blocked");
    assert!(
        vsm_deploy::batch::error_chain(&err).contains("put back"),
        "{err:?}"
    );
    let mut expected = before.clone();
    expected.insert("www/zz".into(), ("blocker".into(), 0o644));
    assert_eq!(read_tree(&remote.path), expected);
    fs::remove_file(remote.path.join("www/zz")).expect("rm");
    let r = apply_to_server(&t, &d2).await.expect("v2");
    assert_eq!((r.scope, r.written), (UpdateScope::All, 2));
    assert_eq!(
        t.read_applied()
            .await
            .expect("read")
            .expect("record")
            .version,
        v2.id
    );
}
