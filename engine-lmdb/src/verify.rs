//! A structural check of LMDB's data file, run before LMDB reads any data page.
//!
//! LMDB keeps no checksums and trusts every byte of its map: a damaged page number, node offset
//! or size makes it read outside a page or past the end of the file, which kills the process
//! with SIGSEGV or SIGBUS (or, in debug builds, with one of LMDB's assertions) rather than
//! returning an error. So, before the engine lets LMDB read the trees, this module walks them
//! itself, from the current meta page, with ordinary file reads (never the map), and checks
//! everything LMDB would dereference:
//!
//! - every page reached lies inside the file and below the meta page's last page, is reached
//!   once, names itself in its header, and is a branch or leaf page as expected;
//! - its free-space bounds and every node offset, key size and inline value size stay inside
//!   the page; branch pages hold at least two keys (LMDB asserts it), all leaves of a tree are
//!   at the same depth, no deeper than LMDB's cursor stack;
//! - large values point to an overflow run that lies inside the file and is long enough;
//! - keyspace records in the main tree are well-formed and name no flag this engine never sets;
//! - the free-page lists are sorted page numbers below the last page that no tree uses.
//!
//! What it cannot see: damage inside keys and values, or keys out of order, since LMDB stores
//! no checksum; such damage reads back as wrong data (or keys not found), never as a crash.
//! The layout constants follow `mdb.c` of LMDB 0.9.70 (lmdb-master-sys 0.2.6) on 64-bit
//! targets.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use engine_api::{Error, Result};

use crate::error::{ENGINE, io_error};

/// Size of a page header (`PAGEHDRSZ`).
const PAGE_HEADER: usize = 16;
/// Size of a node header (`NODESIZE`).
const NODE_HEADER: usize = 8;
/// Size of a database record (`sizeof(MDB_db)`).
const DB_RECORD: usize = 48;
/// The two meta pages come first (`NUM_METAS`).
const NUM_METAS: u64 = 2;
/// Longest key LMDB stores (`MDB_MAXKEYSIZE`).
const MAX_KEY: usize = 511;
/// Deepest tree LMDB's cursors can walk (`CURSOR_STACK`).
const CURSOR_STACK: usize = 32;
/// An empty tree's root (`P_INVALID`).
const NO_PAGE: u64 = u64::MAX;
/// `MDB_MAGIC`.
const MAGIC: u32 = 0xBEEF_C0DE;

const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
/// Every page-type bit (branch, leaf, overflow, meta, leaf2, sub-page).
const P_TYPES: u16 = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40;

const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;

/// What the check counted, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Branch and leaf pages read.
    pub(crate) tree_pages: u64,
    /// Overflow pages of large values (their headers are read, not their contents).
    pub(crate) overflow_pages: u64,
    /// Key-value pairs of the keyspaces.
    pub(crate) entries: u64,
    /// Pages listed as free.
    pub(crate) free_pages: u64,
}

/// The kind of tree being walked, which decides what its leaves may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// LMDB's free-page tree: keys are transaction ids, values lists of page numbers.
    Free,
    /// The main tree: keys are keyspace names, values keyspace records.
    Main,
    /// A keyspace.
    Keyspace,
}

/// A database record (`MDB_db`), as far as the check needs it.
#[derive(Debug, Clone, Copy)]
struct DbRecord {
    flags: u16,
    root: u64,
}

impl DbRecord {
    /// Parses the 48 bytes of an `MDB_db`.
    fn parse(b: &[u8]) -> Self {
        DbRecord {
            flags: u16_at(b, 4),
            root: u64_at(b, 40),
        }
    }
}

// The readers below are only called with offsets checked against the slice's length.
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Checks the data file `data_file` of an LMDB environment; see the module documentation.
///
/// Call it with the environment open (so that LMDB has checked the meta pages' magic number
/// and version) and before any transaction reads a data page.
///
/// # Errors
/// [`Error::Corruption`] naming the first damage found; [`Error::Io`] when the file cannot be
/// read.
pub(crate) fn verify_data_file(data_file: &Path) -> Result<Report> {
    let file = File::open(data_file).map_err(|e| io_error(data_file, e, "open the data file"))?;
    let len = file
        .metadata()
        .map_err(|e| io_error(data_file, e, "examine the data file"))?
        .len();
    let mut checker = Checker {
        file,
        path: data_file.to_owned(),
        page_size: 0,
        limit: 0,
        last_page: 0,
        seen: Vec::new(),
        records: Vec::new(),
        free: Vec::new(),
        report: Report::default(),
    };
    let (free, main) = checker.read_meta(len)?;
    checker.walk(free, Tree::Free)?;
    checker.walk(main, Tree::Main)?;
    for record in std::mem::take(&mut checker.records) {
        checker.walk(record, Tree::Keyspace)?;
    }
    for &pgno in &checker.free {
        if pgno < checker.limit && checker.is_seen(pgno) {
            return Err(checker.corrupt(format!("page {pgno} is both free and in use")));
        }
    }
    Ok(checker.report)
}

