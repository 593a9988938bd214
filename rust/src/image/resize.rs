//! Pillow-compatible LANCZOS resize of 8-bit grey images (what imagehash calls `ANTIALIAS`).
//!
//! Pillow's `Image.resize` (libImaging `Resample.c`) convolves along each axis in turn with a
//! Lanczos-3 kernel stretched by the downscale factor. Coefficients are computed in double,
//! normalised to sum 1, then rounded to signed fixed point with 22 fractional bits; each pass
//! rounds and clips its result to 8 bits. Reproducing those steps gives bit-identical pixels.

// Pillow `Resample.c`: PRECISION_BITS = 32 - 8 - 2.
const PRECISION_BITS: u32 = 22;
// Lanczos-3 support (Pillow `LANCZOS` filter struct).
const LANCZOS_SUPPORT: f64 = 3.0;

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;

use super::{luma, Pixels};

#[cfg(target_arch = "x86_64")]
mod avx512;

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * std::f64::consts::PI;
    x.sin() / x
}

fn lanczos(x: f64) -> f64 {
    // Truncated sinc windowed by sinc(x / 3), zero outside [-3, 3).
    if (-LANCZOS_SUPPORT..LANCZOS_SUPPORT).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Fixed-point taps for one axis: for each output sample, the first input index and its weights.
///
/// Each weight row is zero-padded to `kpad` (a multiple of [`LANES`]) so kernels run whole
/// vectors; the padding multiplies real pixels by zero, which leaves Pillow's sums unchanged.
struct Taps {
    kpad: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    // `weights` split as `hi * 2^SPLIT + lo` with `0 <= lo < 2^SPLIT`, both fitting i16, so
    // SIMD kernels can use 16-bit multiply-add (pmaddwd) and still form Pillow's exact i32 sum.
    hi: Vec<i16>,
    lo: Vec<i16>,
    groups: Groups,
    /// [`Strip::all`], laid out on first use (only horizontal AVX-512 passes read them).
    strips: OnceCell<Vec<Strip>>,
}

impl Taps {
    /// Bytes a row must hold past its last pixel for the kernels' whole-vector reads.
    fn pad(&self) -> usize {
        self.kpad
    }

    /// The weights as [`Strip`]s.
    fn strips(&self) -> &[Strip] {
        self.strips
            .get_or_init(|| Strip::all(&self.weights, self.kpad, &self.bounds, &self.groups.spans))
    }
}

// Taps per vector step of the horizontal kernels (16 x i16 in a 256-bit register).
const LANES: usize = 16;
// Bits of each weight in the low half of the split; |w| <= 2^23 so `hi` fits in i16.
const SPLIT: u32 = 11;

/// The weights laid out for byte dot products (AVX-512 VNNI `vpdpbusd`: 4 unsigned pixel bytes
/// times 4 signed weight bytes, summed into an i32), in groups of 4 consecutive input samples
/// starting at multiples of 4. Each weight is split into signed bytes, `w = b0 + 2^8 b1 +
/// 2^16 b2`, so three partial sums, shifted and added, give Pillow's exact i32 sum. `b2` is zero
/// wherever `|w| < 2^15`, which on large downscales is all but the taps around each window's
/// centre, so kernels run plane 2 only over the groups in its span.
struct Groups {
    /// Groups per output and plane in `planes` (the most any output needs).
    stride: usize,
    /// Per output: first group, group count, and the range of those groups where `b2 != 0`.
    spans: Vec<(usize, usize, usize, usize)>,
    /// `[output][plane][group]`, 4 weight bytes packed little-endian (sample order).
    planes: Vec<i32>,
    /// The same planes for neighbouring outputs side by side, where filtering them together
    /// is less work.
    batches: Option<Vec<Batch>>,
}

/// A weight as signed bytes `[b0, b1, b2]` with `w = b0 + 2^8 b1 + 2^16 b2`.
fn byte_planes(w: i32) -> [i8; 3] {
    let b0 = w as i8;
    let w1 = (w - b0 as i32) >> 8;
    let b1 = w1 as i8;
    let b2 = i8::try_from((w1 - b1 as i32) >> 8).expect("|weight| < 2^23");
    [b0, b1, b2]
}

/// Up to [`BATCH`] consecutive outputs filtered in one pass over the union of their windows.
///
/// Per output, each group of pixels is one 64-byte load and two dot products; the
/// loads, not the dot products, set the pace. In a batch each load feeds the dot products of
/// every output in it, at the price of zero weights where the windows do not overlap, which on
/// strong downscales (wide windows, a few outputs) is a small part of the union.
struct Batch {
    /// The first output and how many.
    first: usize,
    size: usize,
    /// The groups any of them weighs.
    start: usize,
    end: usize,
    /// `[group - start][plane][output - first]`, planes 0 and 1 packed as [`Groups::planes`],
    /// zero outside an output's own window. (Batches are for wide windows, whose weights all
    /// fit in two planes; outputs that need plane 2 are filtered alone.)
    weights: Vec<i32>,
}

/// Most outputs per [`Batch`] (8 x 2 planes of sums in registers), and the fewest worth one.
const BATCH: usize = 8;
const MIN_BATCH: usize = 4;

/// Up to [`STRIP`] consecutive outputs of a strong downscale (at least [`STRIP_MIN_SCALE`]),
/// weighed against grey rows as they lie in memory (the horizontal pass without its 16 x 16
/// transposes).
///
/// A 64-byte weight vector per output, plane and 64-pixel chunk multiplies the same chunk of
/// several rows; each lane sums 4 of a chunk's 64 columns, and the lanes are added up once
/// per row and output. Every chunk then costs a weight load per output and plane and a pixel
/// load per row, shared by [`STRIP_ROWS`] x `size` x 2 dot products, against the transposed
/// path's broadcast weight per dot product plus the transposes. Plane 2 runs over the few
/// chunks that need it.
struct Strip {
    /// The first output and how many.
    first: usize,
    size: usize,
    /// The 64-pixel chunks any of them weighs.
    start: usize,
    end: usize,
    /// `[chunk - start][plane][output - first]`: planes 0 and 1 of [`Groups::planes`] as 64
    /// signed bytes, one per pixel, zero outside an output's own window.
    weights: Vec<[i8; 64]>,
    /// The chunks where some weight needs plane 2 (`|w| >= 2^15`, around the windows' centres
    /// on moderate downscales; none on strong ones), and that plane, `[chunk - top_start]
    /// [output - first]`.
    top_start: usize,
    top_end: usize,
    top: Vec<[i8; 64]>,
}

/// Outputs per [`Strip`] and rows filtered together: 2 x 4 x 2 planes = 16 sums in registers.
const STRIP: usize = 2;
const STRIP_ROWS: usize = 4;
/// The least shrink factor at which strips beat the transposed pass. Per 16-row block on
/// Zen 4, strips vs transposed: 4032 -> 8 1.9 vs 2.7 us, 4032 -> 32 3.1 vs 4.2, 16000 -> 256
/// 15.2 vs 18.6, 512 -> 8 0.37 vs 0.46, 2048 -> 32 even. Below it the answer depends on more
/// than the factor (4032 -> 80 4.4 vs 4.9, but 1000 -> 20 1.04 vs 0.82, 1024 -> 32 1.48 vs
/// 1.12): each strip's lane sums and the chunks its two windows span cost the same however
/// narrow the windows are.
const STRIP_MIN_SCALE: usize = 56;

impl Groups {
    fn new(weights: &[i32], kpad: usize, bounds: &[(usize, usize)]) -> Self {
        // A window starting mid-group gets leading zero weights.
        let stride = (kpad + 3).div_ceil(4);
        let mut planes = vec![0i32; bounds.len() * 3 * stride];
        let mut spans = Vec::with_capacity(bounds.len());
        for (xx, &(xmin, n)) in bounds.iter().enumerate() {
            let out = &mut planes[xx * 3 * stride..(xx + 1) * 3 * stride];
            let off = xmin % 4;
            let (mut top0, mut top1) = (usize::MAX, 0);
            for (j, &w) in weights[xx * kpad..xx * kpad + n].iter().enumerate() {
                let [b0, b1, b2] = byte_planes(w);
                let (g, byte) = ((off + j) / 4, (off + j) % 4);
                for (p, b) in [b0, b1, b2].into_iter().enumerate() {
                    out[p * stride + g] |= ((b as u8) as i32) << (8 * byte);
                }
                if b2 != 0 {
                    top0 = top0.min(g);
                    top1 = g + 1;
                }
            }
            spans.push((xmin / 4, (off + n).div_ceil(4), top0.min(top1), top1));
        }
        let batches = Self::batches(&planes, stride, &spans);
        Self {
            stride,
            spans,
            planes,
            batches,
        }
    }

    /// [`Batch`]es of the outputs when they cost less than filtering output by output, in as
    /// many batches as costs least. Costs in picoseconds, measured on Zen 4 (AVX-512 loads of
    /// interleaved groups from L2, on a transposed horizontal block before strips replaced
    /// it; batches now serve the vertical pass): a plane's dot product for one output alone
    /// 275 (its load shared with one other plane), a batched one 140 + 248 / B (its load
    /// shared by 2 x B).
    fn batches(
        planes: &[i32],
        stride: usize,
        spans: &[(usize, usize, usize, usize)],
    ) -> Option<Vec<Batch>> {
        let outputs = spans.len();
        if spans.iter().any(|s| s.3 > s.2) {
            return None;
        }
        let alone: usize = spans
            .iter()
            .map(|&(_, n, t0, t1)| 275 * (2 * n + t1 - t0))
            .sum();
        let cost = |nb: usize| -> usize {
            (0..nb)
                .map(|b| {
                    let (_, size, start, end) = Self::batch_span(spans, nb, b);
                    (end - start) * size * 2 * (140 + 248 / size)
                })
                .sum()
        };
        let (best, nb) = (outputs.div_ceil(BATCH)..=outputs / MIN_BATCH)
            .map(|nb| (cost(nb), nb))
            .min()?;
        (best < alone).then(|| Self::batched(planes, stride, spans, nb))
    }

    /// Batch `b` of `nb` (consecutive outputs, as even as can be): its first output and size,
    /// and its groups.
    fn batch_span(
        spans: &[(usize, usize, usize, usize)],
        nb: usize,
        b: usize,
    ) -> (usize, usize, usize, usize) {
        let (first, last) = (b * spans.len() / nb, (b + 1) * spans.len() / nb);
        let ours = &spans[first..last];
        let start = ours.iter().map(|s| s.0).min().unwrap_or(0);
        let end = ours.iter().map(|s| s.0 + s.1).max().unwrap_or(0);
        (first, last - first, start, end)
    }

    /// The outputs in `nb` batches of consecutive outputs, as even as can be.
    fn batched(
        planes: &[i32],
        stride: usize,
        spans: &[(usize, usize, usize, usize)],
        nb: usize,
    ) -> Vec<Batch> {
        (0..nb)
            .map(|b| {
                let (first, size, start, end) = Self::batch_span(spans, nb, b);
                let ours = &spans[first..first + size];
                let mut weights = vec![0i32; (end - start) * 2 * size];
                for (k, &(g0, count, _, _)) in ours.iter().enumerate() {
                    let xx = first + k;
                    for p in 0..2 {
                        let plane = &planes[(3 * xx + p) * stride..][..count];
                        for (j, &v) in plane.iter().enumerate() {
                            weights[((g0 + j - start) * 2 + p) * size + k] = v;
                        }
                    }
                }
                Batch {
                    first,
                    size,
                    start,
                    end,
                    weights,
                }
            })
            .collect()
    }
}

impl Strip {
    /// The outputs in strips of [`STRIP`] (the last may be smaller); `spans` are
    /// [`Groups::spans`] of the same taps.
    fn all(
        weights: &[i32],
        kpad: usize,
        bounds: &[(usize, usize)],
        spans: &[(usize, usize, usize, usize)],
    ) -> Vec<Strip> {
        (0..bounds.len())
            .step_by(STRIP)
            .map(|first| {
                let ours = &bounds[first..(first + STRIP).min(bounds.len())];
                let size = ours.len();
                let taps = |k: usize| {
                    let (xmin, n) = ours[k];
                    let xx = first + k;
                    weights[xx * kpad..xx * kpad + n]
                        .iter()
                        .enumerate()
                        .map(move |(j, &w)| (xmin + j, byte_planes(w)))
                };
                let start = ours.iter().map(|b| b.0).min().unwrap_or(0) / 64;
                let end = ours
                    .iter()
                    .map(|b| b.0 + b.1)
                    .max()
                    .unwrap_or(0)
                    .div_ceil(64);
                // The chunks holding the groups that `Groups` found to need plane 2.
                let (mut top_start, mut top_end) = (usize::MAX, 0);
                for &(g0, _, t0, t1) in &spans[first..first + size] {
                    if t1 > t0 {
                        top_start = top_start.min((g0 + t0) / 16);
                        top_end = top_end.max((g0 + t1 - 1) / 16 + 1);
                    }
                }
                let top_start = top_start.min(top_end);
                let mut planes = vec![[0i8; 64]; (end - start) * 2 * size];
                let mut top = vec![[0i8; 64]; (top_end - top_start) * size];
                for k in 0..size {
                    for (x, [b0, b1, b2]) in taps(k) {
                        let at = (x / 64 - start) * 2 * size + k;
                        planes[at][x % 64] = b0;
                        planes[at + size][x % 64] = b1;
                        if b2 != 0 {
                            top[(x / 64 - top_start) * size + k][x % 64] = b2;
                        }
                    }
                }
                Strip {
                    first,
                    size,
                    start,
                    end,
                    weights: planes,
                    top_start,
                    top_end,
                    top,
                }
            })
            .collect()
    }
}

/// A cached [`Taps`] and its `(in_size, out_size)`.
type TapsEntry = ((usize, usize), Rc<Taps>);

/// [`compute_taps`], remembered per thread for the last few size pairs: the Lanczos weights cost
/// two `sin` per tap, more than the filtering itself for small images, and batches tend to
/// repeat sizes.
fn taps(in_size: usize, out_size: usize) -> Rc<Taps> {
    const KEEP: usize = 8;
    thread_local! {
        static CACHE: RefCell<Vec<TapsEntry>> = const { RefCell::new(Vec::new()) };
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(i) = c.iter().position(|(k, _)| *k == (in_size, out_size)) {
            let hit = c.remove(i);
            c.push(hit.clone());
            return hit.1;
        }
        let t = Rc::new(compute_taps(in_size, out_size));
        if c.len() == KEEP {
            c.remove(0);
        }
        c.push(((in_size, out_size), t.clone()));
        t
    })
}

