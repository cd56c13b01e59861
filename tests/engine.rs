//! The engine's promises: a frame is a pure function of (movie, params, index); spans
//! render in parallel and come out in order; the variables a span reads are exactly those
//! that can change its pixels; scenes are chosen and placed as the movie says.

mod common;

use common::{demo_renderer, differing_pixels, parse_movie, renderer};
use framecast::movie::Params;
use framecast::render::render_span;

const THREE_SCENES: &str = r##"{
    "canvas": {"width": 64, "height": 36, "fps": 10, "background": "#000000"},
    "variables": {
        "name": {"type": "text", "default": "Ann"},
        "accent": {"type": "color", "default": "#ff0000"},
        "vip": {"type": "boolean"},
        "plan": {"type": "choice", "choices": ["free", "gold"], "default": "free"}
    },
    "scenes": [
        {"duration": 1, "layers": [{"type": "solid", "color": "#202020"}]},
        {"duration": 1, "layers": [
            {"type": "text", "text": "{name}", "font": {"size": 20}, "x": 2, "y": 2},
            {"type": "solid", "color": "{accent}", "x": 40, "y": 20, "width": 10, "height": 10, "start": 0.5}
        ]},
        {"duration": 1, "when": "vip", "layers": [{"type": "solid", "color": "#00ff00"}]},
        {"duration": 1, "when": {"variable": "plan", "is": "gold"}, "layers": [{"type": "solid", "color": "#ffd700"}]},
        {"duration": 1, "when": {"variable": "plan", "is": "gold", "not": true}, "layers": [{"type": "solid", "color": "#808080"}]}
    ]
}"##;

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_strings(&parse_movie(THREE_SCENES), pairs.iter().copied()).expect("params")
}

fn frames(pairs: &[(&str, &str)]) -> Vec<Vec<u8>> {
    let movie = parse_movie(THREE_SCENES);
    let r = renderer(&movie, params(pairs));
    (0..r.timeline().frame_count)
        .map(|i| r.render_frame(i).expect("frame").rgba().to_vec())
        .collect()
}

#[test]
fn same_input_same_pixels_across_renderers() {
    let a = demo_renderer(&[("name", "Alex")]);
    let b = demo_renderer(&[("name", "Alex")]);
    for index in [0, 45, 150, 205, 299] {
        assert_eq!(
            a.render_frame(index).expect("frame"),
            b.render_frame(index).expect("frame"),
            "frame {index}"
        );
    }
}

#[test]
fn frames_do_not_depend_on_render_order() {
    let r = demo_renderer(&[]);
    let backwards: Vec<_> = [250u64, 120, 10]
        .iter()
        .map(|&i| r.render_frame(i).expect("frame"))
        .collect();
    let fresh = demo_renderer(&[]);
    for (frame, index) in backwards.iter().zip([250u64, 120, 10]) {
        assert_eq!(
            *frame,
            fresh.render_frame(index).expect("frame"),
            "frame {index}"
        );
    }
}

#[test]
fn parallel_span_matches_sequential_frames_in_order() {
    let r = demo_renderer(&[("name", "Zoë")]);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("pool");
    let mut seen = Vec::new();
    render_span(&r, 190..230, &pool, |index, frame| {
        seen.push(index);
        assert_eq!(
            frame,
            r.render_frame(index).expect("frame"),
            "frame {index}"
        );
        Ok(())
    })
    .expect("span");
    assert_eq!(seen, (190..230).collect::<Vec<_>>());
}

#[test]
fn span_stops_at_the_first_error() {
    let r = demo_renderer(&[]);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let mut count = 0;
    let result = render_span(&r, 0..40, &pool, |index, _| {
        count += 1;
        if index == 5 {
            Err(framecast::Error::new(framecast::ErrorKind::Io, "disk full"))
        } else {
            Ok(())
        }
    });
    assert_eq!(result.expect_err("sink error").to_string(), "disk full");
    assert_eq!(count, 6);
}

