//! Sound files for a movie's sounds, decoded once by the system FFmpeg to 32-bit float
//! stereo at the movie sample rate and kept in memory, shared by every renderer.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use super::video::{VideoTools, INPUT_GUARD};
use crate::error::{Error, ErrorKind, Result};
use crate::movie::timeline::SAMPLE_RATE;

/// The longest stretch of a file that is decoded: ten minutes.
const MAX_SECONDS: u32 = 600;

/// A decoded sound: interleaved stereo samples at [`SAMPLE_RATE`].
#[derive(Debug)]
pub struct SoundFile {
    pub samples: Vec<f32>,
    /// The BLAKE3 digest of the file.
    pub digest: [u8; 32],
}

impl SoundFile {
    /// Sample frames (one left and one right sample each).
    pub fn frames(&self) -> u64 {
        (self.samples.len() / 2) as u64
    }

    /// Decodes the file at `path`, whose bytes digest to `digest`; a file without a sound
    /// stream (a silent clip) gives no samples.
    pub(super) fn decode(
        path: &Path,
        digest: [u8; 32],
        tools: &VideoTools,
        origin: &str,
    ) -> Result<Self> {
        let streams = Command::new(&tools.ffprobe)
            .args(["-v", "error", "-select_streams", "a"])
            .args(["-show_entries", "stream=index", "-of", "csv=p=0"])
            .args(INPUT_GUARD)
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("sounds need ffprobe ({}: {e})", tools.ffprobe.display()),
                )
            })?;
        if streams.status.success() && streams.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                samples: Vec::new(),
                digest,
            });
        }
        let mut child = Command::new(&tools.ffmpeg)
            .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
            .args(INPUT_GUARD)
            .arg("-i")
            .arg(path)
            .args([
                "-map",
                "0:a:0",
                "-vn",
                "-sn",
                "-t",
                &MAX_SECONDS.to_string(),
            ])
            .args(["-ac", "2", "-ar", &SAMPLE_RATE.to_string()])
            .args(["-flags", "+bitexact", "-f", "f32le", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "sounds need FFmpeg ({}: {e}); install it with `apt-get install ffmpeg`",
                        tools.ffmpeg.display()
                    ),
                )
            })?;
        let printed = super::video::stderr_head(child.stderr.take());
        let mut bytes = Vec::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout.read_to_end(&mut bytes).map_err(|e| {
                Error::new(ErrorKind::Io, format!("decoding sound {origin:?}: {e}"))
            })?;
        }
        let status = child
            .wait()
            .map_err(|e| Error::new(ErrorKind::Io, format!("decoding sound {origin:?}: {e}")))?;
        let printed = printed.join().unwrap_or_default();
        if !status.success() || bytes.is_empty() {
            return Err(Error::asset(format!(
                "sound {origin:?}: not a sound FFmpeg can read ({status}): {}",
                printed.trim()
            )));
        }
        let samples = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self { samples, digest })
    }
}
