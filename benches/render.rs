//! Drawing cost of the demo movie at 1280x720 and 1920x1080, on one core (frames one after
//! another) and on all cores (a span on a pool the size of the machine). Each iteration
//! draws every frame of the movie, so per-frame figures are the time divided by 300.

mod common;

use common::demo_renderer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use framecast::render::render_span;

fn bench(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (label, factor) in [("720p", 1.0), ("1080p", 1.5)] {
        let renderer = demo_renderer(factor);
        let frames = renderer.timeline().frame_count;
        let mut group = c.benchmark_group(format!("demo-{label}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(frames));
        group.bench_function("one-core", |b| {
            b.iter(|| {
                for index in 0..frames {
                    criterion::black_box(renderer.render_frame(index).expect("frame"));
                }
            })
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cores)
            .build()
            .expect("pool");
        group.bench_function(format!("{cores}-cores"), |b| {
            b.iter(|| {
                render_span(&renderer, 0..frames, &pool, |_, frame| {
                    criterion::black_box(frame);
                    Ok(())
                })
                .expect("span")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
