#!/usr/bin/env bash
# Benchmark of the replication backlog: the time to drain 1,000 pending backup copies
# once the backup store returns.
#
# Two loopback Garage servers, one for the primary bucket (ports 4000-4003) and one
# for the backup bucket (ports 4010-4013), so that the backup can be stopped alone.
#   1. The backup server is stopped, and 1,000 small files (1-4 KiB) are stored by
#      `twinstore put`; each put succeeds with its backup copy pending, which
#      `twinstore status --json` must show (copies.pending == 1000).
#   2. The backup server is started again on its old state. From then on,
#      `twinstore work --until-idle` is run again and again (0.2 s apart) until
#      status shows no pending copy, within 300 s at most: jobs that failed while the
#      backup was down wait for their retry time, so one `--until-idle` may exit
#      before the backlog is empty.
# Printed: the drain time (goal <= 60 s) and the copies written per second; a final
# `twinstore verify` (not timed) checks that every copy is in place.
#
# FILES (default 1000) and BATCH (paths per `twinstore put` call, default 500) can be
# set to try other sizes. With WORKER_WHILE_DOWN=1, one `twinstore work --until-idle`
# also runs while the backup is down (as a worker left running would), so that every
# job has failed once and waits for its retry (backoff) when the backup returns.
# Needs garage (scripts/test installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
FILES=${FILES:-1000}
BATCH=${BATCH:-500}
WORKER_WHILE_DOWN=${WORKER_WHILE_DOWN:-0}
LIMIT_SECS=300

cargo build --release --locked --quiet
twinstore=$PWD/target/release/twinstore

work=$(mktemp -d)
source bench/garage.sh
source bench/timing.sh
stop_all() {
  local pid
  # GARAGE_PID too: the server being started when a start failed.
  for pid in "${primary_pid:-}" "${backup_pid:-}" "${GARAGE_PID:-}"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap 'stop_all; rm -rf "$work"' EXIT

GARAGE_PORT=4000 garage_start "$work/garage-primary" primary
primary_pid=$GARAGE_PID primary_endpoint=$GARAGE_ENDPOINT
GARAGE_PORT=4010 garage_start "$work/garage-backup" backup
backup_pid=$GARAGE_PID backup_endpoint=$GARAGE_ENDPOINT

cat >"$work/twinstore.toml" <<TOML
data_dir = "$work/data"
primary = "garage-primary"
backup = "garage-backup"

[stores.garage-primary]
kind = "s3"
endpoint = "$primary_endpoint"
bucket = "primary"
access_key_id = "$GARAGE_KEY_ID"
secret_access_key = "$GARAGE_SECRET"

[stores.garage-backup]
kind = "s3"
endpoint = "$backup_endpoint"
bucket = "backup"
access_key_id = "$GARAGE_KEY_ID"
secret_access_key = "$GARAGE_SECRET"
TOML
ts() { "$twinstore" --config "$work/twinstore.toml" "$@"; }
pending() { ts status --json | jq -e '.copies.pending'; }
since() { echo "$(now) - $1" | bc -l; }

mkdir "$work/files"
for i in $(seq -w "$FILES"); do
  head -c $((1024 + RANDOM % 3073)) /dev/urandom >"$work/files/f$i.bin"
done

# 1. The backup is down while the files are stored.
kill "$backup_pid"
wait "$backup_pid" 2>/dev/null || true
backup_pid=
start=$(now)
if ! find "$work/files" -type f -print0 | sort -z |
  xargs -0 -n "$BATCH" "$twinstore" --config "$work/twinstore.toml" put \
    >/dev/null 2>"$work/put.log"; then
  echo "twinstore put failed with the backup down:" >&2
  tail -n 20 "$work/put.log" >&2
  exit 1
fi
t_store=$(since "$start")
backlog=$(pending)
if [ "$backlog" != "$FILES" ]; then
  echo "expected $FILES pending copies with the backup down, status shows $backlog" >&2
  ts status >&2
  exit 1
fi
printf '%s files stored with the backup down in %.1f s; %s backup copies pending\n' \
  "$FILES" "$t_store" "$backlog"
if [ "$WORKER_WHILE_DOWN" = 1 ]; then
  start=$(now)
  if ! ts work --until-idle >>"$work/work.log" 2>&1; then
    echo "twinstore work --until-idle failed with the backup down:" >&2
    tail -n 20 "$work/work.log" >&2
    exit 1
  fi
  printf 'work --until-idle with the backup down: %.1f s; %s jobs waiting to retry\n' \
    "$(since "$start")" "$(ts status --json | jq '.jobs.queued')"
fi

# 2. The backup returns; the backlog is drained.
garage_restart "$work/garage-backup"
backup_pid=$GARAGE_PID
start=$(now)
rounds=0
while :; do
  rounds=$((rounds + 1))
  if ! ts work --until-idle >>"$work/work.log" 2>&1; then
    echo "twinstore work --until-idle failed:" >&2
    tail -n 20 "$work/work.log" >&2
    exit 1
  fi
  left=$(pending)
  [ "$left" = 0 ] && break
  if [ "$(echo "$(since "$start") > $LIMIT_SECS" | bc)" = 1 ]; then
    echo "$left copies still pending after ${LIMIT_SECS} s ($rounds rounds of work):" >&2
    ts status >&2
    exit 1
  fi
  sleep 0.2
done
t_drain=$(since "$start")

if ! ts verify >"$work/verify.log" 2>&1; then
  echo "twinstore verify found problems after the drain:" >&2
  cat "$work/verify.log" >&2
  exit 1
fi

printf '\ndrain of %s pending backup copies once the backup returns\n' "$FILES"
printf '  %-44s %8.2f s  (goal <= 60; %s rounds of work --until-idle)\n' \
  "time until status shows 0 pending" "$t_drain" "$rounds"
printf '  %-44s %8.1f /s\n' "copies written per second" \
  "$(echo "$FILES / $t_drain" | bc -l)"
