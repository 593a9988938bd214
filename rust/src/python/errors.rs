//! The one place that turns core errors (and panics) into Python exceptions.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::error::FingerprintError;

/// Instantiate `fingerprint.errors.<name>(msg)`.
fn python_error(py: Python<'_>, name: &str, msg: String) -> PyErr {
    match py
        .import("fingerprint.errors")
        .and_then(|m| m.getattr(name))
        .and_then(|cls| cls.call1((msg.clone(),)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Convert a core error into the matching Python exception.
pub fn to_py(py: Python<'_>, err: FingerprintError) -> PyErr {
    let msg = err.to_string();
    match err {
        FingerprintError::InvalidArgument(_) => PyValueError::new_err(msg),
        FingerprintError::DuplicateId(_) => python_error(py, "DuplicateIdError", msg),
        FingerprintError::MissingId(_) => python_error(py, "MissingIdError", msg),
        FingerprintError::CorruptIndex { .. } => python_error(py, "CorruptIndexError", msg),
        FingerprintError::Decode(_) => python_error(py, "DecodeError", msg),
        FingerprintError::Io { path, source } => {
            // OSError(errno, strerror, filename) picks the subclass (FileNotFoundError, ...).
            let strerror = source.to_string();
            match source.raw_os_error() {
                Some(errno) => {
                    PyOSError::new_err((errno, strerror, path.to_string_lossy().into_owned()))
                }
                None => PyOSError::new_err(msg),
            }
        }
        FingerprintError::Internal(_) => python_error(py, "FingerprintError", msg),
    }
}

/// Run `f` with the GIL released, turning errors and panics into Python exceptions.
pub fn detach<T: Send>(py: Python<'_>, f: impl FnOnce() -> crate::Result<T> + Send) -> PyResult<T> {
    let out = py.detach(|| {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(FingerprintError::Internal(what))
        })
    });
    out.map_err(|e| to_py(py, e))
}
