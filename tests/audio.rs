//! Sound: a sine tone placed in a movie comes out of every format with the right codec,
//! rate, channels and length; mixing is exact across any cut; and the AAC of HLS decodes
//! across segment boundaries without a gap or click.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ffprobe_json, parse_movie, renderer_in};
use framecast::movie::Params;

/// A 440 Hz tone at amplitude 0.5, 4 s, as WAV.
fn project() -> PathBuf {
    static PROJECT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PROJECT
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("framecast-audio-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            let status = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
                .args(["-i", "aevalsrc=0.5*sin(2*PI*440*t):s=48000:c=stereo:d=4"])
                .arg(dir.join("tone.wav"))
                .status()
                .expect("ffmpeg runs");
            assert!(status.success());
            std::fs::write(dir.join("tone.json"), MOVIE).expect("movie");
            dir
        })
        .clone()
}

/// 3 s at 160x90: the tone as a bed over two scenes, with a short sound in the second.
const MOVIE: &str = r##"{
    "canvas": {"width": 160, "height": 90, "fps": 30, "background": "#203040"},
    "variables": {"bed": {"type": "audio", "default": "tone.wav"}},
    "audio": [{"source": "{bed}"}],
    "scenes": [
        {"duration": 1.5, "layers": [{"type": "solid", "color": "#335577"}]},
        {"duration": 1.5, "layers": [{"type": "solid", "color": "#775533"}],
         "audio": [{"source": "tone.wav", "start": 0.5, "end": 1, "volume": 0.5, "fade_in": 0.1}]}
    ]
}"##;

fn render(extension: &str) -> PathBuf {
    let out = project()
        .join(format!("out-{extension}"))
        .join(format!("tone.{extension}"));
    cli_render(&project(), "tone", &out, &[]);
    out
}

/// Renders `movie` of the project in `dir` to `out` through the command line.
fn cli_render(dir: &Path, movie: &str, out: &Path, extra: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_framecast"))
        .arg("render")
        .arg(dir)
        .arg(movie)
        .args(extra)
        .arg("-o")
        .arg(out)
        .output()
        .expect("framecast runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn seconds(value: &serde_json::Value) -> f64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn every_format_carries_the_sound_its_container_expects() {
    for (extension, codec) in [
        ("mp4", "aac"),
        ("flv", "aac"),
        ("m3u8", "aac"),
        ("mpd", "aac"),
        ("webm", "opus"),
        ("mpeg", "mp2"),
        ("wmv", "wmav2"),
        ("mov", "pcm_s16le"),
    ] {
        let probe = ffprobe_json(render(extension));
        let streams = probe["streams"].as_array().expect("streams");
        let audio = streams
            .iter()
            .find(|s| s["codec_type"] == "audio")
            .unwrap_or_else(|| panic!("{extension} has no sound: {probe}"));
        assert_eq!(audio["codec_name"], codec, "{extension}");
        assert_eq!(audio["sample_rate"], "48000", "{extension}");
        assert_eq!(audio["channels"], 2, "{extension}");
    }
    // In MP4 the sound lasts as long as the pictures, within one AAC frame.
    let probe = ffprobe_json(render("mp4"));
    let length = |kind: &str| {
        let stream = probe["streams"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["codec_type"] == kind).cloned())
            .expect("stream");
        seconds(&stream["duration"])
    };
    let (video, audio) = (length("video"), length("audio"));
    assert!((video - 3.0).abs() < 1e-6, "{video}");
    assert!(
        (audio - video).abs() <= 1024.0 / 48000.0 + 1e-6,
        "{audio} against {video}"
    );
}

#[test]
fn a_fragmented_mp4_from_the_command_line_carries_the_sound() {
    let out = project().join("out-fragmented").join("tone.mp4");
    cli_render(&project(), "tone", &out, &["--fragmented"]);
    let probe = ffprobe_json(&out);
    let audio = probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "audio").cloned())
        .unwrap_or_else(|| panic!("no sound: {probe}"));
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["sample_rate"], "48000");
    let length = seconds(&probe["format"]["duration"]);
    assert!((length - 3.0).abs() < 0.05, "{length}");
}

#[test]
fn a_mix_cut_anywhere_is_the_same_samples() {
    let movie = parse_movie(MOVIE);
    let renderer = renderer_in(&project(), &movie, Params::defaults(&movie));
    let total = renderer.timeline().sample_count();
    assert_eq!(total, 3 * 48_000);
    let whole = renderer.mix(0..total);
    for cut in [1, 1023, 24_000, 72_000, 95_999, 120_001] {
        let mut joined = renderer.mix(0..cut);
        joined.extend(renderer.mix(cut..total));
        assert!(joined == whole, "cut at {cut}");
    }
    // The bed alone before the scene sound, which fades in from silence at 2 s.
    let at = |sample: usize| whole[sample * 2];
    let tone =
        |sample: usize| 0.5 * (2.0 * std::f64::consts::PI * 440.0 * sample as f64 / 48_000.0).sin();
    for sample in [100, 47_999, 95_999] {
        assert!(
            (f64::from(at(sample)) - tone(sample)).abs() < 1e-3,
            "sample {sample}"
        );
    }
    let doubled = 96_000 + 24_000; // 2.5 s: past the fade, bed and half-volume sound together
    let expected = tone(doubled) + 0.25 * tone(doubled - 96_000);
    assert!(
        (f64::from(at(doubled)) - expected).abs() < 1e-3,
        "{} against {expected}",
        at(doubled)
    );
}

