#!/usr/bin/env bash
# Benchmark of the redundant put, next to rclone in the same run.
#
# 1. `twinstore put` of a 256 MiB file into a primary and a backup bucket, against
#    `rclone copyto` of the same file into one bucket, on one loopback Garage server.
#    Each is run RUNS times (default 3); the median wall time of each and their ratio
#    are printed.
# 2. The peak RSS of `twinstore put` of a 1 GiB file.
#
# Needs garage and rclone (scripts/test installs garage; rclone is Debian's package).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
RUNS=${RUNS:-3}

command -v rclone >/dev/null || apt-get install -y -qq rclone
cargo build --release --locked --quiet
twinstore=$PWD/target/release/twinstore

work=$(mktemp -d)
source bench/garage.sh
source bench/timing.sh
trap 'garage_stop; rm -rf "$work"' EXIT
garage_start "$work/garage" primary backup rclone

cat >"$work/twinstore.toml" <<TOML
data_dir = "$work/data"
primary = "garage-primary"
backup = "garage-backup"

$(garage_store_toml garage-primary primary)

$(garage_store_toml garage-backup backup)
TOML

garage_rclone_remote bench

head -c $((256 * 1024 * 1024)) /dev/urandom >"$work/file-256m.bin"


twinstore_times=()
rclone_times=()
for run in $(seq "$RUNS"); do
  rclone_times+=("$(seconds rclone copyto "$work/file-256m.bin" "bench:rclone/run-$run")")
  twinstore_times+=("$(seconds "$twinstore" --config "$work/twinstore.toml" put \
    "$work/file-256m.bin")")
done
t_twinstore=$(printf '%s\n' "${twinstore_times[@]}" | median)
t_rclone=$(printf '%s\n' "${rclone_times[@]}" | median)

printf '\n256 MiB put, median of %s runs\n' "$RUNS"
printf '  %-44s %8.2f s  (%s)\n' "twinstore put (primary + backup buckets)" "$t_twinstore" \
  "${twinstore_times[*]}"
printf '  %-44s %8.2f s  (%s)\n' "rclone copyto (one bucket)" "$t_rclone" "${rclone_times[*]}"
printf '  %-44s %8.2f x  (goal <= 1.15)\n' "ratio twinstore / rclone" \
  "$(echo "$t_twinstore / $t_rclone" | bc -l)"

head -c $((1024 * 1024 * 1024)) /dev/urandom >"$work/file-1g.bin"
rss_kib=$(/usr/bin/time -f '%M' "$twinstore" --config "$work/twinstore.toml" put \
  "$work/file-1g.bin" 2>&1 >/dev/null | tail -n 1)
printf '\n1 GiB put, peak RSS of twinstore: %s MiB (goal <= 64)\n' "$((rss_kib / 1024))"
