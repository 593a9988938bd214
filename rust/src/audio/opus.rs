//! Opus decoding (RFC 6716) for Ogg/Opus streams (RFC 7845), as a symphonia `Decoder`.
//!
//! Symphonia 0.5 demuxes Ogg/Opus (its Ogg reader has an Opus mapping that hands over the
//! `OpusHead` as extra data and the audio packets with their durations) but has no Opus
//! codec. The `opus-pure` crate decodes the packets: a pure-Rust port of libopus that agrees
//! with libopus 1.6.1 to float rounding on CELT and bit for bit on SILK (checked against
//! FFmpeg's libopus decode in `tests/test_audio_opus.py`). Registering it as a symphonia
//! codec keeps one decode loop, one downmix and one error path for every format.
//!
//! What the container asks of a player and symphonia leaves to the codec: drop the
//! `OpusHead` pre-skip (RFC 7845 s. 4.2; symphonia's Ogg reader only trims when the first
//! page's granule position says so, which for Opus it never does), drop the end padding the
//! last page's granule position declares (symphonia computes it as the packet's `trim_end`),
//! and apply the header's output gain (s. 5.1, "SHOULD").

use opus_pure::{OpusDecoder as Mono, OpusMSDecoder};
use symphonia::core::audio::{
    AsAudioBufferRef, AudioBuffer, AudioBufferRef, Channels, Signal, SignalSpec,
};
use symphonia::core::codecs::{
    CodecDescriptor, CodecParameters, Decoder, DecoderOptions, FinalizeResult, CODEC_TYPE_OPUS,
};
use symphonia::core::errors::{Error, Result};
use symphonia::core::formats::Packet;
use symphonia::core::support_codec;

/// Opus always decodes at 48 kHz here: its native rate, the one the pre-skip and granule
/// positions count in, and the rate FFmpeg (and so fpcalc) decodes at.
pub const RATE: u32 = 48_000;
// The longest packet: 120 ms at 48 kHz (RFC 6716 s. 3.2.5).
const MAX_FRAMES: usize = 5760;

/// The fields of an `OpusHead` identification header (RFC 7845 s. 5.1) the decoder needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channels.
    pub channels: u8,
    /// 48 kHz samples to drop from the start of the decoded stream.
    pub pre_skip: u16,
    /// Gain to apply to the output, in dB in Q7.8 (256 = 1 dB).
    pub output_gain_q8: i16,
    /// Channel mapping family: 0 (mono/stereo) or 1 (Vorbis order, up to 8 channels).
    pub family: u8,
    /// Family 1: streams in each packet, of which the first `coupled` are stereo.
    pub streams: u8,
    /// Family 1: coupled (stereo) streams.
    pub coupled: u8,
    /// Family 1: which decoded channel feeds each output channel (255: silent).
    pub mapping: Vec<u8>,
}

impl OpusHead {
    /// Parse an `OpusHead` packet; `None` if it is not one RFC 7845 allows.
    pub fn parse(data: &[u8]) -> Option<Self> {
        if data.len() < 19 || &data[..8] != b"OpusHead" || data[8] >> 4 != 0 || data[9] == 0 {
            return None;
        }
        let channels = data[9];
        let family = data[18];
        let (streams, coupled, mapping) = if family == 0 {
            if channels > 2 {
                return None;
            }
            (1, channels - 1, Vec::new())
        } else {
            let end = 21 + usize::from(channels);
            let (streams, coupled) = (*data.get(19)?, *data.get(20)?);
            let mapping = data.get(21..end)?.to_vec();
            let decoded = usize::from(streams) + usize::from(coupled);
            if streams == 0
                || coupled > streams
                || mapping
                    .iter()
                    .any(|&m| m != 255 && usize::from(m) >= decoded)
            {
                return None;
            }
            (streams, coupled, mapping)
        };
        Some(Self {
            channels,
            pre_skip: u16::from_le_bytes([data[10], data[11]]),
            output_gain_q8: i16::from_le_bytes([data[16], data[17]]),
            family,
            streams,
            coupled,
            mapping,
        })
    }
}

enum Inner {
    // Mapping family 0. Decoded straight to one channel: the decoder averages a stereo
    // stream's channels before synthesis (as libopus does), which equals the mean of the
    // decoded channels to float rounding and costs one inverse MDCT instead of two.
    Mono(Box<Mono>),
    // Mapping family 1, decoded to all its channels; the decode loop averages them.
    Multi(Box<OpusMSDecoder>),
}

/// Ogg/Opus packets to 48 kHz float PCM, with the pre-skip, end trim and output gain
/// applied.
pub struct OpusDecoder {
    params: CodecParameters,
    inner: Inner,
    channels: usize,
    // Pre-skip samples still to drop.
    skip: usize,
    // Interleaved decoder output of one packet.
    pcm: Vec<f32>,
    buf: AudioBuffer<f32>,
}

fn codec_error(e: opus_pure::Error) -> Error {
    Error::DecodeError(match e {
        opus_pure::Error::InvalidPacket(what)
        | opus_pure::Error::InvalidStream(what)
        | opus_pure::Error::InvalidArgument(what)
        | opus_pure::Error::Internal(what) => what,
        _ => "opus: packet does not decode",
    })
}

