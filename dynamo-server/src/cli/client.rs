//! The client commands: `dynamo get | put | delete` and `dynamo admin join | leave | status |
//! ring`, over [`dynamo_client`]. Each talks to one node (`--node`, default
//! `http://127.0.0.1:8001`); any node serves any key.
//!
//! `get` writes a single value to standard output as is, and the context (to pass to the next
//! `put` or `delete` with `--context`) to standard error; siblings are listed one by one.
//! `put` reads the value from its argument, or from standard input when it is absent or `-`.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use dynamo_client::{
    AdminStatus, Client, ClusterClient, ClusterOptions, Context, DeleteOptions, GetOptions, Object,
    PutOptions, RingInfo, TlsConfig,
};

/// The nodes a client command talks to, and the access key it sends.
#[derive(Debug, Clone, Args)]
pub struct NodeArg {
    /// The nodes' HTTP URLs (repeat the flag or separate with commas). Reads and writes
    /// learn the ring from the first that answers and go to a replica of their key, failing
    /// over to the next; admin commands go to the first.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8001",
        value_delimiter = ','
    )]
    pub node: Vec<String>,
    /// The access key (`<id>.<secret>`) for a cluster with `auth = "on"`; better in the
    /// environment (DYNAMO_TOKEN) than on a command line that `ps` shows.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "DYNAMO_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The CA file (PEM) that signs the node's certificate, for an `https://` node
    /// (`dynamo up --tls` prints it); default: the system's roots.
    #[arg(long, value_name = "FILE", env = "DYNAMO_CA")]
    pub ca: Option<std::path::PathBuf>,
}

/// `dynamo get BUCKET KEY`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Read quorum for this request (default: the bucket's r).
    #[arg(long)]
    pub r: Option<u8>,
    /// Print the whole answer as JSON (values as UTF-8 text when they are, else base64).
    #[arg(long)]
    pub json: bool,
    /// The node.
    #[command(flatten)]
    pub node: NodeArg,
}

/// `dynamo put BUCKET KEY [VALUE]`.
#[derive(Debug, Clone, Args)]
pub struct PutArgs {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The value; read from standard input when absent or `-`.
    pub value: Option<String>,
    /// The context of the last read of the key (without it the write becomes a sibling of
    /// what is there).
    #[arg(long)]
    pub context: Option<String>,
    /// The value's media type.
    #[arg(long, default_value = "application/octet-stream")]
    pub content_type: String,
    /// Write quorum for this request (default: the bucket's w).
    #[arg(long)]
    pub w: Option<u8>,
    /// Durable-write quorum for this request (default: the bucket's durability).
    #[arg(long)]
    pub dw: Option<u8>,
    /// The node.
    #[command(flatten)]
    pub node: NodeArg,
}

/// `dynamo delete BUCKET KEY`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The context of the last read of the key (without it the delete becomes a sibling of
    /// the values there).
    #[arg(long)]
    pub context: Option<String>,
    /// Write quorum for this request.
    #[arg(long)]
    pub w: Option<u8>,
    /// Durable-write quorum for this request.
    #[arg(long)]
    pub dw: Option<u8>,
    /// The node.
    #[command(flatten)]
    pub node: NodeArg,
}

/// `dynamo admin ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Make the node join the cluster of a seed node.
    Join {
        /// The seed: `<node id>@<host>:<peer port>`.
        seed: String,
        /// The node.
        #[command(flatten)]
        node: NodeArg,
    },
    /// Make the node leave its cluster (it hands its partitions off first).
    Leave {
        /// The node.
        #[command(flatten)]
        node: NodeArg,
    },
    /// Membership, each member's health, hints pending and partition transfers, as the node
    /// sees them.
    Status {
        /// Print the node's JSON report instead of tables.
        #[arg(long)]
        json: bool,
        /// The node.
        #[command(flatten)]
        node: NodeArg,
    },
    /// Access keys of the HTTP API (needs an admin key).
    #[command(subcommand)]
    Key(KeyCommand),
    /// The ring: its version, digest, and how many partitions each member owns.
    Ring {
        /// Also list every partition with its preference list.
        #[arg(long)]
        partitions: bool,
        /// Length of the preference lists (default: the default bucket's n).
        #[arg(long)]
        n: Option<u8>,
        /// The node.
        #[command(flatten)]
        node: NodeArg,
    },
}

