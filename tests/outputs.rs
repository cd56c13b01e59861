//! Every finished output format, rendered from a small movie and read back by independent
//! readers: FFmpeg's ffprobe and decoder (installed by `scripts/test`), m3u8-rs for
//! playlists, the `zip` and `image` crates for archives and stills.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ffprobe_json, parse_movie, renderer};
use framecast::encode::{Encoders, H264Encoder};
use framecast::movie::Params;
use framecast::output::{render_output, Format, OutputOptions, Rendered};
use framecast::render::{Progress, Renderer};
use framecast::segment::{SegmentPlan, SegmentSettings};
use framecast::ErrorKind;

const MOVIE: &str = r##"{
    "canvas": {"width": 160, "height": 90, "fps": "30000/1001", "background": "#202840"},
    "variables": {"name": {"type": "text", "default": "Zoë"}},
    "scenes": [
        {"duration": 1.5, "layers": [
            {"type": "gradient", "gradient": {"stops": [{"offset": 0, "color": "#ff8000"}, {"offset": 1, "color": "#0040ff"}]}},
            {"type": "shape", "shape": "ellipse", "x": 20, "y": 20, "width": 40, "height": 40, "fill": "#ffffff",
             "animate": {"x": [{"t": 0, "value": 0}, {"t": 1.5, "value": 120}]}}]},
        {"duration": 2, "transition": {"type": "crossfade", "duration": 0.5}, "layers": [
            {"type": "text", "text": "Hi {name}", "font": {"size": 24}, "x": 10, "y": 30}]}
    ]
}"##;

fn movie_renderer() -> Renderer {
    let movie = parse_movie(MOVIE);
    renderer(&movie, Params::defaults(&movie))
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool")
}

fn render(format: Format, options: &[(&str, &str)]) -> Rendered {
    render_with(format, options, &Encoders::locate(None))
        .unwrap_or_else(|e| panic!("{format}: {e}"))
}

fn render_with(
    format: Format,
    options: &[(&str, &str)],
    encoders: &Encoders,
) -> framecast::Result<Rendered> {
    let options = OutputOptions::from_pairs(options.iter().copied()).expect("options");
    render_output(
        &movie_renderer(),
        format,
        &options,
        encoders,
        &pool(),
        &Progress::default(),
    )
}

/// Writes the output and its parts into a fresh folder; returns the main file's path.
fn write(name: &str, format: Format, rendered: &Rendered) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("framecast-outputs-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let main = dir.join(format!("out.{format}"));
    std::fs::write(&main, &rendered.main).expect("write");
    for part in &rendered.parts {
        std::fs::write(dir.join(&part.name), &part.bytes).expect("write part");
    }
    main
}

struct Probe {
    codec: String,
    width: u64,
    height: u64,
    frames: u64,
    frame_rate: String,
    duration: f64,
}

