//! Output formats by extension, and the options a retrieval may give (`frame`, `q`,
//! `compression`, `from`, `to`, `format`).

use std::fmt;

use crate::encode::{FfmpegProfile, StillFormat, StillOptions};
use crate::error::{Error, Result};

/// Every output the server makes, named by its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// H.264 in MP4: faststart for finished files, fragmented while streaming.
    Mp4,
    /// HLS: a playlist over CMAF segments.
    M3u8,
    /// MPEG-DASH: an MPD over the same CMAF segments.
    Mpd,
    /// H.264 in FLV.
    Flv,
    /// VP9 in WebM (through FFmpeg).
    Webm,
    /// MPEG-2 video in an MPEG program stream (through FFmpeg).
    Mpeg,
    /// Windows Media Video 8 (FFmpeg's `wmv2`) in ASF (through FFmpeg).
    Wmv,
    /// Apple ProRes 422 in QuickTime (through FFmpeg).
    Mov,
    /// Animated GIF.
    Gif,
    Jpg,
    Png,
    Tif,
    /// A ZIP archive of stills, one per frame.
    Zip,
}

impl Format {
    pub const ALL: [Format; 13] = [
        Self::Mp4,
        Self::M3u8,
        Self::Mpd,
        Self::Flv,
        Self::Webm,
        Self::Mpeg,
        Self::Wmv,
        Self::Mov,
        Self::Gif,
        Self::Jpg,
        Self::Png,
        Self::Tif,
        Self::Zip,
    ];

    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::M3u8 => "m3u8",
            Self::Mpd => "mpd",
            Self::Flv => "flv",
            Self::Webm => "webm",
            Self::Mpeg => "mpeg",
            Self::Wmv => "wmv",
            Self::Mov => "mov",
            Self::Gif => "gif",
            Self::Jpg => "jpg",
            Self::Png => "png",
            Self::Tif => "tif",
            Self::Zip => "zip",
        }
    }

    /// Reads an extension, case-insensitively; `jpeg` and `tiff` are accepted too.
    pub fn from_extension(extension: &str) -> Result<Self> {
        let lower = extension.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "jpeg" => "jpg",
            "tiff" => "tif",
            other => other,
        };
        Self::ALL
            .into_iter()
            .find(|f| f.extension() == alias)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|f| f.extension()).collect();
                Error::invalid_param(format!(
                    "unknown output extension {extension:?}: expected one of {}",
                    known.join(", ")
                ))
            })
    }

    /// The media type of the main file.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp4 => "video/mp4",
            Self::M3u8 => "application/vnd.apple.mpegurl",
            Self::Mpd => "application/dash+xml",
            Self::Flv => "video/x-flv",
            Self::Webm => "video/webm",
            Self::Mpeg => "video/mpeg",
            Self::Wmv => "video/x-ms-wmv",
            Self::Mov => "video/quicktime",
            Self::Gif => "image/gif",
            Self::Jpg => "image/jpeg",
            Self::Png => "image/png",
            Self::Tif => "image/tiff",
            Self::Zip => "application/zip",
        }
    }

    /// The still format of a single-frame output.
    pub fn still(self) -> Option<StillFormat> {
        match self {
            Self::Jpg => Some(StillFormat::Jpeg),
            Self::Png => Some(StillFormat::Png),
            Self::Tif => Some(StillFormat::Tiff),
            _ => None,
        }
    }

    /// The FFmpeg codec and container of a format made by the system FFmpeg.
    pub fn ffmpeg_profile(self) -> Option<FfmpegProfile> {
        match self {
            Self::Webm => Some(FfmpegProfile::Vp9Webm),
            Self::Mpeg => Some(FfmpegProfile::Mpeg2Program),
            Self::Wmv => Some(FfmpegProfile::Wmv2Asf),
            Self::Mov => Some(FfmpegProfile::ProResMov),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// The request keys that shape an output rather than bind a variable.
pub const RESERVED_KEYS: [&str; 6] = ["frame", "q", "compression", "from", "to", "format"];

/// The options of one output; each format reads the ones it has.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OutputOptions {
    /// The frame of a still (default: the middle of the movie).
    pub frame: Option<u64>,
    /// The first frame of a ZIP sequence (default 0).
    pub from: Option<u64>,
    /// The last frame of a ZIP sequence, inclusive (default: the last frame).
    pub to: Option<u64>,
    /// The image format inside a ZIP archive (default PNG).
    pub sequence_format: Option<StillFormat>,
    pub still: StillOptions,
    /// Where an HLS or DASH main file finds its parts, relative to itself: empty when they
    /// lie beside it (files), `<id>/` over HTTP.
    pub parts_prefix: String,
}

impl OutputOptions {
    /// Reads the reserved keys from request pairs; other keys are left to the movie's
    /// variables. Each bad value is an error that names the key.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut options = Self::default();
        for (key, value) in pairs {
            match key {
                "frame" => options.frame = Some(frame_number(key, value)?),
                "from" => options.from = Some(frame_number(key, value)?),
                "to" => options.to = Some(frame_number(key, value)?),
                "q" => options.still.quality = in_range(key, value, StillOptions::QUALITY)?,
                "compression" => {
                    options.still.compression = in_range(key, value, StillOptions::COMPRESSION)?
                }
                "format" => {
                    options.sequence_format =
                        Some(StillFormat::from_extension(value).ok_or_else(|| {
                            Error::invalid_param(format!(
                                "format: expected png, jpg or tif, found {value:?}"
                            ))
                        })?)
                }
                _ => {}
            }
        }
        if let (Some(from), Some(to)) = (options.from, options.to) {
            if to < from {
                return Err(Error::invalid_param(format!(
                    "to: expected a frame at or after from ({from}), found {to}"
                )));
            }
        }
        Ok(options)
    }

    /// Only the options `format` reads, so that options a format ignores neither change
    /// which output is meant nor fail checks that do not apply to it.
    pub fn for_format(&self, format: Format) -> Self {
        let mut kept = Self {
            parts_prefix: self.parts_prefix.clone(),
            ..Self::default()
        };
        match format {
            Format::Jpg => {
                kept.frame = self.frame;
                kept.still.quality = self.still.quality;
            }
            Format::Png => {
                kept.frame = self.frame;
                kept.still.compression = self.still.compression;
            }
            Format::Tif => kept.frame = self.frame,
            Format::Zip => {
                kept.from = self.from;
                kept.to = self.to;
                kept.sequence_format = self.sequence_format;
                kept.still = self.still;
            }
            _ => {}
        }
        kept
    }

    /// Checks frame numbers against a movie of `frame_count` frames.
    pub fn check_frames(&self, frame_count: u64) -> Result<()> {
        let last = frame_count.saturating_sub(1);
        for (key, value) in [("frame", self.frame), ("from", self.from), ("to", self.to)] {
            if let Some(value) = value.filter(|&v| v > last) {
                return Err(Error::invalid_param(format!(
                    "{key}: expected a frame from 0 to {last} (the movie has {frame_count} frames), found {value}"
                )));
            }
        }
        Ok(())
    }
}