/// `dynamo admin key ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum KeyCommand {
    /// Make a key and print its token (shown only this once).
    Create {
        /// An admin key: may also change properties, membership and keys.
        #[arg(long)]
        admin: bool,
        /// Buckets it may read (comma-separated; `*` for every bucket).
        #[arg(long, value_delimiter = ',')]
        read: Vec<String>,
        /// Buckets it may write and delete in.
        #[arg(long, value_delimiter = ',')]
        write: Vec<String>,
        /// The node.
        #[command(flatten)]
        node: NodeArg,
    },
    /// List every key with its permissions (never a secret).
    List {
        /// The node.
        #[command(flatten)]
        node: NodeArg,
    },
    /// Revoke a key on every node.
    Revoke {
        /// The key's id.
        id: String,
        /// The node.
        #[command(flatten)]
        node: NodeArg,
    },
}

/// A client of the first node, for the admin commands.
fn client(node: &NodeArg) -> anyhow::Result<Client> {
    let first = node.node.first().context("no --node given")?;
    let mut builder = Client::builder(first);
    if let Some(token) = &node.token {
        builder = builder.token(token);
    }
    if let Some(ca) = &node.ca {
        builder = builder.tls(TlsConfig::from_ca_file(ca)?);
    }
    builder.build().with_context(|| format!("node {first}"))
}

/// A routing client of the cluster the nodes belong to, for reads and writes.
async fn cluster(node: &NodeArg) -> anyhow::Result<ClusterClient> {
    let options = ClusterOptions {
        token: node.token.clone(),
        tls: node
            .ca
            .as_deref()
            .map(TlsConfig::from_ca_file)
            .transpose()?,
        ..ClusterOptions::default()
    };
    ClusterClient::connect(&node.node, options)
        .await
        .with_context(|| format!("cannot reach the cluster through {}", node.node.join(", ")))
}

/// `dynamo ls [BUCKET] [--limit N]`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// The bucket whose keys to list; without one, the buckets are listed.
    pub bucket: Option<String>,
    /// Keys per page (1 to 10,000; default: the node's, 1,000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// The node.
    #[command(flatten)]
    pub node: NodeArg,
}

/// Runs `dynamo ls`: every key of the bucket on standard output, one per line, written as
/// each page arrives (a key that is not UTF-8 is printed as `base64:...`); without a bucket,
/// the buckets.
///
/// # Errors
/// When the node cannot be reached or refuses a page (the keys of earlier pages are printed
/// already).
pub async fn ls(args: LsArgs) -> anyhow::Result<()> {
    let c = client(&args.node)?;
    let mut out = std::io::stdout().lock();
    let Some(bucket) = &args.bucket else {
        for b in c.buckets().await? {
            writeln!(out, "{}", printable(&b))?;
        }
        return Ok(());
    };
    let mut pages = c.list_keys(bucket, args.limit);
    while let Some(page) = pages.next_page().await {
        let page = page.with_context(|| match pages.continuation() {
            Some(t) => format!("listing stopped; the next page's token was {t}"),
            None => "listing stopped".to_owned(),
        })?;
        for key in &page.keys {
            writeln!(out, "{}", printable(key))?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Runs `dynamo get`.
///
/// # Errors
/// When the node cannot be reached or refuses the request, or the key is not found.
pub async fn get(args: GetArgs) -> anyhow::Result<()> {
    let c = cluster(&args.node).await?;
    let object = c
        .get_with(&args.bucket, &args.key, &GetOptions { r: args.r })
        .await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", object_json(&object))?;
        return Ok(());
    }
    if let Some(ctx) = &object.context {
        eprintln!("context: {ctx}");
    }
    if object.is_absent() {
        bail!("not found");
    }
    if object.is_deleted() {
        bail!("not found (deleted; a put with the context above replaces the tombstone)");
    }
    match object.value() {
        Some(value) => out.write_all(value)?,
        None => write!(out, "{}", render_siblings(&object))?,
    }
    out.flush()?;
    Ok(())
}

/// Runs `dynamo put`; prints the new context.
///
/// # Errors
/// When standard input cannot be read, the node cannot be reached or refuses the write.
pub async fn put(args: PutArgs) -> anyhow::Result<()> {
    let value = match args.value.as_deref() {
        None | Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the value from standard input")?;
            Bytes::from(buf)
        }
        Some(v) => Bytes::from(v.to_owned()),
    };
    let options = PutOptions {
        context: args.context.map(Context::from_token),
        content_type: Some(args.content_type),
        w: args.w,
        dw: args.dw,
        return_body: false,
    };
    let result = cluster(&args.node)
        .await?
        .put(&args.bucket, &args.key, value, &options)
        .await?;
    if let Some(ctx) = result.context {
        println!("context: {ctx}");
    }
    Ok(())
}

/// Runs `dynamo delete`; prints the tombstone's context.
///
/// # Errors
/// When the node cannot be reached or refuses the delete.
pub async fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    let options = DeleteOptions {
        context: args.context.map(Context::from_token),
        w: args.w,
        dw: args.dw,
    };
    let ctx = cluster(&args.node)
        .await?
        .delete(&args.bucket, &args.key, &options)
        .await?;
    if let Some(ctx) = ctx {
        println!("context: {ctx}");
    }
    Ok(())
}

