//! The Jarosz box filter PDQ blurs with before it decimates to 64x64: a running-sum box along
//! rows, then along columns, repeated. Float32 in the reference's exact order of operations
//! (so hashes stay bit-identical), vectorised across rows and columns rather than within one sum.

/// Rows filtered side by side: the running sums of 16 rows advance together (two independent
/// 8-wide chains on AVX2, so the add latency of one overlaps the other).
const LANES: usize = 16;
type Lane = [f32; LANES];

/// Box window for one axis: `ceil(dim / (2 * downsample))`, the reference's
/// `computeJaroszFilterWindowSize` (`ceil(dim / 128)` for PDQ's 64x64).
pub fn window(dim: usize, downsample: usize) -> usize {
    dim.div_ceil(2 * downsample)
}

/// Fills `out` with rows `first .. first + out.len() / cols` of the image being blurred.
pub type RowSource<'a> = dyn FnMut(usize, &mut [f32]) + 'a;

/// Blur the `rows x cols` image that `fill` yields `passes` times along rows then columns with
/// the windows PDQ picks, and sample it at `downsample x downsample` cell centres (row-major).
/// Only what the samples depend on is computed: the last pass divides along rows at the
/// sampled columns only and runs down those columns alone. With PDQ's two passes the first
/// is streamed: rows are pulled from `fill` 16 at a time and pass through a ring a column
/// window deep, so a 12 MP image needs a few MB instead of two full float copies (the same
/// float operations in the same order, bit-identical to blurring everything, which the
/// tests check).
pub fn blur_sampled(
    rows: usize,
    cols: usize,
    passes: usize,
    downsample: usize,
    fill: &mut RowSource<'_>,
) -> Vec<f32> {
    assert!(passes >= 1 && rows > 0 && cols > 0, "nothing to blur");
    #[cfg(target_arch = "x86_64")]
    if super::luma::avx2_enabled() {
        // SAFETY: AVX2 was detected; the body is safe Rust compiled for it.
        return unsafe { blur_sampled_avx2(rows, cols, passes, downsample, fill) };
    }
    blur_sampled_portable(rows, cols, passes, downsample, fill)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blur_sampled_avx2(
    rows: usize,
    cols: usize,
    passes: usize,
    downsample: usize,
    fill: &mut RowSource<'_>,
) -> Vec<f32> {
    blur_sampled_portable(rows, cols, passes, downsample, fill)
}

#[inline(always)]
fn blur_sampled_portable(
    rows: usize,
    cols: usize,
    passes: usize,
    n: usize,
    fill: &mut RowSource<'_>,
) -> Vec<f32> {
    WORK.with(|cell| {
        // A row source that itself blurs (none does) would find the buffers taken.
        let mut spare = Work::default();
        let mut kept = cell.try_borrow_mut();
        let work = match kept.as_deref_mut() {
            Ok(w) => w,
            Err(_) => &mut spare,
        };
        let out = blur_with(rows, cols, passes, n, fill, work);
        if work.floats() > RETAIN {
            *work = Work::default();
        }
        out
    })
}

/// [`blur_sampled_portable`] on the given buffers.
#[inline(always)]
fn blur_with(
    rows: usize,
    cols: usize,
    passes: usize,
    n: usize,
    fill: &mut RowSource<'_>,
    work: &mut Work,
) -> Vec<f32> {
    let along_rows = window(cols, n);
    let along_cols = window(rows, n);
    let at_cols: Vec<usize> = (0..n).map(|o| sample_index(o, cols, n)).collect();
    let at_rows: Vec<usize> = (0..n).map(|o| sample_index(o, rows, n)).collect();
    work.lanes.fit(cols, n);
    sized(&mut work.picked, rows * n);
    if passes == 2 {
        streamed_pass(rows, cols, along_rows, along_cols, &at_cols, fill, work);
    } else {
        let (lanes, picked) = (&mut work.lanes, &mut work.picked[..rows * n]);
        let mut luma = vec![0f32; rows * cols];
        fill(0, &mut luma);
        let mut scratch = vec![0f32; rows * cols];
        for _ in 1..passes {
            box_rows(&luma, &mut scratch, rows, cols, along_rows, lanes);
            box_cols(&scratch, &mut luma, rows, cols, along_cols);
        }
        box_rows_at(&luma, picked, rows, cols, along_rows, &at_cols, lanes);
    }
    let mut out = vec![0f32; n * n];
    box_cols_at(
        &work.picked[..rows * n],
        &mut out,
        rows,
        n,
        along_cols,
        &at_rows,
    );
    out
}

/// Buffers of one blur, kept by each thread between calls unless they grew past [`RETAIN`].
#[derive(Default)]
struct Work {
    lanes: Lanes,
    ring: Vec<f32>,
    raw: Vec<f32>,
    done: Vec<f32>,
    sum: Vec<f32>,
    picked: Vec<f32>,
}

impl Work {
    fn floats(&self) -> usize {
        (self.lanes.inp.len() + self.lanes.out.len()) * LANES
            + self.lanes.row.len()
            + self.ring.len()
            + self.raw.len()
            + self.done.len()
            + self.sum.len()
            + self.picked.len()
    }
}

/// Blur buffers up to this many floats (16 MiB; a 12 MP image needs about 1 MiB) stay with
/// their thread, so hashing many images does not fault in fresh pages for each.
const RETAIN: usize = 4 << 20;

thread_local! {
    static WORK: std::cell::RefCell<Work> = std::cell::RefCell::new(Work::default());
}

/// `v` grown to at least `n` values (contents unspecified), as a slice of exactly `n`.
fn sized(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

/// Reused buffers of the row passes: rows interleaved [`LANES`] to a value, in and out.
#[derive(Default)]
struct Lanes {
    inp: Vec<Lane>,
    out: Vec<Lane>,
    row: Vec<f32>,
}

impl Lanes {
    /// For rows of `cols` values, keeping `cols` or `samples` outputs per row.
    #[cfg(test)]
    fn new(cols: usize, samples: usize) -> Self {
        let mut lanes = Self::default();
        lanes.fit(cols, samples);
        lanes
    }

    /// Grow (never shrink) to hold rows of `cols` values with `cols` or `samples` outputs.
    fn fit(&mut self, cols: usize, samples: usize) {
        if self.inp.len() < cols {
            self.inp.resize(cols, [0.0; LANES]);
        }
        if self.out.len() < cols.max(samples) {
            self.out.resize(cols.max(samples), [0.0; LANES]);
        }
        sized(&mut self.row, cols);
    }
}

/// The first full pass (rows, then columns) fused with the sampled row pass of the second:
/// each row-blurred row enters a ring of `ring` rows, the column sums advance one row at a
/// time (the arithmetic of [`box_cols`]), and every finished row goes straight on to
/// [`box_rows_at`], 16 at a time, whose results land in `picked` (`rows x at_cols.len()`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn streamed_pass(
    rows: usize,
    cols: usize,
    along_rows: usize,
    along_cols: usize,
    at_cols: &[usize],
    fill: &mut RowSource<'_>,
    work: &mut Work,
) {
    let m = at_cols.len();
    let Work {
        lanes,
        ring: ring_buf,
        raw,
        done,
        sum,
        picked,
    } = work;
    // Rows li..=ri (window + 1 of them) are live; whole blocks of 16 are produced at once at
    // slots that never wrap, and a new block only overwrites rows below li.
    let ring = (along_cols + 1).div_ceil(LANES) * LANES + LANES;
    let ring_buf = sized(ring_buf, ring * cols);
    let raw = sized(raw, LANES * cols);
    let mut produced = 0usize;
    let mut ensure = |r: usize, ring_buf: &mut [f32], lanes: &mut Lanes| {
        while produced <= r {
            let k = LANES.min(rows - produced);
            fill(produced, &mut raw[..k * cols]);
            let slot = produced % ring;
            let dst = &mut ring_buf[slot * cols..(slot + k) * cols];
            box_rows(&raw[..k * cols], dst, k, cols, along_rows, lanes);
            produced += k;
        }
    };
    let slot = |r: usize| (r % ring) * cols..(r % ring + 1) * cols;
    // Finished rows wait here for the sampled row pass.
    let done = sized(done, LANES * cols);
    let (mut waiting, mut first) = (0usize, 0usize);
    let mut emit = |sum: &[f32], count: usize, lanes: &mut Lanes| {
        let c = count as f32;
        let out = &mut done[waiting * cols..(waiting + 1) * cols];
        out.iter_mut().zip(sum).for_each(|(o, &s)| *o = s / c);
        waiting += 1;
        if waiting == LANES || first + waiting == rows {
            let dst = &mut picked[first * m..(first + waiting) * m];
            box_rows_at(
                &done[..waiting * cols],
                dst,
                waiting,
                cols,
                along_rows,
                at_cols,
                lanes,
            );
            first += waiting;
            waiting = 0;
        }
    };
    let half = (along_cols + 2) / 2;
    let (p1, p2, p4) = (half - 1, along_cols - half + 1, half - 1);
    let p3 = rows - along_cols;
    let sum = sized(sum, cols);
    sum.fill(0.0);
    let (mut li, mut ri) = (0, 0);
    let mut count = 0usize;
    for _ in 0..p1 {
        ensure(ri, ring_buf, lanes);
        sum.iter_mut()
            .zip(&ring_buf[slot(ri)])
            .for_each(|(s, &x)| *s += x);
        count += 1;
        ri += 1;
    }
    for _ in 0..p2 {
        ensure(ri, ring_buf, lanes);
        sum.iter_mut()
            .zip(&ring_buf[slot(ri)])
            .for_each(|(s, &x)| *s += x);
        count += 1;
        emit(sum, count, lanes);
        ri += 1;
    }
    for _ in 0..p3 {
        ensure(ri, ring_buf, lanes);
        let (add, sub) = (&ring_buf[slot(ri)], &ring_buf[slot(li)]);
        for ((s, &a), &b) in sum.iter_mut().zip(add).zip(sub) {
            *s += a;
            *s -= b;
        }
        emit(sum, count, lanes);
        li += 1;
        ri += 1;
    }
    for _ in 0..p4 {
        sum.iter_mut()
            .zip(&ring_buf[slot(li)])
            .for_each(|(s, &x)| *s -= x);
        count -= 1;
        emit(sum, count, lanes);
        li += 1;
    }
}

/// The reference's decimation index: output cell `o` of `n` reads input `(int)((o + 0.5) * dim / n)`.
pub fn sample_index(o: usize, dim: usize, n: usize) -> usize {
    (((o as f64 + 0.5) * dim as f64) / n as f64) as usize
}

/// [`box_rows`] that keeps only the outputs at columns `at` (ascending, repeats allowed):
/// `dst` is `rows x at.len()`.
#[inline(always)]
fn box_rows_at(
    src: &[f32],
    dst: &mut [f32],
    rows: usize,
    cols: usize,
    window: usize,
    at: &[usize],
    lanes: &mut Lanes,
) {
    let m = at.len();
    let grouped = rows / LANES * LANES;
    let (lanes_in, lanes_out) = (&mut lanes.inp[..cols], &mut lanes.out[..m]);
    for first in (0..grouped).step_by(LANES) {
        to_lanes(&src[first * cols..(first + LANES) * cols], cols, lanes_in);
        box_lanes_at(lanes_in, lanes_out, window, at);
        from_lanes(lanes_out, &mut dst[first * m..(first + LANES) * m], m);
    }
    let full = &mut lanes.row[..cols];
    for r in grouped..rows {
        box_row(&src[r * cols..(r + 1) * cols], full, window);
        for (d, &c) in dst[r * m..(r + 1) * m].iter_mut().zip(at) {
            *d = full[c];
        }
    }
}

/// Interleave [`LANES`] rows of `cols` values (row-major `block`) into `lanes[c][row]`.
#[inline(always)]
fn to_lanes(block: &[f32], cols: usize, lanes: &mut [Lane]) {
    assert!(block.len() == LANES * cols && lanes.len() >= cols);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if super::luma::avx2_enabled() {
        // SAFETY: AVX2 was detected; the asserts above bound every access.
        done = unsafe { transpose::to_lanes(block, cols, lanes) };
    }
    for (l, row) in block.chunks_exact(cols).enumerate() {
        lanes[done..cols]
            .iter_mut()
            .zip(&row[done..])
            .for_each(|(t, &v)| t[l] = v);
    }
}

/// The inverse of [`to_lanes`]: `lanes[c][row]` (`m` of them) back into `LANES` rows of `m`.
#[inline(always)]
fn from_lanes(lanes: &[Lane], block: &mut [f32], m: usize) {
    assert!(block.len() == LANES * m && lanes.len() >= m);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if super::luma::avx2_enabled() {
        // SAFETY: AVX2 was detected; the asserts above bound every access.
        done = unsafe { transpose::from_lanes(lanes, block, m) };
    }
    for (l, row) in block.chunks_exact_mut(m).enumerate() {
        row[done..]
            .iter_mut()
            .zip(&lanes[done..m])
            .for_each(|(d, o)| *d = o[l]);
    }
}

/// 8x8 float transposes in AVX2 registers: pure data movement between the row layout and
/// the lane layout, 8 columns at a time; each returns how many columns it handled.
#[cfg(target_arch = "x86_64")]
mod transpose {
    use super::{Lane, LANES};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    unsafe fn t8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn to_lanes(block: &[f32], cols: usize, lanes: &mut [Lane]) -> usize {
        let full = cols / 8 * 8;
        let out = lanes.as_mut_ptr() as *mut f32;
        for half in 0..LANES / 8 {
            let rows = block.as_ptr().add(half * 8 * cols);
            for c0 in (0..full).step_by(8) {
                let r: [__m256; 8] =
                    std::array::from_fn(|i| _mm256_loadu_ps(rows.add(i * cols + c0)));
                for (j, v) in t8(r).into_iter().enumerate() {
                    _mm256_storeu_ps(out.add((c0 + j) * LANES + half * 8), v);
                }
            }
        }
        full
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn from_lanes(lanes: &[Lane], block: &mut [f32], m: usize) -> usize {
        let full = m / 8 * 8;
        let src = lanes.as_ptr() as *const f32;
        for half in 0..LANES / 8 {
            let rows = block.as_mut_ptr().add(half * 8 * m);
            for c0 in (0..full).step_by(8) {
                let t: [__m256; 8] =
                    std::array::from_fn(|j| _mm256_loadu_ps(src.add((c0 + j) * LANES + half * 8)));
                for (i, v) in t8(t).into_iter().enumerate() {
                    _mm256_storeu_ps(rows.add(i * m + c0), v);
                }
            }
        }
        full
    }
}

/// [`box_lanes`] that divides and stores only at outputs `at` (ascending, repeats allowed).
#[inline(always)]
fn box_lanes_at(src: &[Lane], dst: &mut [Lane], window: usize, at: &[usize]) {
    let n = src.len();
    let half = (window + 2) / 2;
    let (p1, p2, p4) = (half - 1, window - half + 1, half - 1);
    let p3 = n - window;
    let (mut li, mut ri, mut oi, mut k) = (0, 0, 0, 0);
    let mut sum: Lane = [0.0; LANES];
    let mut count = 0usize;
    let add = |s: &mut Lane, x: &Lane| s.iter_mut().zip(x).for_each(|(s, &x)| *s += x);
    let sub = |s: &mut Lane, x: &Lane| s.iter_mut().zip(x).for_each(|(s, &x)| *s -= x);
    let mut emit = |oi: usize, k: &mut usize, s: &Lane, c: usize| {
        while *k < at.len() && at[*k] == oi {
            dst[*k]
                .iter_mut()
                .zip(s)
                .for_each(|(d, &s)| *d = s / c as f32);
            *k += 1;
        }
    };
    for _ in 0..p1 {
        add(&mut sum, &src[ri]);
        count += 1;
        ri += 1;
    }
    for _ in 0..p2 {
        add(&mut sum, &src[ri]);
        count += 1;
        emit(oi, &mut k, &sum, count);
        ri += 1;
        oi += 1;
    }
    for _ in 0..p3 {
        add(&mut sum, &src[ri]);
        sub(&mut sum, &src[li]);
        emit(oi, &mut k, &sum, count);
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..p4 {
        sub(&mut sum, &src[li]);
        count -= 1;
        emit(oi, &mut k, &sum, count);
        li += 1;
        oi += 1;
    }
}

/// [`box_cols`] that divides and stores only at output rows `at` (ascending, repeats allowed):
/// `dst` is `at.len() x cols`.
#[inline(always)]
fn box_cols_at(
    src: &[f32],
    dst: &mut [f32],
    rows: usize,
    cols: usize,
    window: usize,
    at: &[usize],
) {
    let half = (window + 2) / 2;
    let (p1, p2, p4) = (half - 1, window - half + 1, half - 1);
    let p3 = rows - window;
    let row = |r: usize| &src[r * cols..(r + 1) * cols];
    let mut sum = vec![0f32; cols];
    let (mut li, mut ri, mut oi, mut k) = (0, 0, 0, 0);
    let mut count = 0usize;
    let mut emit = |oi: usize, k: &mut usize, sum: &[f32], c: usize| {
        while *k < at.len() && at[*k] == oi {
            let out = &mut dst[*k * cols..(*k + 1) * cols];
            out.iter_mut()
                .zip(sum)
                .for_each(|(o, &s)| *o = s / c as f32);
            *k += 1;
        }
    };
    for _ in 0..p1 {
        sum.iter_mut().zip(row(ri)).for_each(|(s, &x)| *s += x);
        count += 1;
        ri += 1;
    }
    for _ in 0..p2 {
        sum.iter_mut().zip(row(ri)).for_each(|(s, &x)| *s += x);
        count += 1;
        emit(oi, &mut k, &sum, count);
        ri += 1;
        oi += 1;
    }
    for _ in 0..p3 {
        for ((s, &a), &b) in sum.iter_mut().zip(row(ri)).zip(row(li)) {
            *s += a;
            *s -= b;
        }
        emit(oi, &mut k, &sum, count);
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..p4 {
        sum.iter_mut().zip(row(li)).for_each(|(s, &x)| *s -= x);
        count -= 1;
        emit(oi, &mut k, &sum, count);
        li += 1;
        oi += 1;
    }
}

/// [`box_row`] on every row; groups of [`LANES`] rows are interleaved so that their sums
/// advance together (the per-row arithmetic is unchanged), the remainder row by row.
#[inline(always)]
fn box_rows(
    src: &[f32],
    dst: &mut [f32],
    rows: usize,
    cols: usize,
    window: usize,
    lanes: &mut Lanes,
) {
    let grouped = rows / LANES * LANES;
    let (lanes_in, lanes_out) = (&mut lanes.inp[..cols], &mut lanes.out[..cols]);
    for first in (0..grouped).step_by(LANES) {
        let block = first * cols..(first + LANES) * cols;
        to_lanes(&src[block.clone()], cols, lanes_in);
        box_lanes(lanes_in, lanes_out, window);
        from_lanes(lanes_out, &mut dst[block], cols);
    }
    for r in grouped..rows {
        let span = r * cols..(r + 1) * cols;
        box_row(&src[span.clone()], &mut dst[span], window);
    }
}

/// [`box_row`] on [`LANES`] interleaved rows at once.
#[inline(always)]
fn box_lanes(src: &[Lane], dst: &mut [Lane], window: usize) {
    let n = src.len();
    let half = (window + 2) / 2;
    let (p1, p2, p4) = (half - 1, window - half + 1, half - 1);
    let p3 = n - window;
    let (mut li, mut ri, mut oi) = (0, 0, 0);
    let mut sum: Lane = [0.0; LANES];
    let mut count = 0usize;
    let add = |s: &mut Lane, x: &Lane| s.iter_mut().zip(x).for_each(|(s, &x)| *s += x);
    let sub = |s: &mut Lane, x: &Lane| s.iter_mut().zip(x).for_each(|(s, &x)| *s -= x);
    let div = |d: &mut Lane, s: &Lane, c: f32| d.iter_mut().zip(s).for_each(|(d, &s)| *d = s / c);
    for _ in 0..p1 {
        add(&mut sum, &src[ri]);
        count += 1;
        ri += 1;
    }
    for _ in 0..p2 {
        add(&mut sum, &src[ri]);
        count += 1;
        div(&mut dst[oi], &sum, count as f32);
        ri += 1;
        oi += 1;
    }
    for _ in 0..p3 {
        add(&mut sum, &src[ri]);
        sub(&mut sum, &src[li]);
        div(&mut dst[oi], &sum, count as f32);
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..p4 {
        sub(&mut sum, &src[li]);
        count -= 1;
        div(&mut dst[oi], &sum, count as f32);
        li += 1;
        oi += 1;
    }
}

/// The reference `box1DFloat` along a contiguous row: a running float32 sum whose window
/// grows at the start and shrinks at the end, divided by the number of samples in it.
pub(crate) fn box_row(src: &[f32], dst: &mut [f32], window: usize) {
    let n = src.len();
    let half = (window + 2) / 2;
    let (p1, p2, p4) = (half - 1, window - half + 1, half - 1);
    let p3 = n - window;
    let (mut li, mut ri, mut oi) = (0, 0, 0);
    let mut sum = 0f32;
    let mut count = 0usize;
    for _ in 0..p1 {
        sum += src[ri];
        count += 1;
        ri += 1;
    }
    for _ in 0..p2 {
        sum += src[ri];
        count += 1;
        dst[oi] = sum / count as f32;
        ri += 1;
        oi += 1;
    }
    for _ in 0..p3 {
        sum += src[ri];
        sum -= src[li];
        dst[oi] = sum / count as f32;
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..p4 {
        sum -= src[li];
        count -= 1;
        dst[oi] = sum / count as f32;
        li += 1;
        oi += 1;
    }
}

/// `box1DFloat` down every column at once: the same per-column arithmetic as the reference's
/// strided loop, swept row by row so memory is read contiguously.
#[inline(always)]
fn box_cols(src: &[f32], dst: &mut [f32], rows: usize, cols: usize, window: usize) {
    let half = (window + 2) / 2;
    let (p1, p2, p4) = (half - 1, window - half + 1, half - 1);
    let p3 = rows - window;
    let row = |r: usize| &src[r * cols..(r + 1) * cols];
    let mut sum = vec![0f32; cols];
    let (mut li, mut ri, mut oi) = (0, 0, 0);
    let mut count = 0usize;
    for _ in 0..p1 {
        sum.iter_mut().zip(row(ri)).for_each(|(s, &x)| *s += x);
        count += 1;
        ri += 1;
    }
    for _ in 0..p2 {
        sum.iter_mut().zip(row(ri)).for_each(|(s, &x)| *s += x);
        count += 1;
        let c = count as f32;
        let out = &mut dst[oi * cols..(oi + 1) * cols];
        out.iter_mut().zip(&sum).for_each(|(o, &s)| *o = s / c);
        ri += 1;
        oi += 1;
    }
    for _ in 0..p3 {
        let (add, sub) = (row(ri), row(li));
        for ((s, &a), &b) in sum.iter_mut().zip(add).zip(sub) {
            *s += a;
            *s -= b;
        }
        let c = count as f32;
        let out = &mut dst[oi * cols..(oi + 1) * cols];
        out.iter_mut().zip(&sum).for_each(|(o, &s)| *o = s / c);
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..p4 {
        sum.iter_mut().zip(row(li)).for_each(|(s, &x)| *s -= x);
        count -= 1;
        let c = count as f32;
        let out = &mut dst[oi * cols..(oi + 1) * cols];
        out.iter_mut().zip(&sum).for_each(|(o, &s)| *o = s / c);
        li += 1;
        oi += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: every pass over the whole image.
    fn blur(luma: &mut [f32], rows: usize, cols: usize, passes: usize, downsample: usize) {
        let along_rows = window(cols, downsample);
        let along_cols = window(rows, downsample);
        let mut scratch = vec![0f32; luma.len()];
        let mut lanes = Lanes::new(cols, downsample);
        for _ in 0..passes {
            box_rows(luma, &mut scratch, rows, cols, along_rows, &mut lanes);
            box_cols(&scratch, luma, rows, cols, along_cols);
        }
    }

    /// The reference decimation: the blurred image at `n x n` cell centres.
    fn decimate(src: &[f32], rows: usize, cols: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; n * n];
        for oi in 0..n {
            let ii = sample_index(oi, rows, n);
            for oj in 0..n {
                out[oi * n + oj] = src[ii * cols + sample_index(oj, cols, n)];
            }
        }
        out
    }

    fn noise(w: usize, h: usize, c: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..w * h * c)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn window_is_ceil_dim_over_128() {
        assert_eq!(window(1, 64), 1);
        assert_eq!(window(128, 64), 1);
        assert_eq!(window(129, 64), 2);
        assert_eq!(window(4032, 64), 32);
    }

    #[test]
    fn box_row_averages_a_shrinking_window() {
        let src = [1.0, 2.0, 3.0, 4.0, 5.0];
        let mut dst = [0.0; 5];
        box_row(&src, &mut dst, 3);
        // half = 2: outputs centred, window 2 at the edges.
        assert_eq!(dst, [1.5, 2.0, 3.0, 4.0, 4.5]);
    }

    #[test]
    fn box_cols_matches_box_row_on_the_transpose() {
        let (rows, cols) = (37, 11);
        let src: Vec<f32> = noise(cols, rows, 1, 3).iter().map(|&v| v as f32).collect();
        let mut by_cols = vec![0f32; rows * cols];
        box_cols(&src, &mut by_cols, rows, cols, 4);
        for c in 0..cols {
            let col: Vec<f32> = (0..rows).map(|r| src[r * cols + c]).collect();
            let mut out = vec![0f32; rows];
            box_row(&col, &mut out, 4);
            for r in 0..rows {
                assert_eq!(out[r].to_bits(), by_cols[r * cols + c].to_bits());
            }
        }
    }

    #[test]
    fn interleaved_rows_match_row_by_row() {
        for (rows, cols, w) in [(1, 9, 1), (8, 9, 3), (17, 130, 2), (23, 64, 7), (40, 5, 5)] {
            let src: Vec<f32> = noise(cols, rows, 1, rows as u64)
                .iter()
                .map(|&v| v as f32 / 3.0)
                .collect();
            let mut grouped = vec![0f32; rows * cols];
            box_rows(&src, &mut grouped, rows, cols, w, &mut Lanes::new(cols, 0));
            for r in 0..rows {
                let mut one = vec![0f32; cols];
                box_row(&src[r * cols..(r + 1) * cols], &mut one, w);
                let got: Vec<u32> = grouped[r * cols..(r + 1) * cols]
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                let want: Vec<u32> = one.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "rows={rows} cols={cols} w={w} r={r}");
            }
        }
    }

    #[test]
    fn sampled_blur_is_the_full_blur_decimated() {
        // Tall shapes run the streamed pass through its ring many times over, with and
        // without a partial last block of 16 rows.
        for (rows, cols) in [
            (5, 5),
            (5, 70),
            (17, 9),
            (33, 257),
            (300, 129),
            (64, 1000),
            (130, 64),
            (1000, 37),
            (2049, 300),
            (4000, 20),
        ] {
            let src: Vec<f32> = noise(cols, rows, 1, (rows * cols) as u64)
                .iter()
                .map(|&v| v as f32 * 0.3)
                .collect();
            for passes in [1, 2, 3] {
                let mut full = src.clone();
                blur(&mut full, rows, cols, passes, 64);
                let want: Vec<u32> = decimate(&full, rows, cols, 64)
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                for dispatched in [true, false] {
                    let mut fill = |first: usize, out: &mut [f32]| {
                        out.copy_from_slice(&src[first * cols..first * cols + out.len()])
                    };
                    let got = if dispatched {
                        blur_sampled(rows, cols, passes, 64, &mut fill)
                    } else {
                        blur_sampled_portable(rows, cols, passes, 64, &mut fill)
                    };
                    let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                    assert_eq!(
                        got, want,
                        "{rows}x{cols} passes={passes} dispatched={dispatched}"
                    );
                }
            }
        }
    }
}
