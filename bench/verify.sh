#!/usr/bin/env bash
# Benchmark of `twinstore verify`, next to `rclone check` in the same run.
#
# 10,000 small files (1-4 KiB each) are stored by twinstore into a primary and a
# backup bucket of one loopback Garage server (ports 3990-3993, apart from put.sh's, so
# that both can run at once). Then, each RUNS times (default 3):
#   - `twinstore verify` (fast mode: compares what both stores list with the catalog;
#     exit 0 expected), against
#   - `rclone check bench:primary bench:backup` (compares the two buckets by listing
#     them: sizes, and MD5s taken from the listed entity tags).
# The median wall time of each and their ratio are printed (goal <= 1.0), then, for
# information, the time of one `twinstore verify --deep` (reads and hashes every copy)
# next to one `rclone check --download` (reads both buckets and compares the bytes,
# with rclone's default 8 checkers).
#
# rclone check is run two-way (no --one-way): it reports objects missing on either
# side, as twinstore verify reports missing copies and orphans in both stores.
#
# FILES (default 10000) and BATCH (paths per `twinstore put` call, default 500) can be
# set to try other sizes. Needs garage and rclone (scripts/test installs garage;
# rclone is Debian's package).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
RUNS=${RUNS:-3}
FILES=${FILES:-10000}
BATCH=${BATCH:-500}

command -v rclone >/dev/null || apt-get install -y -qq rclone
cargo build --release --locked --quiet
twinstore=$PWD/target/release/twinstore

work=$(mktemp -d)
source bench/garage.sh
source bench/timing.sh
trap 'garage_stop; rm -rf "$work"' EXIT
GARAGE_PORT=3990 garage_start "$work/garage" primary backup

cat >"$work/twinstore.toml" <<TOML
data_dir = "$work/data"
primary = "garage-primary"
backup = "garage-backup"

$(garage_store_toml garage-primary primary)

$(garage_store_toml garage-backup backup)
TOML

garage_rclone_remote bench


# The files: FILES small files of 1 to 4 KiB of random bytes.
mkdir "$work/files"
for i in $(seq -w "$FILES"); do
  head -c $((1024 + RANDOM % 3073)) /dev/urandom >"$work/files/f$i.bin"
done

# Stored through twinstore, BATCH paths per call (one process per file would be slow).
store_all() {
  find "$work/files" -type f -print0 | sort -z |
    xargs -0 -n "$BATCH" "$twinstore" --config "$work/twinstore.toml" put >/dev/null
}
t_store=$(seconds store_all)
stored=$("$twinstore" --config "$work/twinstore.toml" status --json | jq '.copies.stored')
if [ "$stored" != $((2 * FILES)) ]; then
  echo "expected $((2 * FILES)) stored copies after the puts, the catalog has $stored" >&2
  exit 1
fi
printf '%s files stored (%s copies) in %.1f s\n' "$FILES" "$stored" "$t_store"

twinstore_times=()
rclone_times=()
for run in $(seq "$RUNS"); do
  rclone_times+=("$(seconds rclone check bench:primary bench:backup)")
  twinstore_times+=("$(seconds "$twinstore" --config "$work/twinstore.toml" verify)")
done
t_twinstore=$(printf '%s\n' "${twinstore_times[@]}" | median)
t_rclone=$(printf '%s\n' "${rclone_times[@]}" | median)
t_deep=$(seconds "$twinstore" --config "$work/twinstore.toml" verify --deep)
t_download=$(seconds rclone check --download bench:primary bench:backup)

printf '\nverify of %s files in two buckets, median of %s runs\n' "$FILES" "$RUNS"
printf '  %-44s %8.2f s  (%s)\n' "twinstore verify (fast)" "$t_twinstore" \
  "${twinstore_times[*]}"
printf '  %-44s %8.2f s  (%s)\n' "rclone check primary backup" "$t_rclone" \
  "${rclone_times[*]}"
printf '  %-44s %8.2f x  (goal <= 1.0)\n' "ratio twinstore / rclone" \
  "$(echo "$t_twinstore / $t_rclone" | bc -l)"
printf '  %-44s %8.2f s  (one run, for information)\n' "twinstore verify --deep" "$t_deep"
printf '  %-44s %8.2f s  (one run, for information)\n' "rclone check --download" "$t_download"
