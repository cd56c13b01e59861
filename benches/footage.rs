//! Footage, a name and a music bed: a 30 s 720p movie of the demo's clip (looped), a
//! name overlay and the demo's music (looped, fading out), drawn, decoded, mixed and
//! encoded to MP4 with sound. Each run starts from a fresh loader, so clip frames are
//! decoded every time.

mod common;

use common::demo_project_renderer;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use framecast::encode::Encoders;
use framecast::output::{render_output, Format, OutputOptions};
use framecast::render::{Progress, Renderer};

const MOVIE: &str = r##"{
  "canvas": { "width": 1280, "height": 720, "fps": 30, "background": "#000000" },
  "variables": { "name": { "type": "text", "default": "friend", "max_length": 40 } },
  "audio": [ { "source": "music.m4a", "loop": true, "fade_out": 2 } ],
  "scenes": [ { "duration": 30, "layers": [
    { "type": "video", "source": "footage.mp4", "loop": true, "width": 1280, "height": 720 },
    { "type": "text", "text": "Hello, {name}!", "font": { "size": 80, "weight": 700 },
      "color": "#ffffff", "align": "center", "x": 640, "y": 130, "width": 900, "height": 130,
      "anchor": [0.5, 0.5], "start": 0.5,
      "animate": { "opacity": [ { "t": 0, "value": 0 }, { "t": 0.6, "value": 1 } ] } }
  ] } ]
}"##;

fn renderer() -> Renderer {
    demo_project_renderer(MOVIE)
}

fn bench(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .build()
        .expect("pool");
    let encoders = Encoders::locate(None);
    let mut group = c.benchmark_group("footage-name-music-30s-720p");
    group.sample_size(10);
    group.throughput(Throughput::Elements(900));
    for format in [Format::Mp4, Format::M3u8] {
        group.bench_function(format.extension(), |b| {
            b.iter_batched(
                renderer,
                |renderer| {
                    render_output(
                        &renderer,
                        format,
                        &OutputOptions::default(),
                        &encoders,
                        &pool,
                        &Progress::default(),
                    )
                    .expect("output")
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
