//! Grey conversions: Pillow's 8-bit 'L' (for imagehash) and PDQ's float luma.

use super::Pixels;

/// Pillow's `convert('L')`: ITU-R 601-2 luma in 16-bit fixed point with rounding,
/// `(19595 R + 38470 G + 7471 B + 0x8000) >> 16` (Pillow >= 7, `Convert.c` `L24`).
/// Alpha is dropped (the pixel's RGB counts whatever its transparency), LA keeps L.
pub fn pillow_l(pixels: &Pixels<'_>) -> Vec<u8> {
    let data = pixels.data();
    if pixels.channels() == 1 {
        return data.to_vec();
    }
    let mut out = vec![0u8; pixels.width() * pixels.height()];
    pillow_l_row(data, pixels.channels(), &mut out);
    out
}

/// [`pillow_l`] of a run of `channels`-byte pixels into `out` (one byte per pixel).
pub fn pillow_l_row(src: &[u8], channels: usize, out: &mut [u8]) {
    assert_eq!(src.len(), out.len() * channels, "row lengths do not match");
    #[cfg(target_arch = "x86_64")]
    if avx512_enabled() {
        // SAFETY: AVX-512 BW, VBMI and VNNI were detected; the kernel bounds its own reads.
        return unsafe { l_row_avx512(src, channels, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2_enabled() {
        // SAFETY: AVX2 was detected; the body is safe Rust compiled for it.
        return unsafe { l_row_avx2(src, channels, out) };
    }
    l_row(src, channels, out)
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        matches!(
            crate::simd::Level::best(),
            crate::simd::Level::Avx2 | crate::simd::Level::Avx512
        ) && is_x86_feature_detected!("avx2")
    })
}

/// Whether the AVX-512 image kernels may run: byte permutes (VBMI) and dot products (VNNI) on
/// top of AVX-512 BW, and `FINGERPRINT_SIMD` not asking for less.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        crate::simd::Level::best() == crate::simd::Level::Avx512
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi")
            && is_x86_feature_detected!("avx512vnni")
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")]
unsafe fn l_row_avx512(src: &[u8], channels: usize, out: &mut [u8]) {
    match channels {
        3 | 4 => l_rgb_avx512(src, channels, out),
        _ => l_row(src, channels, out),
    }
}

/// Byte permutes for [`l_rgb_avx512`]: 16 RGB (then RGBA) pixels to (R, G, B, G) dwords.
#[cfg(target_arch = "x86_64")]
const SPREAD: [[u8; 64]; 2] = {
    let mut t = [[0u8; 64]; 2];
    let mut i = 0;
    while i < 64 {
        let (pixel, from) = (i / 4, [0, 1, 2, 1][i % 4]);
        t[0][i] = (pixel * 3 + from) as u8;
        t[1][i] = (pixel * 4 + from) as u8;
        i += 1;
    }
    t
};

/// Byte 2 of each dword of two registers (indices 64.. pick from the second).
#[cfg(target_arch = "x86_64")]
const GATHER: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut j = 0;
    while j < 32 {
        t[j] = (4 * j + 2) as u8;
        j += 1;
    }
    t
};

