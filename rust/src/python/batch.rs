//! Parallel batches for Python: one result or one error message per item, with an optional
//! progress callback that runs on the calling thread. Shared by `hash_images` and
//! `audio_fingerprint_files`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use rayon::prelude::*;

use super::errors::{detach, to_py};
use crate::error::FingerprintError;
use crate::search::pool;

/// How often the reporting thread looks at the finished count.
const PROGRESS_TICK: Duration = Duration::from_millis(50);

/// Run `work` on every item on `threads` workers with the GIL released. An `Err` item stays
/// that item's error; a failure or panic inside `work` is that item's error and never stops
/// the batch. `progress(done, total)` is called on the calling thread as items finish (GIL
/// taken only for the call); if it raises, items not yet started are skipped and the
/// exception propagates.
pub fn run<I: Sync, T: Send>(
    py: Python<'_>,
    items: &[Result<I, String>],
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    work: impl Fn(&I) -> crate::Result<T> + Sync,
) -> PyResult<Vec<Result<T, String>>> {
    let done = AtomicUsize::new(0);
    let cancelled = AtomicBool::new(false);
    let run_all = || {
        pool::install(threads, || {
            items
                .par_iter()
                .map(|item| {
                    let r = match item {
                        Err(e) => Err(e.clone()),
                        Ok(_) if cancelled.load(Ordering::Relaxed) => {
                            Err("cancelled: the progress callback raised".to_string())
                        }
                        Ok(item) => {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(item)))
                                .unwrap_or_else(|_| {
                                    Err(FingerprintError::Internal("panic in a batch item".into()))
                                })
                                .map_err(|e| e.to_string())
                        }
                    };
                    done.fetch_add(1, Ordering::SeqCst);
                    r
                })
                .collect::<Vec<_>>()
        })
    };
    let Some(callback) = progress else {
        return detach(py, run_all);
    };
    let total = items.len();
    let mut raised: Option<PyErr> = None;
    let out = py.detach(|| {
        std::thread::scope(|scope| {
            // The work runs on its own thread (and the pool); this thread only reports,
            // taking the GIL for each call so the callback runs on the calling thread.
            let worker = scope.spawn(run_all);
            let mut reported = usize::MAX;
            loop {
                let finished = worker.is_finished();
                let now = done.load(Ordering::SeqCst);
                if now != reported && raised.is_none() {
                    reported = now;
                    let call = Python::attach(|py| {
                        callback.call1(py, (now, total))?;
                        py.check_signals()
                    });
                    if let Err(e) = call {
                        raised = Some(e);
                        cancelled.store(true, Ordering::Relaxed);
                    }
                }
                if finished {
                    break;
                }
                std::thread::sleep(PROGRESS_TICK);
            }
            worker.join()
        })
    });
    if let Some(e) = raised {
        return Err(e);
    }
    match out {
        Ok(r) => r.map_err(|e| to_py(py, e)),
        Err(_) => Err(to_py(
            py,
            FingerprintError::Internal("panic in the batch thread".into()),
        )),
    }
}

/// Per item, its value made by `f` or `None`, beside its error message or `None`: the two
/// lists a batch function returns to Python.
#[allow(clippy::type_complexity)]
pub fn split<T, U>(
    results: Vec<Result<T, String>>,
    f: impl Fn(T) -> U,
) -> (Vec<Option<U>>, Vec<Option<String>>) {
    results
        .into_iter()
        .map(|r| match r {
            Ok(v) => (Some(f(v)), None),
            Err(e) => (None, Some(e)),
        })
        .unzip()
}
