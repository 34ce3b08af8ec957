//! [`RedbEngine`]: opening the store, point reads, write batches, flush and close.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use engine_api::{
    BatchOp, Durability, EngineConfig, Error, Keyspace, Result, StorageEngine, WriteBatch,
    check_batch, check_key, check_keyspace, marker,
};
use redb::{Database, ReadableDatabase, TableDefinition, TableHandle};

use crate::error::{from_io, from_redb, guard};
use crate::snapshot::RedbSnapshot;
use crate::{FORMAT, NAME};

/// Name of the redb database file inside the store's directory.
pub const DATA_FILE: &str = "data.redb";

/// Name under which a new database file is built before it is renamed to [`DATA_FILE`], so
/// that a [`DATA_FILE`] always holds an initialised database and an empty one is damage.
const NEW_DATA_FILE: &str = "data.redb.new";

/// Keys and values are raw byte strings, compared as unsigned bytes.
pub(crate) type Bin = &'static [u8];

/// The definition of the table that holds keyspace `name`.
#[inline]
pub(crate) fn table_def(name: &str) -> TableDefinition<'_, Bin, Bin> {
    TableDefinition::new(name)
}

/// A storage engine over one redb database file; see the crate documentation.
#[derive(Debug)]
pub struct RedbEngine {
    /// `None` only once [`RedbEngine::close`] or `drop` has taken it.
    db: Option<Database>,
    /// Keyspace names, in handle order; each names the redb table that holds it.
    names: Vec<String>,
    /// The database file, for error messages.
    file: PathBuf,
}

impl RedbEngine {
    /// Path of the redb database file.
    pub fn data_file(&self) -> &Path {
        &self.file
    }

    /// Reads every page of the database and verifies its checksums: the check redb runs by
    /// itself after an unclean shutdown, and otherwise only on request, since normal reads do
    /// not verify checksums.
    ///
    /// Returns `Ok(true)` when the file is intact, `Ok(false)` when it was damaged and redb
    /// repaired it by going back to the most recent commit whose pages all verify (later
    /// commits are lost), and `Err(Corruption)` when no intact commit is left.
    ///
    /// # Errors
    /// [`Error::Corruption`] as above; [`Error::Io`] when the file cannot be read; a failure of
    /// redb.
    pub fn check_integrity(&mut self) -> Result<bool> {
        let file = &self.file;
        let db = self.db.as_mut().ok_or_else(closed)?;
        guard(|| db.check_integrity().map_err(|e| from_redb(e, file)))
    }

    /// Closes the store, making every write durable, and reports what went wrong doing so.
    ///
    /// Dropping the engine does the same but cannot report an error.
    ///
    /// # Errors
    /// A failure of the final durable commit or of closing the file.
    pub fn close(mut self) -> Result<()> {
        self.close_db()
    }

    fn close_db(&mut self) -> Result<()> {
        let Some(db) = self.db.take() else {
            return Ok(());
        };
        let file = &self.file;
        // redb's close makes every pending `Durability::None` commit durable with one fsynced
        // commit (which also records the allocator state, so the next open needs no repair).
        guard(|| db.close().map_err(|e| from_redb(e, file)))
    }

    #[inline]
    fn db(&self) -> Result<&Database> {
        self.db.as_ref().ok_or_else(closed)
    }

    /// A durable commit of an empty transaction: makes every earlier commit durable.
    fn durable_commit(&self) -> Result<()> {
        let file = &self.file;
        let db = self.db()?;
        guard(|| {
            let txn = db.begin_write().map_err(|e| from_redb(e, file))?;
            txn.commit().map_err(|e| from_redb(e, file))
        })
    }
}

impl Drop for RedbEngine {
    fn drop(&mut self) {
        // A clean drop keeps `Buffered` writes: closing redb makes them durable. Nothing can be
        // reported from here; `close` reports the same errors.
        let _ = self.close_db();
    }
}

/// The error for an engine whose database was already closed (cannot be reached through the
/// public API, which consumes the engine on close).
#[cold]
fn closed() -> Error {
    Error::Backend {
        engine: NAME,
        message: "the redb database was closed".into(),
        source: Box::new(redb::StorageError::DatabaseClosed),
    }
}

impl StorageEngine for RedbEngine {
    type Snapshot<'e> = RedbSnapshot<'e>;
    const NAME: &'static str = NAME;
    const PERSISTENT: bool = true;

