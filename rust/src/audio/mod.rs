//! Audio fingerprints: Chromaprint-compatible (TEST2) items from decoded, resampled audio,
//! landmark triplets for tempo and pitch changes, and an excerpt index over both.

pub mod base64;
pub mod chroma;
pub mod chroma_index;
pub mod classifier;
pub mod compare;
pub mod compress;
pub mod decode;
pub mod index;
pub mod index_file;
pub mod landmark_index;
pub mod landmarks;
pub mod ogg;
pub mod opus;
pub mod phase;
pub mod pipeline;
pub mod resample;
pub mod simhash;
pub mod spectrum;

pub use chroma::{
    fingerprint, Fingerprinter, ALGORITHM_TEST2, ITEM_SECONDS, SAMPLE_RATE, SILENCE_ITEM,
};
pub use decode::Source;
pub use index::{AudioIndex, Match, Method, Track};
pub use landmarks::Landmark;
pub use pipeline::{
    fingerprint_f32, fingerprint_i16, fingerprint_source, AudioFingerprint, Options,
};
