//! Test images, generated in code: each one has a feature a renderer must handle.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// Red, the left half of the two-color images.
pub const RED: [u8; 3] = [220, 30, 30];
/// Blue, the right half of the two-color images.
pub const BLUE: [u8; 3] = [30, 30, 220];

/// The camera maker written into the EXIF block, to look for in the renditions.
pub const EXIF_MARKER: &str = "TwinstoreTestCam";
/// A word written into the XMP block, to look for in the renditions.
pub const XMP_MARKER: &str = "twinstore-xmp-marker";

/// A `width` × `height` image stored with its left half red and its right half blue.
pub fn two_halves(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| if x < width / 2 { Rgb(RED) } else { Rgb(BLUE) })
}

/// A JPEG of [`two_halves`] with an EXIF block (orientation `orientation`, a camera
/// maker, GPS coordinates) and an XMP block.
pub fn jpeg_with_metadata(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let pixels = two_halves(width, height);
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.add_app_segment(1, &exif_block(orientation)).unwrap();
    let xmp = format!(
        "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">{XMP_MARKER}\
         </x:xmpmeta>"
    );
    encoder.add_app_segment(1, xmp.as_bytes()).unwrap();
    encoder
        .encode(pixels.as_raw(), width as u16, height as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// An EXIF APP1 payload: IFD0 with Orientation, Make and a GPS IFD with latitude and
/// longitude. Little-endian TIFF; offsets count from the TIFF header.
fn exif_block(orientation: u16) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ASCII: u16 = 2;
    const RATIONAL: u16 = 5;

    let make = format!("{EXIF_MARKER}\0");
    // Layout: header (8) | IFD0: 3 entries (2 + 36 + 4 = 42) | GPS IFD: 4 entries
    // (2 + 48 + 4 = 54) | make text | latitude (24) | longitude (24).
    let ifd0 = 8u32;
    let gps_ifd = ifd0 + 42;
    let make_at = gps_ifd + 54;
    let latitude_at = make_at + make.len() as u32;
    let longitude_at = latitude_at + 24;

    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II");
    tiff.extend_from_slice(&42u16.to_le_bytes());
    tiff.extend_from_slice(&ifd0.to_le_bytes());
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value);
    };
    let short = |value: u16| {
        let bytes = value.to_le_bytes();
        [bytes[0], bytes[1], 0, 0]
    };

    tiff.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut tiff, 0x010F, ASCII, make.len() as u32, make_at.to_le_bytes());
    entry(&mut tiff, 0x0112, SHORT, 1, short(orientation));
    entry(&mut tiff, 0x8825, LONG, 1, gps_ifd.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());

    tiff.extend_from_slice(&4u16.to_le_bytes());
    entry(&mut tiff, 0x0001, ASCII, 2, *b"N\0\0\0");
    entry(&mut tiff, 0x0002, RATIONAL, 3, latitude_at.to_le_bytes());
    entry(&mut tiff, 0x0003, ASCII, 2, *b"E\0\0\0");
    entry(&mut tiff, 0x0004, RATIONAL, 3, longitude_at.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());

    tiff.extend_from_slice(make.as_bytes());
    for (numerator, denominator) in [(48u32, 1u32), (51, 1), (2400, 100), (2, 1), (17, 1), (0, 1)] {
        tiff.extend_from_slice(&numerator.to_le_bytes());
        tiff.extend_from_slice(&denominator.to_le_bytes());
    }
    assert_eq!(tiff.len() as u32, longitude_at + 24);

    let mut block = b"Exif\0\0".to_vec();
    block.extend_from_slice(&tiff);
    block
}

/// Encodes `image` in `format`.
pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A PNG whose left half is fully transparent and right half opaque blue.
pub fn png_with_alpha(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgba([255, 255, 255, 0])
        } else {
            Rgba([BLUE[0], BLUE[1], BLUE[2], 255])
        }
    });
    encode(&DynamicImage::ImageRgba8(image), ImageFormat::Png)
}

