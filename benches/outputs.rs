//! End to end: the demo movie drawn and encoded to each video format, at 1280x720 and
//! scaled to 1920x1080, on a pool the size of the machine; and the time to the first
//! segment, which bounds how soon streaming can start.

mod common;

use common::demo_renderer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use framecast::encode::{encode_segment, Encoders, H264Encoder};
use framecast::output::{render_output, Format, OutputOptions};
use framecast::render::Progress;
use framecast::segment::{SegmentPlan, SegmentSettings};

fn bench(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .build()
        .expect("pool");
    let bundled = Encoders::locate(None);
    let x264 = bundled.clone().with_h264(H264Encoder::X264).ok();

    let renderer = demo_renderer(1.0);
    let timeline = renderer.timeline();
    let plan = SegmentPlan::new(timeline, SegmentSettings::default());
    let settings = bundled.h264_settings(timeline.width, timeline.height);
    let mut group = c.benchmark_group("first-segment-720p");
    group.sample_size(10);
    group.bench_function("openh264", |b| {
        b.iter(|| encode_segment(&renderer, &plan.segments[0], settings, &Progress::default()))
    });
    group.finish();

    for (label, factor) in [("720p", 1.0), ("1080p", 1.5)] {
        let renderer = demo_renderer(factor);
        let mut group = c.benchmark_group(format!("demo-to-format-{label}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(renderer.timeline().frame_count));
        let mut cases: Vec<(String, Format, &Encoders)> = [
            Format::Mp4,
            Format::Flv,
            Format::Webm,
            Format::Mpeg,
            Format::Wmv,
            Format::Mov,
            Format::Gif,
        ]
        .into_iter()
        .map(|f| (f.extension().to_owned(), f, &bundled))
        .collect();
        if let Some(x264) = &x264 {
            cases.push(("mp4-x264".to_owned(), Format::Mp4, x264));
        }
        for (name, format, encoders) in cases {
            group.bench_function(name, |b| {
                b.iter(|| {
                    render_output(
                        &renderer,
                        format,
                        &OutputOptions::default(),
                        encoders,
                        &pool,
                        &Progress::default(),
                    )
                    .expect("output")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
