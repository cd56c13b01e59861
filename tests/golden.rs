//! Golden images: one small movie per layer kind, blend mode, easing and transition,
//! rendered and compared with a reviewed PNG in `fixtures/golden/`. A mismatch writes the
//! rendered frame and a diff image to `target/golden-diff/`. `UPDATE_GOLDEN=1` rewrites
//! the goldens (review them before committing).

mod common;

use common::{differing_pixels, parse_movie, renderer, repo_path};
use framecast::movie::Params;

/// Channels may differ by this much (floating point on other CPUs)...
const TOLERANCE: u8 = 2;
/// ...in at most this share of the pixels.
const MAX_DIFFERING_SHARE: f64 = 0.002;

fn movie_json(layers: &str, extra_scene: &str) -> String {
    format!(
        r##"{{
        "canvas": {{"width": 160, "height": 90, "fps": 10, "background": "#203040"}},
        "variables": {{"who": {{"type": "text", "default": "Zoë"}}}},
        "scenes": [{{"duration": 2, "layers": [{layers}]}}{extra_scene}]
    }}"##
    )
}

fn check_golden(name: &str, json: &str, frame_index: u64) {
    let movie = parse_movie(json);
    let frame = renderer(&movie, Params::defaults(&movie))
        .render_frame(frame_index)
        .expect("frame renders");
    let path = repo_path(&format!("fixtures/golden/{name}.png"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, frame.to_png().expect("png")).expect("write golden");
        return;
    }
    let golden = image::open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                path.display()
            )
        })
        .into_rgba8();
    assert_eq!(
        (golden.width(), golden.height()),
        (frame.width(), frame.height()),
        "{name}: size"
    );
    let differing = differing_pixels(golden.as_raw(), frame.rgba(), TOLERANCE);
    let share = differing as f64 / f64::from(frame.width() * frame.height());
    if share > MAX_DIFFERING_SHARE {
        let out = repo_path("target/golden-diff");
        std::fs::create_dir_all(&out).expect("diff folder");
        std::fs::write(
            out.join(format!("{name}.png")),
            frame.to_png().expect("png"),
        )
        .expect("write");
        let diff: Vec<u8> = golden
            .as_raw()
            .chunks_exact(4)
            .zip(frame.rgba().chunks_exact(4))
            .flat_map(|(a, b)| {
                let d = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| x.abs_diff(*y))
                    .max()
                    .unwrap_or(0);
                [d.saturating_mul(8), 0, 0, 255]
            })
            .collect();
        image::RgbaImage::from_raw(frame.width(), frame.height(), diff)
            .expect("diff buffer")
            .save(out.join(format!("{name}.diff.png")))
            .expect("write diff");
        panic!("{name}: {differing} pixels differ; see {}", out.display());
    }
}

#[test]
fn solid() {
    check_golden(
        "solid",
        &movie_json(
            r##"{"type": "solid", "color": "#e05050", "x": 20, "y": 10, "width": 60, "height": 40}"##,
            "",
        ),
        0,
    );
}

#[test]
fn linear_gradient() {
    let layer = r##"{"type": "gradient", "gradient": {"angle": 30, "stops": [
        {"offset": 0, "color": "#ff0000"}, {"offset": 0.5, "color": "#00ff00"}, {"offset": 1, "color": "#0000ff"}]}}"##;
    check_golden("linear-gradient", &movie_json(layer, ""), 0);
}

#[test]
fn radial_gradient() {
    let layer = r##"{"type": "gradient", "gradient": {"type": "radial", "center": [0.3, 0.5], "radius": 0.8, "stops": [
        {"offset": 0, "color": "#ffffff"}, {"offset": 1, "color": "#000000"}]}}"##;
    check_golden("radial-gradient", &movie_json(layer, ""), 0);
}

#[test]
fn shapes_with_fill_stroke_and_shadow() {
    let layers = r##"
        {"type": "shape", "shape": "rectangle", "x": 10, "y": 10, "width": 40, "height": 30, "fill": "#ffcc00", "stroke": {"color": "#000000", "width": 3}},
        {"type": "shape", "shape": "rounded_rectangle", "radius": 10, "x": 60, "y": 10, "width": 40, "height": 30, "fill": "#33aaff",
         "shadow": {"color": "#000000aa", "x": 3, "y": 3, "blur": 4}},
        {"type": "shape", "shape": "ellipse", "x": 110, "y": 10, "width": 40, "height": 60, "stroke": {"color": "#ffffff", "width": 2}}"##;
    check_golden("shapes", &movie_json(layers, ""), 0);
}

