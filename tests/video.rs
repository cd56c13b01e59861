//! Video layers: a clip with its frame number burnt in as a bar code proves which clip
//! frame every movie frame shows, with trims, speed, loops and holds, and that frames
//! drawn in any order, by fresh or warm renderers, are the same.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{parse_movie, pixel, renderer_in};
use framecast::movie::Params;
use framecast::render::Renderer;

/// Bits of the frame number, one bar of 8x8 pixels each, least significant first.
const BITS: u32 = 8;

/// A 4 s, 30 fps clip of 64x8 pixels whose bars spell its frame number, encoded with
/// B-frames and a key frame every 10 frames, so that decoding must seek and reorder.
fn barcode_clip(dir: &Path) -> PathBuf {
    let path = dir.join("barcode.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "color=black:size=64x8:rate=30:duration=4",
        ])
        .args([
            "-vf",
            "geq=lum='255*mod(floor(N/pow(2\\,floor(X/8)))\\,2)':cb=128:cr=128",
        ])
        .args(["-c:v", "libx264", "-qp", "0", "-g", "10", "-bf", "2"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs (scripts/test installs it)");
    assert!(status.success(), "the test clip was not made");
    path
}

/// The project folder with the clip, made once for all the tests of this file.
fn project() -> PathBuf {
    static PROJECT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PROJECT
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("framecast-video-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            barcode_clip(&dir);
            dir
        })
        .clone()
}

/// A 3 s movie showing the clip at its own size, with `extra` fields on the layer.
fn movie(extra: &str) -> String {
    format!(
        r##"{{
        "canvas": {{"width": 64, "height": 16, "fps": 30, "background": "#808080"}},
        "variables": {{"clip": {{"type": "video", "default": "barcode.mp4"}}}},
        "scenes": [{{"duration": 3, "layers": [
            {{"type": "video", "source": "{{clip}}", "width": 64, "height": 8, "fit": "fill" {extra}}}
        ]}}]
    }}"##
    )
}

fn renderer(extra: &str) -> Renderer {
    let movie = parse_movie(&movie(extra));
    renderer_in(&project(), &movie, Params::defaults(&movie))
}

/// The clip frame number a rendered frame shows.
fn shown(renderer: &Renderer, frame: u64) -> u64 {
    let frame = renderer.render_frame(frame).expect("frame");
    (0..BITS)
        .map(|bit| {
            let [r, g, b, _] = pixel(&frame, bit * 8 + 4, 4);
            let bright = (u32::from(r) + u32::from(g) + u32::from(b)) / 3 > 128;
            u64::from(bright) << bit
        })
        .sum()
}

#[test]
fn each_movie_frame_shows_the_clip_frame_at_its_time() {
    let plain = renderer("");
    for frame in [0, 1, 2, 9, 10, 11, 29, 30, 57, 89] {
        assert_eq!(shown(&plain, frame), frame, "movie frame {frame}");
    }
}

#[test]
fn trims_speed_loops_and_holds_pick_the_right_frames() {
    type Expected = fn(u64) -> u64;
    let cases: [(&str, Expected); 4] = [
        // From 1 s in, twice as fast, until the clip ends at frame 119, then held.
        (r#", "in": 1, "speed": 2"#, |n| (30 + 2 * n).min(119)),
        // From 0.5 s to 1.5 s (frames 15 to 44), again and again.
        (r#", "in": 0.5, "out": 1.5, "loop": true"#, |n| 15 + n % 30),
        // The same span once, then its last frame.
        (r#", "in": 0.5, "out": 1.5"#, |n| (15 + n).min(44)),
        // Half speed from the start.
        (r#", "speed": 0.5"#, |n| n / 2),
    ];
    for (extra, expected) in cases {
        let renderer = renderer(extra);
        for frame in [0, 1, 7, 14, 29, 30, 31, 44, 45, 60, 89] {
            assert_eq!(
                shown(&renderer, frame),
                expected(frame),
                "movie frame {frame} with {extra}"
            );
        }
    }
}

#[test]
fn frames_are_the_same_in_any_order() {
    let forward = renderer(r#", "in": 0.3, "loop": true, "out": 2.2"#);
    let backward = renderer(r#", "in": 0.3, "loop": true, "out": 2.2"#);
    let frames: Vec<u64> = (0..90).step_by(7).collect();
    let ahead: Vec<Vec<u8>> = frames
        .iter()
        .map(|&f| forward.render_frame(f).expect("frame").rgba().to_vec())
        .collect();
    for (&frame, expected) in frames.iter().zip(&ahead).rev() {
        let drawn = backward.render_frame(frame).expect("frame");
        assert!(drawn.rgba() == expected.as_slice(), "frame {frame}");
    }
}

#[test]
fn video_fields_are_checked() {
    let bad = [
        (r#", "speed": 0"#, "speed"),
        (r#", "in": 2, "out": 1"#, "out"),
        (r#", "in": -1"#, "in"),
    ];
    for (extra, field) in bad {
        let error = framecast::movie::parse(&movie(extra), "test.json").expect_err(extra);
        assert!(
            error.message().contains(field),
            "{extra}: {}",
            error.message()
        );
    }
    // Clip fields belong to video layers only, and a video source to a video variable.
    let image = r##"{"canvas": {"width": 64, "height": 16, "fps": 30},
        "scenes": [{"duration": 1, "layers": [{"type": "image", "source": "a.png", "loop": true}]}]}"##;
    assert!(framecast::movie::parse(image, "test.json").is_err());
    let typed = r##"{"canvas": {"width": 64, "height": 16, "fps": 30},
        "variables": {"pic": {"type": "image"}},
        "scenes": [{"duration": 1, "layers": [{"type": "video", "source": "{pic}"}]}]}"##;
    let error = framecast::movie::parse(typed, "test.json").expect_err("typed");
    assert!(
        error.message().contains("video variable"),
        "{}",
        error.message()
    );
}

#[test]
fn a_missing_clip_is_an_error_that_names_it() {
    let movie = parse_movie(&movie("").replace("barcode.mp4", "missing.mp4"));
    let loader = framecast::assets::AssetLoader::new(Default::default()).expect("loader");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let timeline = framecast::movie::Timeline::new(&movie, Params::defaults(&movie));
    let error = runtime
        .block_on(loader.load(&project(), &timeline))
        .expect_err("missing clip");
    assert!(
        error.message().contains("missing.mp4"),
        "{}",
        error.message()
    );
}
