//! The `dynamo` command.

fn main() {}
