//! Audio fingerprints for Python: Chromaprint items from files, bytes or PCM arrays, the
//! fpcalc string codec, and fingerprint comparison.
//!
//! The Python layer (`fingerprint/_audio.py`) normalises sources to `str` paths, `bytes` or
//! C-contiguous 1-D float32/int16 arrays of interleaved samples; here they are borrowed with
//! the GIL held and decoding and fingerprinting run with it released.

use std::path::PathBuf;

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::batch;
use super::errors::{detach, to_py};
use crate::audio::chroma::{ALGORITHM_TEST2, ITEM_SECONDS, SAMPLE_RATE};
use crate::audio::compare::compare;
use crate::audio::index::{AudioIndex, Match, Track};
use crate::audio::index_file;
use crate::audio::landmarks::Landmark;
use crate::audio::pipeline::{self, AudioFingerprint, Options};
use crate::audio::spectrum::{FRAME_SIZE, HOP};
use crate::audio::{compress, simhash, Source};

/// A Chromaprint (TEST2) fingerprint: uint32 items, one per 0.124 s, and the audio duration.
#[pyclass(name = "AudioFingerprint", module = "fingerprint._core", frozen)]
pub struct PyAudioFingerprint {
    inner: AudioFingerprint,
}

#[pymethods]
impl PyAudioFingerprint {
    /// Wrap raw items (a 1-D uint32 array); `duration` defaults to the shortest audio that
    /// gives that many items.
    #[new]
    #[pyo3(signature = (items, duration=None, algorithm=ALGORITHM_TEST2, landmarks=None))]
    fn new(
        items: PyReadonlyArray1<'_, u32>,
        duration: Option<f64>,
        algorithm: u8,
        landmarks: Option<PyReadonlyArray2<'_, u32>>,
    ) -> PyResult<Self> {
        let landmarks = landmarks.map(|a| landmarks_from_array(&a)).transpose()?;
        let items = items
            .as_slice()
            .map_err(|_| PyValueError::new_err("items must be a C-contiguous 1-D uint32 array"))?;
        let duration = match duration {
            Some(d) if !(d.is_finite() && d >= 0.0) => {
                return Err(PyValueError::new_err(format!(
                    "duration must be finite and non-negative, got {d}"
                )))
            }
            Some(d) => d,
            None => min_duration(items.len()),
        };
        Ok(Self {
            inner: AudioFingerprint {
                items: items.to_vec(),
                duration,
                algorithm,
                landmarks,
                head: None,
            },
        })
    }

    /// The items as a new uint32 array.
    #[getter]
    fn items<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.inner.items.clone().into_pyarray(py)
    }

    /// Landmark triplets as an (n, 4) uint32 array of (hash, frame, span, pitch), or None
    /// when they were not extracted (`audio_fingerprint(..., landmarks=True)`).
    #[getter]
    fn landmarks<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray2<u32>>> {
        let marks = self.inner.landmarks.as_ref()?;
        let mut a = Array2::<u32>::zeros((marks.len(), 4));
        for (mut row, m) in a.rows_mut().into_iter().zip(marks) {
            row[0] = m.hash;
            row[1] = m.frame;
            row[2] = u32::from(m.span);
            row[3] = u32::from(m.pitch);
        }
        Some(a.into_pyarray(py))
    }

    /// Items of the same audio cut 1/8, 2/8, .. 7/8 of an item later (its first 30 s), as a
    /// (7, n) uint32 array, or None unless made with `audio_fingerprint(..., phases=True)`.
    #[getter]
    fn phases<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray2<u32>>>> {
        let Some(head) = self.inner.head.as_ref() else {
            return Ok(None);
        };
        let copies = detach(py, || Ok(crate::audio::phase::copies(head)))?;
        let n = copies.iter().map(Vec::len).min().unwrap_or(0);
        let mut a = Array2::<u32>::zeros((copies.len(), n));
        for (mut row, items) in a.rows_mut().into_iter().zip(&copies) {
            row.iter_mut().zip(items).for_each(|(r, &x)| *r = x);
        }
        Ok(Some(a.into_pyarray(py)))
    }

    /// Seconds of audio the fingerprint was computed from.
    #[getter]
    fn duration(&self) -> f64 {
        self.inner.duration
    }

    /// Chromaprint algorithm id (1 = TEST2, the default).
    #[getter]
    fn algorithm(&self) -> u8 {
        self.inner.algorithm
    }

    fn __len__(&self) -> usize {
        self.inner.items.len()
    }

    /// Equal when the items and the algorithm are (the duration is metadata: fpcalc strings
    /// do not carry it).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyAudioFingerprint>()
            .map(|o| {
                let o = &o.get().inner;
                o.items == self.inner.items && o.algorithm == self.inner.algorithm
            })
            .unwrap_or(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "AudioFingerprint(items={}, duration={:.3})",
            self.inner.items.len(),
            self.inner.duration
        )
    }

    /// The compressed base64 string fpcalc prints by default.
    fn encode(&self, py: Python<'_>) -> PyResult<String> {
        compress::encode(&self.inner.items, self.inner.algorithm).map_err(|e| to_py(py, e))
    }

    /// Read an fpcalc fingerprint string (raises DecodeError if it is corrupt).
    #[staticmethod]
    #[pyo3(signature = (text, duration=None))]
    fn decode(py: Python<'_>, text: &str, duration: Option<f64>) -> PyResult<Self> {
        let (algorithm, items) = detach(py, || compress::decode(text))?;
        let duration = duration.unwrap_or_else(|| min_duration(items.len()));
        Ok(Self {
            inner: AudioFingerprint {
                items,
                duration,
                algorithm,
                landmarks: None,
                head: None,
            },
        })
    }

    /// Chromaprint's 32-bit SimHash of the items (`chromaprint_hash_fingerprint`).
    fn simhash(&self) -> u32 {
        simhash::simhash(&self.inner.items)
    }
}

