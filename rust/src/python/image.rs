//! Image hashing for Python: pixels, files and batches in, packed hash bytes out.
//!
//! The Python layer (`fingerprint/_image.py`) normalises sources to `str` paths, `bytes` or
//! C-contiguous uint8 arrays of shape (H, W) or (H, W, C); here they are borrowed with the GIL
//! held and all hashing runs with it released.

use std::path::PathBuf;

use numpy::ndarray::{Array1, Array2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use rayon::prelude::*;

use super::batch;
use super::errors::{detach, to_py};
use crate::error::Result;
use crate::image::decode::{self, DecodeOptions};
use crate::image::robust::{self, RobustFeatures};
use crate::image::{hash_pixels, pdq, trim, Algorithm, ImageHash, Pixels};
use crate::search::pool;

/// One borrowed input.
enum Source<'a> {
    Path(PathBuf),
    Bytes(&'a [u8]),
    Array {
        data: &'a [u8],
        height: usize,
        width: usize,
        channels: usize,
    },
}

/// Borrow an array's bytes and shape, requiring uint8 (checked by the caller's extraction),
/// C-contiguity and a (H, W) or (H, W, 1..4) shape.
fn array_source<'a>(arr: &'a PyReadonlyArrayDyn<'_, u8>) -> PyResult<Source<'a>> {
    let shape = arr.shape().to_vec();
    let (height, width, channels) = match shape.as_slice() {
        [h, w] => (*h, *w, 1),
        [h, w, c] if (1..=4).contains(c) => (*h, *w, *c),
        _ => {
            return Err(PyValueError::new_err(format!(
                "image arrays must have shape (H, W) or (H, W, 1..4), got {shape:?}"
            )))
        }
    };
    let data = arr
        .as_slice()
        .map_err(|_| PyValueError::new_err("image arrays must be C-contiguous"))?;
    Ok(Source::Array {
        data,
        height,
        width,
        channels,
    })
}

/// Options shared by every entry point.
struct Opts {
    algorithm: Algorithm,
    hash_size: usize,
    decode: DecodeOptions,
    /// PDQ only: all 8 dihedral hashes from one decode and one DCT, concatenated.
    dihedral: bool,
}

impl Opts {
    fn new(
        algorithm: &str,
        hash_size: usize,
        exact: bool,
        exif: bool,
        max_pixels: u64,
    ) -> Result<Self> {
        let algorithm = Algorithm::from_name(algorithm)?;
        let min_side = (!exact)
            .then(|| algorithm.working_size(hash_size))
            .filter(|&s| s != usize::MAX);
        Ok(Self {
            algorithm,
            hash_size,
            decode: DecodeOptions {
                apply_exif_orientation: exif,
                max_pixels,
                min_side,
                // Fast mode hashes grey: a JPEG's Y plane is enough (wHash keeps full decodes).
                luma: !exact && algorithm != Algorithm::WHash,
            },
            dihedral: false,
        })
    }
}

/// Decode a file source (arrays are borrowed as they are) and run `f` on its pixels.
fn with_pixels<T>(
    src: &Source<'_>,
    decode: &DecodeOptions,
    f: impl FnOnce(&Pixels<'_>) -> Result<T>,
) -> Result<T> {
    let decoded;
    let pixels = match src {
        Source::Path(p) => {
            decoded = decode::decode_path(p, decode)?;
            decoded.pixels()?
        }
        Source::Bytes(b) => {
            decoded = decode::decode(b, decode)?;
            decoded.pixels()?
        }
        Source::Array {
            data,
            height,
            width,
            channels,
        } => Pixels::new(data, *width, *height, *channels)?,
    };
    f(&pixels)
}

fn hash_source(src: &Source<'_>, opts: &Opts) -> Result<ImageHash> {
    with_pixels(src, &opts.decode, |pixels| hash_pixels_with(pixels, opts))
}

fn hash_pixels_with(pixels: &Pixels<'_>, opts: &Opts) -> Result<ImageHash> {
    if opts.dihedral {
        let all = pdq::dihedral_hashes(pixels);
        return Ok(ImageHash {
            bytes: all.iter().flat_map(|h| h.bytes).collect(),
            nbits: 256 * all.len(),
            quality: Some(all[0].quality),
        });
    }
    hash_pixels(opts.algorithm, pixels, opts.hash_size)
}

/// Turn a hash into the `(bytes, nbits, quality)` tuple `_image.py` wraps.
fn to_tuple(py: Python<'_>, h: ImageHash) -> (Py<PyBytes>, usize, Option<u8>) {
    (PyBytes::new(py, &h.bytes).unbind(), h.nbits, h.quality)
}

/// Hash one path (`str`), encoded file (`bytes`) or uint8 pixel array.
#[pyfunction]
#[pyo3(signature = (source, algorithm, hash_size=8, exact=false, exif=true, max_pixels=decode::DEFAULT_MAX_PIXELS))]
pub fn hash_image(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    algorithm: &str,
    hash_size: usize,
    exact: bool,
    exif: bool,
    max_pixels: u64,
) -> PyResult<(Py<PyBytes>, usize, Option<u8>)> {
    let opts =
        Opts::new(algorithm, hash_size, exact, exif, max_pixels).map_err(|e| to_py(py, e))?;
    let arr;
    let bytes;
    let src = if let Ok(s) = source.cast::<PyString>() {
        Source::Path(PathBuf::from(s.to_str()?))
    } else if let Ok(b) = source.cast::<PyBytes>() {
        bytes = b.clone();
        Source::Bytes(bytes.as_bytes())
    } else if let Ok(a) = source.extract::<PyReadonlyArrayDyn<'_, u8>>() {
        arr = a;
        array_source(&arr)?
    } else {
        return Err(PyTypeError::new_err(
            "source must be a path (str), bytes or a uint8 numpy array",
        ));
    };
    // One image, one core: the decoder's rayon work runs on a one-thread pool, so a call costs
    // what a Pillow-based hasher costs in CPU and batches get their parallelism across images.
    // Pixels need no decoder and are hashed on the calling thread (a pool hop costs more than
    // hashing a small image).
    let h = if matches!(src, Source::Array { .. }) {
        detach(py, || hash_source(&src, &opts))?
    } else {
        detach(py, || pool::install(Some(1), || hash_source(&src, &opts))?)?
    };
    Ok(to_tuple(py, h))
}

/// The 8 PDQ dihedral hashes of a uint8 pixel array, as `[(bytes, quality), ...]`.
#[pyfunction]
pub fn pdq_dihedral(
    py: Python<'_>,
    pixels: PyReadonlyArrayDyn<'_, u8>,
) -> PyResult<Vec<(Py<PyBytes>, u8)>> {
    let Source::Array {
        data,
        height,
        width,
        channels,
    } = array_source(&pixels)?
    else {
        unreachable!("array_source returns arrays")
    };
    let all = detach(py, || {
        let p = Pixels::new(data, width, height, channels)?;
        Ok(pdq::dihedral_hashes(&p))
    })?;
    Ok(all
        .iter()
        .map(|h| (PyBytes::new(py, &h.bytes).unbind(), h.quality))
        .collect())
}

/// Decode a path or encoded bytes to a uint8 array (H, W) or (H, W, C), as the hashes see it.
/// `luma=True` lets a JPEG come back as its Y plane (H, W), as the fast hashes decode it.
#[pyfunction]
#[pyo3(signature = (source, exif=true, max_pixels=decode::DEFAULT_MAX_PIXELS, min_side=None, luma=false))]
pub fn decode_image<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    exif: bool,
    max_pixels: u64,
    min_side: Option<usize>,
    luma: bool,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let opts = DecodeOptions {
        apply_exif_orientation: exif,
        max_pixels,
        min_side,
        luma,
    };
    let d = if let Ok(s) = source.cast::<PyString>() {
        let path = PathBuf::from(s.to_str()?);
        detach(py, || decode::decode_path(&path, &opts))?
    } else if let Ok(b) = source.cast::<PyBytes>() {
        let bytes = b.as_bytes();
        detach(py, || decode::decode(bytes, &opts))?
    } else {
        return Err(PyTypeError::new_err("source must be a path (str) or bytes"));
    };
    let shape = if d.channels == 1 {
        vec![d.height, d.width]
    } else {
        vec![d.height, d.width, d.channels]
    };
    let arr = numpy::ndarray::ArrayD::from_shape_vec(shape, d.data)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(arr.into_pyarray(py))
}

