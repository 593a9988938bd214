//! One error type for the whole core; `python/errors.rs` maps it to the Python exception tree.

use std::path::PathBuf;

/// Every failure the core can report.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// An argument has the wrong value (width, radius, k, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// An id was added twice, or is already in the index.
    #[error("duplicate id {0}")]
    DuplicateId(u64),
    /// An id asked for is not in the index.
    #[error("id {0} not in the index")]
    MissingId(u64),
    /// An index file is truncated, corrupted or of an unknown version.
    #[error("corrupt index file {path}: {reason}")]
    CorruptIndex { path: PathBuf, reason: String },
    /// Input media could not be decoded.
    #[error("{0}")]
    Decode(String),
    /// An operating-system I/O failure.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A bug: a Rust panic caught at the boundary.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

/// Result with [`FingerprintError`].
pub type Result<T> = std::result::Result<T, FingerprintError>;

impl FingerprintError {
    /// Shorthand for [`FingerprintError::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }

    /// Attach a path to an I/O error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A corrupt-file error for `path`.
    pub fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::CorruptIndex {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
