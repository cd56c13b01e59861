//! Video clips for `video` layers. A clip is probed once with ffprobe and decoded through
//! the system FFmpeg a chunk of frames at a time: each chunk from the nearest key frame
//! before it (FFmpeg's accurate input seeking decodes forward from there), scaled into the
//! layer's box by FFmpeg, and kept as pictures by clip, size, fit and chunk, so segments
//! and tokens that show the same frames decode them once.
//!
//! Decoding is a pure function of the file's bytes and the request: no clock, no state
//! carried between chunks, so a segment rendered alone shows the same pixels as inside a
//! whole output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::Picture;
use crate::error::{Error, ErrorKind, Result};
use crate::movie::format::Fit;

/// Frames decoded by one FFmpeg run.
const CHUNK_FRAMES: u64 = 30;

/// What ffprobe says of a clip's first video stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second as a fraction.
    pub fps_num: u32,
    pub fps_den: u32,
    pub frame_count: u64,
}

impl ClipInfo {
    pub fn seconds(&self) -> f64 {
        self.frame_count as f64 * f64::from(self.fps_den) / f64::from(self.fps_num)
    }
}

/// Where the decoder finds a clip's bytes.
#[derive(Debug)]
enum ClipFile {
    Project(PathBuf),
    /// A remote clip, fetched once into a temporary file that lives as long as the clip.
    Fetched(tempfile::TempPath),
}

impl ClipFile {
    fn path(&self) -> &Path {
        match self {
            Self::Project(path) => path,
            Self::Fetched(temp) => temp,
        }
    }
}

/// Decoded chunks, shared by every clip of a loader.
pub(super) type FrameCache = moka::sync::Cache<ChunkKey, Arc<Vec<Picture>>>;

/// A chunk of a clip decoded at one size and fit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ChunkKey {
    digest: [u8; 32],
    width: u32,
    height: u32,
    fit: Fit,
    chunk: u64,
}

/// Input options for every FFmpeg and ffprobe run on a clip or sound: only plain
/// files, through demuxers of single media files. A fetched file that is really a
/// playlist (HLS, DASH, concat) would otherwise make FFmpeg open the local paths or
/// URLs it lists, past the address policy that fetched it.
pub(crate) const INPUT_GUARD: [&str; 4] = [
    "-protocol_whitelist",
    "file",
    "-format_whitelist",
    "mov,matroska,avi,mpegts,mpeg,flv,ogg,wav,mp3,aac,flac,asf,aiff,w64,caf,ivf,gif,mxf,m4v,h264,hevc",
];

/// The programs that probe and decode clips.
#[derive(Debug, Clone)]
pub struct VideoTools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl VideoTools {
    /// FFmpeg at `ffmpeg` (or `ffmpeg` on the PATH), and the ffprobe beside it.
    pub fn new(ffmpeg: Option<&Path>) -> Self {
        let ffmpeg = ffmpeg.map_or_else(|| PathBuf::from("ffmpeg"), Path::to_path_buf);
        let beside = ffmpeg.with_file_name("ffprobe");
        let ffprobe = if ffmpeg.components().count() > 1 && beside.is_file() {
            beside
        } else {
            PathBuf::from("ffprobe")
        };
        Self { ffmpeg, ffprobe }
    }
}

/// A probed clip, ready to give frames.
#[derive(Debug)]
pub struct Clip {
    pub info: ClipInfo,
    /// The BLAKE3 digest of the file, which names its frames in caches.
    pub digest: [u8; 32],
    file: ClipFile,
    tools: VideoTools,
    frames: FrameCache,
}

impl Clip {
    /// A clip in the project folder.
    pub(super) fn from_project(
        path: PathBuf,
        tools: VideoTools,
        frames: FrameCache,
        origin: &str,
    ) -> Result<Self> {
        let digest = digest_file(&path).map_err(|e| e.context(format!("clip {origin:?}")))?;
        Self::probe(ClipFile::Project(path), digest, tools, frames, origin)
    }

