//! Fitting pixels into a box with a Lanczos3 filter (fast_image_resize, SIMD).

use std::borrow::Cow;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::{Pixels, RenderError, fitted_size};

/// Fits `source` within a `max_side` square, keeping its aspect ratio and never
/// enlarging it (an image that fits already is returned as it is). Alpha is
/// premultiplied while resizing so that transparent pixels do not bleed their color
/// into the edges.
pub fn fit(source: &Pixels, max_side: u32) -> Result<Cow<'_, Pixels>, RenderError> {
    let (width, height) = fitted_size(source.width, source.height, max_side);
    if (width, height) == (source.width, source.height) {
        return Ok(Cow::Borrowed(source));
    }

    let pixel_type = if source.has_alpha { PixelType::U8x4 } else { PixelType::U8x3 };
    let resize_error = |err: &dyn std::fmt::Display| RenderError::Resize(err.to_string());
    let from = ImageRef::new(source.width, source.height, &source.data, pixel_type)
        .map_err(|err| resize_error(&err))?;
    let mut to = Image::new(width, height, pixel_type);

    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(&from, &mut to, &options).map_err(|err| resize_error(&err))?;

    Ok(Cow::Owned(Pixels { width, height, has_alpha: source.has_alpha, data: to.into_vec() }))
}
