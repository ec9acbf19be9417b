//! Image renditions: an optimized WebP and thumbnails, made from an original image.
//!
//! The work is synchronous and CPU-bound; the engine runs it off the async runtime, a
//! bounded number at a time. One call reads an original from a file and returns every
//! rendition of [`STANDARD_SET`] encoded as WebP, in four steps:
//!
//! 1. [`probe`] reads the format, the dimensions and (for animations) the frame count
//!    from the headers, and refuses anything over the limits before a pixel is decoded:
//!    a decompression bomb of a few kilobytes that claims 30000×30000 stops here;
//! 2. [`decode`] decodes the first frame, turns it upright by its EXIF orientation and
//!    converts it to 8-bit RGB, or RGBA when it has an alpha channel;
//! 3. [`resize`] fits it into each rendition's box with a Lanczos3 filter, never
//!    enlarging; each thumbnail is made from the previous, larger rendition;
//! 4. [`encode`] compresses each one with libwebp. Renditions are made from pixels
//!    only, so no EXIF, GPS or XMP metadata of the original reaches them.
//!
//! Animated GIF and WebP originals get still renditions of their first frame; the
//! original keeps its animation.

mod decode;
mod encode;
mod error;
mod probe;
mod resize;

use std::borrow::Cow;
use std::path::Path;

pub use decode::Pixels;
pub use error::RenderError;
pub use probe::{ImageHeader, probe};

/// One kind of rendition: a name and the box it fits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenditionSpec {
    /// The name, used in object keys, the catalog and the API.
    pub name: &'static str,
    /// The longest side, in pixels. Smaller images keep their size.
    pub max_side: u32,
    /// The WebP quality, 0 to 100.
    pub quality: u8,
}

/// The rendition whose URL the `file` table shows as `thumbnailUrl`.
pub const THUMBNAIL: &str = "thumb-300";

/// The renditions every image gets, largest first (each thumbnail is resized from the
/// one before it).
pub const STANDARD_SET: [RenditionSpec; 4] = [
    RenditionSpec { name: "optimized", max_side: 2048, quality: 80 },
    RenditionSpec { name: "thumb-600", max_side: 600, quality: 80 },
    RenditionSpec { name: "thumb-300", max_side: 300, quality: 80 },
    RenditionSpec { name: "thumb-150", max_side: 150, quality: 80 },
];

/// What an original may be and still be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// The most pixels (width × height) of one frame. Default 50 megapixels.
    pub max_pixels: u64,
    /// The most frames of an animation. Default 1,000.
    pub max_frames: u32,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self { max_pixels: 50_000_000, max_frames: 1_000 }
    }
}

/// One rendition, encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendition {
    /// The rendition's name (from its [`RenditionSpec`]).
    pub name: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The WebP file.
    pub webp: Vec<u8>,
}

impl std::fmt::Debug for Rendition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendition")
            .field("name", &self.name)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.webp.len())
            .finish()
    }
}

/// Makes every rendition of `specs` (largest first) from the image in the file `path`.
///
/// The optimized rendition is encoded on a second thread while the thumbnails are
/// resized and encoded on this one, so one call keeps two cores busy.
pub fn render_file(
    path: &Path,
    specs: &[RenditionSpec],
    limits: &RenderLimits,
) -> Result<Vec<Rendition>, RenderError> {
    let header = probe(path, limits)?;
    let pixels = decode::decode_upright(path, &header, limits)?;
    render_pixels(&pixels, specs)
}

/// Makes every rendition of `specs` (largest first) from decoded pixels.
pub fn render_pixels(
    pixels: &Pixels,
    specs: &[RenditionSpec],
) -> Result<Vec<Rendition>, RenderError> {
    let Some((first, rest)) = specs.split_first() else {
        return Ok(Vec::new());
    };
    let largest = resize::fit(pixels, first.max_side)?;

    std::thread::scope(|scope| {
        let largest_encoded = scope.spawn(|| encode::rendition(first, &largest));

        let mut renditions = Vec::with_capacity(specs.len());
        let mut source: &Pixels = &largest;
        let mut resized;
        for spec in rest {
            // An image that fits already stays the source, uncopied.
            if let Cow::Owned(smaller) = resize::fit(source, spec.max_side)? {
                resized = smaller;
                source = &resized;
            }
            renditions.push(encode::rendition(spec, source)?);
        }

        let largest_encoded = largest_encoded.join().map_err(|_| RenderError::Panicked)??;
        renditions.insert(0, largest_encoded);
        Ok(renditions)
    })
}

/// Whether a file of this (sniffed) content type is an image that gets renditions.
pub fn is_renderable(content_type: &str) -> bool {
    matches!(
        image::ImageFormat::from_mime_type(content_type),
        Some(
            image::ImageFormat::Jpeg
                | image::ImageFormat::Png
                | image::ImageFormat::Gif
                | image::ImageFormat::WebP
                | image::ImageFormat::Bmp
                | image::ImageFormat::Tiff
        )
    )
}

/// The size of an image of `width` × `height` fitted in a `max_side` square, never
/// enlarged, keeping the aspect ratio (each side at least one pixel).
pub fn fitted_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side {
        return (width, height);
    }
    let scale = f64::from(max_side) / f64::from(longest);
    let side = |length: u32| ((f64::from(length) * scale).round() as u32).clamp(1, max_side);
    (side(width), side(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_size_keeps_the_aspect_ratio_and_never_enlarges() {
        assert_eq!(fitted_size(4000, 3000, 2048), (2048, 1536));
        assert_eq!(fitted_size(3000, 4000, 300), (225, 300));
        assert_eq!(fitted_size(100, 50, 300), (100, 50));
        assert_eq!(fitted_size(10000, 1, 150), (150, 1));
        assert_eq!(fitted_size(300, 300, 300), (300, 300));
    }

    #[test]
    fn the_standard_set_is_largest_first_and_names_the_thumbnail() {
        let sides: Vec<u32> = STANDARD_SET.iter().map(|spec| spec.max_side).collect();
        assert!(sides.windows(2).all(|pair| pair[0] > pair[1]));
        assert!(STANDARD_SET.iter().any(|spec| spec.name == THUMBNAIL));
    }
}
