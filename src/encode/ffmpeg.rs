//! Formats that no crate encodes well (VP9 in WebM, MPEG-2 in a program stream, Windows
//! Media in ASF, ProRes in QuickTime) go through the system FFmpeg as a child process, one
//! per output: a codec crash cannot take the server down, the build links no system
//! library, and no GPL code is linked.
//!
//! ```text
//! frames (I420) ──stdin pipe──▶ ffmpeg -f rawvideo ... <codec> <muxer> FILE
//!                               stderr ──▶ kept (last few KiB) for the error message
//! ```
//!
//! The pipe gives backpressure: a write blocks while the encoder is busy. Arguments come
//! only from the profile and the frame geometry, never from params, and no shell runs. The
//! child is killed if the job is dropped before [`FfmpegJob::finish`].
//!
//! Outputs are bit-exact (`+bitexact`, no metadata, a fixed thread count), so the same
//! frames give the same bytes on every run and machine with the same FFmpeg build.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::yuv::I420;
use crate::error::{Error, ErrorKind, Result};
use crate::movie::FrameRate;

/// How much of the child's standard error an error message keeps (its end).
const STDERR_KEEP_BYTES: usize = 4096;
/// Encoder threads, fixed so that output bytes do not depend on the machine's cores.
const ENCODER_THREADS: &str = "2";

/// The FFmpeg program, found and asked for its version at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    program: PathBuf,
    version: String,
    /// The encoders it lists (`ffmpeg -encoders`).
    encoders: Vec<String>,
}

impl Ffmpeg {
    /// Finds `program` (default: `ffmpeg` on the PATH) and reads its version line and
    /// encoders; `None` when it does not run.
    pub fn locate(program: Option<&Path>) -> Option<Self> {
        let program = program.map_or_else(|| PathBuf::from("ffmpeg"), Path::to_path_buf);
        let ask = |what: &str| {
            Command::new(&program)
                .args(["-hide_banner", what])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let version = ask("-version")?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        // Lines such as ` V....D libvpx-vp9  libvpx VP9 (codec vp9)`, after a legend.
        let encoders = ask("-encoders")
            .unwrap_or_default()
            .lines()
            .skip_while(|line| !line.trim_start().starts_with("------"))
            .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
            .collect();
        Some(Self {
            program,
            version,
            encoders,
        })
    }

    /// Whether this FFmpeg has `profile`'s encoder; an error that names it if not.
    pub fn check_encoder(&self, profile: FfmpegProfile) -> Result<()> {
        let name = profile.encoder();
        if self.encoders.iter().any(|e| e == name) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "{} ({}) has no {name} encoder: install an FFmpeg built with it (Debian's \
                 ffmpeg package has it)",
                self.program.display(),
                self.version
            ),
        ))
    }

    /// The program's path.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The first line of `ffmpeg -version`; part of the cache key of its outputs.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The error for a format that needs FFmpeg on a machine without it.
    pub fn missing(what: &str) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "{what} output needs FFmpeg, which is not installed on this server: install it \
                 (Debian and Ubuntu: apt-get install ffmpeg) or set ffmpeg_path in the \
                 configuration"
            ),
        )
    }
}

/// The codec and container of an FFmpeg output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FfmpegProfile {
    /// VP9 (libvpx, real-time speed 6) in WebM.
    Vp9Webm,
    /// MPEG-2 video with closed GOPs of at most 15 frames in an MPEG program stream.
    Mpeg2Program,
    /// Windows Media Video 8 (`wmv2`) in ASF.
    Wmv2Asf,
    /// Apple ProRes 422 (10-bit 4:2:2) in QuickTime, index first.
    ProResMov,
    /// H.264 High profile from x264 as an Annex B elementary stream, without B-frames
    /// (pictures in presentation order, as the project's containers expect), an access
    /// unit delimiter before every picture, and IDR pictures only where asked.
    X264AnnexB,
}

