//! Fragmented MP4 (ISO/IEC 14496-12, CMAF-style) for one H.264 video track: an init
//! segment that describes the track, and one media fragment per segment. An init segment
//! followed by fragments in order is a complete MP4 that players read while it downloads;
//! HLS and DASH reference the same pieces.
//!
//! ```text
//! init:     ftyp  moov ─ mvhd
//!                      ├ trak ─ tkhd
//!                      │      └ mdia ─ mdhd, hdlr
//!                      │             └ minf ─ vmhd, dinf ─ dref
//!                      │                    └ stbl ─ stsd ─ avc1 ─ avcC
//!                      │                           └ stts, stsc, stsz, stco (empty)
//!                      └ mvex ─ trex
//! fragment: moof ─ mfhd
//!                └ traf ─ tfhd, tfdt, trun
//!           mdat (length-prefixed NAL units)
//! ```
//!
//! The media timescale is the frame rate's numerator and every sample lasts its
//! denominator, so times are exact at rates such as 30000/1001.

use super::isobmff::{
    audio_trak, boxed, ftyp, full_box, mvhd, mvhd_in, u32_be, video_trak, AudioTrack, TRACK_ID,
};
use crate::encode::EncodedPicture;
use crate::movie::FrameRate;

/// The init segment for a `width` x `height` H.264 track at `fps`.
pub fn init_segment(width: u32, height: u32, fps: FrameRate, sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ftyp(
        &mut out,
        b"iso6",
        &[b"iso6", b"cmfc", b"isom", b"avc1", b"mp41"],
    );
    boxed(&mut out, b"moov", |o| {
        // Duration unknown: fragments follow.
        mvhd(o, fps, 0);
        let track = super::isobmff::VideoTrack {
            width,
            height,
            fps,
            frames: 0,
            sps,
            pps,
        };
        video_trak(o, &track, empty_tables);
        boxed(o, b"mvex", |o| trex(o, TRACK_ID));
    });
    out
}

/// Sample flags: a sync sample depends on no other; the rest do and are not sync samples.
const SYNC_SAMPLE: u32 = 0x0200_0000;
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// One track's samples in a fragment: data, duration (in the track's timescale) and flags.
#[derive(Debug, Clone)]
pub struct Run {
    pub track_id: u32,
    /// The decode time of the first sample, in the track's timescale.
    pub base_time: u64,
    pub samples: Vec<(Vec<u8>, u32, u32)>,
}

/// One media fragment: the pictures of segment `sequence` (0-based), whose first frame is
/// `first_frame` of the movie.
pub fn media_fragment(
    sequence: u32,
    first_frame: u64,
    fps: FrameRate,
    pictures: &[EncodedPicture],
) -> Vec<u8> {
    fragment(sequence, &[video_run(TRACK_ID, first_frame, fps, pictures)])
}

/// The video run of a fragment.
pub fn video_run(
    track_id: u32,
    first_frame: u64,
    fps: FrameRate,
    pictures: &[EncodedPicture],
) -> Run {
    Run {
        track_id,
        base_time: first_frame * u64::from(fps.den),
        samples: pictures
            .iter()
            .map(|picture| {
                let flags = if picture.is_key {
                    SYNC_SAMPLE
                } else {
                    NON_SYNC_SAMPLE
                };
                (super::isobmff::sample(picture), fps.den, flags)
            })
            .collect(),
    }
}

/// The sound run of a fragment: AAC frames from frame `first_frame` of the movie's sound.
pub fn audio_run(track_id: u32, first_frame: usize, frames: &[Vec<u8>]) -> Run {
    Run {
        track_id,
        base_time: first_frame as u64 * crate::encode::AAC_FRAME_SAMPLES,
        samples: frames
            .iter()
            .map(|frame| {
                (
                    frame.clone(),
                    crate::encode::AAC_FRAME_SAMPLES as u32,
                    SYNC_SAMPLE,
                )
            })
            .collect(),
    }
}

