//! Lossy WebP encoding with libwebp.

use super::{Pixels, RenderError, Rendition, RenditionSpec};

/// Encodes `pixels` as the rendition `spec`. Only pixels go in, so the WebP carries no
/// metadata of the original.
pub fn rendition(spec: &RenditionSpec, pixels: &Pixels) -> Result<Rendition, RenderError> {
    let encoder = if pixels.has_alpha {
        webp::Encoder::from_rgba(&pixels.data, pixels.width, pixels.height)
    } else {
        webp::Encoder::from_rgb(&pixels.data, pixels.width, pixels.height)
    };
    let mut config = webp::WebPConfig::new()
        .map_err(|()| RenderError::Encode("libwebp has an incompatible version".to_owned()))?;
    config.quality = f32::from(spec.quality);
    config.alpha_compression = 1;
    // Lets libwebp analyse the picture and compress the alpha plane on a second
    // thread; the output is the same as single-threaded.
    config.thread_level = 1;
    let webp =
        encoder.encode_advanced(&config).map_err(|err| RenderError::Encode(format!("{err:?}")))?;
    Ok(Rendition {
        name: spec.name,
        width: pixels.width,
        height: pixels.height,
        webp: webp.to_vec(),
    })
}
