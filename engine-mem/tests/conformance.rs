//! The shared engine conformance suite, run against the memory engine.

engine_api::conformance_tests!(engine_mem::MemEngine);
