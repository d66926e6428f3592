//! Mutual TLS on every link: a cluster started with certificates of its CA
//! (`cpg cert`) lets in a read-write client, lets a read-only client query
//! but not ingest, and refuses a client without a certificate or with one
//! of another CA.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use cluster_tests::{binary, example_copy, Cluster};

fn cpg(args: &[&str]) -> Output {
    std::process::Command::new(binary("cpg"))
        .env_remove("CPG_INSECURE")
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn certs(dir: &Path, with_viewer: bool) {
    let d = dir.to_str().unwrap();
    ok(cpg(&["cert", "create-ca", "--certs-dir", d]));
    ok(cpg(&[
        "cert",
        "create-node",
        "--certs-dir",
        d,
        "127.0.0.1",
        "localhost",
    ]));
    ok(cpg(&["cert", "create-client", "--certs-dir", d, "root"]));
    if with_viewer {
        ok(cpg(&[
            "cert",
            "create-client",
            "--certs-dir",
            d,
            "viewer",
            "--read-only",
        ]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_clients_with_a_certificate_of_the_cluster_get_in_and_read_only_ones_only_read() {
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    certs(ours.path(), true);
    certs(theirs.path(), false);
    let dir = ours.path().to_str().unwrap().to_string();
    // This test process talks to the cluster as the root client.
    net::wire::secure_with(
        net::certs::security(Some(ours.path()), "client.root", false, false).unwrap(),
    );
    let flags = ["--certs-dir", dir.as_str()];
    let web = format!("127.0.0.1:{}", cluster_tests::free_port());
    let c_flags = ["--certs-dir", dir.as_str(), "--http-listen", web.as_str()];
    let cluster = Cluster::builder(1, 2, 8, 2)
        .coordinator_flags(&c_flags)
        .node_flags(&flags)
        .start();
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let (_work, tree) = example_copy();
    let shop = tree.to_str().unwrap();
    let with = |client: &str, certs: &str, args: &[&str]| {
        let mut all = vec![
            "--coordinator",
            &list,
            "--certs-dir",
            certs,
            "--client",
            client,
        ];
        all.extend(args);
        cpg(&all)
    };
    let other = theirs.path().to_str().unwrap();

    // A read-write client ingests and queries.
    let out = ok(with("root", &dir, &["ingest", shop]));
    assert!(out.contains("parsed"), "{out}");

    // The HTTP API is HTTPS with client certificates too: the read-only
    // client reads and is refused an upload, the read-write one uploads;
    // plain HTTP and a certificate of another CA do not get in.
    let https = |certs: &Path, client: &str, method: &str, path: &str, body: Option<&[u8]>| {
        cluster_tests::https(certs, client, &web, method, path, body)
    };
    let view = https(ours.path(), "client.viewer", "GET", "/api/v1/cluster", None).unwrap();
    assert_eq!(view.status, 200, "{}", view.text());
    let upload = br#"{"files": [{"path": "lib/shop/web.ex", "content": "defmodule Shop.Web do\n  def hi, do: :ok\nend\n"}], "partial": true}"#;
    let refused = https(
        ours.path(),
        "client.viewer",
        "POST",
        "/api/v1/ingest",
        Some(upload),
    )
    .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().contains("read-only"), "{}", refused.text());
    let taken = https(
        ours.path(),
        "client.root",
        "POST",
        "/api/v1/ingest",
        Some(upload),
    )
    .unwrap();
    assert_eq!(taken.status, 200, "{}", taken.text());
    assert!(
        https(theirs.path(), "client.root", "GET", "/api/v1/cluster", None).is_err(),
        "a client of another CA got in"
    );
    assert!(
        cluster_tests::http(&web, "GET", "/api/v1/cluster", None).is_err(),
        "plain HTTP got an answer"
    );
    std::fs::remove_file(tree.join("lib/shop/web.ex")).ok();
    let cycles = ok(with("root", &dir, &["analyze", "cycles", "--json"]));
    // A read-only client queries, and is refused an ingest.
    assert_eq!(
        ok(with("viewer", &dir, &["analyze", "cycles", "--json"])),
        cycles
    );
    std::fs::write(
        tree.join("lib/shop/viewer.ex"),
        "defmodule Shop.Viewer do\n  def look, do: :ok\nend\n",
    )
    .unwrap();
    let refused = with("viewer", &dir, &["ingest", shop]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("read-only"),
        "{refused:?}"
    );
    let refused = with("viewer", &dir, &["cluster", "decommission-node", "1"]);
    assert!(!refused.status.success(), "{refused:?}");
    // Maintenance is for read-write clients too.
    let defrag = with("viewer", &dir, &["defrag", "--json"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&defrag.stdout),
        String::from_utf8_lossy(&defrag.stderr)
    );
    assert!(text.contains("not allowed"), "{text}");
    // Another CA's client, and no certificate at all, get nothing.
    let stranger = with("root", other, &["analyze", "cycles"]);
    assert!(!stranger.status.success(), "{stranger:?}");
    let plain = cpg(&["--coordinator", &list, "--insecure", "analyze", "cycles"]);
    assert!(!plain.status.success(), "{plain:?}");
    // The greeting says the cluster is TLS: the error says what to give.
    let said = String::from_utf8_lossy(&plain.stderr);
    assert!(
        said.contains("the peer uses TLS") && said.contains("disagree on TLS"),
        "{said}"
    );
    // Without certificates or --insecure, the CLI says what to give.
    let neither = cpg(&["--coordinator", &list, "analyze", "cycles"]);
    let err = String::from_utf8_lossy(&neither.stderr);
    assert!(
        err.contains("--certs-dir") && err.contains("--insecure"),
        "{err}"
    );
}
