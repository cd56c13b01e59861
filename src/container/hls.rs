//! HLS playlists (RFC 8216) over CMAF segments: a master playlist that describes the one
//! video rendition, and a media playlist that names the init segment and every media
//! segment with its exact duration.

use m3u8_rs::{
    AlternativeMedia, AlternativeMediaType, Map, MasterPlaylist, MediaPlaylist, MediaPlaylistType,
    MediaSegment, Resolution, VariantStream,
};

use super::StreamInfo;

/// The version that allows fragmented MP4 segments (`EXT-X-MAP` outside I-frame lists).
const VERSION: usize = 7;

/// The group id of the sound rendition.
const AUDIO_GROUP: &str = "sound";

/// The master playlist pointing at `media_uri`, and at `audio_uri` for the sound
/// rendition when the stream has sound.
pub fn master_playlist(stream: &StreamInfo, media_uri: &str, audio_uri: &str) -> String {
    let sound = stream.audio.as_ref();
    let alternatives = sound
        .map(|_| AlternativeMedia {
            media_type: AlternativeMediaType::Audio,
            uri: Some(audio_uri.to_owned()),
            group_id: AUDIO_GROUP.to_owned(),
            name: "sound".to_owned(),
            default: true,
            autoselect: true,
            channels: Some("2".to_owned()),
            ..AlternativeMedia::default()
        })
        .into_iter()
        .collect();
    let audio_bandwidth = sound.map_or(0, |a| u64::from(a.bitrate_bps));
    let playlist = MasterPlaylist {
        version: Some(VERSION),
        independent_segments: true,
        alternatives,
        variants: vec![VariantStream {
            uri: media_uri.to_owned(),
            bandwidth: stream.peak_bandwidth() + audio_bandwidth,
            average_bandwidth: Some(u64::from(stream.bitrate_bps) + audio_bandwidth),
            codecs: Some(stream.all_codecs()),
            audio: sound.map(|_| AUDIO_GROUP.to_owned()),
            resolution: Some(Resolution {
                width: u64::from(stream.width),
                height: u64::from(stream.height),
            }),
            // RFC 8216 4.3.4.2: rounded to three decimal places.
            frame_rate: Some((stream.fps.as_f64() * 1000.0).round() / 1000.0),
            ..VariantStream::default()
        }],
        ..MasterPlaylist::default()
    };
    write(|out| playlist.write_to(out))
}

/// Which segments a media playlist lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Every segment, as a VOD playlist.
    Complete,
    /// The first `available` segments of a stream still being rendered, as an event
    /// playlist that grows and ends with `EXT-X-ENDLIST` once it holds them all (its type
    /// never changes, as RFC 8216 requires).
    Growing { available: usize },
}

/// A media playlist naming the init segment and the segments of `listing`.
pub fn media_playlist(
    stream: &StreamInfo,
    init_uri: &str,
    listing: Listing,
    segment_uri: impl Fn(u32) -> String,
) -> String {
    let durations = stream
        .segments
        .iter()
        .map(|frames| stream.seconds(frames.end - frames.start))
        .collect();
    playlist(durations, init_uri, listing, segment_uri)
}

/// The sound rendition's media playlist: the same segments, each with its AAC frames.
pub fn audio_playlist(
    stream: &StreamInfo,
    init_uri: &str,
    listing: Listing,
    segment_uri: impl Fn(u32) -> String,
) -> String {
    let durations = match &stream.audio {
        Some(audio) => (0..audio.segments.len())
            .map(|i| audio.seconds(i))
            .collect(),
        None => Vec::new(),
    };
    playlist(durations, init_uri, listing, segment_uri)
}

fn playlist(
    durations: Vec<f64>,
    init_uri: &str,
    listing: Listing,
    segment_uri: impl Fn(u32) -> String,
) -> String {
    let available = match listing {
        Listing::Complete => durations.len(),
        Listing::Growing { available } => available,
    };
    let complete = available >= durations.len();
    let segments: Vec<MediaSegment> = durations
        .iter()
        .take(available)
        .enumerate()
        .map(|(index, &seconds)| MediaSegment {
            uri: segment_uri(index as u32),
            duration: seconds as f32,
            map: (index == 0).then(|| Map {
                uri: init_uri.to_owned(),
                ..Map::default()
            }),
            ..MediaSegment::empty()
        })
        .collect();
    let longest = durations.iter().copied().fold(0.0, f64::max);
    let playlist = MediaPlaylist {
        version: Some(VERSION),
        independent_segments: true,
        // Durations are rounded to the nearest second here (RFC 8216, 4.3.3.1).
        target_duration: longest.round().max(1.0) as u64,
        media_sequence: 0,
        segments,
        end_list: complete,
        playlist_type: Some(match listing {
            Listing::Complete => MediaPlaylistType::Vod,
            Listing::Growing { .. } => MediaPlaylistType::Event,
        }),
        ..MediaPlaylist::default()
    };
    write(|out| playlist.write_to(out))
}

fn write(body: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    body(&mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("playlists are written as UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::movie::FrameRate;

    #[test]
    fn master_frame_rate_has_three_decimals_at_most() {
        let stream = StreamInfo {
            width: 640,
            height: 360,
            fps: FrameRate::new(30000, 1001).expect("29.97 is a valid rate"),
            codecs: "avc1.42c01e".to_owned(),
            bitrate_bps: 1_000_000,
            segments: vec![0..15, 15..45],
            audio: None,
        };
        let text = master_playlist(&stream, "media.m3u8", "sound.m3u8");
        assert!(
            text.contains("FRAME-RATE=29.97,") || text.contains("FRAME-RATE=29.97\n"),
            "{text}"
        );
    }
}
