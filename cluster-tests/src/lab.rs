//! The tests' own hosts: network namespaces on a bridge, made and removed
//! by the test that uses them (`ip netns`, veth pairs; needs root). Each
//! host has its own address on a private /24 (`10.213.X.0`, X from the
//! process id); the root namespace is `.254` on the bridge, so processes
//! there (storage nodes, clients) reach every host and the hosts reach
//! them. A host's link can be cut and restored, which isolates it from
//! everyone.

use std::path::PathBuf;
use std::process::Command;

/// A bridge with `hosts` namespaces on it; removed when dropped.
#[derive(Debug)]
pub struct Lab {
    tag: String,
    subnet: u32,
    hosts: usize,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!(
            "running ip {}: {e} (is iproute2 installed?)",
            args.join(" ")
        )
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    /// Make `hosts` namespaces on a fresh bridge. Fails with the reason
    /// when namespaces cannot be made (not root, no `ip`).
    pub fn new(hosts: usize) -> Result<Lab, String> {
        let pid = std::process::id();
        let lab = Lab {
            tag: format!("cpg{}", pid % 100_000),
            subnet: pid % 200 + 20,
            hosts,
        };
        // Leftovers of a killed run with the same tag.
        lab.remove();
        let bridge = lab.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&["link", "set", &bridge, "up"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", lab.root_address()),
            "dev",
            &bridge,
        ])?;
        for h in 0..hosts {
            let ns = lab.namespace(h);
            let (outer, inner) = (lab.link(h), format!("{}p", lab.link(h)));
            ip(&["netns", "add", &ns])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &outer, "master", &bridge])?;
            ip(&["link", "set", &outer, "up"])?;
            let address = format!("{}/24", lab.address(h));
            ip(&[
                "netns", "exec", &ns, "ip", "addr", "add", &address, "dev", &inner,
            ])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inner, "up"])?;
        }
        Ok(lab)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn link(&self, host: usize) -> String {
        format!("{}v{host}", self.tag)
    }

    /// The namespace of `host`.
    pub fn namespace(&self, host: usize) -> String {
        format!("{}h{host}", self.tag)
    }

    /// The address of `host` (0-based).
    pub fn address(&self, host: usize) -> String {
        format!("10.213.{}.{}", self.subnet, host + 1)
    }

    /// The root namespace's address on the bridge: where processes outside
    /// the hosts listen to be reachable from them.
    pub fn root_address(&self) -> String {
        format!("10.213.{}.254", self.subnet)
    }

    /// Cut `host` off: its link to the bridge goes down.
    pub fn isolate(&self, host: usize) -> Result<(), String> {
        ip(&["link", "set", &self.link(host), "down"])
    }

    /// Restore `host`'s link.
    pub fn heal(&self, host: usize) -> Result<(), String> {
        ip(&["link", "set", &self.link(host), "up"])
    }

    /// `program args...` run inside `host`: the program and arguments for
    /// [`crate::Proc::launch`] or [`Command`].
    pub fn inside(
        &self,
        host: usize,
        program: PathBuf,
        args: Vec<String>,
    ) -> (PathBuf, Vec<String>) {
        let mut all = vec![
            "netns".to_string(),
            "exec".to_string(),
            self.namespace(host),
            program.display().to_string(),
        ];
        all.extend(args);
        (PathBuf::from("ip"), all)
    }

    fn remove(&self) {
        for h in 0..self.hosts {
            let _ = ip(&["netns", "del", &self.namespace(h)]);
            let _ = ip(&["link", "del", &self.link(h)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.remove();
    }
}
