//! The data directory: made on first start, and held with an exclusive lock while the
//! server runs, so that two servers never share one database.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// The data directory's lock file (held locked while the server runs).
const LOCK_FILE: &str = "lock";

/// Why the server can't start on its data directory. Each says which path, in one line.
#[derive(Debug)]
pub enum StartError {
    /// The directory doesn't exist and can't be made, or can't be used.
    Directory { path: PathBuf, source: io::Error },
    /// Another server holds the directory.
    InUse { path: PathBuf },
    /// The database file can't be opened, or isn't a chat-server database (corrupt, or
    /// something else).
    Database { path: PathBuf, problem: String },
    /// The database was made by a newer chat-server.
    Newer {
        path: PathBuf,
        version: i64,
        known: i64,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Directory { path, source } => {
                write!(
                    f,
                    "can't use the data directory {}: {source}",
                    path.display()
                )
            }
            StartError::InUse { path } => write!(
                f,
                "the data directory {} is in use by another chat-server; give each server \
                 its own --data-dir",
                path.display()
            ),
            StartError::Database { path, problem } => write!(
                f,
                "{} is not a database this chat-server can use ({problem}); it was left as \
                 it is: move it away, or give another --data-dir",
                path.display()
            ),
            StartError::Newer {
                path,
                version,
                known,
            } => write!(
                f,
                "{} was written by a newer chat-server (schema version {version}; this one \
                 knows up to {known}); it was left as it is: run the newer server, or give \
                 another --data-dir",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// The platform's data directory for the server: `$XDG_DATA_HOME/chat-server`, or
/// `~/.local/share/chat-server` on Linux.
pub fn default_data_dir() -> Option<PathBuf> {
    Some(dirs::data_dir()?.join("chat-server"))
}

/// A data directory this server holds: dropping it lets it go.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Locked for as long as this lives.
    _lock: File,
}

impl DataDir {
    /// Makes the directory if needed and takes its lock.
    ///
    /// # Errors
    /// [`StartError::Directory`] if it can't be made or used, [`StartError::InUse`] if
    /// another server holds it.
    pub fn open(path: &Path) -> Result<DataDir, StartError> {
        let directory_error = |source| StartError::Directory {
            path: path.to_path_buf(),
            source,
        };
        fs::create_dir_all(path).map_err(directory_error)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))
            .map_err(directory_error)?;
        match flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(StartError::InUse {
                    path: path.to_path_buf(),
                });
            }
            Err(err) => return Err(directory_error(err.into())),
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("chat-data-dir-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn a_directory_is_made_and_held_by_one_server_at_a_time() {
        let path = scratch("held");
        let first = DataDir::open(&path).expect("first");
        assert!(path.is_dir());
        let second = DataDir::open(&path);
        assert!(
            matches!(second, Err(StartError::InUse { .. })),
            "{second:?}"
        );
        let message = second.expect_err("in use").to_string();
        assert!(message.contains(&*path.to_string_lossy()) && message.contains("--data-dir"));
        drop(first);
        assert!(DataDir::open(&path).is_ok(), "free again");
        let _ = fs::remove_dir_all(&path);
    }

    #[test]
    fn a_directory_that_cannot_be_made_names_its_path() {
        let file = scratch("file");
        fs::write(&file, "not a directory").expect("write");
        let err = DataDir::open(&file.join("below")).expect_err("under a file");
        assert!(matches!(err, StartError::Directory { .. }));
        assert!(err.to_string().contains("below"), "{err}");
        let _ = fs::remove_file(&file);
    }
}
