//! A static MPEG-DASH manifest (ISO/IEC 23009-1, live profile) over the same CMAF segments
//! as HLS: one adaptation set, one representation, and a segment timeline with the exact
//! duration of every segment in the frame-rate timescale.
//!
//! Every value written is a number or a name chosen here, so the XML needs no escaping.

use std::fmt::Write;

use super::StreamInfo;

/// The MPD of a finished stream. `media_template` names segments with `$Number$`, counted
/// from 0.
/// With sound, `audio_init_uri` and `audio_template` name the sound track's pieces in a
/// second adaptation set.
pub fn static_mpd(
    stream: &StreamInfo,
    init_uri: &str,
    media_template: &str,
    audio_init_uri: &str,
    audio_template: &str,
) -> String {
    let sound = stream
        .audio
        .as_ref()
        .map(|audio| audio_set(audio, audio_init_uri, audio_template))
        .unwrap_or_default();
    // The presentation lasts as long as its longest track: the sound ends with its last
    // whole AAC frame, up to one frame after the pictures.
    let sound_seconds = stream.audio.as_ref().map_or(0.0, |audio| {
        let frames = audio.segments.last().map_or(0, |f| f.end) as u64;
        (frames * crate::encode::AAC_FRAME_SAMPLES) as f64 / f64::from(audio.sample_rate)
    });
    let seconds = stream.seconds(stream.frame_count()).max(sound_seconds);
    let longest = stream
        .segments
        .iter()
        .map(|f| stream.seconds(f.end - f.start))
        .fold(0.0, f64::max);
    let mut timeline = String::new();
    // Runs of equal durations collapse into one S element with a repeat count.
    let mut runs: Vec<(u64, u64, u64)> = Vec::new(); // start, duration, repeats
    for frames in &stream.segments {
        let start = frames.start * u64::from(stream.fps.den);
        let duration = (frames.end - frames.start) * u64::from(stream.fps.den);
        match runs.last_mut() {
            Some((_, d, repeats)) if *d == duration => *repeats += 1,
            _ => runs.push((start, duration, 0)),
        }
    }
    for (start, duration, repeats) in runs {
        let _ = write!(timeline, "\n          <S t=\"{start}\" d=\"{duration}\"");
        if repeats > 0 {
            let _ = write!(timeline, " r=\"{repeats}\"");
        }
        timeline.push_str("/>");
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="{duration}" minBufferTime="{buffer}">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">
      <Representation id="video" codecs="{codecs}" bandwidth="{bandwidth}" width="{width}" height="{height}" frameRate="{num}/{den}" sar="1:1">
        <SegmentTemplate timescale="{num}" initialization="{init_uri}" media="{media_template}" startNumber="0">
          <SegmentTimeline>{timeline}
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>{sound}
  </Period>
</MPD>
"#,
        duration = iso_duration(seconds),
        buffer = iso_duration(longest),
        codecs = stream.codecs,
        bandwidth = stream.peak_bandwidth(),
        width = stream.width,
        height = stream.height,
        num = stream.fps.num,
        den = stream.fps.den,
    )
}

/// The adaptation set of the sound track, with its own segment timeline.
fn audio_set(audio: &super::AudioInfo, init_uri: &str, template: &str) -> String {
    let frame = crate::encode::AAC_FRAME_SAMPLES;
    let mut timeline = String::new();
    for frames in &audio.segments {
        let _ = write!(
            timeline,
            "\n          <S t=\"{}\" d=\"{}\"/>",
            frames.start as u64 * frame,
            frames.len() as u64 * frame
        );
    }
    format!(
        r#"
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="und" segmentAlignment="true" startWithSAP="1">
      <Representation id="sound" codecs="{codec}" bandwidth="{bandwidth}" audioSamplingRate="{rate}">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>
        <SegmentTemplate timescale="{rate}" initialization="{init_uri}" media="{template}" startNumber="0">
          <SegmentTimeline>{timeline}
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>"#,
        codec = super::AAC_CODEC,
        bandwidth = audio.bitrate_bps,
        rate = audio.sample_rate,
    )
}

/// An ISO 8601 duration in seconds, to the millisecond: `PT10.010S`.
fn iso_duration(seconds: f64) -> String {
    format!("PT{seconds:.3}S")
}