/// Runs `dynamo admin ...`.
///
/// # Errors
/// When the node cannot be reached or refuses the request.
pub async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Join { seed, node } => {
            let (id, address) = seed
                .split_once('@')
                .with_context(|| format!("seed {seed:?}: expected <id>@<host>:<port>"))?;
            let status = client(&node)?.join(id, address).await?;
            println!(
                "{} is {}; it joins through {id} ({address})",
                status.node,
                status.status.as_deref().unwrap_or("unknown")
            );
        }
        AdminCommand::Leave { node } => {
            let status = client(&node)?.leave().await?;
            println!(
                "{} is {}; it hands its partitions off, then exits the ring",
                status.node,
                status.status.as_deref().unwrap_or("unknown")
            );
        }
        AdminCommand::Status { json, node } => {
            let c = client(&node)?;
            if json {
                println!("{:#}", serde_json::to_value(c.status().await?)?);
            } else {
                print!("{}", render_status(&c.status().await?, now_ms()));
            }
        }
        AdminCommand::Key(KeyCommand::Create {
            admin,
            read,
            write,
            node,
        }) => {
            let key = client(&node)?.create_key(admin, &read, &write).await?;
            println!("key {} made; its token (shown only now):", key.id);
            println!("{}", key.token);
        }
        AdminCommand::Key(KeyCommand::List { node }) => {
            let keys = client(&node)?.keys().await?;
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.id.clone(),
                        if k.admin { "yes" } else { "no" }.to_owned(),
                        k.read.join(","),
                        k.write.join(","),
                        if k.revoked { "revoked" } else { "live" }.to_owned(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["id", "admin", "read", "write", "state"], &rows)
            );
        }
        AdminCommand::Key(KeyCommand::Revoke { id, node }) => {
            client(&node)?.revoke_key(&id).await?;
            println!("key {id} revoked on every node (as gossip reaches them)");
        }
        AdminCommand::Ring {
            partitions,
            n,
            node,
        } => print!(
            "{}",
            render_ring(&client(&node)?.ring(n).await?, partitions)
        ),
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A value as text when it is UTF-8, else as base64 with a marker.
fn printable(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            use base64::Engine as _;
            format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(value)
            )
        }
    }
}

fn object_json(object: &Object) -> serde_json::Value {
    serde_json::json!({
        "context": object.context.as_ref().map(Context::as_str),
        "siblings": object.siblings.iter().map(|s| serde_json::json!({
            "value": printable(&s.value),
            "content_type": s.content_type,
            "deleted": s.deleted,
            "last_modified": s.last_modified,
        })).collect::<Vec<_>>(),
    })
}

