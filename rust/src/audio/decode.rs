//! Streaming audio decoding (WAV, FLAC, MP3, Ogg/Vorbis, Ogg/Opus, AAC/M4A via symphonia) to
//! mono f32.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use symphonia::core::audio::{AudioBufferRef, SampleBuffer, Signal};
use symphonia::core::codecs::{CodecRegistry, DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_OPUS};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::{ogg, opus};
use crate::error::{FingerprintError, Result};

/// What a decode run saw: the source's rate and channels and how many frames it decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DecodeInfo {
    /// Sample rate of the source in Hz.
    pub sample_rate: u32,
    /// Channels of the source (before downmixing).
    pub channels: usize,
    /// Frames (samples per channel) decoded and passed on.
    pub frames: u64,
    /// Frames the container declares, when it does.
    pub declared_frames: Option<u64>,
}

impl DecodeInfo {
    /// Seconds decoded.
    pub fn seconds(&self) -> f64 {
        if self.sample_rate == 0 {
            0.0
        } else {
            self.frames as f64 / self.sample_rate as f64
        }
    }
}

/// Where encoded audio comes from.
pub enum Source<'a> {
    /// A file on disk.
    Path(&'a std::path::Path),
    /// An encoded file already in memory.
    Bytes(Vec<u8>),
}

/// Symphonia's codecs plus Opus ([`opus::OpusDecoder`]), which symphonia 0.5 demuxes but
/// does not decode.
fn codecs() -> &'static CodecRegistry {
    static REGISTRY: OnceLock<CodecRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_all::<opus::OpusDecoder>();
        registry
    })
}

fn decode_error(info: &DecodeInfo, what: impl std::fmt::Display) -> FingerprintError {
    FingerprintError::Decode(format!(
        "audio decoding failed after {:.3} s ({} frames at {} Hz): {what}",
        info.seconds(),
        info.frames,
        info.sample_rate
    ))
}

/// [`decode_mono`] of a whole stream into memory: its info and every mono sample (for short
/// clips and tests; long files should stream through [`decode_mono`]).
pub fn decode_mono_all(source: Source<'_>) -> Result<(DecodeInfo, Vec<f32>)> {
    let mut all = Vec::new();
    let info = decode_mono(source, |_, s| {
        all.extend_from_slice(s);
        Ok(true)
    })?;
    Ok((info, all))
}

/// Decode `source`, downmix every packet to mono (the mean of the channels) and hand the
/// samples, in [-1, 1] at the source rate, to `sink` as they are decoded. `sink` returns
/// `false` to stop early. Memory stays bounded by one packet.
///
/// Corrupt or truncated input is a [`FingerprintError::Decode`] that says how much was
/// decoded; a panic inside the decoder is caught and reported the same way.
pub fn decode_mono(
    source: Source<'_>,
    mut sink: impl FnMut(u32, &[f32]) -> Result<bool>,
) -> Result<DecodeInfo> {
    let mut hint = Hint::new();
    let tail;
    let media: Box<dyn MediaSource> = match source {
        Source::Path(path) => {
            if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
                hint.with_extension(ext);
            }
            let mut file = std::fs::File::open(path).map_err(|e| FingerprintError::io(path, e))?;
            tail = ogg::read_tail(&mut file).map_err(|e| FingerprintError::io(path, e))?;
            Box::new(file)
        }
        Source::Bytes(bytes) => {
            tail = ogg::tail_of(&bytes);
            Box::new(Cursor::new(bytes))
        }
    };
    let mut info = DecodeInfo::default();
    // An Ogg stream cut short decodes cleanly up to the cut: check its last page first.
    if let Some(tail) = &tail {
        if let Err(why) = ogg::check_last_page(tail) {
            // Decode anyway to report how much audio was there.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                run(media, &hint, &mut info, &mut |_, _| Ok(true))
            }));
            return Err(decode_error(&info, format!("truncated Ogg stream: {why}")));
        }
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| run(media, &hint, &mut info, &mut sink)));
    match outcome {
        Ok(result) => result.map(|()| info),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(decode_error(&info, format!("decoder crashed: {what}")))
        }
    }
}

