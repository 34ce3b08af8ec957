//! Bad directories: a file instead of a directory, foreign files, another engine's store, a
//! newer layout, and paths without permission. Each must give a clear typed error and leave
//! the directory as it was — never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::{TestDir, needs_persistence};
use crate::marker::MARKER_FILE;
use crate::{Durability, Error, StorageEngine, WriteBatch};

fn expect_wrong_format<E: StorageEngine>(dir: &TestDir, what: &str) {
    match dir.open::<E>(&["data"]) {
        Err(Error::WrongFormat { expected, .. }) => assert_eq!(expected, E::NAME),
        Err(other) => panic!("{what}: expected WrongFormat, got {other:?}"),
        Ok(_) => panic!("{what}: the {} engine opened it", E::NAME),
    }
}

pub fn open_on_regular_file<E: StorageEngine>() {
    if !needs_persistence::<E>("open_on_regular_file") {
        return;
    }
    let dir = TestDir::new();
    fs::write(dir.store_path(), b"not a directory").unwrap();
    expect_wrong_format::<E>(&dir, "a regular file");
    assert_eq!(fs::read(dir.store_path()).unwrap(), b"not a directory");
}

pub fn open_directory_of_unknown_files<E: StorageEngine>() {
    if !needs_persistence::<E>("open_directory_of_unknown_files") {
        return;
    }
    let dir = TestDir::new();
    fs::create_dir(dir.store_path()).unwrap();
    let precious = dir.store_path().join("precious.txt");
    fs::write(&precious, b"someone's data").unwrap();
    expect_wrong_format::<E>(&dir, "a directory of unknown files");
    assert_eq!(fs::read(&precious).unwrap(), b"someone's data");
    assert_eq!(
        fs::read_dir(dir.store_path()).unwrap().count(),
        1,
        "nothing was added"
    );
}

pub fn open_directory_of_another_engine<E: StorageEngine>() {
    if !needs_persistence::<E>("open_directory_of_another_engine") {
        return;
    }
    let dir = TestDir::new();
    fs::create_dir(dir.store_path()).unwrap();
    let other = if E::NAME == "redb" { "lmdb" } else { "redb" };
    fs::write(
        dir.store_path().join(MARKER_FILE),
        format!("engine={other}\nformat=1\n"),
    )
    .unwrap();
    fs::write(dir.store_path().join("their-data"), b"x").unwrap();
    match dir.open::<E>(&["data"]) {
        Err(Error::WrongFormat { found, .. }) => assert!(found.contains(other), "{found}"),
        Err(other) => panic!("expected WrongFormat, got {other:?}"),
        Ok(_) => panic!("opened another engine's store"),
    }
    assert_eq!(
        fs::read_dir(dir.store_path()).unwrap().count(),
        2,
        "nothing was added"
    );
}

pub fn open_newer_layout<E: StorageEngine>() {
    if !needs_persistence::<E>("open_newer_layout") {
        return;
    }
    let dir = TestDir::new();
    drop(dir.open::<E>(&["data"]).unwrap());
    fs::write(
        dir.store_path().join(MARKER_FILE),
        format!("engine={}\nformat=999\n", E::NAME),
    )
    .unwrap();
    expect_wrong_format::<E>(&dir, "a newer layout version");
    // A marker that is not a marker at all.
    fs::write(dir.store_path().join(MARKER_FILE), [0xff, 0x00, 0x13]).unwrap();
    expect_wrong_format::<E>(&dir, "a garbage marker");
}

fn is_root() -> bool {
    // The owner of a file we just made is our effective user.
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().expect("temporary file");
    probe
        .as_file()
        .metadata()
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Takes every permission away from `path` (recursively). Root is not stopped by permission
/// bits, so for root the files are made immutable instead (`chattr +i`), which stops root too.
fn lock(path: &Path) {
    if is_root() {
        let status = Command::new("chattr")
            .arg("-R")
            .arg("+i")
            .arg(path)
            .status()
            .expect("run chattr (e2fsprogs) to make files immutable, since root ignores permission bits");
        assert!(status.success(), "chattr +i {} failed", path.display());
    } else {
        chmod_recursive(path, 0o000);
    }
}

fn unlock(path: &Path) {
    if is_root() {
        let _ = Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(path)
            .status();
    } else {
        chmod_recursive(path, 0o700);
    }
}

fn chmod_recursive(path: &Path, mode: u32) {
    if mode != 0 {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
    }
    if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.flatten() {
            chmod_recursive(&entry.path(), mode);
        }
    }
    if mode == 0 {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
    }
}

/// Unlocks a path when dropped, so that the temporary directory can be removed.
struct Unlock<'a>(&'a Path);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        unlock(self.0);
    }
}

pub fn permission_denied_creating<E: StorageEngine>() {
    if !needs_persistence::<E>("permission_denied_creating") {
        return;
    }
    let dir = TestDir::new();
    let parent = dir.root().join("locked");
    fs::create_dir(&parent).unwrap();
    lock(&parent);
    let _unlock = Unlock(&parent);
    let config = crate::EngineConfig::new(parent.join("store"), ["data"]);
    match E::open(&config) {
        Err(e) => assert!(
            e.is_permission_denied(),
            "expected permission denied, got {e:?}"
        ),
        Ok(_) => panic!("created a store in a directory without permission"),
    }
}

pub fn permission_denied_opening<E: StorageEngine>() {
    if !needs_persistence::<E>("permission_denied_opening") {
        return;
    }
    let dir = TestDir::new();
    {
        let e: E = dir.open(&["data"]).unwrap();
        let ks = e.keyspace("data").unwrap();
        let mut batch = WriteBatch::new();
        batch.put(ks, b"k".to_vec(), b"v".to_vec());
        e.write(&batch, Durability::Sync).unwrap();
    }
    let store = dir.store_path();
    lock(&store);
    {
        let _unlock = Unlock(&store);
        match dir.open::<E>(&["data"]) {
            Err(e) => assert!(
                e.is_permission_denied(),
                "expected permission denied, got {e:?}"
            ),
            Ok(_) => panic!("opened a store without permission"),
        }
    }
    // With permission back, the store opens and kept its data.
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    assert_eq!(e.get(ks, b"k").unwrap().as_deref(), Some(&b"v"[..]));
}