impl FfmpegProfile {
    /// The encoder's name in FFmpeg, for messages and cache keys.
    pub fn encoder(self) -> &'static str {
        match self {
            Self::Vp9Webm => "libvpx-vp9",
            Self::Mpeg2Program => "mpeg2video",
            Self::Wmv2Asf => "wmv2",
            Self::ProResMov => "prores",
            Self::X264AnnexB => "libx264",
        }
    }

    /// Whether key frames can be placed at will (ProRes is all key frames).
    fn places_key_frames(self) -> bool {
        !matches!(self, Self::ProResMov)
    }

    /// MPEG-2 allows only the frame rates of its `frame_rate_code` table (ISO/IEC
    /// 13818-2, 6.3.3).
    pub fn check_rate(self, fps: FrameRate) -> Result<()> {
        const MPEG2_RATES: [(u32, u32); 8] = [
            (24000, 1001),
            (24, 1),
            (25, 1),
            (30000, 1001),
            (30, 1),
            (50, 1),
            (60000, 1001),
            (60, 1),
        ];
        let allowed = |&(num, den): &(u32, u32)| {
            u64::from(num) * u64::from(fps.den) == u64::from(fps.num) * u64::from(den)
        };
        if self == Self::Mpeg2Program && !MPEG2_RATES.iter().any(allowed) {
            return Err(Error::invalid_param(format!(
                "mpeg: MPEG-2 allows the frame rates 24000/1001, 24, 25, 30000/1001, 30, 50, \
                 60000/1001 and 60; this movie runs at {fps}"
            )));
        }
        Ok(())
    }

    /// The sound codec each container gets: Opus in WebM, MPEG audio layer II with
    /// MPEG-2, WMA in ASF, 16-bit PCM beside ProRes.
    fn audio_args(self) -> &'static [&'static str] {
        match self {
            Self::Vp9Webm => &["-c:a", "libopus", "-b:a", "128k"],
            Self::Mpeg2Program => &["-c:a", "mp2", "-b:a", "192k"],
            Self::Wmv2Asf => &["-c:a", "wmav2", "-b:a", "128k"],
            Self::ProResMov => &["-c:a", "pcm_s16le"],
            Self::X264AnnexB => &[],
        }
    }

    fn codec_args(self, bitrate_bps: u32) -> Vec<String> {
        let rate = bitrate_bps.to_string();
        let list: &[&str] = match self {
            Self::Vp9Webm => &[
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "6",
                "-row-mt",
                "1",
                "-tile-columns",
                "2",
                "-b:v",
                &rate,
                "-f",
                "webm",
            ],
            Self::Mpeg2Program => &[
                "-c:v",
                "mpeg2video",
                "-flags:v",
                "+cgop+bitexact",
                // Closed GOPs need scene-change key frames off; segments place them.
                "-sc_threshold",
                "1000000000",
                "-g",
                "15",
                "-bf",
                "2",
                "-b:v",
                &rate,
                "-f",
                "mpeg",
            ],
            Self::Wmv2Asf => &["-c:v", "wmv2", "-b:v", &rate, "-f", "asf"],
            Self::X264AnnexB => &[
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                &rate,
                "-forced-idr",
                "1",
                "-x264-params",
                "bframes=0:scenecut=0:open-gop=0:aud=1:keyint=infinite",
                "-f",
                "h264",
            ],
            Self::ProResMov => &[
                "-c:v",
                "prores",
                "-profile:v",
                "2",
                "-pix_fmt",
                "yuv422p10le",
                "-vendor",
                "apl0",
                "-movflags",
                "+faststart",
                "-f",
                "mov",
            ],
        };
        list.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// The geometry of the frames a job takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawVideo {
    pub width: u32,
    pub height: u32,
    pub fps: FrameRate,
}

/// Where a job's encoded bytes go.
pub enum FfmpegOutput<'a> {
    /// A file that FFmpeg may seek in (for indexes written at the end).
    File(&'a Path),
    /// Standard output, collected and handed back by [`FfmpegJob::finish`].
    Collected,
    /// Standard output handed to a sink chunk by chunk as FFmpeg writes it. A sink that
    /// returns `false` (its reader went away) stops the job at its next frame.
    Streamed(Box<dyn FnMut(Vec<u8>) -> bool + Send>),
}

impl std::fmt::Debug for FfmpegOutput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Collected => f.write_str("Collected"),
            Self::Streamed(_) => f.write_str("Streamed"),
        }
    }
}

/// Bytes read from FFmpeg's standard output at a time when it is streamed.
const STREAM_CHUNK_BYTES: usize = 64 * 1024;

/// One running FFmpeg encode: frames go in through [`FfmpegJob::write_frame`], the output
/// is complete once [`FfmpegJob::finish`] returns.
#[derive(Debug)]
pub struct FfmpegJob {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<JoinHandle<std::io::Result<Vec<u8>>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    /// Set when a streamed output's reader went away.
    reader_gone: Arc<AtomicBool>,
    profile: FfmpegProfile,
    frames_in: u64,
    finished: bool,
}