/// Pillow `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the box `(0, in_size)`.
fn compute_taps(in_size: usize, out_size: usize) -> Taps {
    // Pillow passes the box as float; `(double)(in1 - in0)` is exact for any real size.
    let scale = in_size as f32 as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = LANCZOS_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let kpad = ksize.div_ceil(LANES) * LANES;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * kpad];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C `(int)` truncates toward zero, then the bounds are clamped.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = lanczos(((x + xmin) as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * kpad..xx * kpad + n];
        for (dst, &kx) in row.iter_mut().zip(&k[..n]) {
            let kx = if ww != 0.0 { kx / ww } else { kx };
            let fixed = kx * (1u32 << PRECISION_BITS) as f64;
            *dst = if kx < 0.0 {
                (-0.5 + fixed) as i32
            } else {
                (0.5 + fixed) as i32
            };
        }
        bounds.push((xmin, n));
    }
    let hi = weights.iter().map(|&w| (w >> SPLIT) as i16).collect();
    let lo = weights
        .iter()
        .map(|&w| (w & ((1 << SPLIT) - 1)) as i16)
        .collect();
    let groups = Groups::new(&weights, kpad, &bounds);
    Taps {
        kpad,
        bounds,
        weights,
        hi,
        lo,
        groups,
        strips: OnceCell::new(),
    }
}

