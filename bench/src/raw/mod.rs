//! The raw crates, each set up and used exactly as its engine adapter uses it, so that
//! adapter time / raw time is the adapter's overhead and nothing else.
//!
//! | module | compared with | what is the same |
//! |---|---|---|
//! | [`btree`] | `engine_mem::MemEngine` | a `BTreeMap<Bytes, Bytes>` behind an `RwLock` (the memory engine has no crate under it) |
//! | [`lmdb`] | `engine_lmdb::LmdbEngine` | heed environment flags, map size, named database, commit and sync |
//! | [`fjall`] | `engine_lsm::FjallEngine` | fjall database options, keyspace options, batch persist mode, snapshot reads |
//! | [`redb`] | `engine_redb::RedbEngine` | redb builder options, table, commit durability |

pub mod btree;
pub mod fjall;
pub mod lmdb;
pub mod redb;
