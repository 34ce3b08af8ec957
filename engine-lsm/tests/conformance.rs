#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The shared engine conformance suite, run against the fjall engine.

engine_api::conformance_tests!(engine_lsm::FjallEngine);