impl FfmpegJob {
    /// Starts FFmpeg writing `output`, with a key frame at each of `key_frames` (frame
    /// indices, such as segment starts).
    /// `audio` names a file of the movie's sound (interleaved stereo 32-bit floats at
    /// 48 kHz) to encode beside the pictures; `None` makes a silent output.
    pub fn spawn(
        ffmpeg: &Ffmpeg,
        profile: FfmpegProfile,
        video: RawVideo,
        key_frames: &[u64],
        bitrate_bps: u32,
        audio: Option<&Path>,
        output: FfmpegOutput<'_>,
    ) -> Result<Self> {
        profile.check_rate(video.fps)?;
        ffmpeg.check_encoder(profile)?;
        let mut command = Command::new(&ffmpeg.program);
        command
            .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
            .args(["-f", "rawvideo", "-pix_fmt", "yuv420p"])
            .args(["-video_size", &format!("{}x{}", video.width, video.height)])
            .args([
                "-framerate",
                &format!("{}/{}", video.fps.num, video.fps.den),
            ])
            .args(["-i", "pipe:0"]);
        match audio.filter(|_| !profile.audio_args().is_empty()) {
            Some(sound) => {
                command
                    .args(["-f", "f32le", "-ar", "48000", "-ac", "2", "-i"])
                    .arg(sound)
                    .args(["-map", "0:v:0", "-map", "1:a:0"])
                    .args(profile.audio_args());
            }
            None => {
                command.arg("-an");
            }
        }
        command
            .args(["-map_metadata", "-1"])
            .args(["-fflags", "+bitexact", "-flags:v", "+bitexact"])
            .args(["-threads", ENCODER_THREADS])
            .args(["-colorspace", "bt709", "-color_primaries", "bt709"])
            .args(["-color_trc", "bt709", "-color_range", "tv"]);
        if profile.places_key_frames() && !key_frames.is_empty() {
            command.args(["-force_key_frames", &key_frame_expression(key_frames)]);
        }
        command.args(profile.codec_args(bitrate_bps));
        let mut sink = None;
        match output {
            FfmpegOutput::File(path) => command.arg("-y").arg(path).stdout(Stdio::null()),
            FfmpegOutput::Collected => command.arg("pipe:1").stdout(Stdio::piped()),
            FfmpegOutput::Streamed(to) => {
                sink = Some(to);
                command.arg("pipe:1").stdout(Stdio::piped())
            }
        };
        command.stdin(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| {
            Error::internal(format!(
                "cannot start {} for {}: {e}",
                ffmpeg.program.display(),
                profile.encoder()
            ))
        })?;
        let stdin = child.stdin.take();
        // Read on threads of their own, so that a full pipe never stalls the encoder.
        let reader_gone = Arc::new(AtomicBool::new(false));
        let gone = Arc::clone(&reader_gone);
        let stdout = child.stdout.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let Some(mut sink) = sink else {
                    return pipe.read_to_end(&mut bytes).map(|_| bytes);
                };
                loop {
                    let mut chunk = vec![0u8; STREAM_CHUNK_BYTES];
                    let read = pipe.read(&mut chunk)?;
                    if read == 0 {
                        return Ok(bytes);
                    }
                    chunk.truncate(read);
                    // After the reader goes, output is drained and dropped, so that
                    // FFmpeg never blocks on a full pipe before it is stopped.
                    if !gone.load(Ordering::Relaxed) && !sink(chunk) {
                        gone.store(true, Ordering::Relaxed);
                    }
                }
            })
        });
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut chunk = [0u8; 1024];
                while let Ok(read @ 1..) = pipe.read(&mut chunk) {
                    kept.extend_from_slice(&chunk[..read]);
                    let excess = kept.len().saturating_sub(STDERR_KEEP_BYTES);
                    kept.drain(..excess);
                }
                kept
            })
        });
        Ok(Self {
            child,
            stdin,
            stdout,
            stderr,
            reader_gone,
            profile,
            frames_in: 0,
            finished: false,
        })
    }

    /// Frames written so far.
    pub fn frames_in(&self) -> u64 {
        self.frames_in
    }

    /// Sends the next frame; blocks while the encoder is behind.
    pub fn write_frame(&mut self, frame: &I420) -> Result<()> {
        if self.reader_gone.load(Ordering::Relaxed) {
            return Err(Error::new(
                crate::ErrorKind::Io,
                format!(
                    "the reader of the {} output went away",
                    self.profile.encoder()
                ),
            ));
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(Error::internal("ffmpeg job written after its end"));
        };
        let written = stdin
            .write_all(&frame.y)
            .and_then(|()| stdin.write_all(&frame.u))
            .and_then(|()| stdin.write_all(&frame.v));
        if let Err(e) = written {
            // The encoder went away: its exit status and message say why.
            return Err(self.failure(&format!("stopped taking frames ({e})")));
        }
        self.frames_in += 1;
        Ok(())
    }

    /// Closes the input and waits for the encoder to write the end of its output; returns
    /// the collected standard output (empty when the output is a file).
    pub fn finish(mut self) -> Result<Vec<u8>> {
        drop(self.stdin.take());
        let gone = |job: &Self| job.reader_gone.load(Ordering::Relaxed);
        let status = self
            .child
            .wait()
            .map_err(|e| Error::internal(format!("waiting for {}: {e}", self.profile.encoder())))?;
        self.finished = true;
        if !status.success() {
            return Err(self.failure(&format!("exited with {status}")));
        }
        let joined = self.stdout.take().map(JoinHandle::join);
        if gone(&self) {
            // Some of the output never reached its reader.
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "the reader of the {} output went away",
                    self.profile.encoder()
                ),
            ));
        }
        match joined {
            None => Ok(Vec::new()),
            Some(Ok(Ok(bytes))) => Ok(bytes),
            Some(Ok(Err(e))) => Err(self.failure(&format!("output could not be read ({e})"))),
            Some(Err(_)) => Err(self.failure("output reader panicked")),
        }
    }

    /// An error that says what the encoder did and the end of what it printed.
    fn failure(&mut self, what: &str) -> Error {
        drop(self.stdin.take());
        let status = self.child.wait().ok();
        self.finished = true;
        // Whatever the encoder wrote before it failed reaches a streamed output's sink
        // before the error does.
        if let Some(reader) = self.stdout.take() {
            let _ = reader.join();
        }
        let printed = self
            .stderr
            .take()
            .and_then(|thread| thread.join().ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
            .unwrap_or_default();
        let status = status.map_or_else(String::new, |s| format!(", {s}"));
        Error::internal(format!(
            "ffmpeg ({}) {what} after {} frames{status}: {}",
            self.profile.encoder(),
            self.frames_in,
            if printed.is_empty() {
                "it printed nothing"
            } else {
                &printed
            }
        ))
    }
}

