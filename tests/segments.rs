//! The segment plan: boundaries that cover every frame once, a short first segment, no
//! drift at fractional rates, and cache keys that follow exactly the params a segment reads.

mod common;

use common::{parse_movie, renderer};
use framecast::movie::{Params, Timeline};
use framecast::segment::{SegmentKey, SegmentPlan, SegmentSettings};
use proptest::prelude::*;

fn movie_json(fps: &str, seconds: f64) -> String {
    format!(
        r##"{{"canvas": {{"width": 32, "height": 32, "fps": {fps}}},
        "variables": {{"name": {{"type": "text", "default": "Ann"}}}},
        "scenes": [
            {{"duration": 2.5, "layers": [{{"type": "solid", "color": "#102030"}}]}},
            {{"duration": {seconds}, "layers": [{{"type": "text", "text": "{{name}}", "font": {{"size": 10}}}}]}},
            {{"duration": 2, "layers": [{{"type": "solid", "color": "#302010"}}]}}
        ]}}"##
    )
}

fn plan(fps: &str, seconds: f64, settings: SegmentSettings) -> (Timeline, SegmentPlan) {
    let movie = parse_movie(&movie_json(fps, seconds));
    let timeline = Timeline::new(&movie, Params::defaults(&movie));
    let plan = SegmentPlan::new(&timeline, settings);
    (timeline, plan)
}

#[test]
fn the_first_segment_is_short_and_the_next_double_up_to_the_regular_length() {
    let (timeline, plan) = plan("30", 3.0, SegmentSettings::default());
    let lengths: Vec<u64> = plan
        .segments
        .iter()
        .map(|s| s.frames.end - s.frames.start)
        .collect();
    assert_eq!(timeline.frame_count, 225);
    assert_eq!(lengths, [15, 30, 60, 60, 60]);
}

#[test]
fn fractional_rates_do_not_drift() {
    let (_, plan) = plan("\"30000/1001\"", 600.0, SegmentSettings::default());
    // The boundaries fall 0.5, 1.5, 3.5, 5.5, ... seconds in, each on the frame nearest
    // that time, however long the movie.
    for segment in &plan.segments[..plan.segments.len() - 1] {
        let seconds = match segment.index {
            0 => 0.5,
            k => 1.5 + 2.0 * f64::from(k - 1),
        };
        let exact = seconds * 30000.0 / 1001.0;
        assert!(
            (segment.frames.end as f64 - exact).abs() <= 0.5,
            "segment {}",
            segment.index
        );
    }
}

#[test]
fn segments_record_the_variables_they_read() {
    let (_, plan) = plan("30", 3.0, SegmentSettings::default());
    let reads: Vec<Vec<&str>> = plan
        .segments
        .iter()
        .map(|s| s.reads.iter().map(String::as_str).collect())
        .collect();
    // Frames 0-74 are the intro, 75-164 show the name, 165-224 the outro.
    assert_eq!(reads, [vec![], vec![], vec!["name"], vec!["name"], vec![]]);
}

#[test]
fn keys_change_only_with_the_params_a_segment_reads() {
    let movie = parse_movie(&movie_json("30", 3.0));
    let digest = [7u8; 32];
    let keys = |name: &str| {
        let params = Params::from_strings(&movie, [("name", name)]).expect("params");
        let timeline = renderer(&movie, params.clone()).timeline().clone();
        let plan = SegmentPlan::new(&timeline, SegmentSettings::default());
        plan.segments
            .iter()
            .map(|s| SegmentKey::new(&digest, "test-encoder", s, &params))
            .collect::<Vec<_>>()
    };
    let (ann, bob) = (keys("Ann"), keys("Bob"));
    assert_eq!(ann[0], bob[0], "the intro reads no param");
    assert_eq!(ann[1], bob[1], "nor does the rest of the intro");
    assert_eq!(ann[4], bob[4], "the outro reads no param");
    assert_ne!(ann[2], bob[2]);
    assert_eq!(ann, keys("Ann"), "keys are stable");
    let other_encoder = {
        let params = Params::from_strings(&movie, [("name", "Ann")]).expect("params");
        let plan = SegmentPlan::new(
            renderer(&movie, params.clone()).timeline(),
            SegmentSettings::default(),
        );
        SegmentKey::new(&digest, "another-encoder", &plan.segments[0], &params)
    };
    assert_ne!(ann[0], other_encoder, "the encoder is part of every key");
}

proptest! {
    #[test]
    fn segments_cover_every_frame_once(
        seconds in 0.1..30.0f64, duration_ms in 100u32..5000, first_ms in 100u32..5000, fps in 1u32..=60,
    ) {
        let settings = SegmentSettings { duration_ms, first_duration_ms: first_ms };
        let (timeline, plan) = plan(&fps.to_string(), seconds, settings);
        let mut next = 0;
        for (index, segment) in plan.segments.iter().enumerate() {
            prop_assert_eq!(segment.index as usize, index);
            prop_assert_eq!(segment.frames.start, next);
            prop_assert!(segment.frames.end > segment.frames.start);
            next = segment.frames.end;
        }
        prop_assert_eq!(next, timeline.frame_count);
        let probe = timeline.frame_count / 2;
        prop_assert!(plan.segment_of(probe).is_some_and(|s| s.frames.contains(&probe)));
        prop_assert!(plan.segment_of(timeline.frame_count).is_none());
    }
}
