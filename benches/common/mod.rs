//! The demo movie for benches, at its own size or scaled.
#![allow(dead_code, unreachable_pub)] // each bench uses a different subset

use std::path::Path;

use framecast::assets::{AssetLoader, AssetSettings};
use framecast::movie::{self, Params, Timeline};
use framecast::render::Renderer;

/// The demo movie, scaled by `factor` (1.5 turns 720p into 1080p).
pub fn demo_renderer(factor: f64) -> Renderer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/projects/demo");
    let text = std::fs::read_to_string(dir.join("welcome-video.json")).expect("demo movie");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
    scale_geometry(&mut json, factor);
    demo_project_renderer(&json.to_string())
}

/// A movie given as JSON, with `name=Alex`, drawing on the demo project's assets through a
/// fresh loader.
pub fn demo_project_renderer(json: &str) -> Renderer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/projects/demo");
    let movie = movie::parse(json, "bench.json").expect("valid movie");
    let params = Params::from_strings(&movie, [("name", "Alex")]).expect("params");
    let timeline = Timeline::new(&movie, params);
    let loader = AssetLoader::new(AssetSettings::default()).expect("loader");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let assets = runtime
        .block_on(loader.load(&dir, &timeline))
        .expect("assets");
    Renderer::new(timeline, assets).expect("renderer")
}

/// Multiplies every pixel measure of a movie by `factor`.
fn scale_geometry(value: &mut serde_json::Value, factor: f64) {
    const PIXEL_KEYS: &[&str] = &["width", "height", "x", "y", "size", "radius", "blur"];
    match value {
        serde_json::Value::Object(map) => {
            let is_animated_pixel = map.get("t").is_some();
            for (key, child) in map.iter_mut() {
                if PIXEL_KEYS.contains(&key.as_str()) && !is_animated_pixel {
                    if let Some(n) = child.as_f64() {
                        *child = serde_json::json!((n * factor).round() as i64);
                        continue;
                    }
                }
                scale_geometry(child, factor);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scale_geometry(v, factor)),
        _ => {}
    }
}
