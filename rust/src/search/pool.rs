//! Rayon thread pools by size, so `threads=` costs nothing after the first call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{FingerprintError, Result};

/// Run `f` on a pool of `threads` workers (`None`: rayon's global pool, one per core).
pub fn install<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match threads {
        None => Ok(f()),
        Some(0) => Err(FingerprintError::invalid("threads must be at least 1")),
        Some(n) => Ok(pool(n)?.install(f)),
    }
}

fn pool(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n) {
        return Ok(p.clone());
    }
    if n > 1024 {
        return Err(FingerprintError::invalid(format!(
            "threads must be at most 1024, got {n}"
        )));
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("fingerprint-{i}"))
            .build()
            .map_err(|e| FingerprintError::Internal(e.to_string()))?,
    );
    pools.insert(n, p.clone());
    Ok(p)
}
