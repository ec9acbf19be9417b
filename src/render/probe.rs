//! Reading what an image is from its headers, without decoding its pixels.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

use image::{ImageFormat, ImageReader};

use super::{RenderError, RenderLimits};

/// What the headers of an image say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// The format, from the file's first bytes.
    pub format: ImageFormat,
    /// Width in pixels, as stored (before EXIF orientation).
    pub width: u32,
    /// Height in pixels, as stored.
    pub height: u32,
    /// Frames in an animation; 1 for a still image.
    pub frames: u32,
}

/// Reads the format, dimensions and frame count of the image in `path`, and refuses it
/// when it is over `limits`. Only headers are read: no pixel is decoded.
pub fn probe(path: &Path, limits: &RenderLimits) -> Result<ImageHeader, RenderError> {
    let reader = ImageReader::open(path)?.with_guessed_format()?;
    let format = reader.format().ok_or(RenderError::UnsupportedFormat)?;
    let (width, height) = reader.into_dimensions()?;

    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(RenderError::TooManyPixels { width, height, pixels, limit: limits.max_pixels });
    }

    let frames = count_frames(path, format, limits.max_frames)?;
    Ok(ImageHeader { format, width, height, frames })
}

/// Counts the frames of a GIF or WebP animation, stopping past `limit`.
fn count_frames(path: &Path, format: ImageFormat, limit: u32) -> Result<u32, RenderError> {
    let mut file = BufReader::new(File::open(path)?);
    file.seek(SeekFrom::Start(0))?;

    let frames = match format {
        ImageFormat::Gif => {
            let mut options = gif::DecodeOptions::new();
            options.set_color_output(gif::ColorOutput::Indexed);
            let mut decoder =
                options.read_info(file).map_err(|err| RenderError::Decode(err.to_string()))?;
            // Each call skips the previous frame's data and reads the next frame's
            // descriptor; pixels are never expanded.
            let mut frames = 0;
            while decoder
                .next_frame_info()
                .map_err(|err| RenderError::Decode(err.to_string()))?
                .is_some()
            {
                frames += 1;
                if frames > limit {
                    break;
                }
            }
            frames
        }
        ImageFormat::WebP => {
            let decoder = image_webp::WebPDecoder::new(file)
                .map_err(|err| RenderError::Decode(err.to_string()))?;
            decoder.num_frames().max(1)
        }
        _ => 1,
    };

    if frames > limit {
        return Err(RenderError::TooManyFrames { limit });
    }
    Ok(frames)
}
