//! Choosing engines by name, opening them, and refusing another engine's directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_any::{AnyEngine, Engine};
use engine_api::{Durability, EngineConfig, Error, StorageEngine, WriteBatch};

#[test]
fn names_and_aliases_parse() {
    for (text, engine) in [
        ("mem", Engine::Mem),
        ("memory", Engine::Mem),
        ("lmdb", Engine::Lmdb),
        ("heed", Engine::Lmdb),
        ("lsm", Engine::Lsm),
        ("fjall", Engine::Lsm),
        ("redb", Engine::Redb),
        (" Redb ", Engine::Redb),
        ("LMDB", Engine::Lmdb),
    ] {
        assert_eq!(text.parse::<Engine>().unwrap(), engine, "{text}");
    }
    for engine in Engine::ALL {
        assert_eq!(engine.name().parse::<Engine>().unwrap(), engine);
        assert_eq!(engine.to_string(), engine.name());
    }
    let err = "rocksdb".parse::<Engine>().unwrap_err();
    assert!(err.to_string().contains("rocksdb"), "{err}");
    assert!(err.to_string().contains("lmdb"), "{err}");
}

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig::new(dir.join("store"), ["data", "meta"])
}

#[test]
fn every_engine_opens_or_says_it_is_not_in_this_build() {
    for engine in Engine::ALL {
        let dir = tempfile::tempdir().unwrap();
        match engine.open(&config(dir.path())) {
            Ok(store) => {
                assert!(engine.is_available());
                assert_eq!(store.kind(), engine);
                let data = store.keyspace("data").unwrap();
                let mut batch = WriteBatch::new();
                batch.put(data, &b"k"[..], &b"v"[..]);
                store.write(&batch, Durability::Sync).unwrap();
                assert_eq!(store.get(data, b"k").unwrap().as_deref(), Some(&b"v"[..]));
            }
            Err(Error::Unsupported(message)) => {
                assert!(!engine.is_available(), "{engine}: {message}");
                assert!(message.contains("not available in this build"), "{message}");
                assert!(message.contains(engine.feature()), "{message}");
            }
            Err(other) => panic!("{engine}: {other:?}"),
        }
    }
    // Whatever the build, the message for a missing engine is the same clear one.
    let message = Engine::Redb.unavailable_error().to_string();
    assert!(message.contains("not available in this build"), "{message}");
}

#[test]
fn an_engine_refuses_another_engines_directory() {
    let persistent: Vec<Engine> = Engine::available()
        .into_iter()
        .filter(|e| *e != Engine::Mem)
        .collect();
    for &owner in &persistent {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = owner.open(&config(dir.path())).unwrap();
            let data = store.keyspace("data").unwrap();
            let mut batch = WriteBatch::new();
            batch.put(data, &b"k"[..], &b"v"[..]);
            store.write(&batch, Durability::Sync).unwrap();
        }
        for &intruder in &persistent {
            if intruder == owner {
                continue;
            }
            match intruder.open(&config(dir.path())) {
                Err(Error::WrongFormat { found, .. }) => {
                    assert!(
                        found.contains(owner.name()),
                        "{intruder} on {owner}: {found}"
                    )
                }
                Err(other) => panic!("{intruder} on {owner}: expected WrongFormat, got {other:?}"),
                Ok(_) => panic!("{intruder} opened a {owner} store"),
            }
        }
        // The owner's data is untouched, and AnyEngine finds the owner from the marker.
        assert_eq!(
            Engine::detect(&dir.path().join("store")).unwrap(),
            Some(owner)
        );
        let store = AnyEngine::open(&config(dir.path())).unwrap();
        assert_eq!(store.kind(), owner);
        let data = store.keyspace("data").unwrap();
        assert_eq!(store.get(data, b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }
}

#[test]
fn a_new_directory_gets_the_default_engine() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Engine::detect(&dir.path().join("store")).unwrap(), None);
    let store = AnyEngine::open(&config(dir.path())).unwrap();
    assert_eq!(Some(store.kind()), Engine::default_for_build());
}