    /// A clip fetched from a URL.
    pub(super) fn from_bytes(
        bytes: &[u8],
        tools: VideoTools,
        frames: FrameCache,
        origin: &str,
    ) -> Result<Self> {
        use std::io::Write;

        let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("clip {origin:?}: {e}"));
        let mut temp = tempfile::Builder::new()
            .prefix("framecast-clip-")
            .tempfile()
            .map_err(io)?;
        temp.write_all(bytes).map_err(io)?;
        let digest = *blake3::hash(bytes).as_bytes();
        Self::probe(
            ClipFile::Fetched(temp.into_temp_path()),
            digest,
            tools,
            frames,
            origin,
        )
    }

    fn probe(
        file: ClipFile,
        digest: [u8; 32],
        tools: VideoTools,
        frames: FrameCache,
        origin: &str,
    ) -> Result<Self> {
        let info = probe(&tools.ffprobe, file.path())
            .map_err(|e| e.context(format!("clip {origin:?}")))?;
        Ok(Self {
            info,
            digest,
            file,
            tools,
            frames,
        })
    }

    /// Frame `index` of the clip (the last one past its end), scaled into a `width` x
    /// `height` box by `fit`. Blocks while the chunk that holds it is decoded.
    pub fn frame(&self, index: u64, width: u32, height: u32, fit: Fit) -> Result<Picture> {
        let index = index.min(self.info.frame_count.saturating_sub(1));
        let key = ChunkKey {
            digest: self.digest,
            width,
            height,
            fit,
            chunk: index / CHUNK_FRAMES,
        };
        let chunk = self
            .frames
            .try_get_with(key.clone(), || self.decode(&key).map(Arc::new))
            .map_err(|e: Arc<Error>| (*e).clone())?;
        let at = (index % CHUNK_FRAMES) as usize;
        chunk
            .get(at)
            .or_else(|| chunk.last())
            .cloned()
            .ok_or_else(|| Error::asset(format!("the clip gave no frame near {index}")))
    }

    /// Decodes one chunk: FFmpeg seeks to the key frame before its first frame, decodes
    /// forward, and writes RGBA frames scaled into the box.
    fn decode(&self, key: &ChunkKey) -> Result<Vec<Picture>> {
        let first = key.chunk * CHUNK_FRAMES;
        let count = CHUNK_FRAMES
            .min(self.info.frame_count.saturating_sub(first))
            .max(1);
        // Half a frame early: the first frame whose time is at or after the seek point is
        // the chunk's first frame, whatever the rounding of stored timestamps.
        let seek = (first as f64 - 0.5).max(0.0) * f64::from(self.info.fps_den)
            / f64::from(self.info.fps_num);
        let (w, h) = (key.width.max(1), key.height.max(1));
        let filter = match key.fit {
            Fit::Fill => format!("scale={w}:{h}"),
            Fit::Cover => {
                format!("scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}")
            }
            Fit::Contain => format!(
                "scale={w}:{h}:force_original_aspect_ratio=decrease,format=rgba,\
                 pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=0x00000000"
            ),
        };
        let mut child = Command::new(&self.tools.ffmpeg)
            .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
            .args(["-ss", &format!("{seek:.6}")])
            .args(INPUT_GUARD)
            .arg("-i")
            .arg(self.file.path())
            .args(["-map", "0:v:0", "-an", "-sn"])
            .args(["-frames:v", &count.to_string()])
            .args(["-vf", &format!("{filter},format=rgba")])
            .args(["-sws_flags", "bicubic+bitexact"])
            .args(["-flags", "+bitexact", "-threads", "1"])
            .args(["-f", "rawvideo", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "video layers need FFmpeg ({}: {e}); install it with `apt-get install ffmpeg`",
                        self.tools.ffmpeg.display()
                    ),
                )
            })?;
        let printed = stderr_head(child.stderr.take());
        let frame_bytes = w as usize * h as usize * 4;
        let mut pictures = Vec::with_capacity(count as usize);
        if let Some(mut stdout) = child.stdout.take() {
            loop {
                let mut data = vec![0u8; frame_bytes];
                match stdout.read_exact(&mut data) {
                    Ok(()) => pictures.push(picture(data, w, h)?),
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => {
                        return Err(Error::new(ErrorKind::Io, format!("decoding a clip: {e}")))
                    }
                }
            }
        }
        let status = child
            .wait()
            .map_err(|e| Error::new(ErrorKind::Io, format!("decoding a clip: {e}")))?;
        let printed = printed.join().unwrap_or_default();
        if !status.success() || pictures.is_empty() {
            return Err(Error::asset(format!(
                "ffmpeg could not decode frames {first}.. of the clip ({status}): {}",
                printed.trim()
            )));
        }
        Ok(pictures)
    }
}

