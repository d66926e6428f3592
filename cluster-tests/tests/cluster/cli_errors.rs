//! Every CLI error says what went wrong and what to do next: which
//! coordinator could not be reached and how to start a local cluster, which
//! argument is wrong and how to write it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

fn fails(args: &[&str]) -> String {
    let out = cluster_tests::cpg_command().args(args).output().unwrap();
    assert!(!out.status.success(), "cpg {args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.starts_with("cpg: "), "cpg {args:?}: {err}");
    err
}

#[test]
fn errors_name_the_problem_and_the_next_step() {
    let _machine = crate::shared_blocking();
    let port = cluster_tests::free_port();
    let nobody = format!("127.0.0.1:{port}");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--coordinator", &nobody, "analyze"],
            vec![nobody.as_str(), "Connection refused", "cpg dev-cluster up"],
        ),
        (
            vec!["--coordinator", &nobody, "cluster", "status"],
            vec![nobody.as_str(), "is the cluster running?"],
        ),
        (
            vec!["--coordinator", &nobody, "ingest", "."],
            vec![nobody.as_str(), "cpg dev-cluster up"],
        ),
        (
            vec!["--coordinator", "no-such-host.invalid:7000", "analyze"],
            vec!["no-such-host.invalid:7000", "does not resolve"],
        ),
        (
            vec!["analyze", "/no/such/dir"],
            vec!["/no/such/dir", "no such file or directory"],
        ),
        (
            vec!["callers", "nonsense", "."],
            vec!["\"nonsense\"", "write it like Enum.map/2"],
        ),
        (
            vec!["ingest", "."],
            vec!["give --coordinator", "cpg analyze PATH"],
        ),
        (
            vec!["health"],
            vec!["give --coordinator", "cpg dev-cluster up"],
        ),
    ];
    for (args, wanted) in cases {
        let err = fails(&args);
        for w in wanted {
            assert!(err.contains(w), "cpg {args:?}: {err:?} does not say {w:?}");
        }
    }
}