/// Siblings, one block each.
fn render_siblings(object: &Object) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} siblings (resolve them and put the result with the context):",
        object.siblings.len()
    );
    for (i, s) in object.siblings.iter().enumerate() {
        if s.deleted {
            let _ = writeln!(out, "--- sibling {}: deleted", i + 1);
        } else {
            let _ = writeln!(out, "--- sibling {} ({})", i + 1, s.content_type);
            let _ = writeln!(out, "{}", printable(&s.value));
        }
    }
    out
}

/// Left-aligned columns separated by two spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (cell, w) in cells.zip(&widths) {
            let _ = write!(l, "{cell:<w$}  ");
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn ago(now_ms: u64, then: Option<u64>) -> String {
    match then {
        None => "-".to_owned(),
        Some(t) => format!("{:.1} s ago", now_ms.saturating_sub(t) as f64 / 1000.0),
    }
}

/// `admin status` as tables: the node, its members with health and hints, its transfers.
fn render_status(s: &AdminStatus, now_ms: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "node {} ({})  ring v{} digest {}  claimant {}",
        s.node,
        s.status.as_deref().unwrap_or("unknown"),
        s.ring_version,
        s.ring_digest
            .map_or_else(|| "-".to_owned(), |d| format!("{d:016x}")),
        s.claimant.as_deref().unwrap_or("-"),
    );
    let _ = writeln!(
        out,
        "open operations {}  pending writes {}  hints pending {}\n",
        s.open_operations,
        s.pending_writes,
        s.hints_total()
    );
    let rows: Vec<Vec<String>> = s
        .members
        .iter()
        .map(|m| {
            vec![
                m.node.clone(),
                m.status.clone(),
                if m.up { "up" } else { "DOWN" }.to_owned(),
                m.address.clone(),
                m.consecutive_timeouts.to_string(),
                ago(now_ms, m.last_heard),
                s.hints_pending
                    .get(&m.node)
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "MEMBER",
            "STATUS",
            "HEALTH",
            "ADDRESS",
            "TIMEOUTS",
            "LAST HEARD",
            "HINTS FOR IT",
        ],
        &rows,
    ));
    // Hints for nodes no longer listed as members.
    for (node, count) in &s.hints_pending {
        if !s.members.iter().any(|m| &m.node == node) {
            let _ = writeln!(out, "(hints for {node}, not a member: {count})");
        }
    }
    let running: Vec<Vec<String>> = s
        .transfers_in_progress()
        .map(|t| {
            vec![
                format!("p{}", t.partition),
                t.to.clone(),
                t.keys_sent.to_string(),
            ]
        })
        .collect();
    if running.is_empty() {
        let _ = writeln!(
            out,
            "\npartition transfers in progress: none ({} done)",
            s.transfers.len()
        );
    } else {
        let _ = writeln!(
            out,
            "\npartition transfers in progress: {} ({} done)",
            running.len(),
            s.transfers.len() - running.len()
        );
        out.push_str(&table(&["PARTITION", "TO", "KEYS SENT"], &running));
    }
    out
}

