//! Renders one image into the standard rendition set and writes the WebP files, the
//! way a render job does without the stores: `render_image INPUT OUTPUT_FOLDER`.
//! `bench/renditions.sh` times it next to libvips.

use std::path::PathBuf;
use std::time::Instant;

use twinstore::render::{RenderLimits, STANDARD_SET, render_file};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        return Err("usage: render_image INPUT OUTPUT_FOLDER".into());
    };
    let output = PathBuf::from(output);
    std::fs::create_dir_all(&output)?;

    let started = Instant::now();
    let renditions = render_file(input.as_ref(), &STANDARD_SET, &RenderLimits::default())?;
    let elapsed = started.elapsed();

    for rendition in &renditions {
        std::fs::write(output.join(format!("{}.webp", rendition.name)), &rendition.webp)?;
        eprintln!(
            "{:<10} {:>4}x{:<4} {:>8} bytes",
            rendition.name,
            rendition.width,
            rendition.height,
            rendition.webp.len()
        );
    }
    eprintln!("rendered in {:.3} s", elapsed.as_secs_f64());
    Ok(())
}
