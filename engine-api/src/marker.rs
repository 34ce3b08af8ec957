//! The marker file that says which engine owns a directory.
//!
//! Backing crates react badly, or not at all, to a directory of another engine's files: LMDB
//! would happily create `data.mdb` beside fjall's journals. So every persistent engine calls
//! [`claim_dir`] before handing the directory to its crate: a new, empty directory gets a marker
//! naming the engine; an existing one must carry the same engine's marker, otherwise opening it
//! is a clear [`Error::WrongFormat`] and nothing in the directory is touched.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::{Error, Result};

/// Name of the marker file inside a store's directory.
pub const MARKER_FILE: &str = "DYNAMO_ENGINE";

/// What a marker file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The engine's short name.
    pub engine: String,
    /// The version of our layout on top of the engine's files.
    pub format: u32,
}

impl Marker {
    fn encode(&self) -> String {
        format!("engine={}\nformat={}\n", self.engine, self.format)
    }

    fn decode(text: &str) -> Option<Marker> {
        let mut engine = None;
        let mut format = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("engine", v)) => engine = Some(v.trim().to_owned()),
                Some(("format", v)) => format = v.trim().parse().ok(),
                _ => return None,
            }
        }
        Some(Marker {
            engine: engine?,
            format: format?,
        })
    }
}

/// Makes sure `dir` is a directory owned by `engine` at layout version `format`, creating it
/// (with its marker) when missing or empty.
///
/// # Errors
/// [`Error::WrongFormat`] when `dir` is a file, holds another engine's marker, holds files but
/// no marker, or has a newer format than `format`; [`Error::Io`] when the directory cannot be
/// created or read (for example without permission).
pub fn claim_dir(dir: &Path, engine: &'static str, format: u32) -> Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::WrongFormat {
                expected: engine,
                found: "a file, not a directory".into(),
                path: dir.to_owned(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Err(e) => return Err(Error::io(dir, e)),
    }

    let marker_path = dir.join(MARKER_FILE);
    match fs::read(&marker_path) {
        Ok(bytes) => {
            let marker = std::str::from_utf8(&bytes)
                .ok()
                .and_then(Marker::decode)
                .ok_or_else(|| Error::WrongFormat {
                    expected: engine,
                    found: format!("an unreadable {MARKER_FILE} marker file"),
                    path: dir.to_owned(),
                })?;
            if marker.engine != engine {
                return Err(Error::WrongFormat {
                    expected: engine,
                    found: format!("a {} store", marker.engine),
                    path: dir.to_owned(),
                });
            }
            if marker.format > format {
                return Err(Error::WrongFormat {
                    expected: engine,
                    found: format!(
                        "layout version {}, newer than version {format} that this build reads",
                        marker.format
                    ),
                    path: dir.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let mut entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
            if let Some(entry) = entries.next() {
                let entry = entry.map_err(|e| Error::io(dir, e))?;
                return Err(Error::WrongFormat {
                    expected: engine,
                    found: format!(
                        "files not made by a dynamo engine (such as {:?}) and no {MARKER_FILE} marker",
                        entry.file_name()
                    ),
                    path: dir.to_owned(),
                });
            }
            write_marker(dir, &marker_path, engine, format)
        }
        Err(e) => Err(Error::io(&marker_path, e)),
    }
}

/// Writes the marker atomically (temporary file, fsync, rename, fsync of the directory).
fn write_marker(dir: &Path, marker_path: &Path, engine: &str, format: u32) -> Result<()> {
    let marker = Marker {
        engine: engine.to_owned(),
        format,
    };
    let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
    let mut file = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(marker.encode().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, marker_path).map_err(|e| Error::io(marker_path, e))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips() {
        let m = Marker {
            engine: "lmdb".into(),
            format: 3,
        };
        assert_eq!(Marker::decode(&m.encode()), Some(m));
        assert_eq!(Marker::decode("garbage"), None);
        assert_eq!(Marker::decode("engine=x\n"), None);
    }
}
