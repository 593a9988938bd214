//! `fingerprint`: content-fingerprint matching for bulk copy detection.
//!
//! The core is plain Rust (slices in, `Result` out); the Python bindings live
//! only in [`python`], behind the `python` feature that maturin enables.

pub mod audio;
pub mod error;
pub mod image;
pub mod search;
pub mod simd;

#[cfg(feature = "python")]
mod python;

pub use error::{FingerprintError, Result};
