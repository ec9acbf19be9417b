#!/usr/bin/env bash
# Benchmark of image renditions: the full set (optimized WebP Q80 within 2048 px, and
# thumbnails of 600, 300 and 150 px) of 12-megapixel JPEGs (fine and coarse texture)
# and of a 12-megapixel PNG,
# made by twinstore's renderer (examples/render_image.rs, the code a render job runs)
# next to libvips doing the same work in the same run: one `vips thumbnail` per
# rendition, each saved as WebP Q=80. Wall time, median of RUNS (default 5), runs
# interleaved so that both tools see the same machine load.
#
# Needs libvips-tools (Debian package; installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}

command -v vips >/dev/null || apt-get install -y -qq libvips-tools
cargo build --release --locked --quiet --example render_image
render=$PWD/target/release/examples/render_image

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/timing.sh

# A 4000 x 3000 test picture with texture at several scales (blurred noise over a
# gradient), so that encoders have real work, as with a photograph.
vips gaussnoise "$work/noise.v" 4000 3000 --sigma 60 --mean 128
vips gaussblur "$work/noise.v" "$work/soft.v" 1.5
vips xyz "$work/xyz.v" 4000 3000
vips extract_band "$work/xyz.v" "$work/x.v" 0
vips linear "$work/x.v" "$work/ramp.v" 0.03 0
vips add "$work/soft.v" "$work/ramp.v" "$work/sum.v"
vips cast "$work/sum.v" "$work/gray.v" uchar
vips bandjoin "$work/gray.v $work/soft.v $work/ramp.v" "$work/rgb.v"
vips cast "$work/rgb.v" "$work/photo.v" uchar
vips copy "$work/photo.v" "$work/photo.jpg[Q=90]"
vips copy "$work/photo.v" "$work/photo.png"
# The same with coarser texture, as in a photograph with large smooth areas: the WebP
# encoder then has less to do, and decoding weighs more.
vips gaussblur "$work/noise.v" "$work/smooth.v" 5
vips add "$work/smooth.v" "$work/ramp.v" "$work/smooth-sum.v"
vips cast "$work/smooth-sum.v" "$work/smooth-gray.v" uchar
vips bandjoin "$work/smooth-gray.v $work/smooth.v $work/ramp.v" "$work/smooth-rgb.v"
vips cast "$work/smooth-rgb.v" "$work/smooth-photo.v" uchar
vips copy "$work/smooth-photo.v" "$work/smooth.jpg[Q=90]"


vips_set() {
  local input=$1 out=$2
  mkdir -p "$out"
  vips thumbnail "$input" "$out/optimized.webp[Q=80]" 2048 --size down
  vips thumbnail "$input" "$out/thumb-600.webp[Q=80]" 600 --size down
  vips thumbnail "$input" "$out/thumb-300.webp[Q=80]" 300 --size down
  vips thumbnail "$input" "$out/thumb-150.webp[Q=80]" 150 --size down
}


printf '%-10s %9s %12s %12s %8s\n' image bytes twinstore libvips ratio
for image in photo.jpg photo.png smooth.jpg; do
  : > "$work/ours.txt"
  : > "$work/theirs.txt"
  for _ in $(seq "$RUNS"); do
    start=$(now)
    "$render" "$work/$image" "$work/ours" 2>/dev/null
    echo "$(now) - $start" | bc >> "$work/ours.txt"

    start=$(now)
    vips_set "$work/$image" "$work/vips"
    echo "$(now) - $start" | bc >> "$work/theirs.txt"
  done
  ours=$(median < "$work/ours.txt")
  theirs=$(median < "$work/theirs.txt")
  ratio=$(echo "scale=2; $ours / $theirs" | bc)
  printf '%-10s %9s %11.3fs %11.3fs %7sx\n' "$image" "$(stat -c %s "$work/$image")" \
    "$ours" "$theirs" "$ratio"
done

echo
echo "Sizes of the outputs of the last image (bytes), twinstore then libvips:"
for name in optimized thumb-600 thumb-300 thumb-150; do
  printf '%-10s %9s %9s\n' "$name" "$(stat -c %s "$work/ours/$name.webp")" \
    "$(stat -c %s "$work/vips/$name.webp")"
done
