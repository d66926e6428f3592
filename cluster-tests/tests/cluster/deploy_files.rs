//! The deployment files say what the programs understand: every `CPG_*`
//! variable they set is one of the daemons' or the CLI's, every key of the
//! example configuration files is accepted by the daemon it configures, and
//! the YAML files (compose, Kubernetes) parse with the structure the docs
//! describe.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::CommandFactory;
use cluster_tests::repo;

fn deploy_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo().join("deploy")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.push(repo().join("docs/DEPLOY.md"));
    out.sort();
    out
}

/// `CPG_*` names in `text`.
fn variables(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("CPG_") {
        let start = i + at;
        let mut end = start + 4;
        while end < bytes.len()
            && (bytes[end].is_ascii_uppercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        // `CPG_*` and `CPG_<KEY>` in prose are not names.
        if end > start + 4 && bytes[end - 1] != b'_' {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

fn known_variables() -> BTreeSet<String> {
    let commands = [
        coordinator::daemon::Args::command(),
        node::daemon::Args::command(),
        cpg::cli::Cli::command(),
    ];
    let mut out = BTreeSet::new();
    let mut stack: Vec<clap::Command> = commands.to_vec();
    while let Some(c) = stack.pop() {
        for a in c.get_arguments() {
            if let Some(env) = a.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        stack.extend(c.get_subcommands().cloned());
    }
    out
}

#[test]
fn every_variable_the_deploy_files_set_is_understood() {
    let known = known_variables();
    // Compose's own variables (ports of the host-network override, the
    // image, the code folder), not the programs'.
    let compose = [
        "CPG_CODE",
        "CPG_PORT_HTTP",
        "CPG_PORT_C1",
        "CPG_PORT_C2",
        "CPG_PORT_C3",
        "CPG_PORT_N1",
        "CPG_PORT_N2",
        "CPG_PORT_N3",
    ];
    let mut unknown = Vec::new();
    for file in deploy_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for v in variables(&text) {
            if !known.contains(&v) && !compose.contains(&v.as_str()) {
                unknown.push(format!("{}: {v}", file.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "variables no program reads: {unknown:#?}\nknown: {known:?}"
    );
}

#[test]
fn the_example_configuration_files_are_accepted() {
    for (file, command) in [
        (
            "deploy/config/coordinator.toml",
            coordinator::daemon::Args::command(),
        ),
        ("deploy/config/node.toml", node::daemon::Args::command()),
    ] {
        let settings = host::config::read(&command, &repo().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            settings.iter().any(|(k, _)| k == "CPG_DATA_DIR"),
            "{file}: {settings:?}"
        );
    }
}

/// Parse the YAML files with Python's yaml module (podman-compose brings
/// it) and check their shape.
#[test]
fn the_compose_and_kubernetes_files_have_the_documented_shape() {
    let script = r#"
import sys, yaml
compose = yaml.safe_load(open("deploy/docker-compose.yml"))
services = compose["services"]
assert sorted(services) == ["c1", "c2", "c3", "cpg", "ingest", "n1", "n2", "n3"], sorted(services)
for s in ["c1", "c2", "c3", "n1", "n2", "n3"]:
    assert "healthcheck" in services[s], s
    volume = services[s]["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], volume
assert services["ingest"]["restart"] == "no"
assert services["c1"]["environment"]["CPG_INIT"].count("=") == 3
override = yaml.safe_load(open("deploy/compose.host.yml"))
assert all(v["network_mode"] == "host" for v in override["services"].values())
assert sorted(override["services"]) == sorted(services)
docs = list(yaml.safe_load_all(open("deploy/k8s/cpg.yaml")))
kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
assert kinds == [("Service", "cpg"), ("Service", "cpg-coordinator"), ("Service", "cpg-node"),
                 ("StatefulSet", "cpg-coordinator"), ("StatefulSet", "cpg-node")], kinds
services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
for d in docs:
    if d["kind"] != "StatefulSet":
        continue
    headless = services[d["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == d["spec"]["selector"]["matchLabels"]
    assert d["spec"]["template"]["metadata"]["labels"] == d["spec"]["selector"]["matchLabels"]
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(repo())
        .output()
        .expect("python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
