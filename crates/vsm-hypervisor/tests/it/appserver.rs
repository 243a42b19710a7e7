//! The example template (`examples/templates/appserver`) on the local driver: `vsm-appserver`
//! serves what is deployed into `app/`, reports health, and stops cleanly on SIGTERM.

use std::net::IpAddr;
use std::time::Duration;

use camino::Utf8PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vsm_hypervisor::local::LocalOptions;
use vsm_hypervisor::testing::local::LocalTestbed;
use vsm_hypervisor::{Hypervisor, MachineName, ProvisionSpec, ShutdownOutcome, TemplateSource};

/// `GET path` on `addr:8080`; `None` while nothing listens.
async fn get(addr: IpAddr, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect((addr, 8080)).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

async fn get_when_up(addr: IpAddr, path: &str) -> (u16, String) {
    for _ in 0..500 {
        if let Some(r) = get(addr, path).await {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("vsm-appserver did not answer on {addr}:8080");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_template_serves_deployed_content_and_health() {
    let exe = Utf8PathBuf::from(env!("CARGO_BIN_EXE_vsm-appserver"));
    let bin_dir = exe.parent().expect("the binary has a directory").to_owned();
    let bed = LocalTestbed::new(LocalOptions::default().with_bin_dir(bin_dir));
    let template =
        Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates/appserver");
    let template = TemplateSource::new(template.as_str()).expect("source");
    let hv = &bed.driver;
    let info = hv
        .inspect_template(&template)
        .await
        .expect("the example template is valid");
    assert_eq!(
        info.details.get("boot").map(String::as_str),
        Some("vsm-appserver --port 8080 --dir app")
    );

    // Two servers listen on the same port, each on its own address.
    let mut servers = Vec::new();
    for n in ["app-1", "app-2"] {
        let m = MachineName::new(n).expect("name");
        let mi = hv
            .provision(&ProvisionSpec::new(m.clone(), template.clone(), 3))
            .await
            .expect("provision");
        hv.start(&m).await.expect("start");
        servers.push((m, mi.address.expect("an address")));
    }
    for (m, addr) in &servers {
        let (status, body) = get_when_up(*addr, "/healthz").await;
        assert_eq!(
            (status, body.as_str()),
            (503, "not deployed\n"),
            "{m}: nothing deployed yet"
        );
        let (status, body) = get_when_up(*addr, "/vsm/info").await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("server={m}\naddress={addr}\ngeneration=3\n"));
    }
    // "Deploy" into the first server only, the way the deploy layer would (write, then rename).
    let (m1, a1) = &servers[0];
    let app = hv.local_root(m1).expect("a local root").join("app");
    std::fs::create_dir_all(&app).expect("mkdir app");
    std::fs::write(app.join(".index.html.tmp"), "<h1>shop</h1>\n").expect("write");
    std::fs::rename(app.join(".index.html.tmp"), app.join("index.html")).expect("rename");
    assert_eq!(get_when_up(*a1, "/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(
        get_when_up(*a1, "/").await,
        (200, "<h1>shop</h1>\n".to_owned())
    );
    assert_eq!(get_when_up(*a1, "/../template.yaml").await.0, 400);
    assert_eq!(
        get_when_up(servers[1].1, "/healthz").await.0,
        503,
        "the other server is untouched"
    );

    for (m, _) in &servers {
        let out = hv
            .shutdown(m, Duration::from_secs(5))
            .await
            .expect("shutdown");
        assert_eq!(out, ShutdownOutcome::Graceful, "{m} stops on SIGTERM");
        let logs = hv.logs(m, 100).await.expect("logs");
        assert!(
            logs.iter()
                .any(|l| l.starts_with("vsm-appserver listening on")),
            "{logs:?}"
        );
        assert!(
            logs.iter().any(|l| l == "vsm-appserver stopping"),
            "{logs:?}"
        );
        hv.destroy(m).await.expect("destroy");
    }
}
