//! The demo movie through `framecast render` to every extension of the Render API, each
//! read back by an independent reader: ffprobe for video, m3u8-rs for playlists, the
//! `image` and `zip` crates for stills and sequences.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ffprobe_json, repo_path};

/// The demo: 1280x720, 30 fps, 300 frames.
const FRAMES: u64 = 300;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("framecast-demo-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Renders the demo with `name=Alex` to `out`; returns the summary line.
fn render_demo(out: &Path, options: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_framecast"))
        .args(["render", "fixtures/projects/demo", "welcome-video"])
        .args(["-p", "name=Alex", "-o"])
        .arg(out)
        .args(options)
        .current_dir(repo_path("."))
        .output()
        .expect("run framecast");
    assert!(
        output.status.success(),
        "{}: {}",
        out.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn number(value: &serde_json::Value) -> f64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

#[test]
fn every_video_extension_probes_as_the_demo() {
    let dir = out_dir("video");
    for (extension, codec) in [
        ("mp4", "h264"),
        ("flv", "h264"),
        ("webm", "vp9"),
        ("mpeg", "mpeg2video"),
        ("wmv", "wmv2"),
        ("mov", "prores"),
        ("gif", "gif"),
    ] {
        let path = dir.join(format!("demo.{extension}"));
        let summary = render_demo(&path, &[]);
        assert!(
            summary.contains(&format!("{FRAMES} frames")) && summary.contains("x real time"),
            "{summary}"
        );
        let probe = ffprobe_json(&path);
        let stream = &probe["streams"][0];
        assert_eq!(stream["codec_name"], codec, "{extension}");
        assert_eq!(
            (stream["width"].as_u64(), stream["height"].as_u64()),
            (Some(1280), Some(720)),
            "{extension}"
        );
        assert_eq!(
            number(&stream["nb_read_frames"]) as u64,
            FRAMES,
            "{extension}"
        );
        // An MPEG program stream has no duration field; readers estimate one.
        if extension != "mpeg" {
            let seconds = number(&probe["format"]["duration"]);
            assert!((seconds - 10.0).abs() < 0.034, "{extension}: {seconds} s");
        }
    }
}

#[test]
fn hls_and_dash_name_segments_that_probe() {
    let dir = out_dir("streams");
    let master_path = dir.join("demo.m3u8");
    render_demo(&master_path, &[]);
    let master = std::fs::read(&master_path).expect("master");
    let Ok(m3u8_rs::Playlist::MasterPlaylist(master)) = m3u8_rs::parse_playlist_res(&master) else {
        panic!("demo.m3u8 is not a master playlist");
    };
    let media = std::fs::read(dir.join(&master.variants[0].uri)).expect("media playlist");
    let Ok(m3u8_rs::Playlist::MediaPlaylist(media)) = m3u8_rs::parse_playlist_res(&media) else {
        panic!("the variant is not a media playlist");
    };
    let init_uri = &media.segments[0].map.as_ref().expect("EXT-X-MAP").uri;
    let init = std::fs::read(dir.join(init_uri)).expect("init segment");
    let mut frames = 0;
    for segment in &media.segments {
        let bytes = std::fs::read(dir.join(&segment.uri)).expect("segment");
        let alone = dir.join(format!("alone-{}.mp4", segment.uri));
        std::fs::write(&alone, [init.as_slice(), &bytes].concat()).expect("write");
        let counted = number(&ffprobe_json(&alone)["streams"][0]["nb_read_frames"]) as u64;
        assert_eq!(
            counted,
            (f64::from(segment.duration) * 30.0).round() as u64,
            "{}",
            segment.uri
        );
        frames += counted;
    }
    assert_eq!(frames, FRAMES);

    let mpd = dir.join("demo.mpd");
    render_demo(&mpd, &[]);
    let stream = &ffprobe_json(&mpd)["streams"][0];
    assert_eq!(number(&stream["nb_read_frames"]) as u64, FRAMES);
}

#[test]
fn stills_and_sequences_hold_demo_frames() {
    let dir = out_dir("stills");
    for extension in ["jpg", "png", "tif"] {
        let path = dir.join(format!("demo.{extension}"));
        render_demo(&path, &["--frame", "200"]);
        let still = image::open(&path).expect("still decodes");
        assert_eq!((still.width(), still.height()), (1280, 720), "{extension}");
    }

    let path = dir.join("demo.zip");
    render_demo(&path, &["-O", "format=jpg", "-O", "from=10", "-O", "to=19"]);
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(&path).expect("zip")).expect("archive");
    assert_eq!(archive.len(), 10);
    let first = archive.by_index(0).expect("entry").name().to_owned();
    assert_eq!(first, "frame-00010.jpg");
}

#[test]
fn the_footage_demo_shows_its_clip_under_the_name() {
    let dir = out_dir("footage");
    let path = dir.join("footage.mp4");
    let output = Command::new(env!("CARGO_BIN_EXE_framecast"))
        .args(["render", "fixtures/projects/demo", "footage-video"])
        .args(["-p", "name=Alex", "-o"])
        .arg(&path)
        .current_dir(repo_path("."))
        .output()
        .expect("run framecast");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let probe = ffprobe_json(&path);
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert_eq!(number(&stream["nb_read_frames"]), 360.0);

    // Frame 150 of the movie is frame 150 of the clip: the digits of its burnt-in frame
    // number match the clip's frame 150, and not its frame 151.
    let digits = |file: &Path, frame: u32| {
        let png = dir.join(format!(
            "digits-{frame}-{}.png",
            file.extension().is_some_and(|e| e == "mp4")
        ));
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(file)
            .args([
                "-vf",
                &format!("select=eq(n\\,{frame}),crop=130:80:295:568"),
                "-frames:v",
                "1",
            ])
            .arg(&png)
            .status()
            .expect("ffmpeg");
        assert!(status.success());
        image::open(&png).expect("png").to_rgb8()
    };
    let differing = |a: &image::RgbImage, b: &image::RgbImage| {
        a.pixels()
            .zip(b.pixels())
            .filter(|(a, b)| a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 64))
            .count()
            * 100
            / a.pixels().len()
    };
    let clip = repo_path("fixtures/projects/demo/footage.mp4");
    let shown = digits(&path, 150);
    assert!(
        differing(&shown, &digits(&clip, 150)) < 3,
        "frame 150 shows another clip frame"
    );
    assert!(
        differing(&shown, &digits(&clip, 151)) > 6,
        "the digits do not tell frames apart"
    );
}
