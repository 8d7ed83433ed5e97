#!/usr/bin/env bash
# The write-safety soak (docs/RELIABILITY.md): two instances sharing one SQLite database and
# one Redis, a mixed read/write workload with clients hanging up, for SOAK_SECONDS (300).
#
#   scripts/soak.sh            # debug build (what `cargo test` builds); SOAK_PROFILE=release for release
#
# Starts its own redis-server on a free port and seeds a demo database in a temporary
# directory; prints the driver's JSON report (examples/soak.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/trigapi-target}"
SECONDS_TO_RUN="${SOAK_SECONDS:-300}"
PROFILE="${SOAK_PROFILE:-debug}"
WORK="$(mktemp -d /tmp/trigapi-soak.XXXXXX)"
SECRET="soak-secret-$(date +%s)"
flag=""; [ "$PROFILE" = release ] && flag="--release"
cargo build $flag --quiet --bin trigapi --example soak
BIN="$CARGO_TARGET_DIR/$PROFILE/trigapi"
DRIVER="$CARGO_TARGET_DIR/$PROFILE/examples/soak"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port); A_PORT=$(free_port); B_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --save '' --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
pids=()
cleanup() { kill "${pids[@]}" "$REDIS_PID" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

export DATABASE_URL="sqlite://$WORK/soak.db" PHOTOS_DIR="$WORK/photos" JWT_HS256_SECRET="$SECRET"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" LOG_FORMAT=json RUST_LOG=warn
"$BIN" seed --scale demo >/dev/null
for port in "$A_PORT" "$B_PORT"; do
  "$BIN" serve --bind "127.0.0.1:$port" >>"$WORK/server-$port.log" 2>&1 &
  pids+=("$!")
done
for port in "$A_PORT" "$B_PORT"; do
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
done
SOAK_PIDS="$(IFS=,; echo "${pids[*]}")" "$DRIVER" "http://127.0.0.1:$A_PORT" "http://127.0.0.1:$B_PORT" "$SECONDS_TO_RUN" "$SECRET"
echo "server logs: $WORK" >&2