/// Read an (n, 4) uint32 array of (hash, frame, span, pitch) rows.
fn landmarks_from_array(a: &PyReadonlyArray2<'_, u32>) -> PyResult<Vec<Landmark>> {
    if a.shape()[1] != 4 {
        return Err(PyValueError::new_err(format!(
            "landmarks must have shape (n, 4), got {:?}",
            a.shape()
        )));
    }
    let flat = a
        .as_slice()
        .map_err(|_| PyValueError::new_err("landmarks must be C-contiguous"))?;
    flat.chunks_exact(4)
        .map(|r| {
            let span = u16::try_from(r[2]);
            let pitch = u16::try_from(r[3]);
            match (span, pitch) {
                (Ok(span), Ok(pitch)) => Ok(Landmark {
                    hash: r[0],
                    frame: r[1],
                    span,
                    pitch,
                }),
                _ => Err(PyValueError::new_err(
                    "landmark span and pitch must fit in 16 bits",
                )),
            }
        })
        .collect()
}

/// Shortest audio (seconds at 11025 Hz) that yields `n` items: 4096 + (n + 18) * 1365 samples.
fn min_duration(n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        (FRAME_SIZE + (n + 18) * HOP) as f64 / f64::from(SAMPLE_RATE)
    }
}

/// The best alignment of two audio fingerprints.
#[pyclass(name = "AudioMatch", module = "fingerprint._core", frozen, get_all)]
pub struct PyAudioMatch {
    /// (aligned items / shorter length) * (1 - 2 BER), lowered for low-variety audio; 0..1.
    score: f64,
    /// Seconds to add to a time in `b` to get the same moment in `a`.
    offset: f64,
    /// The offset in items (0.124 s each).
    offset_items: i64,
    /// Fraction of differing bits over the aligned items (silence pairs left out); for a
    /// landmark match, over the items read along its line (tempo followed, pitch undone).
    bit_error_rate: f64,
    /// First aligned item in `a`.
    start_a: usize,
    /// First aligned item in `b`.
    start_b: usize,
    /// Number of aligned items.
    length: usize,
    /// The indexed track (`AudioIndex.query`); None from `compare_audio`.
    track_id: Option<u64>,
    /// "chroma" (aligned Chromaprint items) or "landmark" (peak triplets).
    method: &'static str,
    /// Reference seconds per query second (1.0 for chroma matches).
    time_scale: f64,
    /// Query pitch minus reference pitch, in semitones (0.0 for chroma matches).
    pitch_shift: f64,
    /// Landmark triplets that line up (0 for chroma matches).
    landmarks: usize,
    /// Seconds into the track of other places where the query also verified (the track
    /// repeats the passage; `AudioIndex.query`), in order; empty from `compare_audio`.
    repeats: Vec<f64>,
}

#[pymethods]
impl PyAudioMatch {
    /// The matched span in `a`, as (start, end) in seconds.
    #[getter]
    fn span_a(&self) -> (f64, f64) {
        span(self.start_a, self.length)
    }