#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resize a `width x height` grey image to `out_w x out_h` exactly as Pillow's
/// `im.resize((out_w, out_h), Image.LANCZOS)` does for mode 'L'.
pub fn lanczos_l(src: &[u8], width: usize, height: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    assert_eq!(
        src.len(),
        width * height,
        "grey buffer does not match its size"
    );
    let grey = Pixels::new(src, width, height, 1).expect("checked above");
    lanczos_pixels(&grey, out_w, out_h)
}

/// Pillow's `im.convert('L').resize((out_w, out_h), Image.LANCZOS)`, bit for bit. When the
/// horizontal pass runs first, each row is converted to grey just before it is filtered, so the
/// full-size grey image is never stored.
pub fn lanczos_pixels(pixels: &Pixels<'_>, out_w: usize, out_h: usize) -> Vec<u8> {
    lanczos_with(&kernels(), pixels, out_w, out_h)
}

fn lanczos_with(k: &Kernels, pixels: &Pixels<'_>, out_w: usize, out_h: usize) -> Vec<u8> {
    assert!(out_w > 0 && out_h > 0, "resize to an empty image");
    let (width, height) = (pixels.width(), pixels.height());
    // Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks
    // by more than twice as many pixels as the width; the order changes the 8-bit rounding
    // between passes. Pinned down on random images against Pillow 13.0.0.
    let vertical_first =
        out_h < height && (height - out_h) as i64 > 2 * (width as i64 - out_w as i64);
    // Pillow skips a pass whose size does not change.
    if vertical_first {
        let grey = luma::pillow_l(pixels);
        let mid = if out_h != height {
            (k.vertical)(&grey, width, height, out_h)
        } else {
            grey
        };
        if out_w != width {
            horizontal(k, &mid, width, out_h, out_w, 1, None)
        } else {
            mid
        }
    } else if out_w == width {
        let grey = luma::pillow_l(pixels);
        if out_h != height {
            (k.vertical)(&grey, width, height, out_h)
        } else {
            grey
        }
    } else if out_h == height {
        horizontal(
            k,
            pixels.data(),
            width,
            height,
            out_w,
            pixels.channels(),
            None,
        )
    } else if let Some(both) = k.both {
        both(pixels, out_w, out_h)
    } else {
        // The horizontal pass stores its output transposed, one column per row, so the vertical
        // pass is the same row kernel run along the columns: the same integer sums as Pillow's
        // vertical loop, with the horizontal kernels' speed on long, strongly shrunk columns.
        let tv = taps(height, out_h);
        let stride = height + tv.pad();
        let (data, c) = (pixels.data(), pixels.channels());
        let columns = horizontal(k, data, width, height, out_w, c, Some(stride));
        let mut out = vec![0u8; out_w * out_h];
        run_rows(k, &columns, stride, &tv, &mut out, 1, out_w);
        out
    }
}