fn frame_number(key: &str, value: &str) -> Result<u64> {
    value.trim().parse().map_err(|_| {
        Error::invalid_param(format!(
            "{key}: expected a frame number (0 or more), found {value:?}"
        ))
    })
}

fn in_range(key: &str, value: &str, range: std::ops::RangeInclusive<u8>) -> Result<u8> {
    value
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            Error::invalid_param(format!(
                "{key}: expected a whole number from {} to {}, found {value:?}",
                range.start(),
                range.end()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_round_trip() {
        for format in Format::ALL {
            assert_eq!(Format::from_extension(format.extension()), Ok(format));
        }
        assert_eq!(Format::from_extension("JPEG"), Ok(Format::Jpg));
        let error = Format::from_extension("avi").expect_err("unknown");
        assert!(error.message().contains("mp4, m3u8"), "{error}");
    }

    #[test]
    fn options_name_the_bad_key() {
        let bad = |k: &str, v: &str| {
            OutputOptions::from_pairs([(k, v)])
                .expect_err("invalid")
                .message()
                .to_owned()
        };
        assert!(bad("q", "100").starts_with("q: expected a whole number from 10 to 99"));
        assert!(bad("q", "9").starts_with("q:"));
        assert!(bad("compression", "10").starts_with("compression:"));
        assert!(bad("frame", "-1").starts_with("frame:"));
        assert!(bad("format", "gif").starts_with("format:"));
        let options = OutputOptions::from_pairs([("q", "42"), ("name", "Zoë"), ("frame", "7")])
            .expect("valid");
        assert_eq!((options.still.quality, options.frame), (42, Some(7)));
        assert!(OutputOptions::from_pairs([("from", "9"), ("to", "3")]).is_err());
        let frames = OutputOptions::from_pairs([("frame", "10")]).expect("valid");
        assert!(frames.check_frames(10).is_err());
        assert!(frames.check_frames(11).is_ok());
    }
}
