//! A Rust client for the Dynamo store's HTTP API.
