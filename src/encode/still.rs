//! Single frames as JPEG, PNG or TIFF, with the quality (`q`, 10-99) and PNG compression
//! (`compression`, 0-9) a request may give.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::tiff::TiffEncoder;
use image::{ExtendedColorType, ImageEncoder};

use crate::error::{Error, Result};
use crate::render::Frame;

/// The still image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StillFormat {
    Jpeg,
    Png,
    Tiff,
}

impl StillFormat {
    /// The file extension, as in request paths and ZIP entry names.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Tiff => "tif",
        }
    }

    /// Reads `jpg`, `jpeg`, `png`, `tif` or `tiff`.
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "tif" | "tiff" => Some(Self::Tiff),
            _ => None,
        }
    }
}

/// Encoder knobs for stills; each format reads the one it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StillOptions {
    /// JPEG quality, 10 to 99.
    pub quality: u8,
    /// PNG compression, 0 (none, fastest) to 9 (smallest, slowest).
    pub compression: u8,
}

impl Default for StillOptions {
    fn default() -> Self {
        Self {
            quality: 85,
            compression: 6,
        }
    }
}

impl StillOptions {
    pub const QUALITY: std::ops::RangeInclusive<u8> = 10..=99;
    pub const COMPRESSION: std::ops::RangeInclusive<u8> = 0..=9;
}

/// Encodes one frame. Frames are opaque, so JPEG and TIFF get RGB, PNG gets RGB too
/// (a quarter smaller than RGBA, with the same pixels).
pub fn encode_still(frame: &Frame, format: StillFormat, options: StillOptions) -> Result<Vec<u8>> {
    let (width, height) = (frame.width(), frame.height());
    let rgb: Vec<u8> = frame
        .rgba()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut out = Vec::new();
    let failed = |e: image::ImageError| {
        Error::internal(format!("{} encoding failed: {e}", format.extension()))
    };
    match format {
        StillFormat::Jpeg => {
            let quality = options.quality.clamp(*StillOptions::QUALITY.start(), 100);
            JpegEncoder::new_with_quality(&mut out, quality)
                .write_image(&rgb, width, height, ExtendedColorType::Rgb8)
                .map_err(failed)?;
        }
        StillFormat::Png => {
            let (compression, filter) = match options.compression.min(9) {
                0 => (CompressionType::Uncompressed, FilterType::NoFilter),
                1 => (CompressionType::Fast, FilterType::Sub),
                level => (CompressionType::Level(level), FilterType::Adaptive),
            };
            PngEncoder::new_with_quality(&mut out, compression, filter)
                .write_image(&rgb, width, height, ExtendedColorType::Rgb8)
                .map_err(failed)?;
        }
        StillFormat::Tiff => {
            TiffEncoder::new(std::io::Cursor::new(&mut out))
                .write_image(&rgb, width, height, ExtendedColorType::Rgb8)
                .map_err(failed)?;
        }
    }
    Ok(out)
}