impl Drop for FfmpegJob {
    fn drop(&mut self) {
        if !self.finished {
            // Cancelled or failed before the end: the partial file is worthless.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `-force_key_frames` expression that is true exactly at `key_frames`: frame numbers
/// rather than times, so that no rounding can move a key frame by one.
fn key_frame_expression(key_frames: &[u64]) -> String {
    let terms: Vec<String> = key_frames.iter().map(|f| format!("eq(n,{f})")).collect();
    format!("expr:{}", terms.join("+"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_frames_are_named_by_frame_number() {
        assert_eq!(
            key_frame_expression(&[0, 30, 90]),
            "expr:eq(n,0)+eq(n,30)+eq(n,90)"
        );
    }

    #[test]
    fn mpeg2_refuses_rates_outside_its_table() {
        let ok = FrameRate::new(30000, 1001).expect("rate");
        let odd = FrameRate::new(12, 1).expect("rate");
        assert!(FfmpegProfile::Mpeg2Program.check_rate(ok).is_ok());
        let error = FfmpegProfile::Mpeg2Program
            .check_rate(odd)
            .expect_err("12 fps");
        assert!(error.message().contains("this movie runs at 12"), "{error}");
        assert!(FfmpegProfile::Vp9Webm.check_rate(odd).is_ok());
    }

    #[test]
    fn a_dropped_job_kills_its_encoder() {
        let ffmpeg = Ffmpeg::locate(None).expect("scripts/test installs ffmpeg");
        let dir = std::env::temp_dir().join(format!("framecast-kill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let video = RawVideo {
            width: 64,
            height: 48,
            fps: FrameRate::new(30, 1).expect("rate"),
        };
        let output = dir.join("cancelled.webm");
        let mut job = FfmpegJob::spawn(
            &ffmpeg,
            FfmpegProfile::Vp9Webm,
            video,
            &[0],
            200_000,
            None,
            FfmpegOutput::File(&output),
        )
        .expect("ffmpeg starts");
        let frame = super::super::yuv::rgba_to_i420(&vec![90; 64 * 48 * 4], 64, 48);
        for _ in 0..5 {
            job.write_frame(&frame).expect("frame");
        }
        let process = std::path::PathBuf::from(format!("/proc/{}", job.child.id()));
        assert!(process.exists());
        drop(job);
        assert!(!process.exists(), "the encoder outlived its job");
    }
}
