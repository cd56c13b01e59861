//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

pub mod server;

use std::path::{Path, PathBuf};

use framecast::assets::{AssetLoader, AssetSettings, Assets};
use framecast::movie::{self, Movie, Params, Timeline};
use framecast::render::{Frame, Renderer};

/// A one-second 160x90 movie at 30 fps that shows its `name` (and takes a `size`).
pub const SHORT_MOVIE: &str = r##"{
    "canvas": {"width": 160, "height": 90, "fps": 30, "background": "#203040"},
    "variables": {
        "name": {"type": "text", "default": "friend", "max_length": 20},
        "size": {"type": "number", "default": 20, "min": 8, "max": 40}
    },
    "scenes": [{"duration": 1, "layers": [
        {"type": "shape", "shape": "ellipse", "x": 10, "y": 10, "width": 40, "height": 40, "fill": "#ffaa00",
         "animate": {"x": [{"t": 0, "value": 0}, {"t": 1, "value": 110}]}},
        {"type": "text", "text": "Hi {name}", "font": {"size": 20}, "x": 10, "y": 50}
    ]}]
}"##;

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn parse_movie(json: &str) -> Movie {
    movie::parse(json, "test.json").unwrap_or_else(|e| panic!("test movie is invalid: {e}"))
}

/// A renderer for a movie with no external assets.
pub fn renderer(movie: &Movie, params: Params) -> Renderer {
    Renderer::new(Timeline::new(movie, params), Assets::default()).expect("renderer")
}

/// A renderer that loads assets from `project_dir`.
pub fn renderer_in(project_dir: &Path, movie: &Movie, params: Params) -> Renderer {
    let loader = AssetLoader::new(AssetSettings::default()).expect("loader");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let timeline = Timeline::new(movie, params);
    let assets = runtime
        .block_on(loader.load(project_dir, &timeline))
        .expect("assets");
    Renderer::new(timeline, assets).expect("renderer")
}

pub fn demo_movie() -> Movie {
    movie::load_file(&repo_path("fixtures/projects/demo/welcome-video.json")).expect("demo movie")
}

pub fn demo_renderer(params: &[(&str, &str)]) -> Renderer {
    let movie = demo_movie();
    let params = Params::from_strings(&movie, params.iter().copied()).expect("demo params");
    renderer_in(&repo_path("fixtures/projects/demo"), &movie, params)
}

/// The pixel at (x, y) as RGBA.
pub fn pixel(frame: &Frame, x: u32, y: u32) -> [u8; 4] {
    let at = ((y * frame.width() + x) * 4) as usize;
    frame.rgba()[at..at + 4].try_into().expect("four channels")
}

/// How many pixels differ between two frames by more than `tolerance` in any channel.
pub fn differing_pixels(a: &[u8], b: &[u8], tolerance: u8) -> usize {
    a.chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(p, q)| {
            p.iter()
                .zip(q.iter())
                .any(|(x, y)| x.abs_diff(*y) > tolerance)
        })
        .count()
}

/// ffprobe's JSON for a file or URL (streams with counted frames, and the format), failing
/// the test if ffprobe cannot read it.
pub fn ffprobe_json(target: impl AsRef<std::ffi::OsStr>) -> serde_json::Value {
    let target = target.as_ref();
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
        ])
        .args(["-of", "json"])
        .arg(target)
        .output()
        .expect("ffprobe runs (scripts/test installs ffmpeg)");
    assert!(
        output.status.success(),
        "ffprobe {}: {}",
        target.to_string_lossy(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("ffprobe json")
}
