//! AAC-LC for the project's own containers, from the system FFmpeg's native encoder. The
//! whole movie's mix is encoded at once (milliseconds a second of sound) and containers
//! cut its frames at segment boundaries, so the stream plays without a gap or click
//! wherever it is cut: segment *k* carries the frames whose first sample falls in its
//! span.

use std::io::{Read, Write};
use std::ops::Range;
use std::process::{Command, Stdio};

use super::ffmpeg::Ffmpeg;
use crate::error::{Error, ErrorKind, Result};
use crate::movie::timeline::SAMPLE_RATE;

/// Samples per channel in one AAC frame.
pub const AAC_FRAME_SAMPLES: u64 = 1024;
/// The bitrate of the sound, in bits per second.
pub const AAC_BITRATE_BPS: u32 = 128_000;

/// A movie's sound as AAC frames, each `AAC_FRAME_SAMPLES` long, from sample 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedAudio {
    /// The AudioSpecificConfig (ISO/IEC 14496-3) that decodes the frames.
    pub config: [u8; 2],
    /// Raw AAC frames, without ADTS headers.
    pub frames: Vec<Vec<u8>>,
}

impl EncodedAudio {
    /// The frames whose first sample falls in movie samples `samples`.
    pub fn frames_in(&self, samples: Range<u64>) -> Range<usize> {
        let first = |s: u64| (s.div_ceil(AAC_FRAME_SAMPLES) as usize).min(self.frames.len());
        first(samples.start)..first(samples.end)
    }

    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }
}

/// Encodes interleaved stereo samples at [`SAMPLE_RATE`].
pub fn encode_aac(ffmpeg: &Ffmpeg, samples: &[f32]) -> Result<EncodedAudio> {
    let mut child = Command::new(ffmpeg.program())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args([
            "-f",
            "f32le",
            "-ar",
            &SAMPLE_RATE.to_string(),
            "-ac",
            "2",
            "-i",
            "pipe:0",
        ])
        .args(["-c:a", "aac", "-b:a", &AAC_BITRATE_BPS.to_string()])
        .args([
            "-flags",
            "+bitexact",
            "-fflags",
            "+bitexact",
            "-f",
            "adts",
            "pipe:1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("cannot start ffmpeg for aac: {e}")))?;
    let mut bytes = Vec::with_capacity(samples.len() * 4);
    for sample in samples {
        bytes.extend_from_slice(&sample.clamp(-1.0, 1.0).to_le_bytes());
    }
    let mut stdin = child.stdin.take();
    let writer = std::thread::spawn(move || stdin.as_mut().map(|pipe| pipe.write_all(&bytes)));
    let printed = crate::assets::video::stderr_head(child.stderr.take());
    let mut stream = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_end(&mut stream)
            .map_err(|e| Error::new(ErrorKind::Io, format!("reading aac: {e}")))?;
    }
    let _ = writer.join();
    let status = child
        .wait()
        .map_err(|e| Error::internal(format!("waiting for ffmpeg (aac): {e}")))?;
    if !status.success() {
        return Err(Error::internal(format!(
            "ffmpeg (aac) exited with {status}: {}",
            printed.join().unwrap_or_default().trim()
        )));
    }
    let (config, mut frames) = split_adts(&stream)?;
    // The encoder's first frame is its priming: dropping it puts frame k at sample k * 1024.
    if !frames.is_empty() {
        frames.remove(0);
    }
    let expected = (samples.len() as u64 / 2).div_ceil(AAC_FRAME_SAMPLES) as usize;
    frames.truncate(expected);
    Ok(EncodedAudio { config, frames })
}

/// Cuts an ADTS stream into raw frames and reads the AudioSpecificConfig of the first.
fn split_adts(stream: &[u8]) -> Result<([u8; 2], Vec<Vec<u8>>)> {
    let mut frames = Vec::new();
    let mut config = None;
    let mut at = 0;
    while at + 7 <= stream.len() {
        let header = &stream[at..at + 7];
        if header[0] != 0xff || header[1] & 0xf0 != 0xf0 {
            return Err(Error::internal("aac stream lost its ADTS sync"));
        }
        let protection_absent = header[1] & 1 == 1;
        let header_length = if protection_absent { 7 } else { 9 };
        let length = (usize::from(header[3] & 0x03) << 11)
            | (usize::from(header[4]) << 3)
            | usize::from(header[5] >> 5);
        if length < header_length || at + length > stream.len() {
            return Err(Error::internal("aac stream has a cut frame"));
        }
        if config.is_none() {
            let object = u16::from(header[2] >> 6) + 1;
            let frequency = u16::from((header[2] >> 2) & 0x0f);
            let channels = (u16::from(header[2] & 1) << 2) | u16::from(header[3] >> 6);
            let packed = (object << 11) | (frequency << 7) | (channels << 3);
            config = Some(packed.to_be_bytes());
        }
        frames.push(stream[at + header_length..at + length].to_vec());
        at += length;
    }
    let config = config.ok_or_else(|| Error::internal("ffmpeg wrote no aac frames"))?;
    Ok((config, frames))
}
