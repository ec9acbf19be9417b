# Starts a throwaway Garage S3 server on loopback for a benchmark; source this file.
# After `garage_start DIR BUCKET...`: GARAGE_PID, GARAGE_ENDPOINT, GARAGE_KEY_ID and
# GARAGE_SECRET are set, and every bucket is writable with that key.
# `garage_stop` kills the server by its PID.
# GARAGE_PORT (default 3970) picks the ports: S3 on it, RPC on +1, admin on +3, so that
# a second server can run at the same time (e.g. GARAGE_PORT=3980).

GARAGE_KEY_ID=GK0123456789abcdef01234567
GARAGE_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

garage_start() {
  local dir=$1; shift
  local first_bucket=$1; shift
  local port=${GARAGE_PORT:-3970}
  # Another server on these ports would answer the health check below in our place.
  if curl -s -o /dev/null "http://127.0.0.1:$((port + 3))/health" ||
    curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "ports $port-$((port + 3)) are in use (another Garage?); set GARAGE_PORT" >&2
    return 1
  fi
  mkdir -p "$dir"
  cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((port + 1))"
rpc_public_addr = "127.0.0.1:$((port + 1))"
rpc_secret = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((port + 3))"
admin_token = "bench-admin-token"
TOML
  GARAGE_DEFAULT_ACCESS_KEY=$GARAGE_KEY_ID GARAGE_DEFAULT_SECRET_KEY=$GARAGE_SECRET \
    GARAGE_DEFAULT_BUCKET=$first_bucket RUST_LOG=warn \
    garage -c "$dir/garage.toml" server --single-node --default-bucket >"$dir/garage.log" 2>&1 &
  GARAGE_PID=$!
  GARAGE_ENDPOINT=http://127.0.0.1:$port
  garage_wait "127.0.0.1:$((port + 3))" "$dir" || return 1
  local bucket
  for bucket in "$@"; do
    garage -c "$dir/garage.toml" bucket create "$bucket" >/dev/null
    garage -c "$dir/garage.toml" bucket allow --read --write --owner "$bucket" \
      --key "$GARAGE_KEY_ID" >/dev/null
  done
}

garage_stop() {
  kill "${GARAGE_PID:-}" 2>/dev/null || true
  wait "${GARAGE_PID:-}" 2>/dev/null || true
}

# `garage_restart DIR`: starts again the server that `garage_start DIR ...` set up (and
# `garage_stop` stopped), on its old state and ports, and sets GARAGE_PID. Garage's
# `server --single-node` refuses to start on old state; plain `server` works on it.
garage_restart() {
  local dir=$1
  local admin
  admin=$(sed -n '/^\[admin\]/,$ s/^api_bind_addr = "\(.*\)"/\1/p' "$dir/garage.toml")
  GARAGE_DEFAULT_ACCESS_KEY=$GARAGE_KEY_ID GARAGE_DEFAULT_SECRET_KEY=$GARAGE_SECRET \
    RUST_LOG=warn garage -c "$dir/garage.toml" server >>"$dir/garage.log" 2>&1 &
  GARAGE_PID=$!
  garage_wait "$admin" "$dir"
}

# `garage_wait ADMIN_ADDR DIR`: waits until the server GARAGE_PID answers its health
# check, up to 30 s; fails at once if that process has exited.
garage_wait() {
  local tries=0
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$1/health")" = 200 ]; do
    if ! kill -0 "$GARAGE_PID" 2>/dev/null; then
      echo "garage exited; see $2/garage.log" >&2; return 1
    fi
    tries=$((tries + 1))
    if [ $tries -gt 600 ]; then echo "garage did not start; see $2/garage.log" >&2; return 1; fi
    sleep 0.05
  done
  kill -0 "$GARAGE_PID" 2>/dev/null || { echo "garage exited; see $2/garage.log" >&2; return 1; }
}

# `garage_store_toml NAME BUCKET`: a twinstore `[stores.NAME]` section for BUCKET on
# the server that `garage_start` started.
garage_store_toml() {
  cat <<TOML
[stores.$1]
kind = "s3"
endpoint = "$GARAGE_ENDPOINT"
bucket = "$2"
access_key_id = "$GARAGE_KEY_ID"
secret_access_key = "$GARAGE_SECRET"
TOML
}

# `garage_rclone_remote NAME`: an rclone remote NAME for that server, through rclone's
# environment variables. rclone 1.60 cannot use a custom CA bundle with its own
# transport, and fails at start when AWS_CA_BUNDLE is set (the endpoint is plain HTTP
# anyway), so it is unset.
garage_rclone_remote() {
  unset AWS_CA_BUNDLE
  local prefix="RCLONE_CONFIG_${1^^}"
  export "${prefix}_TYPE=s3" "${prefix}_PROVIDER=Other" "${prefix}_REGION=us-east-1"
  export "${prefix}_ENDPOINT=$GARAGE_ENDPOINT" "${prefix}_FORCE_PATH_STYLE=true"
  export "${prefix}_ACCESS_KEY_ID=$GARAGE_KEY_ID" "${prefix}_SECRET_ACCESS_KEY=$GARAGE_SECRET"
}
