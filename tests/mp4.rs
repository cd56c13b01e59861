//! H.264 in fragmented MP4, checked by FFmpeg's ffprobe and decoder (installed by
//! `scripts/test`): codec, size, frame count and duration of the whole file, every segment
//! decoding on its own, and the same bytes on every run.

mod common;

use std::process::Command;

use common::{ffprobe_json, parse_movie, renderer};
use framecast::container::fmp4;
use framecast::encode::{encode_segment, EncodedSegment, H264Encoder, H264Settings};
use framecast::movie::Params;
use framecast::render::{Progress, Renderer};
use framecast::segment::{SegmentPlan, SegmentSettings};

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

fn encode(renderer: &Renderer) -> (Vec<u8>, Vec<Vec<u8>>) {
    let timeline = renderer.timeline();
    let plan = SegmentPlan::new(timeline, SegmentSettings::default());
    let settings = H264Settings::for_canvas(H264Encoder::OpenH264, timeline.width, timeline.height);
    let segments: Vec<EncodedSegment> = plan
        .segments
        .iter()
        .map(|s| encode_segment(renderer, s, settings, &Progress::default()).expect("segment"))
        .collect();
    let init = fmp4::init_segment(
        timeline.width,
        timeline.height,
        timeline.fps,
        &segments[0].sps,
        &segments[0].pps,
    );
    let fragments = segments
        .iter()
        .map(|s| fmp4::media_fragment(s.index, s.first_frame, timeline.fps, &s.pictures))
        .collect();
    (init, fragments)
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("framecast-mp4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn whole_file_probes_as_the_movie() {
    let movie = parse_movie(MOVIE);
    let r = renderer(&movie, Params::defaults(&movie));
    let (init, fragments) = encode(&r);
    let path = temp_file("whole.mp4", &[init, fragments.concat()].concat());
    let probe = ffprobe_json(&path);
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(stream["profile"], "Constrained Baseline");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(160), Some(90))
    );
    assert_eq!(stream["r_frame_rate"], "30000/1001");
    assert_eq!(
        (
            stream["color_space"].as_str(),
            stream["color_range"].as_str()
        ),
        (Some("bt709"), Some("tv"))
    );
    let frames: u64 = stream["nb_read_frames"]
        .as_str()
        .expect("frame count")
        .parse()
        .expect("number");
    assert_eq!(frames, r.timeline().frame_count);
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .expect("duration")
        .parse()
        .expect("number");
    assert!(
        (duration - r.timeline().duration_seconds()).abs() < 0.001,
        "duration {duration}"
    );
}

#[test]
fn every_segment_decodes_on_its_own() {
    let movie = parse_movie(MOVIE);
    let r = renderer(&movie, Params::defaults(&movie));
    let plan = SegmentPlan::new(r.timeline(), SegmentSettings::default());
    let (init, fragments) = encode(&r);
    assert_eq!(fragments.len(), plan.segments.len());
    for (segment, fragment) in plan.segments.iter().zip(&fragments) {
        let path = temp_file(
            &format!("segment-{}.mp4", segment.index),
            &[init.as_slice(), fragment].concat(),
        );
        let stream = &ffprobe_json(&path)["streams"][0];
        let frames: u64 = stream["nb_read_frames"]
            .as_str()
            .expect("frame count")
            .parse()
            .expect("number");
        assert_eq!(
            frames,
            segment.frames.end - segment.frames.start,
            "segment {}",
            segment.index
        );
    }
}

#[test]
fn decoded_frames_match_the_drawn_ones() {
    let movie = parse_movie(MOVIE);
    let r = renderer(&movie, Params::defaults(&movie));
    let (init, fragments) = encode(&r);
    let path = temp_file("decode.mp4", &[init, fragments.concat()].concat());
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgba", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let frame_bytes = 160 * 90 * 4;
    assert_eq!(
        output.stdout.len() as u64,
        frame_bytes as u64 * r.timeline().frame_count
    );
    // Lossy, but close: mean absolute error per channel stays small on every frame.
    for (index, decoded) in output.stdout.chunks_exact(frame_bytes).enumerate() {
        let drawn = r.render_frame(index as u64).expect("frame");
        let error: u64 = decoded
            .chunks_exact(4)
            .zip(drawn.rgba().chunks_exact(4))
            .map(|(a, b)| (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>())
            .sum();
        let mean = error as f64 / (160.0 * 90.0 * 3.0);
        assert!(mean < 6.0, "frame {index}: mean error {mean:.1}");
    }
}

#[test]
fn same_input_same_bytes() {
    let movie = parse_movie(MOVIE);
    let a = encode(&renderer(&movie, Params::defaults(&movie)));
    let b = encode(&renderer(&movie, Params::defaults(&movie)));
    assert_eq!(a, b);
}
