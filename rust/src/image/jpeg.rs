//! JPEG decoding through libjpeg-turbo (built from source by `mozjpeg-sys`): the decoder Pillow
//! uses, so full-scale decodes give Pillow's pixels, and the only well-kept one that scales in
//! the DCT domain (1/2, 1/4, 1/8) with its SIMD kernels and decodes grey without chroma work.
//!
//! libjpeg reports fatal errors through a callback that must not return; ours unwinds (the
//! crate's C is compiled with `-fexceptions` and the callbacks are `extern "C-unwind"`) to a
//! `catch_unwind` here, which frees the decoder and returns a [`FingerprintError::Decode`].
//! `resume_unwind` is used, so no panic message reaches stderr.

use std::os::raw::c_int;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use image::metadata::Orientation;
use mozjpeg_sys::*;

use super::decode::{check_pixels, oriented, DecodeOptions, Decoded};
use crate::error::{FingerprintError, Result};

/// A progressive file is decoded scan by scan; thousands of tiny scans make a few KB take
/// minutes (the known libjpeg-turbo "scan bomb"). Real encoders write at most a few dozen.
const MAX_SCANS: c_int = 500;

/// The APP1 marker, where Exif lives.
const APP1: u8 = 0xE1;

/// The unwinding payload of a libjpeg error: its message and code.
struct Failure {
    code: c_int,
    message: String,
}

fn message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: `err` is set before any libjpeg call and outlives the decoder.
    let err = unsafe { &*cinfo.err };
    let buf = std::cell::UnsafeCell::new([0u8; 80]);
    if let Some(format) = err.format_message {
        // SAFETY: libjpeg writes at most JMSG_LENGTH_MAX (80) bytes, NUL-terminated, into the
        // buffer; the binding types it as `&[u8; 80]`, so it is passed through an UnsafeCell.
        unsafe { format(cinfo, &*buf.get()) };
    }
    let buf = buf.into_inner();
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn fail(cinfo: &mut jpeg_common_struct) -> ! {
    // SAFETY: as in `message`.
    let code = unsafe { (*cinfo.err).msg_code };
    let message = message(cinfo);
    resume_unwind(Box::new(Failure { code, message }))
}

unsafe extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    fail(cinfo)
}

/// Warnings are silent, except running out of data: a truncated file is an error, as in
/// Pillow (libjpeg would pad it with grey and go on).
unsafe extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        // SAFETY: as in `message`.
        let err = unsafe { &mut *cinfo.err };
        err.num_warnings += 1;
        if err.msg_code == JWRN_JPEG_EOF as c_int {
            fail(cinfo)
        }
    }
}

unsafe extern "C-unwind" fn progress_monitor(cinfo: &mut jpeg_common_struct) {
    if cinfo.is_decompressor != 0 {
        // SAFETY: a decompressor's common fields are the head of its jpeg_decompress_struct.
        let d = unsafe { &*(cinfo as *mut jpeg_common_struct as *const jpeg_decompress_struct) };
        if d.input_scan_number > MAX_SCANS {
            resume_unwind(Box::new(Failure {
                code: -1,
                message: format!("progressive JPEG has more than {MAX_SCANS} scans"),
            }))
        }
    }
}

/// Owns a libjpeg decompressor (boxed: libjpeg keeps pointers into it) and frees it on drop,
/// also when a libjpeg error unwinds through.
struct Decompressor {
    cinfo: jpeg_decompress_struct,
    err: jpeg_error_mgr,
    progress: jpeg_progress_mgr,
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: created by jpeg_create_decompress; destroy is valid in any state and frees
        // every pool libjpeg allocated.
        unsafe { jpeg_destroy_decompress(&mut self.cinfo) }
    }
}

/// The DCT scale 1/d, d in {8, 4, 2, 1}, that keeps the short side at least `min_side`.
fn scale_denominator(width: usize, height: usize, min_side: Option<usize>) -> u32 {
    let short = width.min(height);
    let Some(min_side) = min_side else { return 1 };
    [8u32, 4, 2]
        .into_iter()
        .find(|&d| short.div_ceil(d as usize) >= min_side.max(1))
        .unwrap_or(1)
}

/// Decode a JPEG. `Ok(None)` for files this path leaves to the general decoder: CMYK/YCCK
/// (Pillow's CMYK conversion is not libjpeg's) and 12-bit precision.
pub fn decode_jpeg(bytes: &[u8], opts: &DecodeOptions) -> Result<Option<Decoded>> {
    let mut d = Box::new(Decompressor {
        // SAFETY: plain C structs for which all-zero is the documented initial state.
        cinfo: unsafe { std::mem::zeroed() },
        err: unsafe { std::mem::zeroed() },
        progress: jpeg_progress_mgr {
            progress_monitor: Some(progress_monitor),
            pass_counter: 0,
            pass_limit: 0,
            completed_passes: 0,
            total_passes: 0,
        },
    });
    // SAFETY: the pointers set here point into the box, which outlives every libjpeg call;
    // error_exit never returns (it unwinds to the catch_unwind below).
    unsafe {
        let d = &mut *d;
        d.cinfo.common.err = jpeg_std_error(&mut d.err);
        d.err.error_exit = Some(error_exit);
        d.err.emit_message = Some(emit_message);
        jpeg_create_decompress(&mut d.cinfo);
        d.cinfo.common.progress = &mut d.progress;
    }
    let run = catch_unwind(AssertUnwindSafe(|| read(&mut d.cinfo, bytes, opts)));
    drop(d);
    match run {
        Ok(result) => result,
        Err(payload) => match payload.downcast::<Failure>() {
            Ok(f) if f.code == JERR_BAD_PRECISION as c_int => Ok(None),
            Ok(f) => Err(FingerprintError::Decode(format!("JPEG: {}", f.message))),
            Err(other) => resume_unwind(other),
        },
    }
}