fn run(
    media: Box<dyn MediaSource>,
    hint: &Hint,
    info: &mut DecodeInfo,
    sink: &mut impl FnMut(u32, &[f32]) -> Result<bool>,
) -> Result<()> {
    let stream = MediaSourceStream::new(media, Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            hint,
            stream,
            // Trim encoder delay and padding (MP3 LAME/Xing, AAC) as FFmpeg and fpcalc do.
            &FormatOptions {
                enable_gapless: true,
                ..Default::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| decode_error(info, format!("unrecognised audio format: {e}")))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| decode_error(info, "no audio track"))?;
    let track_id = track.id;
    info.declared_frames = track.codec_params.n_frames;
    if track.codec_params.codec == CODEC_TYPE_OPUS {
        // Ogg/Opus granule positions count the pre-skip, which the decoder drops.
        let head = track
            .codec_params
            .extra_data
            .as_deref()
            .and_then(opus::OpusHead::parse);
        let pre_skip = head.map_or(0, |h| u64::from(h.pre_skip));
        info.declared_frames = info.declared_frames.map(|n| n.saturating_sub(pre_skip));
    }
    info.sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut decoder = codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| decode_error(info, format!("unsupported codec: {e}")))?;

    let mut interleaved: Option<SampleBuffer<f32>> = None;
    let mut mono: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // End of stream: symphonia reports it as an unexpected EOF.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(decode_error(info, e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = decoder.decode(&packet).map_err(|e| decode_error(info, e))?;
        let spec = *decoded.spec();
        let channels = spec.channels.count();
        if channels == 0 {
            return Err(decode_error(info, "a packet has no channels"));
        }
        if info.frames == 0 && info.channels == 0 {
            info.sample_rate = spec.rate;
            info.channels = channels;
        } else if spec.rate != info.sample_rate || channels != info.channels {
            return Err(decode_error(
                info,
                format!(
                    "the stream changes from {} Hz x {} to {} Hz x {} channels",
                    info.sample_rate, info.channels, spec.rate, channels
                ),
            ));
        }
        let frames = decoded.frames();
        if frames == 0 {
            continue;
        }
        info.frames += frames as u64;
        mono.clear();
        let out: &[f32] = match &decoded {
            // Float decoders (Vorbis, MP3, AAC, Opus): read the planes in place.
            AudioBufferRef::F32(buf) if channels == 1 => &buf.chan(0)[..frames],
            AudioBufferRef::F32(buf) => {
                // The same sum, in the same order, as the interleaved path below.
                mono.extend_from_slice(&buf.chan(0)[..frames]);
                for c in 1..channels {
                    for (m, &x) in mono.iter_mut().zip(&buf.chan(c)[..frames]) {
                        *m += x;
                    }
                }
                let scale = 1.0 / channels as f32;
                mono.iter_mut().for_each(|m| *m *= scale);
                &mono
            }
            _ => {
                let buf = match &mut interleaved {
                    Some(b) if b.capacity() >= decoded.capacity() * channels => b,
                    slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
                };
                buf.copy_interleaved_ref(decoded.clone());
                let samples = &buf.samples()[..frames * channels];
                if channels == 1 {
                    mono.extend_from_slice(samples);
                } else {
                    let scale = 1.0 / channels as f32;
                    mono.extend(
                        samples
                            .chunks_exact(channels)
                            .map(|f| f.iter().sum::<f32>() * scale),
                    );
                }
                &mono
            }
        };
        if !sink(info.sample_rate, out)? {
            return Ok(());
        }
    }
    if info.sample_rate == 0 {
        return Err(decode_error(info, "no audio decoded"));
    }
    check_complete(info)
}

/// A stream that ends well before the frame count its header declares was truncated.
fn check_complete(info: &DecodeInfo) -> Result<()> {
    if let Some(declared) = info.declared_frames {
        // Allow encoder delay and padding: a tenth of a second, or 4096 frames.
        let slack = u64::from(info.sample_rate / 10).max(4096);
        if info.frames + slack < declared {
            let rate = info.sample_rate.max(1) as f64;
            return Err(decode_error(
                info,
                format!(
                    "truncated: the header declares {:.3} s but the data ends at {:.3} s",
                    declared as f64 / rate,
                    info.frames as f64 / rate
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit PCM WAV file in memory.
    pub(crate) fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        out.extend_from_slice(&(channels * 2).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    fn collect(bytes: Vec<u8>) -> Result<(DecodeInfo, Vec<f32>)> {
        decode_mono_all(Source::Bytes(bytes))
    }

    #[test]
    fn wav_stereo_is_averaged() {
        let samples: Vec<i16> = (0..20_000)
            .flat_map(|i| [i as i16, -(i as i16) / 2])
            .collect();
        let (info, mono) = collect(wav(8000, 2, &samples)).unwrap();
        assert_eq!(info.sample_rate, 8000);
        assert_eq!(info.channels, 2);
        assert_eq!(info.frames, 20_000);
        assert_eq!(mono.len(), 20_000);
        let want = (1000.0 - 500.0) / 2.0 / 32768.0;
        assert!((mono[1000] - want).abs() < 1e-6);
    }

    #[test]
    fn truncated_wav_is_a_decode_error() {
        let bytes = wav(11025, 1, &vec![100; 200_000]);
        let err = collect(bytes[..100_000].to_vec()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, FingerprintError::Decode(_)), "{msg}");
        assert!(msg.contains("truncated"), "{msg}");
    }

    #[test]
    fn garbage_is_a_decode_error() {
        for bytes in [
            vec![],
            vec![0u8; 10],
            b"RIFF\x10\0\0\0WAVEfmt junk".to_vec(),
        ] {
            assert!(matches!(collect(bytes), Err(FingerprintError::Decode(_))));
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let r = decode_mono(
            Source::Path(std::path::Path::new("/no/such/file.wav")),
            |_, _| Ok(true),
        );
        assert!(matches!(r, Err(FingerprintError::Io { .. })));
    }
}