#[test]
fn frame_past_the_end_is_an_error() {
    let r = demo_renderer(&[]);
    let err = r.render_frame(300).expect_err("past the end");
    assert_eq!(
        err.to_string(),
        "frame 300 is past the end of the movie (300 frames)"
    );
}

#[test]
fn optional_and_chosen_scenes() {
    let movie = parse_movie(THREE_SCENES);
    let count = |pairs: &[(&str, &str)]| renderer(&movie, params(pairs)).timeline().frame_count;
    assert_eq!(count(&[]), 30, "intro, main, and the not-gold scene");
    assert_eq!(count(&[("vip", "true")]), 40);
    assert_eq!(count(&[("plan", "gold")]), 30);
    let gold = renderer(&movie, params(&[("plan", "gold")]))
        .render_frame(25)
        .expect("frame");
    assert_eq!(common::pixel(&gold, 5, 5), [0xff, 0xd7, 0x00, 0xff]);
    let free = renderer(&movie, params(&[]))
        .render_frame(25)
        .expect("frame");
    assert_eq!(common::pixel(&free, 5, 5), [0x80, 0x80, 0x80, 0xff]);
}

#[test]
fn layer_time_spans() {
    let movie = parse_movie(THREE_SCENES);
    let r = renderer(&movie, params(&[]));
    // The accent square shows from 0.5 s into scene 2 (frame 15).
    assert_eq!(
        common::pixel(&r.render_frame(14).expect("frame"), 45, 25),
        [0, 0, 0, 255]
    );
    assert_eq!(
        common::pixel(&r.render_frame(15).expect("frame"), 45, 25),
        [255, 0, 0, 255]
    );
}

#[test]
fn variables_read_by_spans() {
    let movie = parse_movie(THREE_SCENES);
    let timeline = renderer(&movie, params(&[])).timeline().clone();
    let read = |a: u64, b: u64| {
        timeline
            .variables_read(a..b)
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert!(
        read(0, 10).is_empty(),
        "the intro reads nothing: {:?}",
        read(0, 10)
    );
    assert_eq!(read(10, 15), ["name"], "the square is not visible yet");
    assert_eq!(read(10, 20), ["accent", "name"]);
    // Scenes chosen by variables: from their position on, the choice is read.
    assert_eq!(read(20, 30), ["plan", "vip"]);
}

#[test]
fn spans_that_do_not_read_a_variable_do_not_change_with_it() {
    let base = frames(&[]);
    let renamed = frames(&[("name", "Bob"), ("accent", "#00ffff")]);
    let timeline = renderer(&parse_movie(THREE_SCENES), params(&[]))
        .timeline()
        .clone();
    for index in 0..base.len() as u64 {
        let reads = timeline.variables_read(index..index + 1);
        let differs = differing_pixels(&base[index as usize], &renamed[index as usize], 0) > 0;
        let reads_changed = reads.contains("name") || reads.contains("accent");
        assert!(
            !differs || reads_changed,
            "frame {index} changed but reads only {reads:?}"
        );
        if (10..20).contains(&index) {
            assert!(differs, "frame {index} shows the name, so it must change");
        }
    }
}

#[test]
fn demo_end_card_and_intro_read_the_name() {
    let r = demo_renderer(&[]);
    let reads = r.timeline().variables_read(0..300);
    assert_eq!(
        reads.into_iter().collect::<Vec<_>>(),
        ["accent", "avatar", "name"]
    );
}

#[test]
fn animated_sizes_do_not_depend_on_render_order() {
    let movie = parse_movie(
        r##"{"canvas": {"width": 64, "height": 36, "fps": 30},
        "scenes": [{"duration": 1, "layers": [{"type": "shape", "shape": "ellipse", "x": 2, "y": 2, "height": 30,
            "fill": "#ffffff", "anchor": [0.5, 0], "animate": {"width": [{"t": 0, "value": 10}, {"t": 1, "value": 10.9}]}}]}]}"##,
    );
    let forward = renderer(&movie, Params::defaults(&movie));
    let backward = renderer(&movie, Params::defaults(&movie));
    let ahead: Vec<_> = (0..30)
        .map(|i| forward.render_frame(i).expect("frame"))
        .collect();
    for index in (0..30).rev() {
        assert_eq!(
            backward.render_frame(index).expect("frame"),
            ahead[index as usize],
            "frame {index}"
        );
    }
}