fn read(
    cinfo: &mut jpeg_decompress_struct,
    bytes: &[u8],
    opts: &DecodeOptions,
) -> Result<Option<Decoded>> {
    // SAFETY: `bytes` outlives the decode; the calls follow libjpeg's documented order.
    unsafe {
        jpeg_mem_src(cinfo, bytes.as_ptr(), bytes.len() as _);
        if opts.apply_exif_orientation {
            jpeg_save_markers(cinfo, APP1 as c_int, 0xFFFF);
        }
        jpeg_read_header(cinfo, 1);
    }
    let (width, height) = (cinfo.image_width as usize, cinfo.image_height as usize);
    check_pixels(width as u64, height as u64, opts.max_pixels)?;
    let channels = match cinfo.jpeg_color_space {
        J_COLOR_SPACE::JCS_GRAYSCALE => 1,
        J_COLOR_SPACE::JCS_YCbCr | J_COLOR_SPACE::JCS_RGB if opts.luma => 1,
        J_COLOR_SPACE::JCS_YCbCr | J_COLOR_SPACE::JCS_RGB => 3,
        _ => return Ok(None),
    };
    cinfo.out_color_space = if channels == 1 {
        J_COLOR_SPACE::JCS_GRAYSCALE
    } else {
        J_COLOR_SPACE::JCS_RGB
    };
    cinfo.scale_num = 1;
    cinfo.scale_denom = scale_denominator(width, height, opts.min_side);
    // SAFETY: header read; output parameters set.
    unsafe { jpeg_start_decompress(cinfo) };
    let (w, h) = (cinfo.output_width as usize, cinfo.output_height as usize);
    if cinfo.output_components as usize != channels {
        return Err(FingerprintError::Decode(
            "JPEG decoder chose an unexpected pixel layout".into(),
        ));
    }
    let stride = w * channels;
    let mut data = vec![0u8; stride * h];
    let mut rows: Vec<*mut u8> = Vec::with_capacity(h);
    let base = data.as_mut_ptr();
    // SAFETY: each row pointer addresses `stride` bytes inside `data`.
    rows.extend((0..h).map(|y| unsafe { base.add(y * stride) }));
    while (cinfo.output_scanline as usize) < h {
        let y = cinfo.output_scanline as usize;
        // SAFETY: rows y.. are valid and at least (h - y) long.
        let got =
            unsafe { jpeg_read_scanlines(cinfo, rows.as_mut_ptr().add(y), (h - y) as JDIMENSION) };
        if got == 0 {
            return Err(FingerprintError::Decode(
                "JPEG decoder made no progress".into(),
            ));
        }
    }
    let orientation = if opts.apply_exif_orientation {
        exif_orientation(cinfo)
    } else {
        Orientation::NoTransforms
    };
    // SAFETY: all scanlines read. Trailing garbage after the image is ignored, as in Pillow.
    unsafe { jpeg_finish_decompress(cinfo) };
    Ok(Some(oriented(data, w, h, channels, orientation)?))
}

/// The orientation from the first APP1 Exif segment, if any.
fn exif_orientation(cinfo: &jpeg_decompress_struct) -> Orientation {
    let mut marker = cinfo.marker_list;
    while !marker.is_null() {
        // SAFETY: libjpeg's saved-marker list, alive until the decoder is destroyed.
        let m = unsafe { &*marker };
        if m.marker == APP1 && !m.data.is_null() {
            // SAFETY: `data` holds `data_length` saved bytes.
            let data = unsafe { std::slice::from_raw_parts(m.data, m.data_length as usize) };
            if let Some(tiff) = data.strip_prefix(b"Exif\0\0") {
                return Orientation::from_exif_chunk(tiff).unwrap_or(Orientation::NoTransforms);
            }
        }
        marker = m.next;
    }
    Orientation::NoTransforms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_keeps_the_short_side() {
        assert_eq!(scale_denominator(4000, 3000, Some(64)), 8);
        assert_eq!(scale_denominator(4000, 3000, Some(400)), 4);
        assert_eq!(scale_denominator(512, 512, Some(64)), 8);
        assert_eq!(scale_denominator(512, 505, Some(64)), 8); // ceil(505 / 8) = 64
        assert_eq!(scale_denominator(512, 500, Some(64)), 4);
        assert_eq!(scale_denominator(100, 100, Some(64)), 1);
        assert_eq!(scale_denominator(100, 100, None), 1);
        assert_eq!(scale_denominator(9, 9, Some(0)), 8);
    }
}