/// Filter every row of `src` (rows of `stride` bytes) along its length with `t`, writing output
/// `xx` of row `r` to `out[r * rs + xx * xs]`. Callers guarantee that each row holds the taps'
/// windows plus [`Taps::pad`] readable bytes, and that every output index is inside `out`.
type RowsFn = unsafe fn(src: &[u8], stride: usize, t: &Taps, out: &mut [u8], rs: usize, xs: usize);

/// `lanczos_pixels` for the case where both passes run, horizontal first.
type BothFn = fn(&Pixels<'_>, usize, usize) -> Vec<u8>;

/// The per-CPU kernels, chosen once (`FINGERPRINT_SIMD=scalar` or `avx2` forces slower ones).
#[derive(Clone, Copy)]
struct Kernels {
    /// The horizontal pass over a block of padded grey rows.
    rows: RowsFn,
    /// The whole vertical pass, for images whose columns are not transposed first.
    vertical: fn(&[u8], usize, usize, usize) -> Vec<u8>,
    /// Both passes, horizontal first, from the pixels (the common case), where a kernel set
    /// has its own pipeline for it.
    both: Option<BothFn>,
}

const SCALAR: Kernels = Kernels {
    rows: rows_scalar,
    vertical: vertical_scalar,
    both: None,
};

#[cfg(target_arch = "x86_64")]
const AVX2: Kernels = Kernels {
    rows: avx2::rows,
    vertical: avx2::vertical,
    both: None,
};

#[cfg(target_arch = "x86_64")]
const AVX512: Kernels = Kernels {
    both: Some(avx512::lanczos),
    ..AVX2
};

fn kernels() -> Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    *K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if luma::avx512_enabled() {
                return AVX512;
            }
            if luma::avx2_enabled() {
                return AVX2;
            }
        }
        SCALAR
    })
}

