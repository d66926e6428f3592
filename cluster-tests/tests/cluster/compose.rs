//! The docker-compose cluster for real, with podman and podman-compose
//! (`scripts/setup-containers.sh` installs them; `scripts/test.sh` runs it): the
//! image is built from `deploy/Dockerfile` (its `prebuilt` stage, with the
//! binaries this build made), `deploy/docker-compose.yml` is brought up with
//! the host-network override (every service on 127.0.0.1), the one-shot
//! ingest service ingests the example application, and the cluster's
//! answers must equal an embedded run. Everything is torn down afterwards,
//! volumes and image included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use cluster_tests::{comparable, query_at, repo};
use codebase::embedded;
use proto::Query;
use query::answer;

/// Run `program args` with a time limit; its output.
fn run(limit_secs: u64, program: &str, args: &[&str], env: &[(String, String)]) -> Output {
    Command::new("timeout")
        .arg(limit_secs.to_string())
        .arg(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn must(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The compose project: brought down (volumes too) and its image removed
/// when dropped, with the containers' logs printed if the test failed.
struct Project {
    name: String,
    image: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn compose(&self, limit_secs: u64, args: &[&str]) -> Output {
        let mut all = vec![
            "-p",
            &self.name,
            "-f",
            "deploy/docker-compose.yml",
            "-f",
            "deploy/compose.host.yml",
        ];
        all.extend_from_slice(args);
        run(limit_secs, "podman-compose", &all, &self.env)
    }

    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.name)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for s in ["c1", "c2", "c3", "n1", "n2", "n3", "ingest"] {
                let out = run(
                    30,
                    "podman",
                    &["logs", "--tail", "30", &self.container(s)],
                    &[],
                );
                eprintln!(
                    "--- {s}:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let down = self.compose(180, &["down", "-v", "-t", "5"]);
        if !down.status.success() {
            eprintln!(
                "podman-compose down: {}",
                String::from_utf8_lossy(&down.stderr)
            );
        }
        run(60, "podman", &["rmi", "-f", &self.image], &[]);
    }
}

/// Copy the binaries this build made, without debug info, into a build
/// context for the Dockerfile's `prebuilt` stage.
fn build_context(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["cpg", "cpg-coordinator", "cpg-node"] {
        let from = cluster_tests::binary(name);
        let to = bin.join(name);
        let out = Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(&to)
            .arg(&from)
            .output()
            .expect("strip (binutils; scripts/setup-containers.sh installs it)");
        assert!(out.status.success(), "strip {}: {out:?}", from.display());
    }
}

/// Make `dir` and everything under it readable by the image's `cpg` user.
fn readable_by_all(dir: &Path) {
    must(
        run(30, "chmod", &["-R", "a+rX", dir.to_str().unwrap()], &[]),
        "chmod",
    );
}

#[test]
fn the_compose_cluster_ingests_the_mounted_code_and_answers_like_embedded() {
    let _machine = crate::shared_blocking();
    for tool in ["podman", "podman-compose"] {
        assert!(
            Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: run scripts/setup-containers.sh (as scripts/test.sh does)"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    build_context(&ctx);
    let tag = format!("localhost/cpg-compose-test-{}:latest", std::process::id());
    let ports: Vec<u16> = (0..7).map(|_| cluster_tests::free_port()).collect();
    let (_code_dir, code) = cluster_tests::example_copy();
    readable_by_all(code.parent().unwrap());
    let mut env = vec![
        ("IMAGE".to_string(), tag.clone()),
        ("CPG_CODE".to_string(), code.display().to_string()),
    ];
    for (i, name) in ["C1", "C2", "C3", "N1", "N2", "N3", "HTTP"]
        .iter()
        .enumerate()
    {
        env.push((format!("CPG_PORT_{name}"), ports[i].to_string()));
    }
    let project = Project {
        name: format!("cpgtest{}", std::process::id()),
        image: tag.clone(),
        env,
    };

    let built = Instant::now();
    must(
        run(
            600,
            "podman",
            &[
                "build",
                "--pull=never",
                "-q",
                "--target",
                "prebuilt",
                "-t",
                &tag,
                "-f",
                "deploy/Dockerfile",
                ctx.to_str().unwrap(),
            ],
            &[],
        ),
        "podman build --target prebuilt",
    );
    println!("image built in {:?}", built.elapsed());

    let started = Instant::now();
    must(project.compose(300, &["up", "-d"]), "podman-compose up -d");
    // The one-shot ingest waits for the cluster (`cpg cluster wait`), then
    // ingests /code and exits.
    let waited = must(
        run(240, "podman", &["wait", &project.container("ingest")], &[]),
        "podman wait ingest",
    );
    let ingest_log = run(30, "podman", &["logs", &project.container("ingest")], &[]);
    let ingest_log = format!(
        "{}{}",
        String::from_utf8_lossy(&ingest_log.stdout),
        String::from_utf8_lossy(&ingest_log.stderr)
    );
    assert_eq!(
        waited.trim(),
        "0",
        "the ingest service failed:\n{ingest_log}"
    );
    assert!(ingest_log.contains("files:"), "{ingest_log}");

    let c1 = format!("127.0.0.1:{}", ports[0]);
    let snapshot = embedded::build(&code).unwrap().snapshot();
    let queries = [
        Query::Analyze { top: 10 },
        Query::Cycles,
        Query::Callers {
            function: "Shop.Orders.place/3".parse().unwrap(),
            depth: 3,
        },
    ];
    let mut first_answer = None;
    for q in &queries {
        let want = answer(&snapshot, q)
            .map(|a| comparable(a.result))
            .map_err(|e| e.to_string());
        let got = query_at(&c1, q).await_blocking();
        first_answer.get_or_insert_with(|| started.elapsed());
        let got = got.map(|a| {
            assert!(
                a.missing.is_empty(),
                "{q:?}: partitions missing {:?}",
                a.missing
            );
            comparable(a.result)
        });
        assert_eq!(
            got, want,
            "{q:?} from the compose cluster differs from embedded"
        );
    }
    println!(
        "podman-compose up to the first analysis answered: {:?} (image build excluded)",
        first_answer.unwrap()
    );

    // The dashboard and HTTP API of the first coordinator.
    let web = format!("127.0.0.1:{}", ports[6]);
    let page = cluster_tests::http(&web, "GET", "/", None).unwrap();
    assert!(page.status == 200 && page.text().contains("<canvas id=\"graph\">"));
    let modules =
        cluster_tests::http(&web, "GET", "/api/v1/graph/modules?format=csv", None).unwrap();
    assert_eq!(modules.status, 200);
    assert!(modules.text().contains("Shop.Orders"), "{}", modules.text());

    // The coordinators' health check passes (podman runs it on request here:
    // there is no systemd to schedule it), and the client service works.
    must(
        run(
            60,
            "podman",
            &["healthcheck", "run", &project.container("c2")],
            &[],
        ),
        "podman healthcheck run c2",
    );
    let status = must(
        project.compose(
            120,
            &[
                "--profile",
                "client",
                "run",
                "--rm",
                "cpg",
                "cluster",
                "status",
            ],
        ),
        "podman-compose run --rm cpg cluster status",
    );
    assert!(status.contains("0 moving, 0 under-replicated"), "{status}");
}

/// Run a future to completion on a fresh runtime (the test is synchronous:
/// its processes are podman's).
trait Blocking: std::future::Future + Sized {
    fn await_blocking(self) -> Self::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(self)
    }
}

impl<F: std::future::Future> Blocking for F {}
