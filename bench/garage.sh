# Starts a throwaway Garage S3 server on loopback for a benchmark; source this file.
# After `garage_start DIR BUCKET...`: GARAGE_PID, GARAGE_ENDPOINT, GARAGE_KEY_ID and
# GARAGE_SECRET are set, and every bucket is writable with that key.
# `garage_stop` kills the server by its PID.

GARAGE_KEY_ID=GK0123456789abcdef01234567
GARAGE_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

garage_start() {
  local dir=$1; shift
  local first_bucket=$1; shift
  mkdir -p "$dir"
  cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3971"
rpc_public_addr = "127.0.0.1:3971"
rpc_secret = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:3970"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:3973"
admin_token = "bench-admin-token"
TOML
  GARAGE_DEFAULT_ACCESS_KEY=$GARAGE_KEY_ID GARAGE_DEFAULT_SECRET_KEY=$GARAGE_SECRET \
    GARAGE_DEFAULT_BUCKET=$first_bucket RUST_LOG=warn \
    garage -c "$dir/garage.toml" server --single-node --default-bucket >"$dir/garage.log" 2>&1 &
  GARAGE_PID=$!
  GARAGE_ENDPOINT=http://127.0.0.1:3970
  local tries=0
  until [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:3973/health)" = 200 ]; do
    tries=$((tries + 1))
    if [ $tries -gt 600 ]; then echo "garage did not start; see $dir/garage.log" >&2; return 1; fi
    sleep 0.05
  done
  local bucket
  for bucket in "$@"; do
    garage -c "$dir/garage.toml" bucket create "$bucket" >/dev/null
    garage -c "$dir/garage.toml" bucket allow --read --write --owner "$bucket" \
      --key "$GARAGE_KEY_ID" >/dev/null
  done
}

garage_stop() {
  kill "$GARAGE_PID" 2>/dev/null || true
  wait "$GARAGE_PID" 2>/dev/null || true
}
