#!/usr/bin/env bash
# Benchmarks of the HTTP service, with reference tools in the same run.
#
# 1. Upload throughput: a 64 MiB file POSTed to `twinstore serve` (which writes it to
#    a primary and a backup bucket), next to a direct single-request S3 PUT of the
#    same file into one bucket with curl's SigV4 signing. Median of RUNS (default 3).
# 2. Metadata GETs per second (`GET /v1/files/{id}`) with wrk, 2 threads, 32
#    connections, 10 s.
# 3. Peak RSS of the server while 50 uploads of 100 MiB run at once (goal <= 256 MiB).
#
# Needs garage (scripts/test installs it), wrk and curl (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
RUNS=${RUNS:-3}
PORT=${PORT:-8093}
CONCURRENT=${CONCURRENT:-50}

command -v wrk >/dev/null || apt-get install -y -qq wrk
cargo build --release --locked --quiet
twinstore=$PWD/target/release/twinstore

work=$(mktemp -d)
source bench/garage.sh
source bench/timing.sh
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  garage_stop
  rm -rf "$work"
}
trap cleanup EXIT
garage_start "$work/garage" primary backup direct

cat >"$work/twinstore.toml" <<TOML
data_dir = "$work/data"
primary = "garage-primary"
backup = "garage-backup"

$(garage_store_toml garage-primary primary)

$(garage_store_toml garage-backup backup)
TOML

RUST_LOG=warn "$twinstore" --config "$work/twinstore.toml" serve --listen "127.0.0.1:$PORT" \
  >"$work/serve.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$PORT"
until curl -fs "$base/v1/health" >/dev/null; do sleep 0.1; done

head -c $((64 * 1024 * 1024)) /dev/urandom >"$work/file-64m.bin"


upload_times=()
direct_times=()
for run in $(seq "$RUNS"); do
  upload_times+=("$(seconds curl -fsS -F "file=@$work/file-64m.bin" "$base/v1/files")")
  direct_times+=("$(seconds curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$GARAGE_KEY_ID:$GARAGE_SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    -T "$work/file-64m.bin" \
    "$GARAGE_ENDPOINT/direct/run-$run")")
done
t_upload=$(printf '%s\n' "${upload_times[@]}" | median)
t_direct=$(printf '%s\n' "${direct_times[@]}" | median)
mib_per_s() { echo "64 / $1" | bc -l; }

printf '\n64 MiB upload, median of %s runs\n' "$RUNS"
printf '  %-46s %6.2f s %7.1f MiB/s\n' "POST /v1/files (primary + backup buckets)" "$t_upload" \
  "$(mib_per_s "$t_upload")"
printf '  %-46s %6.2f s %7.1f MiB/s\n' "direct S3 PUT with curl (one bucket)" "$t_direct" \
  "$(mib_per_s "$t_direct")"
printf '  %-46s %6.2f x\n' "ratio twinstore / direct" "$(echo "$t_upload / $t_direct" | bc -l)"

id=$(curl -fsS "$base/v1/files?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["id"])')
printf '\nGET /v1/files/{id} with wrk (2 threads, 32 connections, 10 s)\n'
wrk -t2 -c32 -d10s "$base/v1/files/$id" | grep -E "Requests/sec|Latency"

head -c $((100 * 1024 * 1024)) /dev/urandom >"$work/file-100m.bin"
printf '\n%s concurrent uploads of 100 MiB\n' "$CONCURRENT"
start=$(now)
pids=()
for n in $(seq "$CONCURRENT"); do
  curl -fsS -o /dev/null -F "file=@$work/file-100m.bin" "$base/v1/files" &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
end=$(now)
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
printf '  %s uploads failed, %.1f s in all\n' "$failed" "$(echo "$end - $start" | bc -l)"
printf '  peak RSS of the server: %s MiB (goal <= 256)\n' "$((peak_kib / 1024))"
