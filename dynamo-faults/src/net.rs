//! The network: one namespace per host (each node, each client agent) joined to a bridge in
//! a hub namespace by a veth pair, addresses in 10.77.0.0/24, and the commands that break it
//! (nft drop rules, tc netem when the kernel has it).
//!
//! Every name starts with `dyf<pid>-`, so parallel runs never collide, and a run that died
//! without cleaning up is recognised by the next one ([`cleanup_stale`]): its pid is gone.
//! The veth pairs are created directly inside their namespaces, so no interface ever appears
//! in the host's own namespace, and nothing here touches the host's addresses or routes.
//! [`Net`] deletes what it created when dropped (also on an error or a panic).

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::error::{FaultsError, Result};

/// The interface of every host namespace.
pub const HOST_IF: &str = "eth0";

/// The nft table the nemesis puts its rules in (deleting it heals).
const TABLE: &str = "dyf";

/// Runs `program` with `args`, returns its standard output; a failure carries its standard
/// error.
pub fn run_cmd(program: &str, args: &[&str]) -> Result<String> {
    run_cmd_input(program, args, None)
}

/// [`run_cmd`] with `input` on standard input.
pub fn run_cmd_input(program: &str, args: &[&str], input: Option<&str>) -> Result<String> {
    let line = || format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| FaultsError::Command {
            command: line(),
            detail: e.to_string(),
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| FaultsError::Command {
                command: line(),
                detail: format!("writing its input: {e}"),
            })?;
    }
    let out = child.wait_with_output().map_err(|e| FaultsError::Command {
        command: line(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(FaultsError::Command {
            command: line(),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True when `program` can be run (found on the `PATH`).
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("-V")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Checks that the harness can work here: root, `ip` and `nft` installed, namespaces possible.
///
/// # Errors
/// [`FaultsError::NotRoot`], [`FaultsError::MissingTool`].
pub fn preflight() -> Result<()> {
    let uid = rustix::process::geteuid();
    if !uid.is_root() {
        return Err(FaultsError::NotRoot(uid.as_raw()));
    }
    if !have("ip") {
        return Err(FaultsError::MissingTool {
            tool: "ip",
            hint: "apt-get install -y iproute2",
        });
    }
    if !have("nft") {
        return Err(FaultsError::MissingTool {
            tool: "nft",
            hint: "apt-get install -y nftables",
        });
    }
    Ok(())
}

/// The pid a namespace name of this harness embeds (`dyf<pid>-...`).
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix("dyf")?.split('-').next()?.parse().ok()
}

/// Namespaces names, from `ip netns list` (`name (id: 3)` lines).
fn list_namespaces() -> Result<Vec<String>> {
    Ok(run_cmd("ip", &["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Deletes the namespaces of earlier runs whose process is gone (killed before it could clean
/// up), after SIGKILLing what still runs inside them (their nodes and agents). Namespaces of
/// runs still alive are left alone. Returns how many were removed.
///
/// # Errors
/// When the namespaces cannot be listed.
pub fn cleanup_stale() -> Result<usize> {
    let mut removed = 0;
    for name in list_namespaces()? {
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        kill_inside(&name);
        if run_cmd("ip", &["netns", "del", &name]).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// SIGKILLs every process in namespace `name` (left over by a dead run).
fn kill_inside(name: &str) {
    if let Ok(pids) = run_cmd("ip", &["netns", "pids", name]) {
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// One host: a namespace with one address on the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The namespace's name.
    pub ns: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The name of its veth's other end, in the hub.
    pub hub_if: String,
}

/// The namespaces of one run, deleted on drop.
#[derive(Debug)]
pub struct Net {
    prefix: String,
    hub: String,
    /// Node hosts, in node order.
    pub nodes: Vec<Host>,
    /// Client hosts, in agent order.
    pub clients: Vec<Host>,
    /// Every namespace created, for the cleanup.
    created: Vec<String>,
    /// Whether this kernel has the netem qdisc.
    pub netem: bool,
}

/// The address of node `i` (0-based).
pub fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, 11 + (i as u8))
}

/// The address of client agent `i`.
pub fn client_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, 101 + (i as u8))
}

impl Net {
    /// Creates the hub with its bridge, `nodes` node hosts and `clients` client hosts, all
    /// under the prefix `dyf<pid>-`, and probes for netem.
    ///
    /// # Errors
    /// A failed `ip` command; what was created so far is deleted.
    pub fn create(nodes: usize, clients: usize) -> Result<Net> {
        if nodes > 80 || clients > 80 {
            return Err(FaultsError::Config(format!(
                "{nodes} nodes and {clients} clients: at most 80 of each"
            )));
        }
        let prefix = format!("dyf{}", std::process::id());
        let hub = format!("{prefix}-hub");
        let mut net = Net {
            prefix,
            hub: hub.clone(),
            nodes: Vec::new(),
            clients: Vec::new(),
            created: Vec::new(),
            netem: false,
        };
        net.add_ns(&hub)?;
        net.ip_in(&hub, &["link", "add", "br0", "type", "bridge"])?;
        net.ip_in(&hub, &["link", "set", "br0", "up"])?;
        for i in 0..nodes {
            let host = net.add_host(&format!("n{}", i + 1), node_ip(i))?;
            net.nodes.push(host);
        }
        for i in 0..clients {
            let host = net.add_host(&format!("c{i}"), client_ip(i))?;
            net.clients.push(host);
        }
        net.netem = net.probe_netem();
        Ok(net)
    }

    /// The hub namespace's name.
    pub fn hub(&self) -> &str {
        &self.hub
    }

    fn add_ns(&mut self, name: &str) -> Result<()> {
        run_cmd("ip", &["netns", "add", name])?;
        self.created.push(name.to_owned());
        Ok(())
    }

    fn ip_in(&self, ns: &str, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run_cmd("ip", &all)
    }

    /// A namespace `<prefix>-<short>` with `eth0` at `ip`/24, its peer `<short>` on the bridge.
    fn add_host(&mut self, short: &str, ip: Ipv4Addr) -> Result<Host> {
        let ns = format!("{}-{short}", self.prefix);
        self.add_ns(&ns)?;
        let hub = self.hub.clone();
        run_cmd(
            "ip",
            &[
                "link", "add", "name", HOST_IF, "netns", &ns, "type", "veth", "peer", "name",
                short, "netns", &hub,
            ],
        )?;
        self.ip_in(&hub, &["link", "set", short, "master", "br0"])?;
        self.ip_in(&hub, &["link", "set", short, "up"])?;
        self.ip_in(&ns, &["addr", "add", &format!("{ip}/24"), "dev", HOST_IF])?;
        self.ip_in(&ns, &["link", "set", HOST_IF, "up"])?;
        self.ip_in(&ns, &["link", "set", "lo", "up"])?;
        Ok(Host {
            ns,
            ip,
            hub_if: short.to_owned(),
        })
    }

    /// Whether `tc qdisc ... netem` works on this kernel (tried on a node's interface in the
    /// hub, then removed).
    fn probe_netem(&self) -> bool {
        let Some(host) = self.nodes.first() else {
            return false;
        };
        let added = self
            .ip_exec(
                &self.hub,
                "tc",
                &[
                    "qdisc",
                    "add",
                    "dev",
                    &host.hub_if,
                    "root",
                    "netem",
                    "delay",
                    "1ms",
                ],
            )
            .is_ok();
        if added {
            let _ = self.ip_exec(
                &self.hub,
                "tc",
                &["qdisc", "del", "dev", &host.hub_if, "root"],
            );
        }
        added
    }

    /// Runs `program args` inside namespace `ns`.
    ///
    /// # Errors
    /// The command's failure.
    pub fn ip_exec(&self, ns: &str, program: &str, args: &[&str]) -> Result<String> {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        run_cmd("ip", &all)
    }

    /// Replaces the nemesis' nft rules of namespace `ns` with `input` and `output` rules (each
    /// one rule's text, e.g. `ip saddr { 10.77.0.12 } drop`).
    ///
    /// # Errors
    /// nft's failure.
    pub fn set_rules(&self, ns: &str, input: &[String], output: &[String]) -> Result<()> {
        self.clear_rules(ns);
        let mut script = format!("table inet {TABLE} {{\n");
        script.push_str("  chain input {\n    type filter hook input priority 0; policy accept;\n");
        for rule in input {
            script.push_str(&format!("    {rule}\n"));
        }
        script.push_str(
            "  }\n  chain output {\n    type filter hook output priority 0; policy accept;\n",
        );
        for rule in output {
            script.push_str(&format!("    {rule}\n"));
        }
        script.push_str("  }\n}\n");
        run_cmd_input(
            "ip",
            &["netns", "exec", ns, "nft", "-f", "-"],
            Some(&script),
        )?;
        Ok(())
    }

    /// Removes the nemesis' nft rules from `ns` (nothing if there are none).
    pub fn clear_rules(&self, ns: &str) {
        let _ = self.ip_exec(ns, "nft", &["delete", "table", "inet", TABLE]);
    }

    /// Puts a netem qdisc with `spec` (e.g. `["delay", "50ms", "10ms"]`) on both ends of
    /// `host`'s link, so both directions are affected.
    ///
    /// # Errors
    /// tc's failure.
    pub fn set_netem(&self, host: &Host, spec: &[&str]) -> Result<()> {
        self.clear_netem(host);
        let mut args = vec!["qdisc", "add", "dev", HOST_IF, "root", "netem"];
        args.extend_from_slice(spec);
        self.ip_exec(&host.ns, "tc", &args)?;
        let mut args = vec!["qdisc", "add", "dev", &host.hub_if, "root", "netem"];
        args.extend_from_slice(spec);
        self.ip_exec(&self.hub, "tc", &args)?;
        Ok(())
    }

    /// Removes the netem qdiscs of `host` (nothing if there are none).
    pub fn clear_netem(&self, host: &Host) {
        let _ = self.ip_exec(&host.ns, "tc", &["qdisc", "del", "dev", HOST_IF, "root"]);
        let _ = self.ip_exec(
            &self.hub,
            "tc",
            &["qdisc", "del", "dev", &host.hub_if, "root"],
        );
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            kill_inside(ns);
            let _ = run_cmd("ip", &["netns", "del", ns]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_carry_the_owner_pid() {
        assert_eq!(owner_pid("dyf123-n1"), Some(123));
        assert_eq!(owner_pid("dyf77-hub"), Some(77));
        assert_eq!(owner_pid("dyfx-n1"), None);
        assert_eq!(owner_pid("other"), None);
    }

    #[test]
    fn addresses_are_distinct() {
        assert_eq!(node_ip(0), Ipv4Addr::new(10, 77, 0, 11));
        assert_eq!(client_ip(1), Ipv4Addr::new(10, 77, 0, 102));
        assert_ne!(node_ip(79), client_ip(0));
    }
}