impl OpusDecoder {
    fn from_head(params: &CodecParameters, head: &OpusHead) -> Result<Self> {
        let (inner, channels) = if head.family == 0 {
            let mut d = Mono::new(RATE as i32, 1).map_err(codec_error)?;
            d.gain_q8 = i32::from(head.output_gain_q8);
            (Inner::Mono(Box::new(d)), 1)
        } else {
            let mut d = OpusMSDecoder::new(RATE as i32, usize::from(head.channels), head.family)
                .map_err(codec_error)?;
            // opus-pure builds the standard layout of the family; a header that maps its
            // streams otherwise (legal, but no encoder writes it) is refused, not misread.
            let layout = d.layout();
            if layout.nb_streams != usize::from(head.streams)
                || layout.nb_coupled_streams != usize::from(head.coupled)
                || layout.mapping != head.mapping
            {
                return Err(Error::Unsupported(
                    "opus: non-standard multistream channel mapping",
                ));
            }
            for s in d.streams_mut() {
                s.gain_q8 = i32::from(head.output_gain_q8);
            }
            (Inner::Multi(Box::new(d)), usize::from(head.channels))
        };
        // Any layout with the right count: the decode loop only averages the channels.
        let layout = Channels::from_bits_truncate((1u32 << channels) - 1);
        Ok(Self {
            params: params.clone(),
            inner,
            channels,
            skip: usize::from(head.pre_skip),
            pcm: vec![0.0; MAX_FRAMES * channels],
            buf: AudioBuffer::new(MAX_FRAMES as u64, SignalSpec::new(RATE, layout)),
        })
    }
}

impl Decoder for OpusDecoder {
    fn try_new(params: &CodecParameters, _options: &DecoderOptions) -> Result<Self> {
        let head = params
            .extra_data
            .as_deref()
            .and_then(OpusHead::parse)
            .ok_or(Error::DecodeError("opus: missing or invalid OpusHead"))?;
        Self::from_head(params, &head)
    }

    fn supported_codecs() -> &'static [CodecDescriptor] {
        &[support_codec!(CODEC_TYPE_OPUS, "opus", "Opus")]
    }

    fn reset(&mut self) {
        // Only called after a seek, which this crate never does; a fresh decoder state is
        // what RFC 7845 s. 4.6 asks for there.
        let _ = match &mut self.inner {
            Inner::Mono(d) => d.reset_state(),
            Inner::Multi(d) => d.reset_state(),
        };
    }

    fn codec_params(&self) -> &CodecParameters {
        &self.params
    }

    fn decode(&mut self, packet: &Packet) -> Result<AudioBufferRef<'_>> {
        self.buf.clear();
        // A zero-byte packet would ask for loss concealment; a file has no lost packets.
        if packet.data.is_empty() {
            return Ok(self.buf.as_audio_buffer_ref());
        }
        let frames = match &mut self.inner {
            Inner::Mono(d) => d.decode(&packet.data, MAX_FRAMES, &mut self.pcm),
            Inner::Multi(d) => d.decode(&packet.data, MAX_FRAMES, &mut self.pcm),
        }
        .map_err(codec_error)?;
        if frames > MAX_FRAMES {
            return Err(Error::DecodeError("opus: packet longer than 120 ms"));
        }
        self.buf.render_reserved(Some(frames));
        for c in 0..self.channels {
            let plane = self.buf.chan_mut(c);
            for (out, frame) in plane.iter_mut().zip(self.pcm.chunks_exact(self.channels)) {
                *out = frame[c];
            }
        }
        let skip = self.skip.min(frames);
        self.skip -= skip;
        let start = skip + packet.trim_start as usize;
        self.buf.trim(start, packet.trim_end as usize);
        Ok(self.buf.as_audio_buffer_ref())
    }

    fn finalize(&mut self) -> FinalizeResult {
        FinalizeResult::default()
    }

    fn last_decoded(&self) -> AudioBufferRef<'_> {
        self.buf.as_audio_buffer_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(channels: u8, family: u8, tail: &[u8]) -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.push(1);
        h.push(channels);
        h.extend_from_slice(&312u16.to_le_bytes());
        h.extend_from_slice(&44_100u32.to_le_bytes());
        h.extend_from_slice(&(-256i16).to_le_bytes());
        h.push(family);
        h.extend_from_slice(tail);
        h
    }

    #[test]
    fn parses_rfc7845_headers() {
        let h = OpusHead::parse(&head(2, 0, &[])).unwrap();
        assert_eq!((h.channels, h.pre_skip, h.output_gain_q8), (2, 312, -256));
        assert_eq!((h.streams, h.coupled), (1, 1));
        // 5.1 in Vorbis order: 4 streams, 2 coupled.
        let h = OpusHead::parse(&head(6, 1, &[4, 2, 0, 4, 1, 2, 3, 5])).unwrap();
        assert_eq!((h.streams, h.coupled, h.mapping.len()), (4, 2, 6));
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(OpusHead::parse(&head(3, 0, &[])).is_none());
        assert!(OpusHead::parse(&head(0, 0, &[])).is_none());
        assert!(OpusHead::parse(&head(6, 1, &[4, 2, 0, 4])).is_none());
        assert!(OpusHead::parse(&head(2, 1, &[1, 1, 0, 9])).is_none());
        assert!(OpusHead::parse(&head(2, 0, &[])[..18]).is_none());
        let mut v2 = head(2, 0, &[]);
        v2[8] = 0x10;
        assert!(OpusHead::parse(&v2).is_none());
    }

    #[test]
    fn garbage_packets_are_errors_not_panics() {
        let mut params = CodecParameters::new();
        params
            .for_codec(CODEC_TYPE_OPUS)
            .with_extra_data(head(2, 0, &[]).into_boxed_slice());
        let mut d = OpusDecoder::try_new(&params, &DecoderOptions::default()).unwrap();
        let mut s = 7u64;
        for len in 1..400 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (s >> 56) as u8
                })
                .collect();
            let packet = Packet::new_from_slice(0, 0, 960, &data);
            if let Ok(buf) = d.decode(&packet) {
                assert!(buf.frames() <= MAX_FRAMES);
            }
        }
    }
}
