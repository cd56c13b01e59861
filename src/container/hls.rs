//! HLS playlists (RFC 8216) over CMAF segments: a master playlist that describes the one
//! video rendition, and a media playlist that names the init segment and every media
//! segment with its exact duration.

use m3u8_rs::{
    Map, MasterPlaylist, MediaPlaylist, MediaPlaylistType, MediaSegment, Resolution, VariantStream,
};

use super::StreamInfo;

/// The version that allows fragmented MP4 segments (`EXT-X-MAP` outside I-frame lists).
const VERSION: usize = 7;

/// The master playlist pointing at `media_uri`.
pub fn master_playlist(stream: &StreamInfo, media_uri: &str) -> String {
    let playlist = MasterPlaylist {
        version: Some(VERSION),
        independent_segments: true,
        variants: vec![VariantStream {
            uri: media_uri.to_owned(),
            bandwidth: stream.peak_bandwidth(),
            average_bandwidth: Some(u64::from(stream.bitrate_bps)),
            codecs: Some(stream.codecs.clone()),
            resolution: Some(Resolution {
                width: u64::from(stream.width),
                height: u64::from(stream.height),
            }),
            frame_rate: Some(stream.fps.as_f64()),
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
    let available = match listing {
        Listing::Complete => stream.segments.len(),
        Listing::Growing { available } => available,
    };
    let complete = available >= stream.segments.len();
    let segments: Vec<MediaSegment> = stream
        .segments
        .iter()
        .take(available)
        .enumerate()
        .map(|(index, frames)| MediaSegment {
            uri: segment_uri(index as u32),
            duration: stream.seconds(frames.end - frames.start) as f32,
            map: (index == 0).then(|| Map {
                uri: init_uri.to_owned(),
                ..Map::default()
            }),
            ..MediaSegment::empty()
        })
        .collect();
    let longest = stream
        .segments
        .iter()
        .map(|f| stream.seconds(f.end - f.start))
        .fold(0.0, f64::max);
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
