//! Decoding image files into [`Pixels`]-ready buffers, with the guards a bulk hasher needs.
//!
//! Formats: PNG, GIF (first frame), WebP, BMP, TIFF and CMYK JPEG through the `image` crate;
//! other JPEGs through libjpeg-turbo ([`super::jpeg`]), at 1/2, 1/4 or 1/8 scale in the DCT
//! domain when the hash only needs a small image, never below the hash's working size. Every failure (unknown format, truncated or
//! corrupt data, too many pixels, a panic inside a decoder) is a [`FingerprintError::Decode`].

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::Pixels;
use crate::error::{FingerprintError, Result};

/// Pillow's `Image.MAX_IMAGE_PIXELS` (1024 * 1024 * 1024 // 4 // 3).
pub const DEFAULT_MAX_PIXELS: u64 = 178_956_970;

/// How to decode.
#[derive(Clone, Copy, Debug)]
pub struct DecodeOptions {
    /// Rotate/mirror by the EXIF orientation tag (Pillow's `ImageOps.exif_transpose`).
    pub apply_exif_orientation: bool,
    /// Refuse images with more pixels than this (decompression bombs).
    pub max_pixels: u64,
    /// For JPEG: decode at the smallest DCT scale whose short side is at least this many pixels.
    /// `None` (or a value at least the image's short side) decodes at full scale.
    pub min_side: Option<usize>,
    /// For JPEG: grey is enough, so a YCbCr file may be decoded to its Y plane alone (no chroma
    /// IDCT, upsampling or colour conversion). Y is the same 0.299/0.587/0.114 mix of the
    /// decoded RGB up to rounding, so hashes move by a bit or two at most, as with `min_side`.
    pub luma: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            apply_exif_orientation: true,
            max_pixels: DEFAULT_MAX_PIXELS,
            min_side: None,
            luma: false,
        }
    }
}

/// A decoded 8-bit image: 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA) interleaved channels.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// Row-major interleaved bytes.
    pub data: Vec<u8>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Channels per pixel.
    pub channels: usize,
}

impl Decoded {
    /// Borrow as [`Pixels`].
    pub fn pixels(&self) -> Result<Pixels<'_>> {
        Pixels::new(&self.data, self.width, self.height, self.channels)
    }
}

fn decode_err(what: impl std::fmt::Display) -> FingerprintError {
    FingerprintError::Decode(what.to_string())
}

/// Decode the file at `path`.
pub fn decode_path(path: &Path, opts: &DecodeOptions) -> Result<Decoded> {
    let bytes = std::fs::read(path).map_err(|e| FingerprintError::io(path, e))?;
    decode(&bytes, opts).map_err(|e| match e {
        FingerprintError::Decode(m) => FingerprintError::Decode(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Decode an in-memory file. Panics inside decoders are caught and reported as decode errors.
pub fn decode(bytes: &[u8], opts: &DecodeOptions) -> Result<Decoded> {
    catch_unwind(AssertUnwindSafe(|| decode_inner(bytes, opts))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(decode_err(format!("decoder failed: {what}")))
    })
}

fn decode_inner(bytes: &[u8], opts: &DecodeOptions) -> Result<Decoded> {
    let format = image::guess_format(bytes).map_err(|_| {
        decode_err("unrecognised image format (expected JPEG, PNG, GIF, WebP, BMP or TIFF)")
    })?;
    if format == ImageFormat::Jpeg {
        if let Some(d) = super::jpeg::decode_jpeg(bytes, opts)? {
            return Ok(d);
        }
    }
    decode_generic(bytes, format, opts)
}

pub(crate) fn check_pixels(width: u64, height: u64, max: u64) -> Result<()> {
    let n = width * height;
    if n > max {
        return Err(decode_err(format!(
            "image has {n} pixels ({width}x{height}), more than the limit of {max} (possible decompression bomb)"
        )));
    }
    if n == 0 {
        return Err(decode_err("image is empty"));
    }
    Ok(())
}

fn decode_generic(bytes: &[u8], format: ImageFormat, opts: &DecodeOptions) -> Result<Decoded> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // Room for the largest allowed image at 16 bits x 4 channels, plus decoder state.
    limits.max_alloc = Some(opts.max_pixels.saturating_mul(8).saturating_add(1 << 26));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_err)?;
    let (w, h) = decoder.dimensions();
    check_pixels(w as u64, h as u64, opts.max_pixels)?;
    let orientation = if opts.apply_exif_orientation {
        decoder.orientation().unwrap_or(Orientation::NoTransforms)
    } else {
        Orientation::NoTransforms
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    img.apply_orientation(orientation);
    Ok(from_dynamic(img))
}

/// Keep 8-bit grey/RGB(A) as is; convert deeper or float images to 8 bits per channel.
fn from_dynamic(img: DynamicImage) -> Decoded {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let (data, channels) = match img {
        DynamicImage::ImageLuma8(b) => (b.into_raw(), 1),
        DynamicImage::ImageLumaA8(b) => (b.into_raw(), 2),
        DynamicImage::ImageRgb8(b) => (b.into_raw(), 3),
        DynamicImage::ImageRgba8(b) => (b.into_raw(), 4),
        other if other.color().has_alpha() && other.color().has_color() => {
            (other.into_rgba8().into_raw(), 4)
        }
        other if other.color().has_alpha() => (other.into_luma_alpha8().into_raw(), 2),
        other if other.color().has_color() => (other.into_rgb8().into_raw(), 3),
        other => (other.into_luma8().into_raw(), 1),
    };
    Decoded {
        data,
        width,
        height,
        channels,
    }
}

/// `data` as a [`Decoded`], turned upright by `orientation`.
pub(crate) fn oriented(
    data: Vec<u8>,
    width: usize,
    height: usize,
    channels: usize,
    orientation: Orientation,
) -> Result<Decoded> {
    if orientation == Orientation::NoTransforms {
        return Ok(Decoded {
            data,
            width,
            height,
            channels,
        });
    }
    let (w, h) = (width as u32, height as u32);
    let bad = || decode_err("bad decoded buffer");
    let mut img = match channels {
        1 => DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, data).ok_or_else(bad)?),
        3 => DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, data).ok_or_else(bad)?),
        _ => return Err(decode_err("unexpected channel count")),
    };
    img.apply_orientation(orientation);
    Ok(from_dynamic(img))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_png() {
        let d = decode(&png(5, 3), &DecodeOptions::default()).unwrap();
        assert_eq!((d.width, d.height, d.channels), (5, 3, 3));
        assert_eq!(&d.data[..3], &[0, 0, 7]);
    }

    #[test]
    fn garbage_and_truncation_are_decode_errors() {
        let opts = DecodeOptions::default();
        assert!(matches!(
            decode(b"not an image", &opts),
            Err(FingerprintError::Decode(_))
        ));
        assert!(matches!(
            decode(&[], &opts),
            Err(FingerprintError::Decode(_))
        ));
        let p = png(64, 64);
        for cut in [8, 20, 40, p.len() / 2, p.len() - 13] {
            assert!(
                matches!(decode(&p[..cut], &opts), Err(FingerprintError::Decode(_))),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn pixel_limit() {
        let opts = DecodeOptions {
            max_pixels: 100,
            ..Default::default()
        };
        let e = decode(&png(20, 20), &opts).unwrap_err();
        assert!(e.to_string().contains("decompression bomb"), "{e}");
    }
}