/// Pillow's L of RGB(A) pixels, 32 per step, 16 to a register, tails included (masked loads
/// and stores). One byte permute makes each pixel an (R, G, B, G) dword; two byte dot products
/// give `lo = -117 R + 70 G + 47 B` and `mid = 77 R + 150 G + 29 B` (G's 150 split as 75 + 75
/// over its two copies, since a signed byte stops at 127), and `lo + 2^8 mid` is exactly
/// `19595 R + 38470 G + 7471 B`. With the rounding constant it stays below 2^24, so a
/// two-register permute gathering byte 2 of each sum is Pillow's `>> 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni")]
unsafe fn l_rgb_avx512(src: &[u8], channels: usize, out: &mut [u8]) {
    use std::arch::x86_64::*;
    let n = out.len();
    let c = channels;
    let spread = if c == 3 { &SPREAD[0] } else { &SPREAD[1] };
    let spread = _mm512_loadu_si512(spread.as_ptr() as *const _);
    let gather = _mm512_loadu_si512(GATHER.as_ptr() as *const _);
    let dword = |b: [i8; 4]| _mm512_set1_epi32(i32::from_le_bytes(b.map(|x| x as u8)));
    let w_lo = dword([-117, 70, 47, 0]);
    let w_mid = dword([77, 75, 29, 75]);
    let round = _mm512_set1_epi32(0x8000);
    let zero = _mm512_setzero_si512();
    // 16 pixels from `p`, of which `bytes` source bytes remain (masked near the end).
    let luma16 = |p: *const u8, bytes: usize| {
        let v = if bytes >= 64 {
            _mm512_loadu_si512(p as *const _)
        } else {
            _mm512_maskz_loadu_epi8(u64::MAX >> (64 - bytes), p as *const _)
        };
        let d = _mm512_permutexvar_epi8(spread, v);
        let lo = _mm512_dpbusd_epi32(round, d, w_lo);
        let mid = _mm512_dpbusd_epi32(zero, d, w_mid);
        _mm512_add_epi32(lo, _mm512_slli_epi32::<8>(mid))
    };
    let mut i = 0;
    while i < n {
        let p = src.as_ptr().add(i * c);
        let left = n - i;
        let a = luma16(p, left * c);
        let b = if left > 16 {
            luma16(p.add(16 * c), (left - 16) * c)
        } else {
            zero
        };
        let l = _mm512_castsi512_si256(_mm512_permutex2var_epi8(a, gather, b));
        let o = out.as_mut_ptr().add(i) as *mut _;
        if left >= 32 {
            _mm256_storeu_si256(o, l);
        } else {
            _mm256_mask_storeu_epi8(o as *mut i8, (1u32 << left) - 1, l);
        }
        i += 32;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn l_row_avx2(src: &[u8], channels: usize, out: &mut [u8]) {
    match channels {
        3 | 4 => {
            let done = l_rgb_avx2(src, channels, out);
            l_row(&src[done * channels..], channels, &mut out[done..])
        }
        _ => l_row(src, channels, out),
    }
}

/// Pillow's L of 8 RGB(A) pixels per step with exact 32-bit integer sums: a byte shuffle puts
/// each pixel's (R, G) and (B, 0) into 16-bit pairs, `madd` forms `19595 R - 27066 G` and
/// `7471 B`, and `G << 16` adds the rest of `38470 G` (38470 does not fit a signed 16-bit
/// weight). Returns how many pixels it wrote; the caller finishes the tail.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn l_rgb_avx2(src: &[u8], channels: usize, out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let n = out.len();
    // Each 128-bit half holds 4 pixels: 12 bytes (RGB) or 16 (RGBA) loaded, shuffled in place.
    let c = channels as i8;
    let z = -1i8; // a shuffle index with the top bit set writes zero
    let idx = |i: i8, k: i8| i * c + k;
    let rg = _mm256_broadcastsi128_si256(_mm_setr_epi8(
        idx(0, 0),
        z,
        idx(0, 1),
        z,
        idx(1, 0),
        z,
        idx(1, 1),
        z,
        idx(2, 0),
        z,
        idx(2, 1),
        z,
        idx(3, 0),
        z,
        idx(3, 1),
        z,
    ));
    let b0 = _mm256_broadcastsi128_si256(_mm_setr_epi8(
        idx(0, 2),
        z,
        z,
        z,
        idx(1, 2),
        z,
        z,
        z,
        idx(2, 2),
        z,
        z,
        z,
        idx(3, 2),
        z,
        z,
        z,
    ));
    let g16 = _mm256_broadcastsi128_si256(_mm_setr_epi8(
        z,
        z,
        idx(0, 1),
        z,
        z,
        z,
        idx(1, 1),
        z,
        z,
        z,
        idx(2, 1),
        z,
        z,
        z,
        idx(3, 1),
        z,
    ));
    let w_rg = _mm256_set1_epi32((19595 & 0xffff) | ((-27066i32) << 16));
    let w_b = _mm256_set1_epi32(7471);
    let round = _mm256_set1_epi32(0x8000);
    let step = 4 * channels; // bytes per 4 pixels
    let mut i = 0;
    // Each load reads 16 bytes from a 4-pixel start: stay 16 bytes inside the source.
    while i + 8 <= n && (i + 4) * channels + 16 <= src.len() {
        let p = src.as_ptr().add(i * channels);
        let v = _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(_mm_loadu_si128(p as *const __m128i)),
            _mm_loadu_si128(p.add(step) as *const __m128i),
        );
        let sum = _mm256_add_epi32(
            _mm256_add_epi32(
                _mm256_madd_epi16(_mm256_shuffle_epi8(v, rg), w_rg),
                _mm256_madd_epi16(_mm256_shuffle_epi8(v, b0), w_b),
            ),
            _mm256_add_epi32(_mm256_shuffle_epi8(v, g16), round),
        );
        let l32 = _mm256_srli_epi32::<16>(sum);
        // 8 x i32 (values 0..=255) -> 8 bytes, in order.
        let l16 = _mm256_packus_epi32(l32, l32);
        let l8 = _mm256_packus_epi16(l16, l16);
        let lo = _mm256_castsi256_si128(l8);
        let hi = _mm256_extracti128_si256::<1>(l8);
        let bytes =
            (_mm_cvtsi128_si32(lo) as u32 as u64) | ((_mm_cvtsi128_si32(hi) as u32 as u64) << 32);
        std::ptr::copy_nonoverlapping(bytes.to_le_bytes().as_ptr(), out.as_mut_ptr().add(i), 8);
        i += 8;
    }
    i
}

