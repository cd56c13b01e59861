//! Finished outputs: a bound movie turned into the bytes of one format, from encoded
//! segments (video), single frames (stills) or frame sequences (ZIP, GIF).
//!
//! The CLI writes these to files; the server's `render` mode serves them. Streaming modes
//! use the same segments and containers piece by piece.

mod format;

use std::io::Write;

pub use format::{Format, OutputOptions, RESERVED_KEYS};

use crate::container::{dash, flv, fmp4, hls, mp4, AudioInfo, StreamInfo};
use crate::encode::gif::{GifPalette, GifWriter};
use crate::encode::x264::encode_segments_x264;
use crate::encode::{
    encode_aac, encode_segment, encode_still, rgba_to_i420, EncodedAudio, EncodedSegment, Encoders,
    Ffmpeg, FfmpegJob, FfmpegOutput, FfmpegProfile, H264Encoder, H264Settings, RawVideo,
    StillFormat,
};
use crate::error::{Error, ErrorKind, Result};
use crate::movie::FrameRate;
use crate::render::{render_span, Progress, Renderer};
use crate::segment::{SegmentPlan, SegmentSettings};

/// Draws and encodes every segment of the plan, in order: with the bundled encoder, side
/// by side on `pool`; with x264, through one FFmpeg process.
pub fn encode_segments(
    renderer: &Renderer,
    plan: &SegmentPlan,
    settings: H264Settings,
    encoders: &Encoders,
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> Result<Vec<EncodedSegment>> {
    use rayon::prelude::*;

    let segments: Vec<EncodedSegment> = match settings.encoder {
        H264Encoder::OpenH264 => pool.install(|| {
            plan.segments
                .par_iter()
                .map(|segment| encode_segment(renderer, segment, settings, progress))
                .collect::<Result<_>>()
        })?,
        H264Encoder::X264 => {
            let ffmpeg = encoders
                .ffmpeg
                .as_ref()
                .ok_or_else(|| Ffmpeg::missing("x264"))?;
            encode_segments_x264(renderer, plan, settings, ffmpeg, pool, progress)?
        }
    };
    let first = segments
        .first()
        .ok_or_else(|| Error::invalid_param("the movie has no frames"))?;
    if let Some(odd) = segments
        .iter()
        .find(|s| (&s.sps, &s.pps) != (&first.sps, &first.pps))
    {
        return Err(Error::internal(format!(
            "segment {} was encoded with other parameter sets than segment 0",
            odd.index
        )));
    }
    Ok(segments)
}

/// A file of an output: its name relative to the main file, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What a render produced: the main file, and for HLS and DASH the init and media
/// segments it names, which live beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub main: Vec<u8>,
    pub parts: Vec<OutputFile>,
    /// Frames drawn.
    pub frames: u64,
}

/// Names of the pieces HLS and DASH share, relative to the main file: the init segment,
/// the media segments, and for HLS the media playlist under the master playlist.
pub const INIT_SEGMENT: &str = "init.mp4";
pub const MEDIA_PLAYLIST: &str = "video.m3u8";
pub const DASH_MEDIA_TEMPLATE: &str = "segment-$Number$.m4s";
/// The sound rendition's pieces, beside the pictures'.
pub const AUDIO_PLAYLIST: &str = "audio.m3u8";
pub const AUDIO_INIT_SEGMENT: &str = "audio-init.mp4";
pub const DASH_AUDIO_TEMPLATE: &str = "audio-$Number$.m4s";

/// The name of sound segment `index`.
pub fn audio_segment_name(index: u32) -> String {
    format!("audio-{index}.m4s")
}

/// The movie's whole sound as AAC, or `None` for a silent movie.
pub fn encode_sound(renderer: &Renderer, encoders: &Encoders) -> Result<Option<EncodedAudio>> {
    let timeline = renderer.timeline();
    if !renderer.has_audio() {
        return Ok(None);
    }
    let ffmpeg = encoders
        .ffmpeg
        .as_ref()
        .ok_or_else(|| Ffmpeg::missing("sound"))?;
    let samples = renderer.mix(0..timeline.sample_count());
    encode_aac(ffmpeg, &samples).map(Some)
}

