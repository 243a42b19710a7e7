//! Sessions and accounts, both roles, including refusals: wrong password, a builder doing an
//! administrator's work, deleting an account that owns units.

use vsm_tests::{Manager, PASSWORD};

#[test]
fn login_whoami_logout() {
    let m = Manager::start();
    let who = m.vsm(&m.admin, &["whoami"]).ok().json();
    assert_eq!(who["account"], "root");

    // wrong password: 77, and nothing saved
    let eve = m.user("eve");
    std::fs::write(&eve.password_file, "wrong\n").unwrap();
    let pw = eve.password_file.to_string_lossy().into_owned();
    let out = m.vsm(&eve, &["login", "--user", "root", "--password-file", &pw]);
    out.code(77);
    assert_eq!(out.error()["exit_code"], 77);
    m.vsm(&eve, &["whoami"]).code(77);

    // password from standard input
    let out = m.vsm_with(
        &eve,
        &["login", "--user", "root", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    out.ok();
    m.vsm(&eve, &["whoami"]).ok();

    // logout forgets the session
    m.vsm(&eve, &["logout"]).ok();
    m.vsm(&eve, &["whoami"]).code(77);
}

#[test]
fn accounts_add_list_passwd_delete_and_refusals() {
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    let list = m.vsm(&m.admin, &["account", "list"]).ok().json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"alice") && names.contains(&"root"),
        "{list}"
    );

    // name taken: 64
    let pw = alice.password_file.to_string_lossy().into_owned();
    m.vsm(
        &m.admin,
        &[
            "account",
            "add",
            "alice",
            "--role",
            "builder",
            "--password-file",
            &pw,
        ],
    )
    .code(64);
    // a builder may not manage accounts: 77
    m.vsm(&alice, &["account", "list"]).code(77);
    m.vsm(
        &alice,
        &[
            "account",
            "add",
            "bob",
            "--role",
            "admin",
            "--password-file",
            &pw,
        ],
    )
    .code(77);
    // an invalid password file: 65 naming the file and line
    let bad = m.path("bad-password");
    std::fs::write(&bad, "one\ntwo\n").unwrap();
    let bad_s = bad.to_string_lossy().into_owned();
    let out = m.vsm(
        &m.admin,
        &[
            "account",
            "add",
            "bob",
            "--role",
            "builder",
            "--password-file",
            &bad_s,
        ],
    );
    out.code(65).stderr_has("line 2");

    // passwd by the account itself, then log in with the new password
    std::fs::write(&alice.password_file, "a brand new password\n").unwrap();
    m.vsm(
        &alice,
        &["account", "passwd", "alice", "--password-file", &pw],
    )
    .ok();
    m.login(&alice).ok();

    // unknown account: 64
    m.vsm(&m.admin, &["account", "delete", "nobody"]).code(64);
    m.vsm(&m.admin, &["account", "delete", "alice"]).ok();
    m.vsm(&alice, &["whoami"]).code(77);
}
