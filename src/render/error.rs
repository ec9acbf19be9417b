//! What can stop an image from being rendered.

use thiserror::Error;

/// Why renditions could not be made.
///
/// Some reasons are decisions ([`RenderError::is_skip`]): the image is over a limit or
/// of a kind that is not rendered. The others are failures of a broken or strange file.
/// Neither is retried: the same bytes give the same answer.
#[derive(Debug, Error)]
pub enum RenderError {
    /// The bytes are not an image format that is rendered.
    #[error("not a supported image format")]
    UnsupportedFormat,
    /// The image has more pixels than the limit allows.
    #[error("{width}x{height} is {pixels} pixels, over the limit of {limit}")]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// width × height.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The animation has more frames than the limit allows.
    #[error("the animation has more than {limit} frames")]
    TooManyFrames {
        /// The configured limit.
        limit: u32,
    },
    /// Decoding would need more memory than the limits allow.
    #[error("decoding needs more memory than allowed: {0}")]
    OverMemoryLimit(String),
    /// The file could not be read.
    #[error("cannot read the image: {0}")]
    Io(#[from] std::io::Error),
    /// The file is truncated, corrupt or uses a feature the decoder lacks.
    #[error("cannot decode the image: {0}")]
    Decode(String),
    /// Resizing failed.
    #[error("cannot resize the image: {0}")]
    Resize(String),
    /// libwebp refused to encode.
    #[error("cannot encode WebP: {0}")]
    Encode(String),
    /// A rendering thread panicked.
    #[error("rendering panicked")]
    Panicked,
}

impl RenderError {
    /// Whether the image was skipped on purpose rather than failed.
    pub fn is_skip(&self) -> bool {
        matches!(
            self,
            RenderError::UnsupportedFormat
                | RenderError::TooManyPixels { .. }
                | RenderError::TooManyFrames { .. }
                | RenderError::OverMemoryLimit(_)
        )
    }
}

impl From<image::ImageError> for RenderError {
    fn from(error: image::ImageError) -> Self {
        match error {
            image::ImageError::IoError(io) => RenderError::Io(io),
            image::ImageError::Unsupported(_) => RenderError::UnsupportedFormat,
            image::ImageError::Limits(limit) => RenderError::OverMemoryLimit(limit.to_string()),
            other => RenderError::Decode(other.to_string()),
        }
    }
}