/// An 8-bit grayscale PNG, a gradient.
pub fn png_grayscale(width: u32, height: u32) -> Vec<u8> {
    let image = image::GrayImage::from_fn(width, height, |x, _| image::Luma([(x % 256) as u8]));
    encode(&DynamicImage::ImageLuma8(image), ImageFormat::Png)
}

/// A 16-bit-per-channel RGB PNG of [`two_halves`].
pub fn png_16_bit(width: u32, height: u32) -> Vec<u8> {
    let image = DynamicImage::ImageRgb8(two_halves(width, height)).into_rgb16();
    encode(&DynamicImage::ImageRgb16(image), ImageFormat::Png)
}

/// A CMYK JPEG (Adobe-style, as Photoshop writes them), all red.
pub fn cmyk_jpeg(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = [0u8, 255, 255, 0].repeat((width * height) as usize);
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, width as u16, height as u16, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    out
}

/// An animated GIF: a red frame, then `frames - 1` green ones.
pub fn animated_gif(width: u32, height: u32, frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        encoder.set_repeat(image::codecs::gif::Repeat::Infinite).unwrap();
        for index in 0..frames {
            let color = if index == 0 { [RED[0], RED[1], RED[2], 255] } else { [0, 200, 0, 255] };
            let frame = RgbaImage::from_pixel(width, height, Rgba(color));
            encoder.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    out
}

/// The first `keep` bytes of a valid PNG of [`two_halves`].
pub fn truncated_png(width: u32, height: u32, keep: usize) -> Vec<u8> {
    let mut png = encode(&DynamicImage::ImageRgb8(two_halves(width, height)), ImageFormat::Png);
    png.truncate(keep);
    png
}

/// A PNG of a few hundred bytes whose header claims `side` × `side` pixels: a
/// decompression bomb, if anyone decoded it.
pub fn png_bomb(side: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grayscale, no interlace
    push_chunk(&mut png, b"IHDR", &header);
    // The start of a zlib stream of zeros; it is never decoded.
    push_chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00]);
    push_chunk(&mut png, b"IEND", &[]);
    png
}

fn push_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    png.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A small JPEG whose frame header is rewritten to claim `side` × `side` pixels.
pub fn jpeg_bomb(side: u16) -> Vec<u8> {
    let mut jpeg = encode(&DynamicImage::ImageRgb8(two_halves(64, 64)), ImageFormat::Jpeg);
    let sof = jpeg
        .windows(2)
        .position(|marker| marker[0] == 0xFF && matches!(marker[1], 0xC0..=0xC2))
        .expect("a JPEG has a frame header");
    // FF Cx, length (2), precision (1), height (2), width (2).
    jpeg[sof + 5..sof + 7].copy_from_slice(&side.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&side.to_be_bytes());
    jpeg
}

/// Decodes a WebP rendition, failing the test if it is not a valid WebP.
pub fn decode_webp(bytes: &[u8]) -> DynamicImage {
    assert_eq!(&bytes[..4], b"RIFF", "not a RIFF file");
    assert_eq!(&bytes[8..12], b"WEBP", "not a WebP file");
    image::load_from_memory_with_format(bytes, ImageFormat::WebP).expect("a valid WebP")
}

/// The RIFF chunk names of a WebP file (`VP8 `, `VP8L`, `VP8X`, `ALPH`, `EXIF`, ...).
pub fn webp_chunks(bytes: &[u8]) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        chunks.push(String::from_utf8_lossy(&bytes[at..at + 4]).into_owned());
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 8 + size + size % 2;
    }
    chunks
}

/// Whether `color` is within `tolerance` of `expected` on every channel.
pub fn close_to(color: &[u8], expected: [u8; 3], tolerance: u8) -> bool {
    color.iter().zip(expected).all(|(&got, want)| got.abs_diff(want) <= tolerance)
}