#[inline(always)]
fn l_row(src: &[u8], channels: usize, out: &mut [u8]) {
    match channels {
        1 => out.copy_from_slice(src),
        2 => l_row_n::<2>(src, out),
        3 => l_row_n::<3>(src, out),
        _ => l_row_n::<4>(src, out),
    }
}

// The channel count as a constant lets the compiler vectorise the strided loads.
#[inline(always)]
fn l_row_n<const C: usize>(src: &[u8], out: &mut [u8]) {
    for (o, p) in out.iter_mut().zip(src.chunks_exact(C)) {
        *o = if C == 2 {
            p[0]
        } else {
            let v = 19595 * p[0] as u32 + 38470 * p[1] as u32 + 7471 * p[2] as u32 + 0x8000;
            (v >> 16) as u8
        };
    }
}

/// PDQ luma `0.299 R + 0.587 G + 0.114 B` as float32. The sum is formed in float64 and rounded
/// once, exactly as the `pdqhash` package feeds the C++ core; grey input is used as is.
pub fn pdq_luma(pixels: &Pixels<'_>) -> Vec<f32> {
    let mut out = Vec::new();
    pdq_luma_into(pixels, &mut out);
    out
}

/// [`pdq_luma`] into a reused buffer (resized to `width * height`).
pub fn pdq_luma_into(pixels: &Pixels<'_>, out: &mut Vec<f32>) {
    let data = pixels.data();
    out.clear();
    match pixels.channels() {
        1 => out.extend(data.iter().map(|&v| v as f32)),
        2 => out.extend(data.chunks_exact(2).map(|p| p[0] as f32)),
        c => {
            out.resize(pixels.width() * pixels.height(), 0.0);
            #[cfg(target_arch = "x86_64")]
            if avx2_enabled() {
                // SAFETY: AVX2 was detected; the body is safe Rust compiled for it.
                unsafe { pdq_rows_avx2(data, c, out) };
                return;
            }
            pdq_rows(data, c, out)
        }
    }
}