#[test]
fn image_with_fit_and_rotation() {
    // The picture comes from a project folder; golden tests use the demo avatar.
    let json = movie_json(
        r#"{"type": "image", "source": "avatar.png", "fit": "contain", "x": 80, "y": 45, "width": 100, "height": 60, "anchor": [0.5, 0.5], "rotation": 15}"#,
        "",
    );
    let movie = parse_movie(&json);
    let frame = common::renderer_in(
        &repo_path("fixtures/projects/demo"),
        &movie,
        Params::defaults(&movie),
    )
    .render_frame(0)
    .expect("frame renders");
    let path = repo_path("fixtures/golden/image.png");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, frame.to_png().expect("png")).expect("write golden");
        return;
    }
    let golden = image::open(&path).expect("golden image").into_rgba8();
    let differing = differing_pixels(golden.as_raw(), frame.rgba(), TOLERANCE);
    assert!(
        differing as f64 / 14400.0 <= MAX_DIFFERING_SHARE,
        "image: {differing} pixels differ"
    );
}

#[test]
fn text_with_outline_and_shadow() {
    let layer = r##"{"type": "text", "text": "Hi {who}", "font": {"size": 28, "weight": 700}, "color": "#ffffff",
        "x": 8, "y": 20, "stroke": {"color": "#ff0080", "width": 2}, "shadow": {"color": "#000000", "x": 2, "y": 2, "blur": 3}}"##;
    check_golden("text", &movie_json(layer, ""), 0);
}

#[test]
fn text_wraps_and_aligns_in_its_box() {
    let layer = r##"{"type": "text", "text": "one two three four five", "font": {"size": 16}, "color": "#ffffff",
        "align": "center", "valign": "bottom", "x": 30, "y": 5, "width": 100, "height": 80}"##;
    check_golden("text-wrap", &movie_json(layer, ""), 0);
}

#[test]
fn blend_modes() {
    for mode in [
        "normal", "multiply", "screen", "overlay", "darken", "lighten", "add",
    ] {
        let layers = format!(
            r##"{{"type": "gradient", "gradient": {{"stops": [{{"offset": 0, "color": "#000000"}}, {{"offset": 1, "color": "#ffffff"}}]}}}},
            {{"type": "shape", "shape": "ellipse", "x": 30, "y": 5, "width": 100, "height": 80, "fill": "#ff8000", "blend": "{mode}"}}"##
        );
        check_golden(&format!("blend-{mode}"), &movie_json(&layers, ""), 0);
    }
}

#[test]
fn easings_at_mid_animation() {
    for easing in [
        "linear",
        "ease-in",
        "ease-out",
        "ease-in-out",
        "overshoot",
        "hold",
        "cubic-bezier(0.1, 0.7, 0.1, 1)",
    ] {
        let layer = format!(
            r##"{{"type": "shape", "shape": "rectangle", "x": 0, "y": 35, "width": 20, "height": 20, "fill": "#ffffff",
            "animate": {{"x": [{{"t": 0, "value": 0, "easing": "{easing}"}}, {{"t": 1, "value": 140}}],
                         "rotation": [{{"t": 0, "value": 0, "easing": "{easing}"}}, {{"t": 1, "value": 90}}]}}}}"##
        );
        let name = format!("easing-{}", easing.replace(['(', ')', ',', ' ', '.'], ""));
        check_golden(&name, &movie_json(&layer, ""), 4);
    }
}

#[test]
fn transitions_at_mid_point() {
    for (kind, direction) in [
        ("crossfade", "left"),
        ("slide", "left"),
        ("slide", "up"),
        ("wipe", "right"),
        ("wipe", "down"),
    ] {
        let layers = r##"{"type": "solid", "color": "#ff0000"}"##;
        let next = format!(
            r##", {{"duration": 2, "transition": {{"type": "{kind}", "duration": 1, "direction": "{direction}"}},
                "layers": [{{"type": "solid", "color": "#0000ff"}}]}}"##
        );
        // Scene 2 starts at frame 10 (20 - 10 overlap); frame 15 is half-way.
        check_golden(
            &format!("transition-{kind}-{direction}"),
            &movie_json(layers, &next),
            15,
        );
    }
}

#[test]
fn content_drawn_large_and_shown_small_is_filtered() {
    // Drawn at 4x for the start of the zoom, shown at 0.3x: sampled from a halved copy.
    let layer = r##"{"type": "text", "text": "Zoom", "font": {"size": 40, "weight": 700}, "color": "#ffffff",
        "x": 80, "y": 45, "anchor": [0.5, 0.5], "stroke": {"color": "#ff0000", "width": 2},
        "animate": {"scale": [{"t": 0, "value": 4}, {"t": 1, "value": 0.3}]}}"##;
    check_golden("zoom-out-filtered", &movie_json(layer, ""), 10);
}
