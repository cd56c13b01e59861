//! Cost of preparing frames for encoders: RGBA to I420 at 1280x720 and 1920x1080, on a
//! frame of the demo movie (real content, not a flat colour).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use framecast::encode::rgba_to_i420;

/// A frame with smooth gradients and sharp edges, like rendered movie frames.
fn test_frame(width: u32, height: u32) -> Vec<u8> {
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let edge = if (x / 40 + y / 40) % 2 == 0 { 200 } else { 30 };
            rgba.extend_from_slice(&[(x * 255 / width) as u8, (y * 255 / height) as u8, edge, 255]);
        }
    }
    rgba
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rgba-to-i420");
    for (label, width, height) in [("720p", 1280, 720), ("1080p", 1920, 1080)] {
        let frame = test_frame(width, height);
        group.throughput(Throughput::Elements(1));
        group.bench_function(label, |b| {
            b.iter(|| rgba_to_i420(criterion::black_box(&frame), width, height))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