/// A fragment of any runs: one `moof` with a `traf` each, then one `mdat` with their
/// samples in the same order.
pub fn fragment(sequence: u32, runs: &[Run]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets_at = Vec::with_capacity(runs.len());
    boxed(&mut out, b"moof", |o| {
        full_box(o, b"mfhd", 0, 0, |o| u32_be(o, sequence + 1));
        for run in runs {
            boxed(o, b"traf", |o| {
                // Default base is moof: data offsets count from the start of this moof.
                full_box(o, b"tfhd", 0, 0x02_0000, |o| u32_be(o, run.track_id));
                full_box(o, b"tfdt", 1, 0, |o| {
                    o.extend_from_slice(&run.base_time.to_be_bytes())
                });
                // Data offset, then per sample: duration, size and flags.
                full_box(o, b"trun", 0, 0x01 | 0x100 | 0x200 | 0x400, |o| {
                    u32_be(o, run.samples.len() as u32);
                    offsets_at.push(o.len());
                    u32_be(o, 0);
                    for (data, duration, flags) in &run.samples {
                        u32_be(o, *duration);
                        u32_be(o, data.len() as u32);
                        u32_be(o, *flags);
                    }
                });
            });
        }
    });
    // Each run's first sample follows the mdat header and the runs before it.
    let mut data_offset = out.len() + 8;
    for (run, at) in runs.iter().zip(offsets_at) {
        out[at..at + 4].copy_from_slice(&(data_offset as u32).to_be_bytes());
        data_offset += run
            .samples
            .iter()
            .map(|(data, _, _)| data.len())
            .sum::<usize>();
    }
    boxed(&mut out, b"mdat", |o| {
        for run in runs {
            for (data, _, _) in &run.samples {
                o.extend_from_slice(data);
            }
        }
    });
    out
}

/// The init segment of a sound-only track (track 1), for HLS and DASH renditions.
pub fn audio_init_segment(config: [u8; 2], bitrate_bps: u32) -> Vec<u8> {
    let mut out = Vec::new();
    ftyp(&mut out, b"iso6", &[b"iso6", b"cmfc", b"isom", b"mp41"]);
    let track = AudioTrack {
        track_id: TRACK_ID,
        sample_rate: crate::movie::timeline::SAMPLE_RATE,
        samples: 0,
        config,
        bitrate_bps,
    };
    boxed(&mut out, b"moov", |o| {
        mvhd_in(o, track.sample_rate, 0, TRACK_ID + 1);
        audio_trak(o, &track, empty_tables);
        boxed(o, b"mvex", |o| trex(o, TRACK_ID));
    });
    out
}

/// The init segment of a picture track (1) and a sound track (2), for a fragmented MP4
/// with sound.
pub fn av_init_segment(
    width: u32,
    height: u32,
    fps: FrameRate,
    sps: &[u8],
    pps: &[u8],
    config: [u8; 2],
    bitrate_bps: u32,
) -> Vec<u8> {
    let mut out = Vec::new();
    ftyp(
        &mut out,
        b"iso6",
        &[b"iso6", b"cmfc", b"isom", b"avc1", b"mp41"],
    );
    boxed(&mut out, b"moov", |o| {
        mvhd_in(o, fps.num, 0, AUDIO_TRACK_ID + 1);
        let video = super::isobmff::VideoTrack {
            width,
            height,
            fps,
            frames: 0,
            sps,
            pps,
        };
        video_trak(o, &video, empty_tables);
        let audio = AudioTrack {
            track_id: AUDIO_TRACK_ID,
            sample_rate: crate::movie::timeline::SAMPLE_RATE,
            samples: 0,
            config,
            bitrate_bps,
        };
        audio_trak(o, &audio, empty_tables);
        boxed(o, b"mvex", |o| {
            trex(o, TRACK_ID);
            trex(o, AUDIO_TRACK_ID);
        });
    });
    out
}

/// The sound track's id beside the picture track.
pub const AUDIO_TRACK_ID: u32 = 2;

fn empty_tables(o: &mut Vec<u8>) {
    for kind in [b"stts", b"stsc", b"stco"] {
        full_box(o, kind, 0, 0, |o| u32_be(o, 0));
    }
    full_box(o, b"stsz", 0, 0, |o| {
        u32_be(o, 0);
        u32_be(o, 0);
    });
}

fn trex(o: &mut Vec<u8>, track_id: u32) {
    full_box(o, b"trex", 0, 0, |o| {
        u32_be(o, track_id);
        u32_be(o, 1); // sample description index
        u32_be(o, 0);
        u32_be(o, 0);
        u32_be(o, 0);
    });
}