/// Columnar result of [`hash_images`]: codes (n, bytes), quality (n,), ok (n,), errors.
type Batch<'py> = (
    Bound<'py, PyArray2<u8>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<bool>>,
    Vec<Option<String>>,
);

/// Hash many sources in parallel with the GIL released; a failure fills its row with zeros,
/// clears `ok` and records the message, and never stops the batch. `progress(done, total)` is
/// called on the calling thread as items finish (GIL taken only for the call); if it raises,
/// items not yet started are skipped and the exception propagates. With `dihedral` (PDQ only)
/// each row holds the 8 dihedral hashes, [`pdq::Dihedral::ALL`] order, 256 bytes.
#[pyfunction]
#[pyo3(signature = (sources, algorithm, hash_size=8, threads=None, exact=false, exif=true, max_pixels=decode::DEFAULT_MAX_PIXELS, progress=None, dihedral=false))]
#[allow(clippy::too_many_arguments)]
pub fn hash_images<'py>(
    py: Python<'py>,
    sources: Vec<Bound<'py, PyAny>>,
    algorithm: &str,
    hash_size: usize,
    threads: Option<usize>,
    exact: bool,
    exif: bool,
    max_pixels: u64,
    progress: Option<Py<PyAny>>,
    dihedral: bool,
) -> PyResult<Batch<'py>> {
    let mut opts =
        Opts::new(algorithm, hash_size, exact, exif, max_pixels).map_err(|e| to_py(py, e))?;
    if dihedral && opts.algorithm != Algorithm::Pdq {
        return Err(PyValueError::new_err(format!(
            "dihedral hashes exist for pdq only, not {algorithm}"
        )));
    }
    opts.dihedral = dihedral;
    let nbits = opts.algorithm.bits(hash_size) * if dihedral { 8 } else { 1 };
    let nbytes = nbits.div_ceil(8);
    // Keep every borrow alive for the duration of the parallel section.
    let mut arrays: Vec<Option<PyReadonlyArrayDyn<'py, u8>>> = Vec::with_capacity(sources.len());
    let mut kinds: Vec<std::result::Result<Option<PathBuf>, String>> =
        Vec::with_capacity(sources.len());
    for s in &sources {
        if let Ok(p) = s.cast::<PyString>() {
            kinds.push(Ok(Some(PathBuf::from(p.to_str()?))));
            arrays.push(None);
        } else if s.cast::<PyBytes>().is_ok() {
            kinds.push(Ok(None));
            arrays.push(None);
        } else if let Ok(a) = s.extract::<PyReadonlyArrayDyn<'py, u8>>() {
            kinds.push(Ok(None));
            arrays.push(Some(a));
        } else {
            kinds.push(Err(format!(
                "source must be a path (str), bytes or a uint8 numpy array, got {}",
                s.get_type().name()?
            )));
            arrays.push(None);
        }
    }
    let mut borrowed: Vec<std::result::Result<Source<'_>, String>> =
        Vec::with_capacity(sources.len());
    for ((s, kind), arr) in sources.iter().zip(kinds).zip(&arrays) {
        borrowed.push(match (kind, arr) {
            (Err(e), _) => Err(e),
            (Ok(Some(path)), _) => Ok(Source::Path(path)),
            (Ok(None), Some(a)) => array_source(a).map_err(|e| e.to_string()),
            (Ok(None), None) => Ok(Source::Bytes(s.cast::<PyBytes>()?.as_bytes())),
        });
    }
    let results = batch::run(py, &borrowed, threads, progress, |src| {
        hash_source(src, &opts)
    })?;
    let n = results.len();
    let mut codes = Array2::<u8>::zeros((n, nbytes));
    let mut quality = Array1::<u8>::zeros(n);
    let mut ok = Array1::<bool>::from_elem(n, false);
    let mut errors = Vec::with_capacity(n);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(h) => {
                codes
                    .row_mut(i)
                    .as_slice_mut()
                    .expect("fresh array rows are contiguous")
                    .copy_from_slice(&h.bytes);
                quality[i] = h.quality.unwrap_or(0);
                ok[i] = true;
                errors.push(None);
            }
            Err(e) => errors.push(Some(e)),
        }
    }
    Ok((
        codes.into_pyarray(py),
        quality.into_pyarray(py),
        ok.into_pyarray(py),
        errors,
    ))
}

