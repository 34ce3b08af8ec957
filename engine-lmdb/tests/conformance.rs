//! The shared engine conformance suite, run against the LMDB engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

engine_api::conformance_tests!(engine_lmdb::LmdbEngine);