    /// The matched span in `b`, as (start, end) in seconds.
    #[getter]
    fn span_b(&self) -> (f64, f64) {
        span(self.start_b, self.length)
    }

    fn __repr__(&self) -> String {
        let id = self
            .track_id
            .map_or(String::new(), |id| format!("track_id={id}, "));
        format!(
            "AudioMatch({id}score={:.4}, offset={:.3}, bit_error_rate={:.4}, length={}, method={:?})",
            self.score, self.offset, self.bit_error_rate, self.length, self.method
        )
    }
}

/// Seconds covered by items `start..start + len`: item i starts at i * 1365 / 11025 s and
/// describes the next 4096 + 18 * 1365 samples.
fn span(start: usize, len: usize) -> (f64, f64) {
    if len == 0 {
        let t = start as f64 * ITEM_SECONDS;
        return (t, t);
    }
    let begin = start as f64 * ITEM_SECONDS;
    (begin, begin + min_duration(len))
}

/// Fingerprint a path (`str`) or an encoded file (`bytes`).
#[pyfunction]
#[pyo3(signature = (source, max_seconds=None, landmarks=false, phases=false))]
pub fn audio_fingerprint_file(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    max_seconds: Option<f64>,
    landmarks: bool,
    phases: bool,
) -> PyResult<PyAudioFingerprint> {
    let opts = Options {
        phases,
        ..options(max_seconds, landmarks)?
    };
    let inner = if let Ok(s) = source.cast::<PyString>() {
        let path = PathBuf::from(s.to_str()?);
        detach(py, || {
            pipeline::fingerprint_source(Source::Path(&path), &opts)
        })?
    } else if let Ok(b) = source.cast::<PyBytes>() {
        let data = b.as_bytes();
        detach(py, || {
            pipeline::fingerprint_source(Source::Bytes(data.to_vec()), &opts)
        })?
    } else {
        return Err(PyTypeError::new_err("source must be a path (str) or bytes"));
    };
    Ok(PyAudioFingerprint { inner })
}

/// Fingerprint interleaved PCM: a C-contiguous 1-D float32 (in [-1, 1]) or int16 array.
#[pyfunction]
#[pyo3(signature = (samples, sample_rate, channels=1, max_seconds=None, landmarks=false, phases=false))]
pub fn audio_fingerprint_pcm(
    py: Python<'_>,
    samples: &Bound<'_, PyAny>,
    sample_rate: u32,
    channels: usize,
    max_seconds: Option<f64>,
    landmarks: bool,
    phases: bool,
) -> PyResult<PyAudioFingerprint> {
    let opts = Options {
        phases,
        ..options(max_seconds, landmarks)?
    };
    let contiguous = || PyValueError::new_err("sample arrays must be C-contiguous and 1-D");
    let inner = if let Ok(a) = samples.extract::<PyReadonlyArray1<'_, f32>>() {
        let s = a.as_slice().map_err(|_| contiguous())?;
        detach(py, || {
            pipeline::fingerprint_f32(s, sample_rate, channels, &opts)
        })?
    } else if let Ok(a) = samples.extract::<PyReadonlyArray1<'_, i16>>() {
        let s = a.as_slice().map_err(|_| contiguous())?;
        detach(py, || {
            pipeline::fingerprint_i16(s, sample_rate, channels, &opts)
        })?
    } else {
        return Err(PyTypeError::new_err(
            "samples must be a 1-D numpy array of dtype float32 or int16",
        ));
    };
    Ok(PyAudioFingerprint { inner })
}

/// One source of a batch, borrowed from Python for the parallel section.
enum BatchSource<'a> {
    Path(PathBuf),
    Bytes(&'a [u8]),
}

impl BatchSource<'_> {
    fn source(&self) -> Source<'_> {
        match self {
            BatchSource::Path(p) => Source::Path(p),
            BatchSource::Bytes(b) => Source::Bytes(b.to_vec()),
        }
    }
}

/// A `str` path or `bytes` file of a batch; anything else is that item's error.
fn batch_source<'a>(s: &'a Bound<'_, PyAny>) -> PyResult<Result<BatchSource<'a>, String>> {
    Ok(if let Ok(p) = s.cast::<PyString>() {
        Ok(BatchSource::Path(PathBuf::from(p.to_str()?)))
    } else if let Ok(b) = s.cast::<PyBytes>() {
        Ok(BatchSource::Bytes(b.as_bytes()))
    } else {
        Err(format!(
            "source must be a path (str) or bytes, got {}",
            s.get_type().name()?
        ))
    })
}