    fn open(config: &EngineConfig) -> Result<Self> {
        config.validate()?;
        // Before redb touches the directory: refuse another engine's files untouched.
        marker::claim_dir(&config.path, NAME, FORMAT)?;
        let file = config.path.join(DATA_FILE);
        let mut builder = redb::Builder::new();
        if let Some(bytes) = config.cache_size_bytes {
            builder.set_cache_size(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
        let db = guard(|| open_database(&builder, &config.path, &file, &config.keyspaces))?;
        Ok(Self {
            db: Some(db),
            names: config.keyspaces.clone(),
            file,
        })
    }

    fn keyspace_names(&self) -> &[String] {
        &self.names
    }

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let i = check_keyspace(&self.names, keyspace)?;
        check_key(key)?;
        let file = &self.file;
        let db = self.db()?;
        guard(|| {
            let txn = db.begin_read().map_err(|e| from_redb(e, file))?;
            let table = txn
                .open_table(table_def(&self.names[i]))
                .map_err(|e| from_redb(e, file))?;
            let value = table.get(key).map_err(|e| from_redb(e, file))?;
            Ok(value.map(|v| Bytes::copy_from_slice(v.value())))
        })
    }

    fn write(&self, batch: &WriteBatch, durability: Durability) -> Result<()> {
        check_batch(&self.names, batch)?;
        if batch.is_empty() {
            return match durability {
                Durability::Buffered => Ok(()),
                Durability::Sync => self.durable_commit(),
            };
        }
        let file = &self.file;
        let db = self.db()?;
        guard(|| {
            let mut txn = db.begin_write().map_err(|e| from_redb(e, file))?;
            if durability == Durability::Buffered {
                txn.set_durability(redb::Durability::None)
                    .map_err(|e| from_redb(e, file))?;
            }
            {
                // Tables opened so far in this transaction, by keyspace. A write transaction may
                // hold a table open only once, and must close them all before committing.
                let mut tables: Vec<Option<redb::Table<'_, Bin, Bin>>> =
                    (0..self.names.len()).map(|_| None).collect();
                for op in batch.ops() {
                    // check_batch made sure every keyspace is in range.
                    let i = op.keyspace().index();
                    let slot = &mut tables[i];
                    let table = match slot {
                        Some(table) => table,
                        None => slot.insert(
                            txn.open_table(table_def(&self.names[i]))
                                .map_err(|e| from_redb(e, file))?,
                        ),
                    };
                    match op {
                        BatchOp::Put { key, value, .. } => {
                            table
                                .insert(key.as_ref(), value.as_ref())
                                .map_err(|e| from_redb(e, file))?;
                        }
                        BatchOp::Delete { key, .. } => {
                            table.remove(key.as_ref()).map_err(|e| from_redb(e, file))?;
                        }
                    }
                }
            }
            // On an error above, dropping `txn` aborts it: nothing of the batch is applied.
            txn.commit().map_err(|e| from_redb(e, file))
        })
    }

    fn snapshot(&self) -> Result<RedbSnapshot<'_>> {
        let file = &self.file;
        let db = self.db()?;
        let txn = guard(|| db.begin_read().map_err(|e| from_redb(e, file)))?;
        Ok(RedbSnapshot::new(txn, &self.names, file))
    }

    fn flush(&self) -> Result<()> {
        self.durable_commit()
    }
}

/// Opens the database file `file` in `dir`, creating it when missing, and makes sure it has a
/// table per keyspace.
fn open_database(
    builder: &redb::Builder,
    dir: &Path,
    file: &Path,
    keyspaces: &[String],
) -> Result<Database> {
    let db = match fs::symlink_metadata(file) {
        // An existing file must hold a database: an empty or foreign one is damage, not a new
        // store, since new stores are built under another name first.
        Ok(_) => builder.open(file).map_err(|e| from_redb(e, file))?,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return create_database(builder, dir, file, keyspaces);
        }
        Err(e) => return Err(Error::io(file, e)),
    };
    ensure_tables(&db, keyspaces, file)?;
    Ok(db)
}

/// Builds a new database under [`NEW_DATA_FILE`] (replacing what an interrupted creation left),
/// with its tables, then renames it to `file` and syncs the directory.
fn create_database(
    builder: &redb::Builder,
    dir: &Path,
    file: &Path,
    keyspaces: &[String],
) -> Result<Database> {
    let new_file = dir.join(NEW_DATA_FILE);
    match fs::remove_file(&new_file) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&new_file, e)),
    }
    let db = builder
        .create(&new_file)
        .map_err(|e| from_redb(e, &new_file))?;
    ensure_tables(&db, keyspaces, &new_file)?;
    // The database stays open across the rename: its lock is on the file, not on the name.
    fs::rename(&new_file, file).map_err(|e| from_io(e, file))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    Ok(db)
}

/// Creates the tables of the keyspaces that have none yet, in one durable commit (none when
/// they all exist).
fn ensure_tables(db: &Database, keyspaces: &[String], file: &Path) -> Result<()> {
    let missing: Vec<&String> = {
        let txn = db.begin_read().map_err(|e| from_redb(e, file))?;
        let existing: Vec<String> = txn
            .list_tables()
            .map_err(|e| from_redb(e, file))?
            .map(|t| t.name().to_owned())
            .collect();
        keyspaces.iter().filter(|k| !existing.contains(k)).collect()
    };
    if missing.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write().map_err(|e| from_redb(e, file))?;
    for name in missing {
        drop(
            txn.open_table(table_def(name))
                .map_err(|e| from_redb(e, file))?,
        );
    }
    txn.commit().map_err(|e| from_redb(e, file))
}
