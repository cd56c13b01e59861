//! `/metrics` in the Prometheus text format (version 0.0.4): requests by route and status,
//! and the render counters of the finished-output service.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::deliver::finished::RenderStats;
use crate::deliver::stream::StreamStats;

/// Request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl Metrics {
    pub fn record(&self, route: &'static str, status: u16) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *requests.entry((route, status)).or_insert(0) += 1;
    }

    /// The exposition text.
    pub fn render(&self, stats: &RenderStats, streams: &StreamStats) -> String {
        let segments = &streams.segments;
        let mut out = String::new();
        out.push_str("# HELP framecast_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE framecast_requests_total counter\n");
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for ((route, status), count) in requests {
            let _ = writeln!(
                out,
                "framecast_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        let series: [(&str, &str, &str, String); 10] = [
            (
                "framecast_frames_rendered_total",
                "counter",
                "Frames drawn and encoded.",
                stats.frames.to_string(),
            ),
            (
                "framecast_render_seconds_total",
                "counter",
                "Wall-clock seconds spent rendering outputs.",
                format!("{:.6}", stats.render_seconds),
            ),
            (
                "framecast_output_hits_total",
                "counter",
                "Retrievals served from stored outputs.",
                stats.hits.to_string(),
            ),
            (
                "framecast_output_misses_total",
                "counter",
                "Retrievals that had to render.",
                stats.misses.to_string(),
            ),
            (
                "framecast_renders_in_flight",
                "gauge",
                "Renders running now.",
                stats.in_flight.to_string(),
            ),
            (
                "framecast_segments_rendered_total",
                "counter",
                "Stream segments drawn and encoded.",
                segments.rendered.to_string(),
            ),
            (
                "framecast_segment_frames_total",
                "counter",
                "Frames drawn for stream segments.",
                segments.frames.to_string(),
            ),
            (
                "framecast_segment_hits_total",
                "counter",
                "Segment requests answered from memory.",
                segments.hits.to_string(),
            ),
            (
                "framecast_stream_frames_total",
                "counter",
                "Frames drawn by streams of whole outputs (WebM, ZIP, GIF, ...).",
                streams.frames_drawn.to_string(),
            ),
            (
                "framecast_segment_cache_bytes",
                "gauge",
                "Bytes of encoded segments held in memory.",
                segments.bytes.to_string(),
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}