/// Check the [`RowsFn`] contract, then run `k.rows`.
fn run_rows(
    k: &Kernels,
    src: &[u8],
    stride: usize,
    t: &Taps,
    out: &mut [u8],
    rs: usize,
    xs: usize,
) {
    assert!(
        stride > 0 && src.len().is_multiple_of(stride),
        "rows do not tile the buffer"
    );
    assert!(
        t.bounds.iter().all(|&(xmin, _)| xmin + t.pad() <= stride),
        "rows are not padded for whole-vector reads"
    );
    let (nrows, nout) = (src.len() / stride, t.bounds.len());
    if nrows > 0 && nout > 0 {
        assert!(
            (nrows - 1) * rs + (nout - 1) * xs < out.len(),
            "output too small"
        );
    }
    // SAFETY: the contract was checked above; the kernel's CPU features were detected when
    // the kernels were chosen.
    unsafe { (k.rows)(src, stride, t, out, rs, xs) }
}

/// Pillow `ImagingResampleHorizontal_8bpc` on the grey of interleaved `channels`-byte pixels.
/// The result is `height` rows of `out_w`, or with `columns = Some(stride)`, `out_w` rows of
/// `stride` bytes holding the `height` samples of each output column.
fn horizontal(
    k: &Kernels,
    src: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    channels: usize,
    columns: Option<usize>,
) -> Vec<u8> {
    let t = taps(width, out_w);
    let (mut out, rs, xs) = match columns {
        Some(stride) => (vec![0u8; out_w * stride], 1, stride),
        None => (vec![0u8; out_w * height], out_w, 1),
    };
    // Room for the last window's padded read past the row end.
    let mut row = vec![0u8; width + t.pad()];
    for (y, row_in) in src.chunks_exact(width * channels).enumerate() {
        luma::pillow_l_row(row_in, channels, &mut row[..width]);
        run_rows(k, &row, row.len(), &t, &mut out[y * rs..], rs, xs);
    }
    out
}

/// Portable rows: Pillow's i32 sum over the real taps.
unsafe fn rows_scalar(src: &[u8], stride: usize, t: &Taps, out: &mut [u8], rs: usize, xs: usize) {
    for (r, row) in src.chunks_exact(stride).enumerate() {
        for (xx, &(xmin, n)) in t.bounds.iter().enumerate() {
            let k = &t.weights[xx * t.kpad..xx * t.kpad + n];
            let mut acc: i32 = 1 << (PRECISION_BITS - 1);
            for (&p, &w) in row[xmin..xmin + n].iter().zip(k) {
                acc += p as i32 * w;
            }
            out[r * rs + xx * xs] = clip8(acc);
        }
    }
}

