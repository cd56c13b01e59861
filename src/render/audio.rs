//! Mixing a movie's sounds: a pure function of the timeline, the decoded files and a span
//! of samples, so that any span mixes on its own to exactly the samples it has inside a
//! longer one, and cutting at segment boundaries leaves no gap, click or drift.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use crate::assets::SoundFile;
use crate::movie::timeline::{PlacedSound, SAMPLE_RATE};
use crate::movie::Timeline;

/// Interleaved stereo samples `range` of the movie's mix, unclipped.
pub fn mix(
    timeline: &Timeline,
    sounds: &BTreeMap<String, Arc<SoundFile>>,
    range: Range<u64>,
) -> Vec<f32> {
    let length = range.end.saturating_sub(range.start) as usize;
    let mut out = vec![0f32; length * 2];
    for placed in &timeline.audio {
        let Some(file) = placed.source.as_ref().and_then(|s| sounds.get(s)) else {
            continue;
        };
        add(&mut out, placed, file, range.clone());
    }
    out
}

fn add(out: &mut [f32], placed: &PlacedSound, file: &SoundFile, range: Range<u64>) {
    let frames = file.frames();
    let at =
        |seconds: f64| ((seconds.max(0.0) * f64::from(SAMPLE_RATE)).round() as u64).min(frames);
    let first = at(placed.clip_in);
    let last = placed.clip_out.map_or(frames, at).max(first);
    let span = last - first;
    if span == 0 {
        return;
    }
    let from = placed.start.max(range.start);
    let to = placed.end.min(range.end);
    for sample in from..to {
        let played = sample - placed.start;
        let offset = if placed.looped {
            played % span
        } else if played < span {
            played
        } else {
            break;
        };
        let source = ((first + offset) * 2) as usize;
        let gain = placed.envelope(sample) as f32;
        let target = ((sample - range.start) * 2) as usize;
        out[target] += file.samples[source] * gain;
        out[target + 1] += file.samples[source + 1] * gain;
    }
}