/// The sound segments of `audio` cut as `info` says, as CMAF fragments.
pub fn audio_fragments(info: &AudioInfo, audio: &EncodedAudio) -> Vec<Vec<u8>> {
    (0..info.segments.len())
        .filter_map(|index| audio_fragment(info, audio, index))
        .collect()
}

/// Sound segment `index` as a CMAF fragment, if the stream has it.
pub fn audio_fragment(info: &AudioInfo, audio: &EncodedAudio, index: usize) -> Option<Vec<u8>> {
    let frames = info.segments.get(index)?;
    let frames = frames.start.min(audio.frames.len())..frames.end.min(audio.frames.len());
    Some(fmp4::fragment(
        index as u32,
        &[fmp4::audio_run(1, frames.start, &audio.frames[frames])],
    ))
}

/// A segment's pictures and the sound that starts in it as one fragment of a muxed
/// fragmented MP4 (video on track 1, sound on [`fmp4::AUDIO_TRACK_ID`]).
pub fn av_fragment(
    segment: &EncodedSegment,
    fps: FrameRate,
    info: &AudioInfo,
    audio: &EncodedAudio,
) -> Vec<u8> {
    let frames = info
        .segments
        .get(segment.index as usize)
        .cloned()
        .unwrap_or(0..0);
    let frames = frames.start.min(audio.frames.len())..frames.end.min(audio.frames.len());
    fmp4::fragment(
        segment.index,
        &[
            fmp4::video_run(1, segment.first_frame, fps, &segment.pictures),
            fmp4::audio_run(fmp4::AUDIO_TRACK_ID, frames.start, &audio.frames[frames]),
        ],
    )
}

/// The name of media segment `index` (counted from 0, as `$Number$` in the MPD).
pub fn media_segment_name(index: u32) -> String {
    format!("segment-{index}.m4s")
}