#[test]
fn conditions_compare_values_by_type() {
    let movie = parse_movie(
        r##"{"canvas": {"width": 16, "height": 16, "fps": 10},
        "variables": {"vip": {"type": "boolean"}, "n": {"type": "number", "default": 5}},
        "scenes": [{"duration": 1},
            {"duration": 1, "when": {"variable": "vip", "is": "yes"}},
            {"duration": 1, "when": {"variable": "n", "is": "5"}},
            {"duration": 1, "when": {"variable": "n", "in": [1, 2], "not": true}}]}"##,
    );
    let count = |pairs: &[(&str, &str)]| {
        let params = Params::from_strings(&movie, pairs.iter().copied()).expect("params");
        renderer(&movie, params).timeline().frame_count
    };
    assert_eq!(count(&[]), 30);
    assert_eq!(count(&[("vip", "true")]), 40);
    assert_eq!(count(&[("n", "2")]), 10);
}

#[test]
fn at_most_two_scenes_overlap() {
    let movie = parse_movie(
        r##"{"canvas": {"width": 16, "height": 16, "fps": 10},
        "scenes": [{"duration": 1, "layers": [{"type": "solid", "color": "#ff0000"}]},
            {"duration": 1, "transition": {"type": "crossfade", "duration": 0.9}, "layers": [{"type": "solid", "color": "#00ff00"}]},
            {"duration": 1, "transition": {"type": "crossfade", "duration": 0.9}, "layers": [{"type": "solid", "color": "#0000ff"}]}]}"##,
    );
    let r = renderer(&movie, Params::defaults(&movie));
    let timeline = r.timeline();
    for frame in 0..timeline.frame_count as i64 {
        assert!(timeline.scenes_at(frame).count() <= 2, "frame {frame}");
    }
    // The second scene shows alone for one frame (10), so the third may overlap only it.
    assert_eq!(timeline.scenes[2].start_frame, 10);
}

#[test]
fn a_translucent_background_param_still_gives_opaque_frames() {
    let movie = parse_movie(
        r##"{"canvas": {"width": 16, "height": 16, "fps": 10, "background": "{bg}"},
        "variables": {"bg": {"type": "color", "default": "#000000"}}, "scenes": [{"duration": 1}]}"##,
    );
    let params = Params::from_strings(&movie, [("bg", "#ff000040")]).expect("params");
    let frame = renderer(&movie, params).render_frame(0).expect("frame");
    assert_eq!(common::pixel(&frame, 3, 3), [255, 0, 0, 255]);
}

#[test]
fn overshooting_easing_stays_in_range() {
    let movie = parse_movie(
        r##"{"canvas": {"width": 32, "height": 32, "fps": 10},
        "scenes": [{"duration": 1, "layers": [{"type": "shape", "shape": "rectangle", "height": 10, "fill": "#ffffff",
            "animate": {"width": [{"t": 0, "value": 20, "easing": "cubic-bezier(0.5, -8, 0.5, 1)"}, {"t": 1, "value": 0}]}}]}]}"##,
    );
    let r = renderer(&movie, Params::defaults(&movie));
    let layer = &r.timeline().scenes[0].layers[0];
    for frame in 0..10 {
        let width = layer
            .transform_at(frame, r.timeline().fps)
            .width
            .expect("animated width");
        assert!((0.0..=8192.0).contains(&width), "frame {frame}: {width}");
        r.render_frame(frame as u64).expect("frame");
    }
}