/// One image's robust features as numpy: dihedral PDQ codes (8, 32) uint8, PDQ quality, local
/// codes (k, 8) uint8, keypoints (k, 4) float32 (x, y, scale, response) and trim bounds.
type Features<'py> = (
    Bound<'py, PyArray2<u8>>,
    u8,
    Bound<'py, PyArray2<u8>>,
    Bound<'py, PyArray2<f32>>,
    (usize, usize, usize, usize),
);

/// Decode (JPEGs at the reduced scale the working picture needs), trim borders and compute the
/// dihedral PDQ and local codes of each source, in parallel with the GIL released. Raises the
/// first failure (`DecodeError`, `ValueError`).
#[pyfunction]
#[pyo3(signature = (sources, max_local=15, min_separation=0.0, threads=None, exif=true, max_pixels=decode::DEFAULT_MAX_PIXELS))]
pub fn robust_features<'py>(
    py: Python<'py>,
    sources: Vec<Bound<'py, PyAny>>,
    max_local: usize,
    min_separation: f32,
    threads: Option<usize>,
    exif: bool,
    max_pixels: u64,
) -> PyResult<Vec<Features<'py>>> {
    let opts = DecodeOptions {
        apply_exif_orientation: exif,
        max_pixels,
        min_side: Some(trim::WORK_SIDE),
        luma: false,
    };
    let mut arrays: Vec<Option<PyReadonlyArrayDyn<'py, u8>>> = Vec::with_capacity(sources.len());
    for s in &sources {
        let array = if s.cast::<PyString>().is_ok() || s.cast::<PyBytes>().is_ok() {
            None
        } else if let Ok(a) = s.extract::<PyReadonlyArrayDyn<'py, u8>>() {
            Some(a)
        } else {
            return Err(PyTypeError::new_err(format!(
                "source must be a path (str), bytes or a uint8 numpy array, got {}",
                s.get_type().name()?
            )));
        };
        arrays.push(array);
    }
    let mut borrowed: Vec<Source<'_>> = Vec::with_capacity(sources.len());
    for (s, arr) in sources.iter().zip(&arrays) {
        borrowed.push(match arr {
            Some(a) => array_source(a)?,
            None => match s.cast::<PyString>() {
                Ok(p) => Source::Path(PathBuf::from(p.to_str()?)),
                Err(_) => Source::Bytes(s.cast::<PyBytes>()?.as_bytes()),
            },
        });
    }
    let one = |src: &Source<'_>| -> Result<RobustFeatures> {
        with_pixels(src, &opts, |pixels| {
            robust::robust_features(pixels, max_local, min_separation)
        })
    };
    let all = detach(py, || {
        pool::install(threads, || {
            borrowed
                .par_iter()
                .map(one)
                .collect::<Result<Vec<RobustFeatures>>>()
        })?
    })?;
    Ok(all
        .into_iter()
        .map(|f| {
            let mut dihedral = Array2::<u8>::zeros((8, 32));
            for (row, h) in f.dihedral.iter().enumerate() {
                dihedral
                    .row_mut(row)
                    .assign(&Array1::from(h.bytes.to_vec()));
            }
            let k = f.local.len();
            let codes = Array2::from_shape_fn((k, 8), |(i, j)| f.local[i].code[j]);
            let points = Array2::from_shape_fn((k, 4), |(i, j)| {
                let c = &f.local[i];
                [c.x, c.y, c.scale, c.response][j]
            });
            (
                dihedral.into_pyarray(py),
                f.dihedral[0].quality,
                codes.into_pyarray(py),
                points.into_pyarray(py),
                f.bounds,
            )
        })
        .collect())
}