/// Decodes a media file's sound to f32 samples of its left channel at 48 kHz.
fn decode(path: &Path) -> Vec<f32> {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map", "0:a:0", "-ac", "2", "-ar", "48000", "-f", "f32le", "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .chunks_exact(8)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn hls_sound_segments_join_without_a_gap_or_click() {
    let playlist = render("m3u8");
    let dir = playlist.parent().expect("dir");
    // The sound rendition's pieces joined as a player appends them.
    let media = std::fs::read_to_string(dir.join("audio.m3u8")).expect("audio playlist");
    let mut joined = std::fs::read(dir.join("audio-init.mp4")).expect("init");
    let segments: Vec<&str> = media.lines().filter(|l| l.ends_with(".m4s")).collect();
    assert!(segments.len() >= 3);
    for name in &segments {
        joined.extend(std::fs::read(dir.join(name)).expect("segment"));
    }
    let file = dir.join("joined.mp4");
    std::fs::write(&file, &joined).expect("write");
    let samples = decode(&file);
    assert!(
        samples.len() >= 3 * 48_000 - 1024,
        "{} samples",
        samples.len()
    );

    // The first segments hold the tone alone: around each boundary (0.5 s and 1.5 s) no
    // step is larger than the tone's own steepest one, with room for coding noise.
    let steepest = 0.5 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0;
    for boundary in [24_000usize, 72_000] {
        for n in boundary - 2048..boundary + 2048 {
            let step = (samples[n + 1] - samples[n]).abs();
            assert!(step < steepest * 1.5, "a step of {step} at sample {n}");
        }
        let window = &samples[boundary - 480..boundary + 480];
        let rms = (window.iter().map(|s| s * s).sum::<f32>() / window.len() as f32).sqrt();
        assert!(
            (rms - 0.5 / 2f32.sqrt()).abs() < 0.02,
            "rms {rms} at {boundary}: a gap"
        );
    }
}

#[test]
fn a_clip_plays_its_own_sound_while_its_layer_shows() {
    let dir = project();
    let clip = dir.join("toned.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "color=gray:size=64x48:rate=30:duration=3",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=0.5*sin(2*PI*440*t):s=48000:c=stereo:d=3",
        ])
        .args(["-c:v", "libx264", "-c:a", "aac", "-shortest"])
        .arg(&clip)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let movie = |extra: &str| {
        parse_movie(&format!(
            r##"{{"canvas": {{"width": 64, "height": 48, "fps": 30}},
            "scenes": [{{"duration": 3, "layers": [
                {{"type": "video", "source": "toned.mp4", "start": 1, "end": 2 {extra}}}
            ]}}]}}"##
        ))
    };
    let rms = |samples: &[f32]| {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
    };
    let mix = |extra: &str| {
        let movie = movie(extra);
        renderer_in(&dir, &movie, Params::defaults(&movie)).mix(0..3 * 48_000)
    };
    // Stereo: samples 2n and 2n + 1 belong to movie sample n.
    let second = |samples: &[f32], from: f64, to: f64| {
        samples[(from * 96_000.0) as usize..(to * 96_000.0) as usize].to_vec()
    };
    let plain = mix("");
    assert_eq!(
        rms(&second(&plain, 0.0, 0.95)),
        0.0,
        "silent before the layer"
    );
    assert!(
        (rms(&second(&plain, 1.1, 1.9)) - 0.354).abs() < 0.02,
        "the tone while it shows"
    );
    assert_eq!(rms(&second(&plain, 2.05, 3.0)), 0.0, "silent after it");
    let quiet = mix(r#", "volume": 0.5"#);
    assert!(
        (rms(&second(&quiet, 1.1, 1.9)) - 0.177).abs() < 0.02,
        "half volume"
    );
    // At another speed the clip's sound is not played.
    let fast = mix(r#", "speed": 2"#);
    assert_eq!(rms(&fast), 0.0);
    let renderer = |source: &str| {
        let movie = parse_movie(&format!(
            r##"{{"canvas": {{"width": 64, "height": 48, "fps": 30}},
            "scenes": [{{"duration": 1, "layers": [{{"type": "video", "source": "{source}"}}]}}]}}"##
        ));
        renderer_in(&dir, &movie, Params::defaults(&movie))
    };
    assert!(renderer("toned.mp4").has_audio());

    // A clip without a sound stream leaves the movie without sound, and its outputs
    // without a sound track.
    let silent = dir.join("silent.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "color=gray:size=64x48:rate=30:duration=1",
        ])
        .args(["-c:v", "libx264"])
        .arg(&silent)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    assert!(!renderer("silent.mp4").has_audio());
    std::fs::write(
        dir.join("footage-only.json"),
        r#"{"canvas": {"width": 64, "height": 48, "fps": 30},
            "scenes": [{"duration": 1, "layers": [{"type": "video", "source": "silent.mp4"}]}]}"#,
    )
    .expect("movie");
    let out = dir.join("out-silent").join("footage-only.mp4");
    cli_render(&dir, "footage-only", &out, &[]);
    let probe = ffprobe_json(&out);
    let kinds: Vec<&str> = probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["codec_type"].as_str())
        .collect();
    assert_eq!(kinds, ["video"], "{probe}");
}
