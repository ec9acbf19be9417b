#!/usr/bin/env bash
# Benchmark of virus scanning with a ClamAV daemon on loopback.
#
# 1. Throughput: 100 files of 1 MiB stored by twinstore, then scanned by
#    `twinstore work --until-idle` (each scan streams the file from the primary
#    store to clamd), next to `clamdscan --stream` of the same 100 files from local
#    disk in the same run.
# 2. Time from upload to verdict: a 1 MiB file POSTed to `twinstore serve`, then its
#    record polled every 10 ms until the scan state is no longer pending. Median of
#    RUNS (default 5).
#
# Needs garage (scripts/test installs it) and clamav-daemon (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
RUNS=${RUNS:-5}
PORT=${PORT:-8094}
CLAMD_PORT=${CLAMD_PORT:-3391}

[ -x /usr/sbin/clamd ] || apt-get install -y -qq clamav-daemon clamav
cargo build --release --locked --quiet
twinstore=$PWD/target/release/twinstore

work=$(mktemp -d)
source bench/garage.sh
source bench/timing.sh
clamd_pid=
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$clamd_pid" ] && kill "$clamd_pid" 2>/dev/null && wait "$clamd_pid" 2>/dev/null || true
  garage_stop
  rm -rf "$work"
}
trap cleanup EXIT
garage_start "$work/garage" primary backup

# clamd refuses to start without signatures; one that matches the EICAR string will do.
mkdir -p "$work/clamd/db"
printf 'Eicar-Test-Signature:0:*:%s\n' \
  "$(printf 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' | od -An -tx1 | tr -d ' \n')" \
  >"$work/clamd/db/test.ndb"
cat >"$work/clamd/clamd.conf" <<CONF
Foreground yes
DatabaseDirectory $work/clamd/db
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
LogFile $work/clamd/clamd.log
StreamMaxLength 100M
CONF
clamd -c "$work/clamd/clamd.conf" &
clamd_pid=$!
clamd_pings() {
  python3 - "$CLAMD_PORT" <<'PY' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.sendall(b"zPING\0")
    sys.exit(0 if s.recv(16).startswith(b"PONG") else 1)
PY
}
until clamd_pings; do sleep 0.05; done

cat >"$work/twinstore.toml" <<TOML
data_dir = "$work/data"
primary = "garage-primary"
backup = "garage-backup"
clamd = "tcp://127.0.0.1:$CLAMD_PORT"

$(garage_store_toml garage-primary primary)

$(garage_store_toml garage-backup backup)
TOML
ts() { RUST_LOG=warn "$twinstore" --config "$work/twinstore.toml" "$@"; }

mkdir -p "$work/files"
for n in $(seq 100); do head -c $((1024 * 1024)) /dev/urandom >"$work/files/f$n.bin"; done
ts put "$work"/files/*.bin >/dev/null

t_twinstore=$(seconds ts work --until-idle)
clean=$(ts ls --json --limit 1000 | grep -c '"scanStatus":"clean"' || true)

t_clamdscan=$(seconds clamdscan --stream -c "$work/clamd/clamd.conf" --no-summary \
  "$work"/files/*.bin)

printf '\nScanning 100 files of 1 MiB (%s reported clean)\n' "$clean"
printf '  %-48s %6.2f s %7.1f files/s\n' "twinstore work (from the primary S3 bucket)" \
  "$t_twinstore" "$(echo "100 / $t_twinstore" | bc -l)"
printf '  %-48s %6.2f s %7.1f files/s\n' "clamdscan --stream (from local disk)" \
  "$t_clamdscan" "$(echo "100 / $t_clamdscan" | bc -l)"
printf '  %-48s %6.2f x\n' "ratio twinstore / clamdscan" "$(echo "$t_twinstore / $t_clamdscan" | bc -l)"

ts serve --listen "127.0.0.1:$PORT" >"$work/serve.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$PORT"
until curl -fs "$base/v1/health" >/dev/null; do sleep 0.1; done

latencies=()
for run in $(seq "$RUNS"); do
  head -c $((1024 * 1024)) /dev/urandom >"$work/one.bin"
  start=$(now)
  id=$(curl -fsS -F "file=@$work/one.bin" "$base/v1/files" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["id"])')
  until curl -fsS "$base/v1/files/$id" | grep -q '"scanStatus":"clean"'; do sleep 0.01; done
  latencies+=("$(echo "$(now) - $start" | bc -l)")
done
printf '\nUpload to verdict of a 1 MiB file through serve, median of %s: %.3f s (%s)\n' \
  "$RUNS" "$(printf '%s\n' "${latencies[@]}" | median)" "${latencies[*]}"