/// [`pdq_luma`] of rows `first .. first + out.len() / width` only, into `out`: lets PDQ
/// stream a large image through its blur instead of holding a float copy of all of it.
pub fn pdq_luma_rows(pixels: &Pixels<'_>, first: usize, out: &mut [f32]) {
    let (w, c) = (pixels.width(), pixels.channels());
    assert!(out.len().is_multiple_of(w) && first * w + out.len() <= w * pixels.height());
    let data = &pixels.data()[first * w * c..(first * w + out.len()) * c];
    match c {
        1 => out.iter_mut().zip(data).for_each(|(o, &v)| *o = v as f32),
        2 => out
            .iter_mut()
            .zip(data.chunks_exact(2))
            .for_each(|(o, p)| *o = p[0] as f32),
        _ => {
            #[cfg(target_arch = "x86_64")]
            if avx2_enabled() {
                // SAFETY: AVX2 was detected; the body is safe Rust compiled for it.
                unsafe { pdq_rows_avx2(data, c, out) };
                return;
            }
            pdq_rows(data, c, out)
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pdq_rows_avx2(src: &[u8], channels: usize, out: &mut [f32]) {
    pdq_rows(src, channels, out)
}

#[inline(always)]
fn pdq_rows(src: &[u8], channels: usize, out: &mut [f32]) {
    if channels == 3 {
        pdq_rows_n::<3>(src, out)
    } else {
        pdq_rows_n::<4>(src, out)
    }
}

// The channel count as a constant lets the compiler vectorise the strided loads.
#[inline(always)]
fn pdq_rows_n<const C: usize>(src: &[u8], out: &mut [f32]) {
    for (o, p) in out.iter_mut().zip(src.chunks_exact(C)) {
        // Left to right, like numpy's `r*0.299 + g*0.587 + b*0.114`.
        *o = (p[0] as f64 * 0.299 + p[1] as f64 * 0.587 + p[2] as f64 * 0.114) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pillow_l_rounds_like_pillow() {
        let px = [255u8, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
        let p = Pixels::new(&px, 5, 1, 3).unwrap();
        // White stays 255, black 0; pure R/G/B give 76, 150, 29 in Pillow.
        assert_eq!(pillow_l(&p), vec![255, 0, 76, 150, 29]);
    }

    #[test]
    fn dispatched_rows_match_portable_rows() {
        let mut seed = 5u64;
        let src: Vec<u8> = (0..4 * 1001)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (seed >> 56) as u8
            })
            .collect();
        for c in 1..=4 {
            for n in [0, 1, 31, 32, 33, 47, 48, 63, 64, 65, 97, 1001] {
                let mut a = vec![0u8; n];
                let mut b = vec![0u8; n];
                pillow_l_row(&src[..n * c], c, &mut a);
                l_row(&src[..n * c], c, &mut b);
                assert_eq!(a, b, "c={c} n={n}");
                #[cfg(target_arch = "x86_64")]
                if is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 was detected.
                    unsafe { l_row_avx2(&src[..n * c], c, &mut a) };
                    assert_eq!(a, b, "avx2 c={c} n={n}");
                }
                #[cfg(target_arch = "x86_64")]
                if avx512_enabled() {
                    // SAFETY: the AVX-512 features were detected.
                    unsafe { l_row_avx512(&src[..n * c], c, &mut a) };
                    assert_eq!(a, b, "avx512 c={c} n={n}");
                }
            }
        }
    }

    #[test]
    fn every_rgb_colour_matches_the_portable_formula() {
        // All 2^24 colours, as RGB and as RGBA, in rows of an odd length so tails are covered.
        let rgb: Vec<u8> = (0u32..1 << 24)
            .flat_map(|v| [v as u8, (v >> 8) as u8, (v >> 16) as u8])
            .collect();
        let rgba: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], p[0] ^ 0x5a])
            .collect();
        for (c, px) in [(3, &rgb), (4, &rgba)] {
            let mut want = vec![0u8; 1 << 24];
            l_row(px, c, &mut want);
            let mut got = vec![0u8; 1 << 24];
            for (src, out) in px.chunks(4099 * c).zip(got.chunks_mut(4099)) {
                pillow_l_row(src, c, out);
            }
            assert!(want == got, "c={c}");
        }
    }

    #[test]
    fn pdq_luma_is_the_float64_formula_rounded_once() {
        let mut seed = 9u64;
        let src: Vec<u8> = (0..4 * 999)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (seed >> 56) as u8
            })
            .collect();
        for c in 3..=4 {
            let p = Pixels::new(&src[..c * 999], 999, 1, c).unwrap();
            let want: Vec<u32> = src[..c * 999]
                .chunks_exact(c)
                .map(|q| {
                    ((q[0] as f64 * 0.299 + q[1] as f64 * 0.587 + q[2] as f64 * 0.114) as f32)
                        .to_bits()
                })
                .collect();
            let got: Vec<u32> = pdq_luma(&p).iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "c={c}");
        }
    }

    #[test]
    fn grey_is_used_as_is() {
        let p = Pixels::new(&[0, 9, 200, 255], 2, 2, 1).unwrap();
        assert_eq!(pdq_luma(&p), vec![0.0, 9.0, 200.0, 255.0]);
        assert_eq!(pillow_l(&p), vec![0, 9, 200, 255]);
    }
}
