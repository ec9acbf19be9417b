#!/usr/bin/env bash
# Benchmark of small uploads per second through `twinstore serve`: one instance on
# SQLite, one on PostgreSQL, and two instances sharing one PostgreSQL catalog (and
# the same two buckets). wrk POSTs the same 4 KiB multipart body for DURATION seconds
# (default 10) with 16 connections per setup; each POST stores a new file.
#
# Needs garage (scripts/test installs it), wrk and postgresql (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
DURATION=${DURATION:-10}
PG_PORT=${PG_PORT:-5491}
PGBIN=/usr/lib/postgresql/15/bin

command -v wrk >/dev/null || apt-get install -y -qq wrk
[ -x "$PGBIN/initdb" ] || apt-get install -y -qq postgresql
cargo build --release --locked --quiet
twinstore=$PWD/target/release/twinstore

work=$(mktemp -d)
chmod 755 "$work" # PostgreSQL runs as its own user and must reach its folder
source bench/garage.sh
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  [ -f "$work/pg/data/postmaster.pid" ] &&
    su postgres -c "$PGBIN/pg_ctl -D $work/pg/data -m fast -w stop" >/dev/null || true
  garage_stop
  rm -rf "$work"
}
trap cleanup EXIT
garage_start "$work/garage" primary backup

mkdir -p "$work/pg/run"
chown -R postgres:postgres "$work/pg"
su postgres -c "$PGBIN/initdb -D $work/pg/data -U postgres --auth=trust -E UTF8 --no-sync" >/dev/null
su postgres -c "$PGBIN/pg_ctl -D $work/pg/data -l $work/pg/server.log -w \
  -o '-c listen_addresses=127.0.0.1 -p $PG_PORT -k $work/pg/run' start" >/dev/null
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE one'
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE two'

cat >"$work/twinstore.toml" <<TOML
primary = "garage-primary"
backup = "garage-backup"

$(garage_store_toml garage-primary primary)

$(garage_store_toml garage-backup backup)
TOML

# The multipart body wrk sends: one 4 KiB part named file.
python3 - "$work/upload.lua" <<'PY'
import os, sys
boundary = "twinstorebench"
data = os.urandom(4096).hex()[:4096]
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
        f"filename=\"small.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        f"{data}\r\n--{boundary}--\r\n")
with open(sys.argv[1], "w") as out:
    out.write('wrk.method = "POST"\n')
    out.write(f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={boundary}"\n')
    out.write(f"wrk.body = {body!r}\n".replace("\\r\\n", "\\r\\n"))
PY

serve() { # serve PORT DATABASE_URL DATA_DIR: starts an instance, waits for it
  local port=$1 database=$2 data=$3
  DATABASE_URL=$database TWINSTORE_DATA_DIR=$data RUST_LOG=warn \
    "$twinstore" --config "$work/twinstore.toml" serve --listen "127.0.0.1:$port" \
    >"$work/serve-$port.log" 2>&1 &
  pids+=($!)
  until curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null; do sleep 0.1; done
}
rps() { # rps URL CONNECTIONS: uploads per second that wrk saw answered 201
  wrk -t1 -c"$2" -d"${DURATION}s" -s "$work/upload.lua" "$1/v1/files" |
    awk '/Requests\/sec/ {print $2}'
}

serve 8191 "" "$work/sqlite"
sqlite=$(rps http://127.0.0.1:8191 16)
serve 8192 "postgres://postgres@127.0.0.1:$PG_PORT/one" "$work/pg-one"
one=$(rps http://127.0.0.1:8192 16)
serve 8193 "postgres://postgres@127.0.0.1:$PG_PORT/two" "$work/pg-two-a"
serve 8194 "postgres://postgres@127.0.0.1:$PG_PORT/two" "$work/pg-two-b"
rps http://127.0.0.1:8193 8 >"$work/a.rps" &
first=$!
rps http://127.0.0.1:8194 8 >"$work/b.rps"
wait "$first"
two=$(echo "$(cat "$work/a.rps") + $(cat "$work/b.rps")" | bc -l)

printf '\n4 KiB uploads per second, %s s, 16 connections in all\n' "$DURATION"
printf '  %-40s %8.1f\n' "one instance, SQLite" "$sqlite"
printf '  %-40s %8.1f\n' "one instance, PostgreSQL" "$one"
printf '  %-40s %8.1f\n' "two instances, one PostgreSQL" "$two"
errors=$(cat "$work"/serve-*.log | grep -c ' status=5' || true)
printf '  (server errors logged: %s)\n' "$errors"