/// One query of `AudioIndex.query_many`: a file to fingerprint, or a fingerprint.
enum QuerySource<'a> {
    File(BatchSource<'a>),
    Fingerprint(&'a AudioFingerprint),
}

/// Fingerprint many encoded files (`str` paths or `bytes`) in parallel with the GIL released.
/// Returns one fingerprint or one error message per source, in order: a bad file is that
/// item's error and never stops the batch. `progress(done, total)` is called on the calling
/// thread as items finish (the GIL taken only for the call); if it raises, items not yet
/// started are skipped and the exception propagates.
#[pyfunction]
#[pyo3(signature = (sources, threads=None, max_seconds=None, landmarks=false, progress=None))]
#[allow(clippy::type_complexity)]
pub fn audio_fingerprint_files(
    py: Python<'_>,
    sources: Vec<Bound<'_, PyAny>>,
    threads: Option<usize>,
    max_seconds: Option<f64>,
    landmarks: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Vec<Option<PyAudioFingerprint>>, Vec<Option<String>>)> {
    let opts = options(max_seconds, landmarks)?;
    let mut borrowed: Vec<Result<BatchSource<'_>, String>> = Vec::with_capacity(sources.len());
    for s in &sources {
        borrowed.push(batch_source(s)?);
    }
    let results = batch::run(py, &borrowed, threads, progress, |src| {
        pipeline::fingerprint_source(src.source(), &opts)
    })?;
    Ok(batch::split(results, |inner| PyAudioFingerprint { inner }))
}

/// Fingerprint one batch item; a panic is that item's error, not the batch's.
fn options(max_seconds: Option<f64>, landmarks: bool) -> PyResult<Options> {
    if let Some(s) = max_seconds {
        if !(s.is_finite() && s > 0.0) {
            return Err(PyValueError::new_err(format!(
                "max_seconds must be positive, got {s}"
            )));
        }
    }
    Ok(Options {
        max_seconds,
        landmarks,
        phases: false,
    })
}

/// Align `b` against `a` at the offset with the best score. Empty fingerprints give
/// score 0, bit error rate 0.5 and length 0.
#[pyfunction]
pub fn compare_audio(
    py: Python<'_>,
    a: &PyAudioFingerprint,
    b: &PyAudioFingerprint,
) -> PyResult<PyAudioMatch> {
    let (x, y) = (&a.inner.items, &b.inner.items);
    let m = detach(py, || Ok(compare(x, y)))?;
    Ok(match m {
        Some(m) => PyAudioMatch {
            score: m.score,
            offset: m.offset as f64 * ITEM_SECONDS,
            offset_items: m.offset,
            bit_error_rate: m.ber,
            start_a: m.start_a,
            start_b: m.start_b,
            length: m.len,
            track_id: None,
            method: "chroma",
            time_scale: 1.0,
            pitch_shift: 0.0,
            landmarks: 0,
            repeats: Vec::new(),
        },
        None => PyAudioMatch {
            score: 0.0,
            offset: 0.0,
            offset_items: 0,
            bit_error_rate: 0.5,
            start_a: 0,
            start_b: 0,
            length: 0,
            track_id: None,
            method: "chroma",
            time_scale: 1.0,
            pitch_shift: 0.0,
            landmarks: 0,
            repeats: Vec::new(),
        },
    })
}

impl PyAudioMatch {
    fn from_index(m: Match) -> Self {
        let start_a = m.offset_items.max(0) as usize;
        let start_b = (-m.offset_items).max(0) as usize;
        Self {
            score: m.score,
            offset: m.offset,
            offset_items: m.offset_items,
            bit_error_rate: m.ber,
            start_a,
            start_b,
            length: m.length,
            track_id: Some(m.id),
            method: m.method.name(),
            time_scale: m.time_scale,
            pitch_shift: m.pitch_shift,
            landmarks: m.landmarks,
            repeats: m.repeats,
        }
    }
}

/// Excerpt search over many tracks (core of `fingerprint.AudioIndex`): chroma items for
/// exact copies, landmark triplets for tempo and pitch changes. Searches run concurrently.
#[pyclass(name = "AudioIndex", module = "fingerprint._core", frozen)]
pub struct PyAudioIndex {
    inner: RwLock<AudioIndex>,
}

impl PyAudioIndex {
    fn read(&self) -> RwLockReadGuard<'_, AudioIndex> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, AudioIndex> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyAudioIndex {
    #[new]
    fn new() -> Self {
        Self {
            inner: RwLock::new(AudioIndex::new()),
        }
    }

    fn __len__(&self) -> usize {
        self.read().len()
    }

    fn __contains__(&self, track_id: u64) -> bool {
        self.read().contains(track_id)
    }

    /// Track ids, in the order they were added.
    fn ids(&self) -> Vec<u64> {
        self.read().ids()
    }

    /// Seconds of audio indexed.
    #[getter]
    fn duration(&self) -> f64 {
        self.read().duration()
    }

    /// Bytes of posting lists in memory as (chroma, landmark).
    #[getter]
    fn memory(&self) -> (usize, usize) {
        self.read().memory()
    }

    /// Index a fingerprint under `track_id` (its landmarks too, when it has them).
    fn add(&self, py: Python<'_>, track_id: u64, fp: &PyAudioFingerprint) -> PyResult<()> {
        let f = &fp.inner;
        detach(py, || {
            let track = Track {
                id: track_id,
                items: f.items.clone(),
                landmarks: f.landmarks.clone().unwrap_or_default(),
                duration: f.duration,
            };
            self.write().add(track)
        })
    }

    /// Remove a track (MissingIdError if absent).
    fn remove(&self, py: Python<'_>, track_id: u64) -> PyResult<()> {
        detach(py, || self.write().remove(track_id).map(|_| ()))
    }

    /// Up to `top` tracks the fingerprint's audio comes from, best first.
    #[pyo3(signature = (fp, top=5))]
    fn query(
        &self,
        py: Python<'_>,
        fp: &PyAudioFingerprint,
        top: usize,
    ) -> PyResult<Vec<PyAudioMatch>> {
        let f = &fp.inner;
        let marks: &[Landmark] = f.landmarks.as_deref().unwrap_or(&[]);
        let head: &[i16] = f.head.as_deref().unwrap_or(&[]);
        let found = detach(py, || Ok(self.read().query(&f.items, marks, head, top)))?;
        Ok(found.into_iter().map(PyAudioMatch::from_index).collect())
    }

    /// Query many sources in parallel with the GIL released: each `str` path or `bytes`
    /// file is decoded and fingerprinted (landmarks, phase head) and then queried; an
    /// `AudioFingerprint` is queried as is. Returns per source its matches or its error
    /// message, in order: a bad file is that item's error and never stops the batch.
    #[pyo3(signature = (sources, top=5, threads=None, max_seconds=None, progress=None))]
    #[allow(clippy::type_complexity)]
    fn query_many(
        &self,
        py: Python<'_>,
        sources: Vec<Bound<'_, PyAny>>,
        top: usize,
        threads: Option<usize>,
        max_seconds: Option<f64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(Vec<Option<Vec<PyAudioMatch>>>, Vec<Option<String>>)> {
        let opts = Options {
            phases: true,
            ..options(max_seconds, true)?
        };
        let mut borrowed: Vec<Result<QuerySource<'_>, String>> = Vec::with_capacity(sources.len());
        for s in &sources {
            borrowed.push(if let Ok(f) = s.cast::<PyAudioFingerprint>() {
                Ok(QuerySource::Fingerprint(&f.get().inner))
            } else {
                batch_source(s)?.map(QuerySource::File)
            });
        }
        let results = batch::run(py, &borrowed, threads, progress, |src| {
            let made;
            let f = match src {
                QuerySource::Fingerprint(f) => *f,
                QuerySource::File(file) => {
                    made = pipeline::fingerprint_source(file.source(), &opts)?;
                    &made
                }
            };
            let marks: &[Landmark] = f.landmarks.as_deref().unwrap_or(&[]);
            let head: &[i16] = f.head.as_deref().unwrap_or(&[]);
            Ok(self.read().query(&f.items, marks, head, top))
        })?;
        Ok(batch::split(results, |ms| {
            ms.into_iter().map(PyAudioMatch::from_index).collect()
        }))
    }

    /// Write the index to `path` atomically (temporary file, fsync, rename).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        detach(py, || index_file::save(&self.read(), &path))
    }

    /// Read an index written by `save` (CorruptIndexError if damaged).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = detach(py, || index_file::load(&path))?;
        Ok(Self {
            inner: RwLock::new(inner),
        })
    }
}
