//! Python bindings: the only place that sees pyo3 or numpy.

mod audio;
mod batch;
mod errors;
mod image;
mod index;

use pyo3::prelude::*;

/// The extension module `fingerprint._core`.
#[pymodule]
mod _core {
    #[pymodule_export]
    use super::audio::{
        audio_fingerprint_file, audio_fingerprint_files, audio_fingerprint_pcm, compare_audio,
        PyAudioFingerprint, PyAudioIndex, PyAudioMatch,
    };
    #[pymodule_export]
    use super::image::{decode_image, hash_image, hash_images, pdq_dihedral, robust_features};
    #[pymodule_export]
    use super::index::{find_duplicates, simd_level, simd_levels, PyDuplicateJoin, PyHammingIndex};
}
