//! What the client's test programs share: the example application, the
//! Python tools the setup scripts install, running a client bounded in
//! time, copying a tree.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The folder a setup script installed into: `$env`, else
/// `~/.cache/cpg/<name>`. Fails, naming the script, when `needs` is not
/// in it.
pub fn tools(env: &str, name: &str, needs: &str) -> PathBuf {
    let dir = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").expect("HOME"))
            .join(".cache/cpg")
            .join(name)
    });
    assert!(
        dir.join(needs).is_file(),
        "{} is missing in {}: run scripts/setup-{name}.sh (scripts/test.sh does)",
        needs,
        dir.display()
    );
    dir
}

/// The example application (examples/shop).
pub fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop")
}

/// `Module.fun/arity` of a function as JSON (`{"module", "name",
/// "arity"}`).
pub fn mfa_text(mfa: &serde_json::Value) -> String {
    format!(
        "{}.{}/{}",
        mfa["module"].as_str().expect("a module"),
        mfa["name"].as_str().expect("a name"),
        mfa["arity"]
    )
}

/// The Python client `driver` under client/tests/`name`/, run by the
/// Python that scripts/setup-`name`.sh installs (`$CPG_<NAME>_TOOLS`, else
/// `~/.cache/cpg/<name>`; see [`tools`]); its arguments are the caller's.
pub fn python_client(name: &str, driver: &str) -> Command {
    let env = format!("CPG_{}_TOOLS", name.to_uppercase());
    let python = tools(&env, name, "venv/bin/python").join("venv/bin/python");
    let mut cmd = Command::new(python);
    cmd.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../client/tests")
            .join(name)
            .join(driver),
    );
    cmd
}

/// Run the client `cmd` for at most two minutes (see [`run_bounded`]); it
/// must succeed (`what` names it when it does not). Returns the JSON it
/// printed.
pub fn printed_json(cmd: &mut Command, what: &str) -> serde_json::Value {
    let out = run_bounded(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the client prints JSON")
}

/// Run `cmd` to its end, at most `limit`: a client or server that hangs
/// fails the test instead of stopping the suite. Its output is read as it
/// comes (a full pipe would stop it).
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the client");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the client") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "no answer within {limit:?}:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Copy the tree `from` to `to` (created).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for e in std::fs::read_dir(from).expect("read the tree") {
        let e = e.expect("read the tree");
        let target = to.join(e.file_name());
        if e.file_type().expect("read the tree").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy a file");
        }
    }
}