fn ffprobe(path: &Path) -> Probe {
    let json = ffprobe_json(path);
    let stream = &json["streams"][0];
    let number = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
    Probe {
        codec: stream["codec_name"].as_str().unwrap_or_default().to_owned(),
        width: stream["width"].as_u64().unwrap_or_default(),
        height: stream["height"].as_u64().unwrap_or_default(),
        frames: number(&stream["nb_read_frames"]).unwrap_or_default() as u64,
        frame_rate: stream["r_frame_rate"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        duration: number(&json["format"]["duration"]).unwrap_or_default(),
    }
}

/// Decodes a video to raw RGBA frames with FFmpeg.
fn decode(path: &Path) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgba", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

const FRAMES: u64 = 90; // 3 s (a crossfade overlaps the scenes) at 30000/1001
const SECONDS: f64 = 90.0 * 1001.0 / 30000.0;

fn assert_movie_probe(probe: &Probe, what: &str) {
    assert_eq!(probe.codec, "h264", "{what}");
    assert_eq!((probe.width, probe.height), (160, 90), "{what}");
    assert_eq!(probe.frames, FRAMES, "{what}");
    assert!(
        (probe.duration - SECONDS).abs() < 0.002,
        "{what}: duration {}",
        probe.duration
    );
}

#[test]
fn mp4_has_its_index_first_and_decodes_like_the_segments() {
    let rendered = render(Format::Mp4, &[]);
    assert!(rendered.parts.is_empty());
    // ftyp, then moov before mdat: players read the index before the samples.
    let file = &rendered.main;
    assert_eq!(&file[4..8], b"ftyp");
    let ftyp_len = u32::from_be_bytes(file[0..4].try_into().expect("4 bytes")) as usize;
    assert_eq!(&file[ftyp_len + 4..ftyp_len + 8], b"moov");
    let path = write("mp4", Format::Mp4, &rendered);
    assert_movie_probe(&ffprobe(&path), "mp4");

    // The same segments, as fragments in a row, decode to the very same pixels.
    let hls = render(Format::M3u8, &[]);
    let mut fragmented = Vec::new();
    for name in std::iter::once("init.mp4".to_owned())
        .chain((0..hls.parts.len() - 2).map(|i| format!("segment-{i}.m4s")))
    {
        let part = hls.parts.iter().find(|p| p.name == name).expect("part");
        fragmented.extend_from_slice(&part.bytes);
    }
    let fragmented_path = path.with_file_name("fragmented.mp4");
    std::fs::write(&fragmented_path, fragmented).expect("write");
    let (whole, pieces) = (decode(&path), decode(&fragmented_path));
    assert_eq!(whole.len() as u64, 160 * 90 * 4 * FRAMES);
    assert!(whole == pieces, "decoded frames differ");
}

#[test]
fn hls_playlists_parse_back_and_every_segment_probes() {
    let rendered = render(Format::M3u8, &[]);
    let path = write("hls", Format::M3u8, &rendered);
    let master = match m3u8_rs::parse_playlist_res(&rendered.main).expect("master parses") {
        m3u8_rs::Playlist::MasterPlaylist(master) => master,
        other => panic!("expected a master playlist, found {other:?}"),
    };
    let variant = &master.variants[0];
    // Constrained Baseline; the level follows the frame size.
    let codecs = variant.codecs.as_deref().unwrap_or_default();
    assert!(codecs.starts_with("avc1.42c0"), "{codecs}");
    assert_eq!(
        variant.resolution.map(|r| (r.width, r.height)),
        Some((160, 90))
    );
    let media_bytes = std::fs::read(path.with_file_name(&variant.uri)).expect("media playlist");
    let media = match m3u8_rs::parse_playlist_res(&media_bytes).expect("media parses") {
        m3u8_rs::Playlist::MediaPlaylist(media) => media,
        other => panic!("expected a media playlist, found {other:?}"),
    };
    assert!(media.end_list);
    let init = media.segments[0]
        .map
        .as_ref()
        .expect("EXT-X-MAP")
        .uri
        .clone();
    let init_bytes = std::fs::read(path.with_file_name(&init)).expect("init segment");
    let total: f64 = media.segments.iter().map(|s| f64::from(s.duration)).sum();
    assert!((total - SECONDS).abs() < 0.001, "EXTINF sum {total}");
    for segment in &media.segments {
        let bytes = std::fs::read(path.with_file_name(&segment.uri)).expect("segment");
        let alone = path.with_file_name(format!("{}.mp4", segment.uri));
        std::fs::write(&alone, [init_bytes.as_slice(), &bytes].concat()).expect("write");
        let probe = ffprobe(&alone);
        let expected = (f64::from(segment.duration) * 30000.0 / 1001.0).round() as u64;
        assert_eq!(probe.frames, expected, "{}", segment.uri);
    }
    assert_movie_probe(&ffprobe(&path), "m3u8");
}

#[test]
fn dash_manifest_plays_through_ffmpeg() {
    let rendered = render(Format::Mpd, &[]);
    let path = write("dash", Format::Mpd, &rendered);
    let mpd = String::from_utf8(rendered.main.clone()).expect("utf-8");
    assert!(mpd.contains(r#"type="static""#));
    assert!(mpd.contains(r#"timescale="30000""#));
    // Segment durations in the timeline add up to the movie, in timescale units.
    let total: u64 = mpd
        .lines()
        .filter(|l| l.trim_start().starts_with("<S "))
        .map(|l| {
            let attr = |name: &str| -> u64 {
                l.split(&format!(" {name}=\""))
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .map_or(0, |v| v.parse().expect("number"))
            };
            attr("d") * (attr("r") + 1)
        })
        .sum();
    assert_eq!(total, FRAMES * 1001);
    assert!(
        mpd.contains(r#"mediaPresentationDuration="PT3.003S""#),
        "{mpd}"
    );
    // FFmpeg's DASH reader keeps whole seconds of the presentation duration; the frame
    // count is exact.
    let probe = ffprobe(&path);
    assert_eq!((probe.codec.as_str(), probe.frames), ("h264", FRAMES));
    assert_eq!((probe.width, probe.height), (160, 90));
}

#[test]
fn stills_honour_frame_quality_and_compression() {
    let r = movie_renderer();
    let png = render(Format::Png, &[("frame", "12")]);
    let decoded = image::load_from_memory(&png.main)
        .expect("png decodes")
        .to_rgba8();
    assert_eq!(decoded.as_raw(), r.render_frame(12).expect("frame").rgba());

    let small = render(Format::Png, &[("frame", "12"), ("compression", "9")]);
    let raw = render(Format::Png, &[("frame", "12"), ("compression", "0")]);
    assert!(small.main.len() < raw.main.len());

    let low = render(Format::Jpg, &[("q", "10")]);
    let high = render(Format::Jpg, &[("q", "99")]);
    assert!(low.main.len() < high.main.len());
    for (name, rendered, codec) in [
        ("jpg", &high, "mjpeg"),
        ("png", &png, "png"),
        ("tif", &render(Format::Tif, &[]), "tiff"),
    ] {
        let format = Format::from_extension(name).expect("format");
        let probe = ffprobe(&write(name, format, rendered));
        assert_eq!(
            (probe.codec.as_str(), probe.width, probe.height),
            (codec, 160, 90)
        );
    }
}

#[test]
fn zip_holds_one_still_per_frame_in_order() {
    let r = movie_renderer();
    let rendered = render(Format::Zip, &[("from", "3"), ("to", "9")]);
    assert_eq!(rendered.frames, 7);
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(rendered.main)).expect("zip reads back");
    assert_eq!(archive.len(), 7);
    for (i, index) in (3..=9).enumerate() {
        let mut entry = archive.by_index(i).expect("entry");
        assert_eq!(entry.name(), format!("frame-{index:05}.png"));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).expect("read entry");
        let decoded = image::load_from_memory(&bytes).expect("png").to_rgba8();
        assert_eq!(
            decoded.as_raw(),
            r.render_frame(index).expect("frame").rgba()
        );
    }

    let jpegs = render(Format::Zip, &[("format", "jpg"), ("to", "1"), ("q", "50")]);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(jpegs.main)).expect("zip");
    assert_eq!(archive.len(), 2);
    assert_eq!(
        archive.by_index(1).expect("entry").name(),
        "frame-00001.jpg"
    );
}

#[test]
fn gif_keeps_every_frame_on_the_movie_clock() {
    let rendered = render(Format::Gif, &[]);
    let path = write("gif", Format::Gif, &rendered);
    let probe = ffprobe(&path);
    assert_eq!(
        (
            probe.codec.as_str(),
            probe.width,
            probe.height,
            probe.frames
        ),
        ("gif", 160, 90, FRAMES)
    );
    // Delays are whole hundredths, rounded on the movie's clock: 3.003 s becomes 3.00 s.
    assert!((probe.duration - 3.0).abs() < 0.011, "{}", probe.duration);
    // One palette for the movie: close to the drawn frames, frame by frame.
    let errors = frame_errors_against_drawn(&decode(&path));
    for (index, error) in errors.iter().enumerate() {
        assert!(*error < 8.0, "frame {index}: mean error {error:.2}");
    }
    let mean = errors.iter().sum::<f64>() / FRAMES as f64;
    assert!(mean < 4.0, "mean error over the movie {mean:.2}");
}

#[test]
fn same_input_same_bytes_for_every_format() {
    for format in [
        Format::Mp4,
        Format::M3u8,
        Format::Mpd,
        Format::Jpg,
        Format::Png,
        Format::Tif,
        Format::Zip,
        Format::Gif,
        Format::Flv,
        Format::Webm,
        Format::Mpeg,
        Format::Wmv,
        Format::Mov,
    ] {
        let options: &[(&str, &str)] = match format {
            Format::Zip => &[("to", "5")],
            _ => &[],
        };
        assert!(
            render(format, options) == render(format, options),
            "{format} differs between runs"
        );
    }
}

#[test]
fn frames_beyond_the_movie_are_refused() {
    let options = OutputOptions::from_pairs([("frame", "90")]).expect("parses");
    let error = render_output(
        &movie_renderer(),
        Format::Png,
        &options,
        &Encoders::default(),
        &pool(),
        &Progress::default(),
    )
    .expect_err("out of range");
    assert_eq!(error.kind(), ErrorKind::InvalidParam);
    assert!(error.message().contains("from 0 to 89"), "{error}");
}

/// The indices of the key frames of a video's first stream.
fn key_frames(path: &Path) -> Vec<u64> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "frame=key_frame", "-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let frames = json["frames"].as_array().cloned().unwrap_or_default();
    (0..frames.len() as u64)
        .filter(|&i| frames[i as usize]["key_frame"].as_u64() == Some(1))
        .collect()
}

/// The starts of the movie's segments, where every video format puts a key frame.
fn segment_starts() -> Vec<u64> {
    let plan = SegmentPlan::new(movie_renderer().timeline(), SegmentSettings::default());
    plan.segments.iter().map(|s| s.frames.start).collect()
}

/// Mean absolute difference per channel between decoded frames and the drawn ones.
fn mean_error_against_drawn(decoded: &[u8]) -> f64 {
    let errors = frame_errors_against_drawn(decoded);
    errors.iter().sum::<f64>() / errors.len().max(1) as f64
}

/// Per decoded frame, the mean absolute difference per channel from the drawn frame.
fn frame_errors_against_drawn(decoded: &[u8]) -> Vec<f64> {
    let r = movie_renderer();
    let frame_bytes = 160 * 90 * 4;
    decoded
        .chunks_exact(frame_bytes)
        .enumerate()
        .map(|(index, pixels)| {
            let drawn = r.render_frame(index as u64).expect("frame");
            let total: u64 = pixels
                .chunks_exact(4)
                .zip(drawn.rgba().chunks_exact(4))
                .map(|(a, b)| (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>())
                .sum();
            total as f64 / (160.0 * 90.0 * 3.0)
        })
        .collect()
}

#[test]
fn flv_carries_the_same_pictures_as_mp4() {
    let rendered = render(Format::Flv, &[]);
    assert_eq!(&rendered.main[..3], b"FLV");
    let path = write("flv", Format::Flv, &rendered);
    let probe = ffprobe(&path);
    assert_eq!(
        (
            probe.codec.as_str(),
            probe.width,
            probe.height,
            probe.frames
        ),
        ("h264", 160, 90, FRAMES)
    );
    // FLV counts whole milliseconds.
    assert!(
        (probe.duration - SECONDS).abs() < 0.04,
        "{}",
        probe.duration
    );
    let mp4 = write("flv-mp4", Format::Mp4, &render(Format::Mp4, &[]));
    assert!(
        decode(&path) == decode(&mp4),
        "flv and mp4 decode differently"
    );
    assert_eq!(key_frames(&path), segment_starts());
}

#[test]
fn ffmpeg_formats_probe_as_the_movie_with_key_frames_at_segment_starts() {
    let starts = segment_starts();
    for (format, codec) in [
        (Format::Webm, "vp9"),
        (Format::Mpeg, "mpeg2video"),
        (Format::Wmv, "wmv2"),
        (Format::Mov, "prores"),
    ] {
        let rendered = render(format, &[]);
        let path = write(&format!("ffmpeg-{format}"), format, &rendered);
        let probe = ffprobe(&path);
        assert_eq!(
            (
                probe.codec.as_str(),
                probe.width,
                probe.height,
                probe.frames
            ),
            (codec, 160, 90, FRAMES),
            "{format}"
        );
        // Ninety frames at the movie's rate, whatever the container; an MPEG program
        // stream has no duration field (readers estimate one from sparse timestamps).
        assert_eq!(probe.frame_rate, "30000/1001", "{format}");
        if format != Format::Mpeg {
            let frame_seconds = 1001.0 / 30000.0;
            assert!(
                (probe.duration - SECONDS).abs() <= frame_seconds + 0.001,
                "{format}: duration {}",
                probe.duration
            );
        }
        let keys = key_frames(&path);
        assert!(
            starts.iter().all(|s| keys.contains(s)),
            "{format}: key frames {keys:?}, segment starts {starts:?}"
        );
        let error = mean_error_against_drawn(&decode(&path));
        assert!(
            error < 6.0,
            "{format}: mean error {error:.2} against the drawn frames"
        );
    }
}

#[test]
fn ffmpeg_formats_without_ffmpeg_say_what_to_install() {
    let error = render_with(Format::Webm, &[], &Encoders::default()).expect_err("no ffmpeg");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(
        error.message().contains("apt-get install ffmpeg"),
        "{error}"
    );
    // Everything else still works.
    assert!(render_with(Format::Flv, &[], &Encoders::default()).is_ok());
}

#[test]
fn an_encoder_that_dies_mid_stream_is_an_error_naming_format_and_segment() {
    use std::os::unix::fs::PermissionsExt;

    // Answers the version and encoder probes like FFmpeg, then takes about three frames and crashes.
    let dir = std::env::temp_dir().join(format!("framecast-dying-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let program = dir.join("ffmpeg");
    std::fs::write(
        &program,
        "#!/bin/sh\ncase \"$*\" in *-version*) echo 'ffmpeg version test'; exit 0;;\n\
         *-encoders*) printf ' ------\\n V..... libvpx-vp9 VP9\\n'; exit 0;; esac\n\
         head -c 70000 >/dev/null\necho 'encoder crashed' >&2\nexit 3\n",
    )
    .expect("script");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let encoders = Encoders::locate(Some(&program));
    assert!(encoders.ffmpeg.is_some());

    let error = render_with(Format::Webm, &[], &encoders).expect_err("the encoder died");
    let message = error.message();
    assert!(message.starts_with("webm output: segment 0 "), "{message}");
    assert!(message.contains("encoder crashed"), "{message}");
    assert!(message.contains("exit status: 3"), "{message}");
}

#[test]
fn x264_is_the_high_profile_choice_where_ffmpeg_has_it() {
    let x264 = Encoders::locate(None)
        .with_h264(H264Encoder::X264)
        .expect("scripts/test installs an FFmpeg with libx264");
    let rendered = render_with(Format::Mp4, &[], &x264).expect("x264 mp4");
    let path = write("x264", Format::Mp4, &rendered);
    assert_movie_probe(&ffprobe(&path), "x264 mp4");
    let profile = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=profile",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe");
    assert_eq!(String::from_utf8_lossy(&profile.stdout).trim(), "High");
    assert_eq!(key_frames(&path), segment_starts());

    // Closer to the drawn frames than the bundled encoder at the same bitrate.
    let bundled = write("x264-openh264", Format::Mp4, &render(Format::Mp4, &[]));
    let (better, baseline) = (
        mean_error_against_drawn(&decode(&path)),
        mean_error_against_drawn(&decode(&bundled)),
    );
    assert!(
        better < baseline,
        "x264 {better:.2}, openh264 {baseline:.2}"
    );

    // Its segments, cut from one stream, play as HLS and repeat byte for byte.
    let hls = render_with(Format::M3u8, &[], &x264).expect("x264 hls");
    let hls_path = write("x264-hls", Format::M3u8, &hls);
    assert!(
        decode(&hls_path) == decode(&path),
        "hls and mp4 decode differently"
    );
    assert!(render_with(Format::Mp4, &[], &x264).expect("again") == rendered);
}

#[test]
fn x264_without_ffmpeg_is_refused_at_start() {
    let error = Encoders::default()
        .with_h264(H264Encoder::X264)
        .expect_err("no ffmpeg");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.message().contains("x264"), "{error}");
}
