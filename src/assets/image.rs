//! Decoding pictures under limits: dimensions are read from the header first, so a small
//! file that claims a huge canvas (a decompression bomb) is refused before any pixel
//! memory is allocated, and the decoder itself runs with an allocation cap. EXIF
//! orientation is applied, so that phone pictures come out upright.

use std::io::Cursor;

use crate::error::{Error, Result};

/// Limits on decoded pictures.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_side_px: u32,
    pub max_pixels: u64,
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_side_px: 8192,
            max_pixels: 40_000_000,
            max_alloc_bytes: 512 << 20,
        }
    }
}

/// Decodes PNG, JPEG, WebP, GIF (first frame) or TIFF into a premultiplied pixmap.
pub fn decode(bytes: &[u8], origin: &str, limits: ImageLimits) -> Result<tiny_skia::Pixmap> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::asset(format!("{origin}: {e}")))?;
    if reader.format().is_none() {
        return Err(Error::asset(format!(
            "{origin}: expected a PNG, JPEG, WebP, GIF or TIFF picture"
        )));
    }
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| Error::asset(format!("{origin}: unreadable picture header: {e}")))?;
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_side_px || height > limits.max_side_px || pixels > limits.max_pixels {
        return Err(Error::asset(format!(
            "{origin}: picture of {width}x{height} exceeds the limit of {} px a side and {} pixels",
            limits.max_side_px, limits.max_pixels
        )));
    }

    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::asset(format!("{origin}: {e}")))?;
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side_px);
    decoder_limits.max_image_height = Some(limits.max_side_px);
    decoder_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(decoder_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| Error::asset(format!("{origin}: cannot decode picture: {e}")))?;
    // The decoded buffer, its 8-bit RGBA copy and the pixmap exist at once at the peak.
    let rgba_bytes = u64::from(width) * u64::from(height) * 4;
    let peak_bytes = image::ImageDecoder::total_bytes(&decoder).saturating_add(2 * rgba_bytes);
    if peak_bytes > limits.max_alloc_bytes {
        return Err(Error::asset(format!(
            "{origin}: decoding needs about {peak_bytes} bytes, over the limit of {}",
            limits.max_alloc_bytes
        )));
    }
    // Phone cameras store pictures sideways and say so in EXIF; show them upright.
    let orientation = image::ImageDecoder::orientation(&mut decoder)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut picture = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| Error::asset(format!("{origin}: cannot decode picture: {e}")))?;
    picture.apply_orientation(orientation);
    let picture = picture.into_rgba8();
    let (width, height) = picture.dimensions();

    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| Error::asset(format!("{origin}: empty picture")))?;
    for (dst, src) in pixmap.pixels_mut().iter_mut().zip(picture.pixels()) {
        let [r, g, b, a] = src.0;
        *dst = tiny_skia::ColorU8::from_rgba(r, g, b, a).premultiply();
    }
    Ok(pixmap)
}
