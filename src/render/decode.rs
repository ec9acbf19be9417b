//! Decoding an original into upright 8-bit pixels.

use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader};

use super::{ImageHeader, RenderError, RenderLimits};

/// Bytes per pixel of the widest layout a decoder may allocate (16-bit RGBA), used to
/// turn the pixel limit into a memory limit the decoder enforces on its own.
const WIDEST_PIXEL: u64 = 8;

/// Decoded pixels, row by row: 8-bit RGB, or RGBA when `has_alpha`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether there are four channels (RGBA) rather than three (RGB).
    pub has_alpha: bool,
    /// The samples, `width × height × channels` bytes.
    pub data: Vec<u8>,
}

impl Pixels {
    /// The channels per pixel: 3 or 4.
    pub fn channels(&self) -> usize {
        if self.has_alpha { 4 } else { 3 }
    }
}

/// Decodes the first frame of the image in `path` (already probed into `header`),
/// applies its EXIF orientation, and converts it to 8-bit RGB or RGBA.
///
/// Grayscale becomes RGB, 16-bit samples become 8-bit, and CMYK JPEGs come out of the
/// decoder as RGB. The decoder is also held to a memory limit derived from
/// `limits.max_pixels`, in case the headers understated the image.
pub fn decode_upright(
    path: &Path,
    header: &ImageHeader,
    limits: &RenderLimits,
) -> Result<Pixels, RenderError> {
    let mut reader = ImageReader::open(path)?;
    reader.set_format(header.format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(WIDEST_PIXEL));
    reader.limits(decoder_limits);

    let mut decoder = reader.into_decoder()?;
    // A broken EXIF block must not cost the image its renditions: keep it as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);

    let (width, height) = (image.width(), image.height());
    let has_alpha = image.color().has_alpha();
    let data = if has_alpha { image.into_rgba8().into_raw() } else { image.into_rgb8().into_raw() };
    Ok(Pixels { width, height, has_alpha, data })
}