struct Checker {
    file: File,
    path: PathBuf,
    page_size: usize,
    /// Pages a tree may use: below the meta page's last page and inside the file.
    limit: u64,
    /// The meta page's last page number: free pages may lie beyond the end of the file (LMDB
    /// does not write pages freed in the transaction that allocated them), not beyond this.
    last_page: u64,
    /// One bit per page below `limit`: reached by a tree already.
    seen: Vec<u64>,
    /// Keyspace records found in the main tree, walked after it.
    records: Vec<DbRecord>,
    /// Pages listed by the free-page tree.
    free: Vec<u64>,
    report: Report,
}

impl Checker {
    fn corrupt(&self, message: String) -> Error {
        Error::Corruption {
            engine: ENGINE,
            message: format!("{}: {message}", self.path.display()),
            source: None,
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.corrupt(format!(
                    "the file ends before byte {} that a page needs",
                    offset + buf.len() as u64
                ))
            } else {
                io_error(&self.path, e, "read the data file")
            }
        })
    }

    /// Reads both meta pages, picks the current one as LMDB does (the higher transaction id),
    /// and returns the roots of the free-page tree and of the main tree.
    fn read_meta(&mut self, len: u64) -> Result<(DbRecord, DbRecord)> {
        // An MDB_meta after the page header: magic, version, address, map size, the free and
        // main database records, last page, transaction id.
        const META: usize = 8 + 8 + 8 + 2 * DB_RECORD + 8 + 8;
        let mut first = [0u8; PAGE_HEADER + META];
        self.read_at(0, &mut first)?;
        // The page size is the free tree record's `md_pad`, as LMDB reads it.
        let page_size = u32_at(&first, PAGE_HEADER + 24);
        if !page_size.is_power_of_two() || !(512..=32768).contains(&page_size) {
            return Err(self.corrupt(format!("meta page 0 gives page size {page_size}")));
        }
        self.page_size = page_size as usize;
        let mut second = [0u8; PAGE_HEADER + META];
        self.read_at(u64::from(page_size), &mut second)?;
        for (i, meta) in [&first, &second].into_iter().enumerate() {
            if u32_at(meta, PAGE_HEADER) != MAGIC {
                return Err(self.corrupt(format!("meta page {i} has no LMDB magic number")));
            }
        }
        let txnid = |m: &[u8]| u64_at(m, PAGE_HEADER + 128);
        let m = if txnid(&first) < txnid(&second) {
            &second[PAGE_HEADER..]
        } else {
            &first[PAGE_HEADER..]
        };
        let free = DbRecord::parse(&m[24..24 + DB_RECORD]);
        let main = DbRecord::parse(&m[72..72 + DB_RECORD]);
        self.last_page = u64_at(m, 120);
        if self.last_page < NUM_METAS - 1 {
            return Err(self.corrupt(format!("meta page names last page {}", self.last_page)));
        }
        self.limit = self
            .last_page
            .saturating_add(1)
            .min(len / u64::from(page_size));
        let words = usize::try_from(self.limit.div_ceil(64))
            .map_err(|_| self.corrupt("the file is too large to check".into()))?;
        self.seen = vec![0; words];
        Ok((free, main))
    }

    fn is_seen(&self, pgno: u64) -> bool {
        self.seen[(pgno / 64) as usize] & (1 << (pgno % 64)) != 0
    }

    /// Marks `count` pages from `pgno` as used, failing when one lies outside the pages that
    /// hold data or is used already.
    fn claim(&mut self, pgno: u64, count: u64, what: &str) -> Result<()> {
        let inside = pgno
            .checked_add(count)
            .is_some_and(|end| pgno >= NUM_METAS && end <= self.limit);
        if !inside {
            return Err(self.corrupt(format!(
                "{what} names page {pgno} (+{count}), outside pages {NUM_METAS}..{} that hold data",
                self.limit
            )));
        }
        for p in pgno..pgno + count {
            if self.is_seen(p) {
                return Err(self.corrupt(format!("{what}: page {p} is reached twice")));
            }
            self.seen[(p / 64) as usize] |= 1 << (p % 64);
        }
        Ok(())
    }

    /// Walks the tree of `db`, checking each of its pages.
    fn walk(&mut self, db: DbRecord, tree: Tree) -> Result<()> {
        if db.root == NO_PAGE {
            return Ok(());
        }
        if tree == Tree::Keyspace && db.flags != 0 {
            return Err(self.corrupt(format!(
                "a keyspace has LMDB flags {:#x}, which this engine never sets",
                db.flags
            )));
        }
        let mut page = vec![0u8; self.page_size];
        let mut leaf_depth = None;
        let mut stack = vec![(db.root, 1usize)];
        while let Some((pgno, depth)) = stack.pop() {
            if depth > CURSOR_STACK {
                return Err(self.corrupt(format!("a tree is deeper than {CURSOR_STACK} levels")));
            }
            self.claim(pgno, 1, "a tree")?;
            self.read_at(pgno * self.page_size as u64, &mut page)?;
            self.report.tree_pages += 1;
            let header_pgno = u64_at(&page, 0);
            if header_pgno != pgno {
                return Err(self.corrupt(format!("page {pgno} calls itself page {header_pgno}")));
            }
            let flags = u16_at(&page, 10);
            let lower = usize::from(u16_at(&page, 12));
            let upper = usize::from(u16_at(&page, 14));
            if lower < PAGE_HEADER
                || lower > upper
                || upper > self.page_size
                || !(lower - PAGE_HEADER).is_multiple_of(2)
            {
                return Err(self.corrupt(format!(
                    "page {pgno} has free-space bounds {lower}..{upper}"
                )));
            }
            let keys = (lower - PAGE_HEADER) / 2;
            match flags & P_TYPES {
                P_BRANCH => {
                    // LMDB asserts that branch pages hold two keys, except in the free tree
                    // while it rebalances.
                    let least = if tree == Tree::Free { 1 } else { 2 };
                    if keys < least {
                        return Err(self.corrupt(format!("branch page {pgno} holds {keys} keys")));
                    }
                    for i in 0..keys {
                        let node = self.node(&page, pgno, i, upper)?;
                        let child = u64::from(node.lo)
                            | u64::from(node.hi) << 16
                            | u64::from(node.flags) << 32;
                        stack.push((child, depth + 1));
                    }
                }
                P_LEAF => {
                    match leaf_depth {
                        None => leaf_depth = Some(depth),
                        Some(d) if d != depth => {
                            return Err(self.corrupt(format!(
                                "leaf page {pgno} is at depth {depth}, other leaves at {d}"
                            )));
                        }
                        Some(_) => {}
                    }
                    for i in 0..keys {
                        let node = self.node(&page, pgno, i, upper)?;
                        self.check_leaf_node(&page, pgno, &node, tree)?;
                    }
                }
                _ => {
                    return Err(self.corrupt(format!(
                        "page {pgno} of a tree is not a branch or leaf page (flags {flags:#x})"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The `i`-th node of `page`, checked to lie inside it with its key.
    fn node(&self, page: &[u8], pgno: u64, i: usize, upper: usize) -> Result<Node> {
        let at = usize::from(u16_at(page, PAGE_HEADER + 2 * i));
        if at < upper || at + NODE_HEADER > page.len() {
            return Err(self.corrupt(format!(
                "node {i} of page {pgno} is at offset {at}, outside the page's node area"
            )));
        }
        let node = Node {
            lo: u16_at(page, at),
            hi: u16_at(page, at + 2),
            flags: u16_at(page, at + 4),
            key_len: usize::from(u16_at(page, at + 6)),
            key_end: 0,
        };
        let key_end = at + NODE_HEADER + node.key_len;
        if node.key_len > MAX_KEY || key_end > page.len() {
            return Err(self.corrupt(format!(
                "node {i} of page {pgno} has a key of {} bytes",
                node.key_len
            )));
        }
        Ok(Node { key_end, ..node })
    }

    fn check_leaf_node(&mut self, page: &[u8], pgno: u64, node: &Node, tree: Tree) -> Result<()> {
        let data_len = usize::from(node.lo) | usize::from(node.hi) << 16;
        let key_ok = match tree {
            Tree::Free => node.key_len == 8,
            Tree::Main | Tree::Keyspace => node.key_len >= 1,
        };
        let flags_ok = match tree {
            Tree::Free | Tree::Keyspace => node.flags & !F_BIGDATA == 0,
            Tree::Main => node.flags == 0 || node.flags == F_SUBDATA,
        };
        if !key_ok || !flags_ok {
            return Err(self.corrupt(format!(
                "a leaf node of page {pgno} has a key of {} bytes and flags {:#x}",
                node.key_len, node.flags
            )));
        }
        let data = node.key_end;
        if node.flags & F_BIGDATA != 0 {
            // The value is on an overflow run: the node holds its first page number.
            if data + 8 > page.len() {
                return Err(self.corrupt(format!("a large value node of page {pgno} is cut")));
            }
            let first = u64_at(page, data);
            self.claim_overflow(first, data_len, pgno)?;
            if tree == Tree::Free {
                let mut list = vec![0u8; data_len];
                self.read_at(
                    first * self.page_size as u64 + PAGE_HEADER as u64,
                    &mut list,
                )?;
                self.check_free_list(&list, pgno)?;
            }
        } else {
            if data + data_len > page.len() {
                return Err(
                    self.corrupt(format!("a value of {data_len} bytes overruns page {pgno}"))
                );
            }
            let value = &page[data..data + data_len];
            match tree {
                Tree::Free => self.check_free_list(value, pgno)?,
                Tree::Main if node.flags == F_SUBDATA => {
                    if data_len != DB_RECORD {
                        return Err(self.corrupt(format!(
                            "a keyspace record of page {pgno} has {data_len} bytes"
                        )));
                    }
                    self.records.push(DbRecord::parse(value));
                }
                Tree::Main => {}
                Tree::Keyspace => self.report.entries += 1,
            }
        }
        if tree == Tree::Keyspace && node.flags & F_BIGDATA != 0 {
            self.report.entries += 1;
        }
        Ok(())
    }

    /// Checks the overflow run of a value of `data_len` bytes starting at page `first`.
    fn claim_overflow(&mut self, first: u64, data_len: usize, from: u64) -> Result<()> {
        if first < NUM_METAS || first >= self.limit {
            return Err(self.corrupt(format!(
                "a large value of page {from} names overflow page {first}, outside the data"
            )));
        }
        let mut header = [0u8; PAGE_HEADER];
        self.read_at(first * self.page_size as u64, &mut header)?;
        let flags = u16_at(&header, 10);
        let pages = u64::from(u32_at(&header, 12));
        // OVPAGES(size, psize)
        let needed = ((PAGE_HEADER - 1 + data_len) / self.page_size + 1) as u64;
        if u64_at(&header, 0) != first || flags & P_TYPES != P_OVERFLOW || pages < needed {
            return Err(self.corrupt(format!(
                "overflow page {first} of a {data_len}-byte value of page {from} is damaged \
                 (flags {flags:#x}, {pages} pages)"
            )));
        }
        self.claim(first, pages, "an overflow run")?;
        self.report.overflow_pages += pages;
        Ok(())
    }

    /// Checks a free-page list (`MDB_IDL`): a count, then that many page numbers in descending
    /// order, none beyond the last page.
    fn check_free_list(&mut self, list: &[u8], pgno: u64) -> Result<()> {
        let words = list.len() / 8;
        if words == 0 || !list.len().is_multiple_of(8) || u64_at(list, 0) != words as u64 - 1 {
            return Err(self.corrupt(format!(
                "a free-page list of page {pgno} has {} bytes, not a count and that many pages",
                list.len()
            )));
        }
        let count = words as u64 - 1;
        let mut previous = u64::MAX;
        for i in 1..words {
            let free = u64_at(list, 8 * i);
            if free >= previous || free < NUM_METAS || free > self.last_page {
                return Err(self.corrupt(format!(
                    "a free-page list of page {pgno} lists page {free} out of order or range"
                )));
            }
            previous = free;
            self.free.push(free);
        }
        self.report.free_pages += count;
        Ok(())
    }
}

/// A node's header, and where its key ends (its value starts).
#[derive(Debug, Clone, Copy)]
struct Node {
    lo: u16,
    hi: u16,
    flags: u16,
    key_len: usize,
    key_end: usize,
}