/// Renders a finished output of `format`.
pub fn render_output(
    renderer: &Renderer,
    format: Format,
    options: &OutputOptions,
    encoders: &Encoders,
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> Result<Rendered> {
    let timeline = renderer.timeline();
    let frame_count = timeline.frame_count;
    options.check_frames(frame_count)?;
    if frame_count == 0 {
        return Err(Error::invalid_param("the movie has no frames"));
    }
    let context = |e: Error| e.context(format!("{format} output"));

    if let Some(still) = format.still() {
        let index = options.frame.unwrap_or(frame_count / 2);
        progress.set_total(1);
        let frame = renderer.render_frame(index).map_err(context)?;
        progress.add(1);
        return Ok(Rendered {
            main: encode_still(&frame, still, options.still).map_err(context)?,
            parts: Vec::new(),
            frames: 1,
        });
    }
    if format == Format::Zip {
        let mut main = Vec::new();
        let frames = write_zip(renderer, options, pool, progress, &mut main).map_err(context)?;
        return Ok(Rendered {
            main,
            parts: Vec::new(),
            frames,
        });
    }

    if format == Format::Gif {
        let mut main = Vec::new();
        write_gif(renderer, pool, progress, &mut main).map_err(context)?;
        return Ok(Rendered {
            main,
            parts: Vec::new(),
            frames: frame_count,
        });
    }

    let plan = SegmentPlan::new(timeline, SegmentSettings::default());
    if let Some(profile) = format.ffmpeg_profile() {
        let ffmpeg = encoders
            .ffmpeg
            .as_ref()
            .ok_or_else(|| Ffmpeg::missing(format.extension()))?;
        let main =
            write_with_ffmpeg(renderer, &plan, ffmpeg, profile, pool, progress).map_err(context)?;
        return Ok(Rendered {
            main,
            parts: Vec::new(),
            frames: frame_count,
        });
    }

    let settings = encoders.h264_settings(timeline.width, timeline.height);
    let segments =
        encode_segments(renderer, &plan, settings, encoders, pool, progress).map_err(context)?;
    let (sps, pps) = (&segments[0].sps, &segments[0].pps);
    let sound = encode_sound(renderer, encoders).map_err(context)?;
    let stream = StreamInfo::new(timeline, &plan, sps, settings.bitrate_bps)
        .with_audio(sound.as_ref().map(|_| AudioInfo::for_plan(timeline, &plan)));
    let (main, mut parts) = match format {
        Format::Mp4 => {
            let pictures: Vec<&[_]> = segments.iter().map(|s| s.pictures.as_slice()).collect();
            let video = mp4::Mp4Video {
                width: timeline.width,
                height: timeline.height,
                fps: timeline.fps,
                sps,
                pps,
                segments: &pictures,
            };
            let mut out = Vec::new();
            mp4::write_progressive(&mut out, &video)
                .map_err(|e| context(Error::internal(e.to_string())))?;
            (
                with_sound(out, renderer, encoders, "mp4").map_err(context)?,
                Vec::new(),
            )
        }
        Format::Flv => (
            with_sound(flv_file(&stream, &segments), renderer, encoders, "flv").map_err(context)?,
            Vec::new(),
        ),
        Format::M3u8 => {
            let mut parts = vec![OutputFile {
                name: MEDIA_PLAYLIST.to_owned(),
                bytes: hls::media_playlist(
                    &stream,
                    INIT_SEGMENT,
                    hls::Listing::Complete,
                    media_segment_name,
                )
                .into_bytes(),
            }];
            parts.extend(cmaf_parts(&stream, &segments));
            if stream.audio.is_some() {
                parts.push(OutputFile {
                    name: AUDIO_PLAYLIST.to_owned(),
                    bytes: hls::audio_playlist(
                        &stream,
                        AUDIO_INIT_SEGMENT,
                        hls::Listing::Complete,
                        audio_segment_name,
                    )
                    .into_bytes(),
                });
            }
            let prefix = &options.parts_prefix;
            let master = hls::master_playlist(
                &stream,
                &format!("{prefix}{MEDIA_PLAYLIST}"),
                &format!("{prefix}{AUDIO_PLAYLIST}"),
            );
            (master.into_bytes(), parts)
        }
        Format::Mpd => {
            let prefix = &options.parts_prefix;
            let mpd = dash::static_mpd(
                &stream,
                &format!("{prefix}{INIT_SEGMENT}"),
                &format!("{prefix}{DASH_MEDIA_TEMPLATE}"),
                &format!("{prefix}{AUDIO_INIT_SEGMENT}"),
                &format!("{prefix}{DASH_AUDIO_TEMPLATE}"),
            );
            (mpd.into_bytes(), cmaf_parts(&stream, &segments))
        }
        other => {
            return Err(Error::internal(format!(
                "{other} output has no H.264 container"
            )))
        }
    };
    if let (Format::M3u8 | Format::Mpd, Some(info), Some(audio)) =
        (format, stream.audio.as_ref(), sound.as_ref())
    {
        parts.push(OutputFile {
            name: AUDIO_INIT_SEGMENT.to_owned(),
            bytes: fmp4::audio_init_segment(audio.config, info.bitrate_bps),
        });
        for (index, bytes) in audio_fragments(info, audio).into_iter().enumerate() {
            parts.push(OutputFile {
                name: audio_segment_name(index as u32),
                bytes,
            });
        }
    }
    Ok(Rendered {
        main,
        parts,
        frames: frame_count,
    })
}

/// A silent MP4 or FLV with the movie's sound added by FFmpeg (AAC, its priming handled
/// by the container's edit list), or as it is for a silent movie.
fn with_sound(
    silent: Vec<u8>,
    renderer: &Renderer,
    encoders: &Encoders,
    container: &str,
) -> Result<Vec<u8>> {
    let Some(sound) = sound_file(renderer)? else {
        return Ok(silent);
    };
    let ffmpeg = encoders
        .ffmpeg
        .as_ref()
        .ok_or_else(|| Ffmpeg::missing("sound"))?;
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("adding sound: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("framecast-mux-")
        .tempdir()
        .map_err(io)?;
    let (video, out) = (
        dir.path().join(format!("video.{container}")),
        dir.path().join(format!("out.{container}")),
    );
    std::fs::write(&video, &silent).map_err(io)?;
    let mut command = std::process::Command::new(ffmpeg.program());
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
        .arg(&video)
        .args(["-f", "f32le", "-ar", "48000", "-ac", "2", "-i"])
        .arg(sound.path())
        .args(["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"])
        .args(["-c:a", "aac", "-b:a", "128k", "-map_metadata", "-1"])
        .args(["-fflags", "+bitexact", "-flags", "+bitexact"]);
    if container == "mp4" {
        command.args(["-movflags", "+faststart"]);
    }
    let output = command.arg(&out).output().map_err(io)?;
    if !output.status.success() {
        return Err(Error::internal(format!(
            "ffmpeg could not add the sound ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    std::fs::read(&out).map_err(io)
}

/// The init segment and the media segments that HLS and DASH name.
fn cmaf_parts(stream: &StreamInfo, segments: &[EncodedSegment]) -> Vec<OutputFile> {
    let (sps, pps) = (&segments[0].sps, &segments[0].pps);
    let mut parts = vec![OutputFile {
        name: INIT_SEGMENT.to_owned(),
        bytes: fmp4::init_segment(stream.width, stream.height, stream.fps, sps, pps),
    }];
    for segment in segments {
        parts.push(OutputFile {
            name: media_segment_name(segment.index),
            bytes: fmp4::media_fragment(
                segment.index,
                segment.first_frame,
                stream.fps,
                &segment.pictures,
            ),
        });
    }
    parts
}

/// A whole FLV file: header, every segment's pictures, end of sequence.
fn flv_file(stream: &StreamInfo, segments: &[EncodedSegment]) -> Vec<u8> {
    let video = flv::FlvVideo {
        width: stream.width,
        height: stream.height,
        fps: stream.fps,
        frame_count: stream.frame_count(),
        bitrate_bps: stream.bitrate_bps,
    };
    let mut out = flv::header(&video, &segments[0].sps, &segments[0].pps);
    for segment in segments {
        out.extend(flv::picture_tags(
            segment.first_frame,
            stream.fps,
            &segment.pictures,
        ));
    }
    out.extend(flv::end(stream.frame_count(), stream.fps));
    out
}

/// Draws every frame and encodes the whole movie in one FFmpeg process, with a key frame
/// at each segment start; returns the file's bytes. An encoder failure names the segment
/// whose frames it was taking.
pub fn write_with_ffmpeg(
    renderer: &Renderer,
    plan: &SegmentPlan,
    ffmpeg: &Ffmpeg,
    profile: FfmpegProfile,
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> Result<Vec<u8>> {
    let timeline = renderer.timeline();
    let file = tempfile::Builder::new()
        .prefix("framecast-")
        .tempfile()
        .map_err(|e| Error::new(ErrorKind::Io, format!("temporary file: {e}")))?;
    let video = RawVideo {
        width: timeline.width,
        height: timeline.height,
        fps: timeline.fps,
    };
    let key_frames: Vec<u64> = plan.segments.iter().map(|s| s.frames.start).collect();
    // The same bitrate as H.264 at this size; ProRes ignores it.
    let bitrate_bps =
        H264Settings::for_canvas(H264Encoder::OpenH264, video.width, video.height).bitrate_bps;
    let sound = sound_file(renderer)?;
    let mut job = FfmpegJob::spawn(
        ffmpeg,
        profile,
        video,
        &key_frames,
        bitrate_bps,
        sound.as_ref().map(|f| f.path()),
        FfmpegOutput::File(file.path()),
    )?;
    let in_segment = |frame_index: u64, e: Error| match plan.segment_of(frame_index) {
        Some(segment) => e.context(format!(
            "segment {} (frames {:?})",
            segment.index, segment.frames
        )),
        None => e,
    };

    render_span(renderer, 0..timeline.frame_count, pool, |index, frame| {
        let yuv = rgba_to_i420(frame.rgba(), frame.width(), frame.height());
        job.write_frame(&yuv).map_err(|e| in_segment(index, e))?;
        progress.add(1);
        Ok(())
    })?;
    let last = job.frames_in().saturating_sub(1);
    job.finish().map_err(|e| in_segment(last, e))?;
    std::fs::read(file.path())
        .map_err(|e| Error::new(ErrorKind::Io, format!("reading the encoded file: {e}")))
}

/// The movie's whole mix in a temporary file of interleaved stereo 32-bit floats, for
/// FFmpeg to encode beside the pictures; `None` for a silent movie.
pub fn sound_file(renderer: &Renderer) -> Result<Option<tempfile::NamedTempFile>> {
    let timeline = renderer.timeline();
    if !renderer.has_audio() {
        return Ok(None);
    }
    let samples = renderer.mix(0..timeline.sample_count());
    let mut bytes = Vec::with_capacity(samples.len() * 4);
    for sample in samples {
        bytes.extend_from_slice(&sample.clamp(-1.0, 1.0).to_le_bytes());
    }
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("the movie's sound: {e}"));
    let mut file = tempfile::Builder::new()
        .prefix("framecast-sound-")
        .tempfile()
        .map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    Ok(Some(file))
}

/// Writes a ZIP archive of stills, `from` to `to`, entry by entry as frames finish, to any
/// writer (no seeking: sizes follow each entry). Returns the number of frames.
pub fn write_zip(
    renderer: &Renderer,
    options: &OutputOptions,
    pool: &rayon::ThreadPool,
    progress: &Progress,
    out: impl Write,
) -> Result<u64> {
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;

    let frame_count = renderer.timeline().frame_count;
    let from = options.from.unwrap_or(0);
    let to = options.to.unwrap_or(frame_count.saturating_sub(1));
    if from > to {
        return Err(Error::invalid_param(format!(
            "from: expected at most to ({to}), found {from}"
        )));
    }
    let still = options.sequence_format.unwrap_or(StillFormat::Png);
    // PNG and JPEG are compressed already; TIFF stills are not.
    let method = match still {
        StillFormat::Tiff => CompressionMethod::Deflated,
        StillFormat::Png | StillFormat::Jpeg => CompressionMethod::Stored,
    };
    // A fixed date, so that the same input gives the same bytes.
    let entry = SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(zip::DateTime::default())
        .large_file(false);
    progress.set_total(to + 1 - from);
    let digits = (to + 1).to_string().len().max(5);
    let mut archive = zip::ZipWriter::new_stream(out);
    let zip_error = |e: zip::result::ZipError| Error::internal(format!("zip writing failed: {e}"));
    render_span(renderer, from..to + 1, pool, |index, frame| {
        let bytes = encode_still(&frame, still, options.still)?;
        archive
            .start_file(
                format!("frame-{index:0digits$}.{}", still.extension()),
                entry,
            )
            .map_err(zip_error)?;
        archive
            .write_all(&bytes)
            .map_err(|e| Error::internal(format!("zip writing failed: {e}")))?;
        progress.add(1);
        Ok(())
    })?;
    archive.finish().map_err(zip_error)?;
    Ok(to + 1 - from)
}

/// How many frames, spread over the movie, teach the GIF palette.
const GIF_PALETTE_SAMPLES: u64 = 32;

/// Writes the whole movie as an animated GIF.
pub fn write_gif(
    renderer: &Renderer,
    pool: &rayon::ThreadPool,
    progress: &Progress,
    out: impl Write,
) -> Result<()> {
    use rayon::prelude::*;

    let timeline = renderer.timeline();
    let frame_count = timeline.frame_count;
    let samples = GIF_PALETTE_SAMPLES.min(frame_count);
    let sample_frames: Vec<_> = pool.install(|| {
        (0..samples)
            .into_par_iter()
            .map(|i| renderer.render_frame(i * frame_count / samples + frame_count / samples / 2))
            .collect::<Result<_>>()
    })?;
    let sample_pixels: Vec<&[u8]> = sample_frames.iter().map(|f| f.rgba()).collect();
    let palette = GifPalette::learn(&sample_pixels);
    let mut writer = GifWriter::new(out, timeline.width, timeline.height, timeline.fps, palette)?;
    render_span(renderer, 0..frame_count, pool, |_, frame| {
        writer.write_frame(frame.rgba())?;
        progress.add(1);
        Ok(())
    })?;
    writer.finish()?;
    Ok(())
}