/// Pillow `ImagingResampleVertical_8bpc`: each column to `out_h` samples.
#[inline(always)]
fn vertical_impl(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
    let t = taps(height, out_h);
    let mut out = vec![0u8; width * out_h];
    let mut acc = vec![0i32; width];
    for yy in 0..out_h {
        let (ymin, n) = t.bounds[yy];
        let k = &t.weights[yy * t.kpad..yy * t.kpad + n];
        acc.iter_mut().for_each(|a| *a = 1 << (PRECISION_BITS - 1));
        // Row by row: the same integer sums as Pillow's column loop, read contiguously.
        for (y, &w) in k.iter().enumerate() {
            let row = &src[(ymin + y) * width..(ymin + y + 1) * width];
            acc.iter_mut()
                .zip(row)
                .for_each(|(a, &p)| *a += p as i32 * w);
        }
        for (o, &a) in out[yy * width..(yy + 1) * width].iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

fn vertical_scalar(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
    vertical_impl(src, width, height, out_h)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{clip8, vertical_impl, Taps, LANES, PRECISION_BITS, SPLIT};
    use std::arch::x86_64::*;

    /// Rows with 16-bit multiply-add on the split weights ([`super::RowsFn`] contract).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn rows(
        src: &[u8],
        stride: usize,
        t: &Taps,
        out: &mut [u8],
        rs: usize,
        xs: usize,
    ) {
        for (r, row) in src.chunks_exact(stride).enumerate() {
            for (xx, &(xmin, n)) in t.bounds.iter().enumerate() {
                // Only the vectors that hold real taps; the rest of the padding is zero.
                let steps = n.div_ceil(LANES);
                let px = row.as_ptr().add(xmin);
                let hi = t.hi.as_ptr().add(xx * t.kpad);
                let lo = t.lo.as_ptr().add(xx * t.kpad);
                let mut ah = _mm256_setzero_si256();
                let mut al = _mm256_setzero_si256();
                for s in 0..steps {
                    let p =
                        _mm256_cvtepu8_epi16(_mm_loadu_si128(px.add(s * LANES) as *const __m128i));
                    let h = _mm256_loadu_si256(hi.add(s * LANES) as *const __m256i);
                    let l = _mm256_loadu_si256(lo.add(s * LANES) as *const __m256i);
                    ah = _mm256_add_epi32(ah, _mm256_madd_epi16(p, h));
                    al = _mm256_add_epi32(al, _mm256_madd_epi16(p, l));
                }
                // hi * 2^SPLIT + lo per lane, then across lanes: the exact i32 sum (wrapping
                // adds are exact because Pillow's total fits in i32).
                let v = _mm256_add_epi32(_mm256_slli_epi32::<{ SPLIT as i32 }>(ah), al);
                let s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
                let s2 = _mm_add_epi32(s4, _mm_shuffle_epi32::<0b01_00_11_10>(s4));
                let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32::<0b10_11_00_01>(s2));
                let acc = _mm_cvtsi128_si32(s1).wrapping_add(1 << (PRECISION_BITS - 1));
                *out.get_unchecked_mut(r * rs + xx * xs) = clip8(acc);
            }
        }
    }

    pub(super) fn vertical(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
        // SAFETY: chosen only when AVX2 was detected; the body is safe Rust.
        unsafe { vertical_avx2(src, width, height, out_h) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn vertical_avx2(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
        vertical_impl(src, width, height, out_h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_sum_to_one_in_fixed_point() {
        for (i, o) in [(100, 8), (9, 8), (8, 32), (4032, 32), (3, 9)] {
            let t = taps(i, o);
            for xx in 0..o {
                let (_, n) = t.bounds[xx];
                let s: i32 = t.weights[xx * t.kpad..xx * t.kpad + n].iter().sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= n as i32,
                    "{i}->{o}: {s}"
                );
            }
        }
    }

    #[test]
    fn flat_images_stay_flat() {
        let src = vec![77u8; 50 * 31];
        assert!(lanczos_l(&src, 50, 31, 9, 8).iter().all(|&p| p == 77));
        assert!(lanczos_l(&src, 50, 31, 64, 64).iter().all(|&p| p == 77));
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    /// The kernel sets this CPU can run, the portable one first.
    fn all_kernels() -> Vec<(&'static str, Kernels)> {
        #[allow(unused_mut)]
        let mut ks = vec![("scalar", SCALAR)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
                ks.push(("avx2", AVX2));
            }
            if luma::avx512_enabled() {
                ks.push(("avx512", AVX512));
            }
        }
        ks
    }

    #[test]
    fn simd_kernels_match_scalar_bit_for_bit() {
        let ks = all_kernels();
        let sizes = [
            (1, 1),
            (3, 2),
            (17, 5),
            (64, 9),
            (65, 64),
            (300, 32),
            (1000, 33),
            (4032, 32),
            (5000, 3),
        ];
        for (seed, &(w, ow)) in sizes.iter().enumerate() {
            for h in [1, 3, 4, 7, 40] {
                // Extremes as well as noise: all-255 rows drive the sums to their largest.
                for px in [noise(w * h, seed as u64), vec![255; w * h], vec![0; w * h]] {
                    let want = horizontal(&SCALAR, &px, w, h, ow, 1, None);
                    let want_v = (SCALAR.vertical)(&px, h, w, ow);
                    for (name, k) in &ks {
                        let got = horizontal(k, &px, w, h, ow, 1, None);
                        assert_eq!(want, got, "{name} horizontal {w}->{ow} x{h}");
                        let got = (k.vertical)(&px, h, w, ow);
                        assert_eq!(want_v, got, "{name} vertical {w}->{ow} x{h}");
                    }
                }
            }
        }
    }

    #[test]
    fn simd_resizes_match_scalar_bit_for_bit() {
        // Both pass orders, skipped passes, odd and tiny sizes, every channel count.
        let shapes = [
            (1, 1, 1, 1),
            (2, 3, 1, 2),
            (13, 7, 9, 8),
            (9, 8, 32, 32),
            (123, 45, 32, 32),
            (512, 512, 32, 32),
            (700, 130, 9, 8),
            (130, 700, 8, 8),
            (64, 300, 64, 32),
            (300, 64, 32, 64),
            (1001, 999, 17, 16),
            // Strong downscales: AVX-512 filters the rows in strips, the columns in batches.
            (4032, 3024, 8, 8),
            (3000, 3024, 9, 8),
            // Strong horizontal downscales to more outputs (strips, not batches, on AVX-512),
            // some with weights in plane 2.
            (4032, 40, 17, 16),
            (4032, 20, 32, 16),
            (512, 40, 9, 8),
            (200, 30, 1, 3),
            (300, 17, 5, 4),
        ];
        let ks = all_kernels();
        for (i, &(w, h, ow, oh)) in shapes.iter().enumerate() {
            for c in 1..=4 {
                let px = noise(w * h * c, (i * 4 + c) as u64);
                let p = Pixels::new(&px, w, h, c).unwrap();
                let want = lanczos_with(&SCALAR, &p, ow, oh);
                for (name, k) in &ks {
                    let got = lanczos_with(k, &p, ow, oh);
                    assert_eq!(want, got, "{name} {w}x{h}x{c} -> {ow}x{oh}");
                }
            }
        }
    }

    #[test]
    fn groups_rebuild_the_weights() {
        for (i, o) in [
            (100, 8),
            (9, 8),
            (8, 32),
            (4032, 32),
            (3, 9),
            (512, 32),
            (40000, 8),
        ] {
            let t = taps(i, o);
            let g = &t.groups;
            for (xx, &(xmin, n)) in t.bounds.iter().enumerate() {
                let (g0, count, top0, top1) = g.spans[xx];
                assert!(
                    g0 * 4 <= xmin && (g0 + count) * 4 >= xmin + n,
                    "{i}->{o} [{xx}]"
                );
                assert!(count <= g.stride);
                let plane = |p: usize| &g.planes[(3 * xx + p) * g.stride..][..g.stride];
                for s in 0..4 * g.stride {
                    let byte = |p: usize| (plane(p)[s / 4] >> (8 * (s % 4))) as i8 as i32;
                    let x = (4 * g0 + s).wrapping_sub(xmin);
                    let w = if x < n { t.weights[xx * t.kpad + x] } else { 0 };
                    assert_eq!(
                        byte(0) + (byte(1) << 8) + (byte(2) << 16),
                        w,
                        "{i}->{o} [{xx}][{s}]"
                    );
                    assert!(byte(2) == 0 || (top0..top1).contains(&(s / 4)));
                }
            }
        }
    }

    #[test]
    fn batches_hold_the_planes() {
        let mut used = Vec::new();
        for (i, o) in [
            (4032, 8),
            (4032, 9),
            (3024, 8),
            (4032, 32),
            (40000, 8),
            (700, 9),
            (60, 8),
        ] {
            let t = taps(i, o);
            let g = &t.groups;
            let Some(batches) = &g.batches else { continue };
            used.push((i, o));
            let mut next = 0;
            for b in batches {
                assert_eq!(b.first, next, "{i}->{o}: batches do not tile the outputs");
                assert!((MIN_BATCH..=BATCH).contains(&b.size));
                next += b.size;
                for xx in b.first..b.first + b.size {
                    let (g0, count, t0, t1) = g.spans[xx];
                    assert!(b.start <= g0 && g0 + count <= b.end);
                    assert_eq!(t0, t1, "{i}->{o} [{xx}] needs plane 2");
                    for gi in b.start..b.end {
                        for p in 0..2 {
                            let got = b.weights[((gi - b.start) * 2 + p) * b.size + xx - b.first];
                            let want = if (g0..g0 + count).contains(&gi) {
                                g.planes[(3 * xx + p) * g.stride + gi - g0]
                            } else {
                                0
                            };
                            assert_eq!(got, want, "{i}->{o} [{xx}] group {gi} plane {p}");
                        }
                    }
                }
            }
            assert_eq!(next, o);
        }
        // Strong downscales (aHash's 8x8 of a photo) are batched; pHash's 32 columns are not.
        assert!(
            used.contains(&(4032, 8)) && used.contains(&(40000, 8)),
            "{used:?}"
        );
        assert!(taps(4032, 32).groups.batches.is_none());
    }

    #[test]
    fn strips_hold_the_weights() {
        let mut tops = 0;
        for (i, o) in [
            (4032, 8),
            (4032, 9),
            (4032, 17),
            (40000, 8),
            (4032, 32),
            (512, 9),
            (9, 8),
            (3, 1),
        ] {
            let t = taps(i, o);
            let mut next = 0;
            for s in t.strips() {
                assert_eq!(s.first, next, "{i}->{o}: strips do not tile the outputs");
                assert!((1..=STRIP).contains(&s.size));
                assert_eq!(s.weights.len(), (s.end - s.start) * 2 * s.size);
                assert_eq!(s.top.len(), (s.top_end - s.top_start) * s.size);
                assert!(s.top_start == s.top_end || (s.start <= s.top_start && s.top_end <= s.end));
                tops += s.top_end - s.top_start;
                next += s.size;
                for k in 0..s.size {
                    let xx = s.first + k;
                    let (xmin, n) = t.bounds[xx];
                    assert!(s.start * 64 <= xmin && xmin + n <= s.end * 64);
                    for x in s.start * 64..s.end * 64 {
                        let at = (x / 64 - s.start) * 2 * s.size + k;
                        let (b0, b1) = (s.weights[at][x % 64], s.weights[at + s.size][x % 64]);
                        let b2 = if (s.top_start..s.top_end).contains(&(x / 64)) {
                            s.top[(x / 64 - s.top_start) * s.size + k][x % 64]
                        } else {
                            0
                        };
                        let want = if (xmin..xmin + n).contains(&x) {
                            t.weights[xx * t.kpad + x - xmin]
                        } else {
                            0
                        };
                        let got = b0 as i32 + ((b1 as i32) << 8) + ((b2 as i32) << 16);
                        assert_eq!(got, want, "{i}->{o} [{xx}][{x}]");
                    }
                }
            }
            assert_eq!(next, o);
        }
        // Plane 2 is there where weights reach 2^15 (pHash's 32 columns, small images).
        assert!(tops > 0);
        assert!(taps(4032, 8).strips().iter().all(|s| s.top.is_empty()));
    }

    #[test]
    fn strips_clip_like_scalar_on_hard_edges() {
        // Black and white bands as wide as the windows: Lanczos' lobes overshoot both ends,
        // so the strips' clip to 0 and 255 is exercised (noise averages out near 127).
        let (w, h) = (4032, 20);
        let px: Vec<u8> = (0..w * h)
            .map(|i| {
                if (i % w + 97 * (i / w)) / 700 % 2 == 0 {
                    0
                } else {
                    255
                }
            })
            .collect();
        let p = Pixels::new(&px, w, h, 1).unwrap();
        for (ow, oh) in [(8, 4), (9, 20), (32, 16), (64, 5)] {
            let want = lanczos_with(&SCALAR, &p, ow, oh);
            let grey = horizontal(&SCALAR, &px, w, h, ow, 1, None);
            assert!(
                grey.contains(&0) && grey.contains(&255),
                "{ow}: no clipping"
            );
            for (name, k) in all_kernels() {
                assert_eq!(want, lanczos_with(&k, &p, ow, oh), "{name} -> {ow}x{oh}");
            }
        }
    }

    #[test]
    fn fused_grey_rows_equal_grey_then_resize() {
        for c in 1..=4 {
            let (w, h) = (123, 45);
            let px = noise(w * h * c, c as u64);
            let p = Pixels::new(&px, w, h, c).unwrap();
            let grey = luma::pillow_l(&p);
            for (ow, oh) in [(9, 8), (32, 32), (64, 2), (123, 8), (8, 45)] {
                assert_eq!(
                    lanczos_pixels(&p, ow, oh),
                    lanczos_l(&grey, w, h, ow, oh),
                    "c={c} {ow}x{oh}"
                );
            }
        }
    }

    #[test]
    fn same_size_is_a_copy() {
        let src: Vec<u8> = (0..=255).collect();
        assert_eq!(lanczos_l(&src, 16, 16, 16, 16), src);
    }
}