/// `admin ring`: version, digest, ownership per member, and optionally every partition.
fn render_ring(r: &RingInfo, partitions: bool) -> String {
    let mut out = String::new();
    if r.version == 0 || r.partitions.is_empty() {
        let _ = writeln!(out, "node {} has no ring yet", r.node);
        return out;
    }
    let _ = writeln!(
        out,
        "ring v{} digest {}  {} partitions  (as {} sees it)\n",
        r.version,
        r.digest
            .map_or_else(|| "-".to_owned(), |d| format!("{d:016x}")),
        r.partition_count,
        r.node
    );
    let total = r.partition_count.max(1) as f64;
    let rows: Vec<Vec<String>> = r
        .members
        .iter()
        .map(|m| {
            vec![
                m.node.clone(),
                m.zone.clone().unwrap_or_else(|| "-".to_owned()),
                m.partitions.to_string(),
                format!("{:.1}%", m.partitions as f64 * 100.0 / total),
            ]
        })
        .collect();
    out.push_str(&table(&["MEMBER", "ZONE", "PARTITIONS", "SHARE"], &rows));
    if partitions {
        let rows: Vec<Vec<String>> = r
            .partitions
            .iter()
            .map(|p| {
                vec![
                    format!("p{}", p.id),
                    p.owner.clone(),
                    p.preference_list.join(" "),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &[
                "PARTITION",
                "OWNER",
                &format!("PREFERENCE LIST (n={})", r.n),
            ],
            &rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamo_client::{MemberStatus, RingMember, RingPartition, Sibling, TransferStatus};

    #[test]
    fn status_table() {
        let s = AdminStatus {
            node: "n1".into(),
            status: Some("valid".into()),
            members: vec![
                MemberStatus {
                    node: "n1".into(),
                    status: "valid".into(),
                    address: "127.0.0.1:7001".into(),
                    up: true,
                    consecutive_timeouts: 0,
                    last_heard: None,
                },
                MemberStatus {
                    node: "n2".into(),
                    status: "valid".into(),
                    address: "127.0.0.1:7002".into(),
                    up: false,
                    consecutive_timeouts: 3,
                    last_heard: Some(8_500),
                },
            ],
            ring_version: 3,
            ring_digest: Some(0xabc),
            claimant: Some("n1".into()),
            hints_pending: [("n2".to_owned(), 42)].into_iter().collect(),
            transfers_pending: Some(1),
            transfers: vec![
                TransferStatus {
                    partition: 12,
                    to: "n4".into(),
                    keys_sent: 1500,
                    done: false,
                },
                TransferStatus {
                    partition: 13,
                    to: "n4".into(),
                    keys_sent: 10,
                    done: true,
                },
            ],
            open_operations: 2,
            pending_writes: 0,
        };
        let text = render_status(&s, 10_000);
        let expected = "\
node n1 (valid)  ring v3 digest 0000000000000abc  claimant n1
open operations 2  pending writes 0  hints pending 42

MEMBER  STATUS  HEALTH  ADDRESS         TIMEOUTS  LAST HEARD  HINTS FOR IT
n1      valid   up      127.0.0.1:7001  0         -           0
n2      valid   DOWN    127.0.0.1:7002  3         1.5 s ago   42

partition transfers in progress: 1 (1 done)
PARTITION  TO  KEYS SENT
p12        n4  1500
";
        assert_eq!(text, expected);
    }

    #[test]
    fn ring_table() {
        let r = RingInfo {
            node: "n1".into(),
            version: 2,
            digest: Some(1),
            partition_count: 4,
            n: 2,
            members: vec![
                RingMember {
                    node: "n1".into(),
                    zone: None,
                    partitions: 3,
                    ..RingMember::default()
                },
                RingMember {
                    node: "n2".into(),
                    zone: Some("z".into()),
                    partitions: 1,
                    ..RingMember::default()
                },
            ],
            partitions: (0..4)
                .map(|i| RingPartition {
                    id: i,
                    owner: if i == 3 { "n2" } else { "n1" }.into(),
                    preference_list: vec!["n1".into(), "n2".into()],
                })
                .collect(),
        };
        let text = render_ring(&r, true);
        assert!(text.starts_with("ring v2 digest 0000000000000001  4 partitions"));
        assert!(text.contains("n1      -     3           75.0%\n"), "{text}");
        assert!(text.contains("p3         n2     n1 n2\n"), "{text}");
        let none = RingInfo {
            node: "n9".into(),
            ..RingInfo::default()
        };
        assert_eq!(render_ring(&none, false), "node n9 has no ring yet\n");
    }

    #[test]
    fn siblings_and_binary_values() {
        let o = Object {
            context: Some(Context::from_token("c")),
            siblings: vec![
                Sibling {
                    value: Bytes::from_static(b"a"),
                    content_type: "text/plain".into(),
                    deleted: false,
                    last_modified: None,
                },
                Sibling {
                    value: Bytes::new(),
                    content_type: String::new(),
                    deleted: true,
                    last_modified: None,
                },
            ],
        };
        assert_eq!(
            render_siblings(&o),
            "2 siblings (resolve them and put the result with the context):\n\
             --- sibling 1 (text/plain)\na\n--- sibling 2: deleted\n"
        );
        assert_eq!(printable(b"\xff"), "base64:/w==");
        assert_eq!(object_json(&o)["siblings"][0]["value"], "a");
    }
}
