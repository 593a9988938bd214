//! `HammingIndex` and `find_duplicates` for Python.

use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::errors::detach;
use crate::search::join::SelfJoin;
use crate::search::{self, persist, pool, Index, Method};
use crate::simd::Level;

/// Borrow a C-contiguous 2-D uint8 array of `code_len` columns as bytes.
fn code_bytes<'a>(
    arr: &'a PyReadonlyArray2<'_, u8>,
    code_len: usize,
    what: &str,
) -> PyResult<&'a [u8]> {
    let shape = arr.shape();
    if shape[1] != code_len {
        return Err(PyValueError::new_err(format!(
            "{what} must have shape (n, {code_len}), got {shape:?}"
        )));
    }
    arr.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be C-contiguous")))
}

/// The flat SIMD index over fixed-width binary codes (core of `fingerprint.HammingIndex`).
#[pyclass(name = "HammingIndex", module = "fingerprint._core", frozen)]
pub struct PyHammingIndex {
    inner: RwLock<Index>,
}

impl PyHammingIndex {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyHammingIndex {
    #[new]
    #[pyo3(signature = (bits, method="flat", tables=None))]
    fn new(py: Python<'_>, bits: usize, method: &str, tables: Option<usize>) -> PyResult<Self> {
        let index = Method::parse(method)
            .and_then(|m| Index::new(bits, m, tables))
            .map_err(|e| super::errors::to_py(py, e))?;
        Ok(Self {
            inner: RwLock::new(index),
        })
    }

    /// Code width in bits.
    #[getter]
    fn bits(&self) -> usize {
        self.read().flat().bits()
    }

    /// Search method: "flat", "mih" or "auto".
    #[getter]
    fn method(&self) -> &'static str {
        self.read().method().name()
    }

    /// Number of MIH tables currently built (0 when none).
    #[getter]
    fn tables(&self) -> usize {
        self.read().mih().map_or(0, |m| m.tables())
    }

    fn __len__(&self) -> usize {
        self.read().flat().len()
    }

    fn __contains__(&self, id: u64) -> bool {
        self.read().flat().contains(id)
    }

    /// The code stored under `id`, or None.
    fn get<'py>(&self, py: Python<'py>, id: u64) -> Option<Bound<'py, PyArray1<u8>>> {
        self.read().flat().get(id).map(|c| c.into_pyarray(py))
    }

    /// Whether the arrays are served from a memory map.
    #[getter]
    fn is_mapped(&self) -> bool {
        self.read().flat().is_mapped()
    }

    /// Heap bytes held by the index.
    fn memory_usage(&self) -> usize {
        self.read().heap_bytes()
    }

    /// All ids in storage order.
    fn ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.read().flat().ids().into_pyarray(py)
    }

    /// All codes in storage order, shape (n, bits // 8).
    fn codes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<u8>>> {
        let index = self.read();
        let flat = index.flat();
        let arr = Array2::from_shape_vec((flat.len(), flat.code_len()), flat.codes())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(arr.into_pyarray(py))
    }

    #[pyo3(signature = (codes, ids=None))]
    fn add(
        &self,
        py: Python<'_>,
        codes: PyReadonlyArray2<'_, u8>,
        ids: Option<PyReadonlyArray1<'_, u64>>,
    ) -> PyResult<()> {
        let code_len = self.read().flat().code_len();
        let codes = code_bytes(&codes, code_len, "codes")?;
        let ids = match &ids {
            Some(a) => Some(
                a.as_slice()
                    .map_err(|_| PyValueError::new_err("ids must be C-contiguous"))?,
            ),
            None => None,
        };
        detach(py, || self.write().add(codes, ids))
    }

    fn remove(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u64>) -> PyResult<usize> {
        let ids = ids
            .as_slice()
            .map_err(|_| PyValueError::new_err("ids must be C-contiguous"))?;
        detach(py, || Ok(self.write().remove(ids)))
    }

    #[pyo3(signature = (queries, k, threads=None))]
    #[allow(clippy::type_complexity)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'_, u8>,
        k: usize,
        threads: Option<usize>,
    ) -> PyResult<(Bound<'py, PyArray2<i32>>, Bound<'py, PyArray2<i64>>)> {
        let code_len = self.read().flat().code_len();
        let q = code_bytes(&queries, code_len, "queries")?;
        let nq = q.len() / code_len;
        let knn = detach(py, || {
            let index = self.read();
            pool::install(threads, || index.search(q, k))?
        })?;
        let d = Array2::from_shape_vec((nq, k), knn.distances)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let i = Array2::from_shape_vec((nq, k), knn.ids)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((d.into_pyarray(py), i.into_pyarray(py)))
    }

    #[pyo3(signature = (queries, max_distance, threads=None))]
    #[allow(clippy::type_complexity)]
    fn range_search<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'_, u8>,
        max_distance: u32,
        threads: Option<usize>,
    ) -> PyResult<(
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i32>>,
    )> {
        let code_len = self.read().flat().code_len();
        let q = code_bytes(&queries, code_len, "queries")?;
        let r = detach(py, || {
            let index = self.read();
            pool::install(threads, || index.range_search(q, max_distance))?
        })?;
        Ok((
            r.offsets.into_pyarray(py),
            r.ids.into_pyarray(py),
            r.distances.into_pyarray(py),
        ))
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        detach(py, || persist::save_index(&self.read(), &path))
    }

    #[staticmethod]
    #[pyo3(signature = (path, mmap=false))]
    fn load(py: Python<'_>, path: PathBuf, mmap: bool) -> PyResult<Self> {
        let index = detach(py, || persist::load_index(&path, mmap))?;
        Ok(Self {
            inner: RwLock::new(index),
        })
    }

    /// Check a saved file's data checksum (what `load(mmap=True)` skips).
    #[staticmethod]
    fn verify(py: Python<'_>, path: PathBuf) -> PyResult<()> {
        detach(py, || persist::verify(&path))
    }
}

type PairArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
);

fn pair_arrays<'py>(
    py: Python<'py>,
    pairs: impl Iterator<Item = (u64, u64, u32)>,
) -> PairArrays<'py> {
    let (mut left, mut right, mut dist) = (Vec::new(), Vec::new(), Vec::new());
    for (i, j, d) in pairs {
        left.push(i as i64);
        right.push(j as i64);
        dist.push(d as i32);
    }
    (
        left.into_pyarray(py),
        right.into_pyarray(py),
        dist.into_pyarray(py),
    )
}

/// All pairs of rows within `max_distance`: (left, right, distances), left < right. With
/// `split`, only pairs `left < split <= right` (two sets joined through the substring tables).
#[pyfunction]
#[pyo3(signature = (codes, max_distance, method="auto", tables=None, threads=None, split=None))]
#[allow(clippy::too_many_arguments)]
pub fn find_duplicates<'py>(
    py: Python<'py>,
    codes: PyReadonlyArray2<'_, u8>,
    max_distance: u32,
    method: &str,
    tables: Option<usize>,
    threads: Option<usize>,
    split: Option<usize>,
) -> PyResult<PairArrays<'py>> {
    let code_len = codes.shape()[1];
    search::code_len_for_bits(code_len * 8).map_err(|e| super::errors::to_py(py, e))?;
    let method = Method::parse(method).map_err(|e| super::errors::to_py(py, e))?;
    let c = code_bytes(&codes, code_len, "codes")?;
    if let Some(split) = split {
        let all = detach(py, || {
            pool::install(threads, || {
                crate::search::join::join_split(c, code_len, max_distance, tables, Some(split))
            })?
        })?;
        return Ok(pair_arrays(
            py,
            all.into_iter().map(|(i, j, d)| (i as u64, j as u64, d)),
        ));
    }
    let p = detach(py, || {
        pool::install(threads, || {
            search::find_duplicates_with(c, code_len, max_distance, method, tables)
        })?
    })?;
    Ok(pair_arrays(
        py,
        p.left
            .into_iter()
            .zip(p.right)
            .zip(p.distances)
            .map(|((i, j), d)| (i, j, d)),
    ))
}

/// A self-join run table by table (core of `fingerprint.iter_duplicates`).
#[pyclass(name = "DuplicateJoin", module = "fingerprint._core")]
pub struct PyDuplicateJoin {
    join: Option<SelfJoin>,
    threads: Option<usize>,
}

#[pymethods]
impl PyDuplicateJoin {
    #[new]
    #[pyo3(signature = (codes, max_distance, tables=None, threads=None))]
    fn new(
        py: Python<'_>,
        codes: PyReadonlyArray2<'_, u8>,
        max_distance: u32,
        tables: Option<usize>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let code_len = codes.shape()[1];
        search::code_len_for_bits(code_len * 8).map_err(|e| super::errors::to_py(py, e))?;
        let c = code_bytes(&codes, code_len, "codes")?;
        let join = detach(py, || {
            pool::install(threads, || SelfJoin::new(c, code_len, max_distance, tables))?
        })?;
        Ok(Self {
            join: Some(join),
            threads,
        })
    }

    /// Number of tables (chunks) the join runs.
    #[getter]
    fn tables(&self) -> usize {
        self.join.as_ref().map_or(0, SelfJoin::tables)
    }

    /// The pairs first found by the next table, or None when done.
    fn next_chunk<'py>(&mut self, py: Python<'py>) -> PyResult<Option<PairArrays<'py>>> {
        let Some(join) = self.join.as_mut() else {
            return Ok(None);
        };
        let threads = self.threads;
        let chunk = detach(py, || pool::install(threads, || join.next_table()))?;
        match chunk {
            Some(mut pairs) => {
                pairs.sort_unstable();
                Ok(Some(pair_arrays(
                    py,
                    pairs
                        .into_iter()
                        .map(|(i, j, d)| (u64::from(i), u64::from(j), d)),
                )))
            }
            None => {
                // Free the packed codes as soon as the last table has run.
                self.join = None;
                Ok(None)
            }
        }
    }
}

/// The SIMD level searches use on this machine.
#[pyfunction]
pub fn simd_level() -> &'static str {
    Level::best().name()
}

/// Every SIMD level this machine can run.
#[pyfunction]
pub fn simd_levels() -> Vec<&'static str> {
    Level::available().into_iter().map(Level::name).collect()
}
