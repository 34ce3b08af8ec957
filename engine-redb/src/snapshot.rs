//! [`RedbSnapshot`]: a redb read transaction, and [`RedbIter`], a range over one of its tables.

use std::cell::OnceCell;
use std::marker::PhantomData;
use std::path::Path;

use bytes::Bytes;
use engine_api::{Direction, KeyRange, Keyspace, Result, Snapshot, check_key, check_keyspace};
use redb::{ReadOnlyTable, ReadTransaction};

use crate::engine::{Bin, table_def};
use crate::error::{from_panic, from_redb, guard};

/// A consistent view of a [`crate::RedbEngine`]: one redb read transaction.
///
/// redb's read transactions are MVCC snapshots: writers go on while the snapshot lives, and the
/// pages it sees are not reused until it is dropped (so a long-lived snapshot holds space).
/// Each keyspace's table is opened on first use and kept for the snapshot's life, so that point
/// reads and scans after the first do not look the table up again.
pub struct RedbSnapshot<'e> {
    /// Opened tables, by keyspace handle.
    tables: Vec<OnceCell<ReadOnlyTable<Bin, Bin>>>,
    txn: ReadTransaction,
    names: &'e [String],
    file: &'e Path,
}

impl std::fmt::Debug for RedbSnapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbSnapshot")
            .field("file", &self.file)
            .field("keyspaces", &self.names)
            .finish_non_exhaustive()
    }
}

impl<'e> RedbSnapshot<'e> {
    pub(crate) fn new(txn: ReadTransaction, names: &'e [String], file: &'e Path) -> Self {
        Self {
            tables: (0..names.len()).map(|_| OnceCell::new()).collect(),
            txn,
            names,
            file,
        }
    }

    /// The table of keyspace number `i` (checked), opening it on first use.
    #[inline]
    fn table(&self, i: usize) -> Result<&ReadOnlyTable<Bin, Bin>> {
        let cell = &self.tables[i];
        if let Some(table) = cell.get() {
            return Ok(table);
        }
        let table = self
            .txn
            .open_table(table_def(&self.names[i]))
            .map_err(|e| from_redb(e, self.file))?;
        Ok(cell.get_or_init(|| table))
    }
}

impl Snapshot for RedbSnapshot<'_> {
    type Iter<'s>
        = RedbIter<'s>
    where
        Self: 's;

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let i = check_keyspace(self.names, keyspace)?;
        check_key(key)?;
        guard(|| {
            let value = self
                .table(i)?
                .get(key)
                .map_err(|e| from_redb(e, self.file))?;
            Ok(value.map(|v| Bytes::copy_from_slice(v.value())))
        })
    }

    fn scan(
        &self,
        keyspace: Keyspace,
        range: KeyRange,
        direction: Direction,
    ) -> Result<RedbIter<'_>> {
        let i = check_keyspace(self.names, keyspace)?;
        if range.is_empty() {
            // redb panics on an inverted range.
            return Ok(RedbIter {
                range: None,
                direction,
                file: self.file,
                _snapshot: PhantomData,
            });
        }
        let inner = guard(|| {
            self.table(i)?
                .range::<&[u8]>(range.as_slices())
                .map_err(|e| from_redb(e, self.file))
        })?;
        Ok(RedbIter {
            range: Some(inner),
            direction,
            file: self.file,
            _snapshot: PhantomData,
        })
    }
}

/// The key-value pairs of a range of one keyspace of a [`RedbSnapshot`], in order.
///
/// Stops after the first error it yields.
pub struct RedbIter<'s> {
    /// `None` for an empty range, or after an error.
    range: Option<redb::Range<'static, Bin, Bin>>,
    direction: Direction,
    file: &'s Path,
    /// Borrows the snapshot, as the trait wants, although the range holds its transaction.
    _snapshot: PhantomData<&'s ()>,
}

impl std::fmt::Debug for RedbIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbIter")
            .field("direction", &self.direction)
            .field("done", &self.range.is_none())
            .finish_non_exhaustive()
    }
}

impl Iterator for RedbIter<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        let range = self.range.as_mut()?;
        let direction = self.direction;
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let item = match direction {
                Direction::Forward => range.next(),
                Direction::Reverse => range.next_back(),
            };
            item.map(|entry| {
                entry.map(|(k, v)| {
                    (
                        Bytes::copy_from_slice(k.value()),
                        Bytes::copy_from_slice(v.value()),
                    )
                })
            })
        }));
        match step {
            Ok(Some(Ok(pair))) => Some(Ok(pair)),
            Ok(None) => {
                self.range = None;
                None
            }
            Ok(Some(Err(e))) => {
                self.range = None;
                Some(Err(from_redb(e, self.file)))
            }
            Err(payload) => {
                self.range = None;
                Some(Err(from_panic(payload.as_ref())))
            }
        }
    }
}
