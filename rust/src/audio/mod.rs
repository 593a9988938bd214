//! Audio fingerprints: Chromaprint-compatible (TEST2) items from decoded, resampled audio.

pub mod base64;
pub mod chroma;
pub mod classifier;
pub mod compare;
pub mod compress;
pub mod decode;
pub mod ogg;
pub mod pipeline;
pub mod resample;
pub mod simhash;
pub mod spectrum;

pub use chroma::{
    fingerprint, Fingerprinter, ALGORITHM_TEST2, ITEM_SECONDS, SAMPLE_RATE, SILENCE_ITEM,
};
pub use decode::Source;
pub use pipeline::{
    fingerprint_f32, fingerprint_i16, fingerprint_source, AudioFingerprint, Options,
};