/// A decoded RGBA frame as a picture. Video frames are opaque, or transparent only where
/// `contain` pads them, so straight alpha is premultiplied already.
fn picture(data: Vec<u8>, width: u32, height: u32) -> Result<Picture> {
    let size = tiny_skia::IntSize::from_wh(width, height)
        .ok_or_else(|| Error::internal("a clip frame has no pixels"))?;
    tiny_skia::Pixmap::from_vec(data, size)
        .map(Arc::new)
        .ok_or_else(|| Error::internal("a clip frame has the wrong size"))
}

/// Reads the first 4 KiB a child prints on a thread of its own, so that a full pipe never
/// stalls it, and drops the rest.
pub(crate) fn stderr_head(
    stderr: Option<std::process::ChildStderr>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = stderr {
            let _ = pipe.by_ref().take(4096).read_to_string(&mut text);
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        }
        text
    })
}

/// The BLAKE3 digest of a file, read in pieces.
pub(crate) fn digest_file(path: &Path) -> Result<[u8; 32]> {
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, e.to_string());
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(io)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Size, rate and frame count of the first video stream, counting packets (which does
/// not decode) where the container does not say.
fn probe(ffprobe: &Path, file: &Path) -> Result<ClipInfo> {
    let output = Command::new(ffprobe)
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args(["-show_entries", "stream=width,height,r_frame_rate,nb_read_packets"])
        .args(["-of", "json"])
        .args(INPUT_GUARD)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "video layers need ffprobe ({}: {e}); install FFmpeg with `apt-get install ffmpeg`",
                    ffprobe.display()
                ),
            )
        })?;
    let fail = |what: &str| {
        Error::asset(format!(
            "not a video ffprobe can read ({what}): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    };
    if !output.status.success() {
        return Err(fail("it failed"));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|_| fail("unreadable answer"))?;
    let stream = json["streams"]
        .get(0)
        .ok_or_else(|| fail("no video stream"))?;
    let number = |name: &str| {
        stream[name]
            .as_u64()
            .or_else(|| stream[name].as_str().and_then(|s| s.parse().ok()))
    };
    let (Some(width), Some(height), Some(frame_count)) =
        (number("width"), number("height"), number("nb_read_packets"))
    else {
        return Err(fail("no size or frame count"));
    };
    let (fps_num, fps_den) = stream["r_frame_rate"]
        .as_str()
        .and_then(|rate| rate.split_once('/'))
        .and_then(|(n, d)| Some((n.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
        .filter(|&(n, d)| n > 0 && d > 0)
        .ok_or_else(|| fail("no frame rate"))?;
    if width == 0 || height == 0 || width > 8192 || height > 8192 || frame_count == 0 {
        return Err(fail(&format!("{width}x{height}, {frame_count} frames")));
    }
    Ok(ClipInfo {
        width: width as u32,
        height: height as u32,
        fps_num,
        fps_den,
        frame_count,
    })
}
