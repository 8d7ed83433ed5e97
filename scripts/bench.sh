#!/usr/bin/env bash
# Read-path benchmarks on the full-scale data set.
#
#   scripts/bench.sh sqlite            # database path, cache off: or postgres, mysql (several may be given)
#   scripts/bench.sh deep sqlite ...   # only the deep pages (large offsets, every list order), same backends
#   scripts/bench.sh cache             # response cache (SQLite): hits vs a trivial handler, nginx (static file) and Varnish; miss overhead
#   scripts/bench.sh pinned            # hits with the server on core 0 and wrk on core 1: the door (2 and 1 workers), nginx, Varnish
#   scripts/bench.sh images            # PNG endpoints (SQLite): drawing cost, image hits vs JSON hits
#   scripts/bench.sh writes [backend]  # POST /v1/logs latency with 1M other keys in Redis (default postgres)
#   scripts/bench.sh writers [backend] # concurrent writers (PATCH /v1/logs over 400k logs): req/s, p99, non-2xx (default sqlite)
#   scripts/bench.sh search sqlite ... # location search, cache off (or postgres, mysql); first imports the 1.74M GB unit postcodes
#   scripts/bench.sh warm              # warming (SQLite, full scale): `cache warm --top 1000` after a flush, alone and
#                                      # beside clients asking for the same requests
#   scripts/bench.sh changes           # change stream (SQLite, a copy of the full scale): delay from another program's
#                                      # commit to the bump and to a fresh read, CPU at 1,000 changes/s, a 100k-row update
#   scripts/bench.sh changes mysql     # the same on MariaDB with a row-based binlog (test-services.sh's server)
#   scripts/bench.sh changes postgres  # the same on PostgreSQL with wal_level=logical ($BENCH_POSTGRES_LOGICAL_URL, by
#                                      # default test-services.sh's cluster), written through psycopg2
#
# For each backend: builds the release binary, seeds the full scale once (reused while its
# counts match), starts the server, then runs wrk per endpoint: latency at 1 connection (p50,
# p99) and throughput at 8 connections. Needs wrk (apt-get install wrk); PostgreSQL/MySQL runs
# use $BENCH_POSTGRES_URL / $BENCH_MYSQL_URL (default: local servers, database trigapi_bench).
# Server and load generator share the machine: numbers are for this machine only.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/trigapi-target}"
DURATION="${BENCH_DURATION:-5s}"
PORT="${BENCH_PORT:-8299}"
WORK="${BENCH_DIR:-/var/tmp/trigapi-bench}"
mkdir -p "$WORK"

cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/trigapi"

url_for() {
  case "$1" in
    sqlite) echo "sqlite://$WORK/full.db" ;;
    postgres) echo "${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/trigapi_bench}" ;;
    mysql) echo "${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306/trigapi_bench}" ;;
    *) echo "unknown backend $1" >&2; exit 2 ;;
  esac
}

create_db() {
  case "$1" in
    postgres) psql -q -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='trigapi_bench'" | grep -q 1 \
                || psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE trigapi_bench" ;;
    mysql) mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS trigapi_bench" ;;
  esac
}

# The most-logged trig and the most active user: worst cases for the per-trig/user lists.
busiest() { # backend table column
  local q="SELECT $3 FROM $2 GROUP BY $3 ORDER BY COUNT(*) DESC LIMIT 1"
  case "$1" in
    sqlite) python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$WORK/full.db" "$q" ;;
    postgres) psql -h 127.0.0.1 -U postgres -d trigapi_bench -Atc "$q" ;;
    mysql) mariadb -uroot -N trigapi_bench -e "$q" ;;
  esac
}

measure() { # name path
  local url="http://127.0.0.1:$PORT$2" lat thr
  wrk -t1 -c1 -d2s "$url" >/dev/null 2>&1 || true   # warm up
  lat=$(wrk -t1 -c1 -d"$DURATION" --latency "$url")
  thr=$(wrk -t2 -c8 -d"$DURATION" "$url")
  local p50 p99 rps errors
  p50=$(awk '$1=="50%"{print $2}' <<<"$lat")
  p99=$(awk '$1=="99%"{print $2}' <<<"$lat")
  rps=$(awk '/Requests\/sec/{printf "%.0f", $2}' <<<"$thr")
  errors=$(grep -E "Non-2xx|Socket errors" <<<"$lat$thr" | tr '\n' ' ' || true)
  printf '| %-34s | %8s | %8s | %8s | %s\n' "$1" "$p50" "$p99" "$rps" "${errors:-}|"
}

seed_if_needed() { # backend url
  local backend=$1 url=$2 logs
  create_db "$backend"
  logs=$(DATABASE_URL="$url" "$BIN" migrate >/dev/null 2>&1; \
         case "$backend" in
           sqlite) python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from tlog').fetchone()[0])" "$WORK/full.db" 2>/dev/null ;;
           postgres) psql -h 127.0.0.1 -U postgres -d trigapi_bench -Atc "select count(*) from tlog" ;;
           mysql) mariadb -uroot -N trigapi_bench -e "select count(*) from tlog" ;;
         esac || echo 0)
  if [ "$logs" != "470000" ]; then
    echo "== seeding full scale on $backend"
    /usr/bin/time -f "seed wall time: %e s, max RSS %M KB" env DATABASE_URL="$url" PHOTOS_DIR="$WORK/photos" "$BIN" seed --scale full --reset
  fi
}

BENCH_SECRET=bench-secret-0123456789

# Start a redis-server of its own on port $2 and the server over database $1 on $PORT, with
# HS256 tokens signed by $BENCH_SECRET; sets SERVER_PID and REDIS_PID.
start_with_redis() { # url redis_port
  redis-server --port "$2" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  REDIS_PID=$!
  for _ in $(seq 1 50); do redis-cli -p "$2" PING >/dev/null 2>&1 && break; sleep 0.1; done
  env LOG_FORMAT=json RUST_LOG=warn DATABASE_URL="$1" PHOTOS_DIR="$WORK/photos" JWT_HS256_SECRET="$BENCH_SECRET" \
    REDIS_URL="redis://127.0.0.1:$2" BIND_ADDR="127.0.0.1:$PORT" "$BIN" serve &
  SERVER_PID=$!
  trap 'kill $SERVER_PID $REDIS_PID 2>/dev/null || true' EXIT
  wait_up "http://127.0.0.1:$PORT/health"
}

wait_up() { for _ in $(seq 1 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

# wrk summary at $2 connections: "req/s p50 p99" (further arguments go to wrk).
load() { # url connections [wrk args...]
  local out threads=$(( $2 < 2 ? 1 : 2 ))
  out=$(wrk -t"$threads" -c"$2" -d"$DURATION" --latency "${@:3}" "$1")
  printf '%s %s %s' "$(awk '/Requests\/sec/{printf "%.0f", $2}' <<<"$out")" \
    "$(awk '$1=="50%"{print $2}' <<<"$out")" "$(awk '$1=="99%"{print $2}' <<<"$out")"
}

# The wrk summary's count of answers that were not 2xx/3xx (0 when it prints none).
non_2xx() { awk '/Non-2xx/{print $NF}' <<<"$1" | grep . || echo 0; }

writers_bench() {
  local backend=${1:-sqlite} url redis_port=$((PORT + 7))
  url=$(url_for "$backend")
  seed_if_needed "$backend" "$url"
  start_with_redis "$url" "$redis_port"
  local token
  token=$(JWT_HS256_SECRET=$BENCH_SECRET "$BIN" token --user 1 --scope api:admin)
  # The edits are spread over 400k logs, so rows rarely collide and the contention is the
  # database's own: on SQLite, one write lock for the whole file.
  cat >"$WORK/patch.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  local id = 1000 + (n * 7919) % 400000
  return wrk.format("PATCH", "/v1/logs/" .. id, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer $token"}, '{"comment": "writer ' .. n .. '"}')
end
LUA
  echo
  echo "### Concurrent writers on $backend: PATCH /v1/logs/{id} (wrk $DURATION per row)"
  echo
  echo "| writers | req/s | p50 | p99 | non-2xx |"
  echo "|---|---|---|---|---|"
  local c out
  for c in 1 8 32 64 128; do
    out=$(wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"$DURATION" --latency -s "$WORK/patch.lua" "http://127.0.0.1:$PORT/")
    printf '| %s | %s | %s | %s | %s |\n' "$c" "$(awk '/Requests\/sec/{printf "%.0f", $2}' <<<"$out")" \
      "$(awk '$1=="50%"{print $2}' <<<"$out")" "$(awk '$1=="99%"{print $2}' <<<"$out")" "$(non_2xx "$out")"
  done
  kill "$SERVER_PID" "$REDIS_PID"; wait 2>/dev/null || true
  trap - EXIT
}

redis_commands() { redis-cli -p "$1" INFO stats | awk -F: '/total_commands_processed/{print $2+0}'; }

# An nginx configuration in $1 (with $2 workers, on port $3) serving $WORK/static at its best:
# sendfile, no access log, connections kept open.
nginx_conf() { # dir workers port
  mkdir -p "$1/logs"
  cat >"$1/nginx.conf" <<NGINX
daemon off;
user root;
worker_processes $2;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { }
  default_type application/json;
  server { listen 127.0.0.1:$3; root $WORK/static; }
}
NGINX
}

# The outside baselines of the hit table (apt-get install nginx varnish): nginx serving each
# endpoint's body as a static file from $WORK/static, and Varnish caching the server with its own
# cache off. Sets NGINX_PID and VARNISH_PID (empty when the program is missing).
start_baselines() { # nginx_port varnish_port backend_port
  NGINX_PID="" VARNISH_PID=""
  if command -v nginx >/dev/null; then
    nginx_conf "$WORK/nginx" 2 "$1"
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
    NGINX_PID=$!
  fi
  if command -v varnishd >/dev/null; then
    rm -rf "$WORK/varnish"
    varnishd -F -n "$WORK/varnish" -a "127.0.0.1:$2" -b "127.0.0.1:$3" -s malloc,256m >/dev/null 2>&1 &
    VARNISH_PID=$!
  fi
}

# "req/s p50 p99" of a baseline, or "- - -" when it is not running.
load_baseline() { # pid url connections
  if [ -n "$1" ]; then load "$2" "$3"; else printf -- '- - -'; fi
}

# $1 as a percentage of $2, or "-" when $2 is not a number.
percent_of() { if [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ]; then echo "$(( $1 * 100 / $2 ))%"; else echo "-"; fi; }

cache_bench() {
  local url redis_port=$((PORT + 7)) trivial_port=$((PORT + 8)) nocache_port=$((PORT + 9))
  url=$(url_for sqlite)
  seed_if_needed sqlite "$url"
  cargo build --release --quiet --example trivial
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  local redis_pid=$!
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  local common=(env LOG_FORMAT=json RUST_LOG=warn DATABASE_URL="$url" PHOTOS_DIR="$WORK/photos")
  "${common[@]}" REDIS_URL="redis://127.0.0.1:$redis_port" BIND_ADDR="127.0.0.1:$PORT" "$BIN" serve &
  local pid=$!
  "${common[@]}" CACHE_ENABLED=false BIND_ADDR="127.0.0.1:$nocache_port" "$BIN" serve &
  local nocache_pid=$!
  # The same cached server with the front door closed: every hit goes the full way.
  local closed_port=$((PORT + 32))
  "${common[@]}" REDIS_URL="redis://127.0.0.1:$redis_port" CACHE_FRONT_DOOR=false BIND_ADDR="127.0.0.1:$closed_port" "$BIN" serve &
  local closed_pid=$!
  wait_up "http://127.0.0.1:$PORT/health"; wait_up "http://127.0.0.1:$nocache_port/health"
  wait_up "http://127.0.0.1:$closed_port/health"
  local nginx_port=$((PORT + 30)) varnish_port=$((PORT + 31))
  start_baselines "$nginx_port" "$varnish_port" "$nocache_port"
  trap 'kill $pid $nocache_pid $closed_pid $redis_pid $NGINX_PID $VARNISH_PID 2>/dev/null || true' EXIT
  echo
  echo "### Cache hits vs a trivial axum handler, nginx and Varnish, the same bytes (wrk -t2, $DURATION per cell)"
  echo
  echo "Baselines: \`bare\` is axum with one handler and no middleware; \`stack\` is the same handler behind"
  echo "the server's middleware (request id, span, panic catcher), so it isolates what the cache costs;"
  echo "\`nginx\` serves the body as a static file; \`varnish\` caches the server with its own cache off"
  echo "(hits only: each URL is fetched through it first); \`door closed\` is the cached server with"
  echo "CACHE_FRONT_DOOR=false (every hit goes through routing and the handler). Cells run one after the"
  echo "other, per row."
  echo
  echo "| endpoint | conns | bare req/s | stack req/s | nginx req/s | varnish req/s | door closed req/s | cached req/s | vs door closed | vs nginx | vs varnish | varnish p99 | door closed p99 | cached p50 | cached p99 | Redis commands during the cached run |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for path in /v1/trigs/1234 /v1/stats/site; do
    curl -sf "http://127.0.0.1:$PORT$path" -o "$WORK/body.json"
    curl -sf "http://127.0.0.1:$PORT$path" >/dev/null
    curl -sf "http://127.0.0.1:$closed_port$path" >/dev/null
    mkdir -p "$WORK/static$(dirname "$path")"
    cp "$WORK/body.json" "$WORK/static$path"
    [ -n "$NGINX_PID" ] && wait_up "http://127.0.0.1:$nginx_port$path"
    [ -n "$VARNISH_PID" ] && wait_up "http://127.0.0.1:$varnish_port$path"
    RUST_LOG=warn "$CARGO_TARGET_DIR/release/examples/trivial" "$WORK/body.json" "127.0.0.1:$trivial_port" &
    local tpid=$!
    RUST_LOG=warn "$CARGO_TARGET_DIR/release/examples/trivial" "$WORK/body.json" "127.0.0.1:$((trivial_port + 10))" --stack &
    local spid=$!
    wait_up "http://127.0.0.1:$trivial_port/"; wait_up "http://127.0.0.1:$((trivial_port + 10))/"
    for conns in 8 64; do
      local trps t50 t99 srps s50 s99 nrps n50 n99 vrps v50 v99 drps d50 d99 crps c50 c99 before after
      read -r trps t50 t99 <<<"$(load "http://127.0.0.1:$trivial_port$path" "$conns")"
      read -r srps s50 s99 <<<"$(load "http://127.0.0.1:$((trivial_port + 10))$path" "$conns")"
      read -r nrps n50 n99 <<<"$(load_baseline "$NGINX_PID" "http://127.0.0.1:$nginx_port$path" "$conns")"
      read -r vrps v50 v99 <<<"$(load_baseline "$VARNISH_PID" "http://127.0.0.1:$varnish_port$path" "$conns")"
      read -r drps d50 d99 <<<"$(load "http://127.0.0.1:$closed_port$path" "$conns")"
      before=$(redis_commands "$redis_port")
      read -r crps c50 c99 <<<"$(load "http://127.0.0.1:$PORT$path" "$conns")"
      after=$(redis_commands "$redis_port")
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$path" "$conns" \
        "$trps" "$srps" "$nrps" "$vrps" "$drps" "$crps" "$(percent_of "$crps" "$drps")" "$(percent_of "$crps" "$nrps")" \
        "$(percent_of "$crps" "$vrps")" "$v99" "$d99" "$c50" "$c99" "$(( after - before - 1 ))"
    done
    kill $tpid $spid; wait $tpid $spid 2>/dev/null || true
  done
  echo
  echo "(Redis commands during a hit run are the heartbeat: one script per 200 ms publishing the announcement number.)"
  echo
  echo "### Miss path: cold keys (each request a trig not asked before), 1 connection"
  echo
  cat >"$WORK/cold.lua" <<'LUA'
local n = 0
request = function() n = n + 1; return wrk.format(nil, "/v1/trigs/" .. n .. "?include=details") end
LUA
  echo "| server | req/s | p50 | p99 |"
  echo "|---|---|---|---|"
  for target in "cache off:$nocache_port" "cache on (Redis):$PORT"; do
    local rps p50 p99
    read -r rps p50 p99 <<<"$(load "http://127.0.0.1:${target##*:}" 1 -s "$WORK/cold.lua")"
    printf '| %s | %s | %s | %s |\n' "${target%:*}" "$rps" "$p50" "$p99"
  done
  kill $pid $nocache_pid $closed_pid $redis_pid $NGINX_PID $VARNISH_PID 2>/dev/null; wait 2>/dev/null || true
  trap - EXIT
}

images_bench() {
  local url user trig redis_port=$((PORT + 7))
  url=$(url_for sqlite)
  seed_if_needed sqlite "$url"
  user=$(busiest sqlite tlog user_id)
  trig=$(busiest sqlite tlog trig_id)
  echo
  echo "### Drawing (cargo bench -p trigapi --bench render; busiest user $user)"
  echo
  DATABASE_URL="$url" BENCH_USER="$user" cargo bench --quiet -p trigapi --bench render
  start_with_redis "$url" "$redis_port"
  echo
  echo "### Through HTTP (wrk -t2, $DURATION per cell): cache hits, and BYPASS (drawn on every request)"
  echo
  echo "| request | conns | req/s | p50 | p99 | body bytes |"
  echo "|---|---|---|---|---|---|"
  local path conns rps p50 p99
  for path in "/v1/trigs/$trig" "/v1/trigs/$trig/map" "/v1/users/$user/badge" "/v1/users/$user/map?height=500"; do
    curl -sf "http://127.0.0.1:$PORT$path" -o "$WORK/body.bin"
    for conns in 8 64; do
      read -r rps p50 p99 <<<"$(load "http://127.0.0.1:$PORT$path" "$conns")"
      printf '| GET %s (HIT) | %s | %s | %s | %s | %s |\n' "$path" "$conns" "$rps" "$p50" "$p99" "$(stat -c %s "$WORK/body.bin")"
    done
  done
  for path in "/v1/trigs/$trig/map" "/v1/users/$user/map?height=500"; do
    read -r rps p50 p99 <<<"$(load "http://127.0.0.1:$PORT$path" 1 -H "Cache-Control: no-cache")"
    printf '| GET %s (BYPASS) | 1 | %s | %s | %s | |\n' "$path" "$rps" "$p50" "$p99"
  done
  kill "$SERVER_PID" "$REDIS_PID"; wait 2>/dev/null || true
  trap - EXIT
}

writes_bench() {
  local backend=${1:-postgres} url user redis_port=$((PORT + 7))
  url=$(url_for "$backend")
  seed_if_needed "$backend" "$url"
  user=$(busiest "$backend" tlog user_id)
  start_with_redis "$url" "$redis_port"
  # About a million unrelated keys (random names, so a few collide).
  redis-benchmark -p "$redis_port" -q -t set -n 1100000 -r 1000000000 -P 64 -d 64 >/dev/null
  local token
  token=$(JWT_HS256_SECRET=$BENCH_SECRET "$BIN" token --user "$user")
  cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"date": "2026-11-20", "time": "10:00", "condition": "G", "comment": "bench", "score": 7}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
  echo
  echo "### POST /v1/logs on $backend, $(redis-cli -p "$redis_port" DBSIZE) keys in Redis (busiest user $user, wrk $DURATION)"
  echo
  echo "| trig | conns | req/s | p50 | p99 |"
  echo "|---|---|---|---|---|"
  local rps p50 p99 trig
  for trig in 1234 "$(busiest "$backend" tlog trig_id)"; do
    read -r rps p50 p99 <<<"$(load "http://127.0.0.1:$PORT/v1/logs?trig_id=$trig" 1 -s "$WORK/post.lua")"
    printf '| %s | 1 | %s | %s | %s |\n' "$trig" "$rps" "$p50" "$p99"
  done
  echo
  echo "(Redis keys after the run: $(redis-cli -p "$redis_port" DBSIZE); every write bumped its tags in one round trip.)"
  kill "$SERVER_PID" "$REDIS_PID"; wait 2>/dev/null || true
  trap - EXIT
}

if [ "${1:-}" = writes ]; then
  writes_bench "${2:-postgres}"
  exit 0
fi

if [ "${1:-}" = writers ]; then
  writers_bench "${2:-sqlite}"
  exit 0
fi

if [ "${1:-}" = images ]; then
  images_bench
  exit 0
fi

# Hits with each server alone on core 0 and wrk alone on core 1 (taskset), so that the load
# generator's share of the CPU does not blur the servers' tails: trigapi with the front door
# (two runtime workers, the default here, and one), nginx (one worker) serving the same body as
# a static file, and Varnish caching the server with its own cache off. Two rounds.
pinned_bench() {
  local url redis_port=$((PORT + 7)) door=$((PORT + 40)) single=$((PORT + 41)) backend=$((PORT + 42))
  local nginx_port=$((PORT + 43)) varnish_port=$((PORT + 44))
  url=$(url_for sqlite)
  seed_if_needed sqlite "$url"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  local redis_pid=$!
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  local common=(env LOG_FORMAT=json RUST_LOG=warn DATABASE_URL="$url" PHOTOS_DIR="$WORK/photos")
  "${common[@]}" REDIS_URL="redis://127.0.0.1:$redis_port" BIND_ADDR="127.0.0.1:$door" taskset -c 0 "$BIN" serve &
  local door_pid=$!
  "${common[@]}" REDIS_URL="redis://127.0.0.1:$redis_port" TOKIO_WORKER_THREADS=1 BIND_ADDR="127.0.0.1:$single" \
    taskset -c 0 "$BIN" serve &
  local single_pid=$!
  "${common[@]}" CACHE_ENABLED=false BIND_ADDR="127.0.0.1:$backend" taskset -c 0 "$BIN" serve &
  local backend_pid=$!
  local nginx_pid="" varnish_pid=""
  if command -v nginx >/dev/null; then
    nginx_conf "$WORK/nginx1" 1 "$nginx_port"
    taskset -c 0 nginx -p "$WORK/nginx1" -c "$WORK/nginx1/nginx.conf" &
    nginx_pid=$!
  fi
  if command -v varnishd >/dev/null; then
    rm -rf "$WORK/varnish1"
    taskset -c 0 varnishd -F -n "$WORK/varnish1" -a "127.0.0.1:$varnish_port" -b "127.0.0.1:$backend" -s malloc,256m >/dev/null 2>&1 &
    varnish_pid=$!
  fi
  trap 'kill $door_pid $single_pid $backend_pid $redis_pid $nginx_pid $varnish_pid 2>/dev/null || true' EXIT
  wait_up "http://127.0.0.1:$door/health"; wait_up "http://127.0.0.1:$single/health"; wait_up "http://127.0.0.1:$backend/health"
  echo
  echo "### Hits, each server alone on core 0, wrk -t1 -c8 alone on core 1 ($DURATION per cell, two rounds)"
  echo
  echo "| round | endpoint | server | req/s | p50 | p90 | p99 |"
  echo "|---|---|---|---|---|---|---|"
  local round path name port out
  for path in /v1/trigs/1234 /v1/stats/site; do
    curl -sf "http://127.0.0.1:$door$path" -o "$WORK/body.json"
    mkdir -p "$WORK/static$(dirname "$path")"; cp "$WORK/body.json" "$WORK/static$path"
    for port in $door $single $varnish_port; do curl -sf "http://127.0.0.1:$port$path" >/dev/null || true; done
  done
  for round in 1 2; do
    for path in /v1/trigs/1234 /v1/stats/site; do
      for name in "trigapi, 2 workers:$door" "trigapi, 1 worker:$single" "nginx, 1 worker:$nginx_port" "varnish:$varnish_port"; do
        port=${name##*:}
        if ! curl -sf "http://127.0.0.1:$port$path" >/dev/null; then continue; fi
        out=$(taskset -c 1 wrk -t1 -c8 -d"$DURATION" --latency "http://127.0.0.1:$port$path")
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$path" "${name%:*}" \
          "$(awk '/Requests\/sec/{printf "%.0f", $2}' <<<"$out")" "$(awk '$1=="50%"{print $2}' <<<"$out")" \
          "$(awk '$1=="90%"{print $2}' <<<"$out")" "$(awk '$1=="99%"{print $2}' <<<"$out")"
      done
    done
  done
  kill $door_pid $single_pid $backend_pid $redis_pid $nginx_pid $varnish_pid 2>/dev/null; wait 2>/dev/null || true
  trap - EXIT
}

if [ "${1:-}" = pinned ]; then
  pinned_bench
  exit 0
fi

if [ "${1:-}" = cache ]; then
  cache_bench
  exit 0
fi

# Pages far from the start: every list in its default order, and logs in id, date and text order.
deep_rows() {
  measure "/v1/logs?skip=469000" "/v1/logs?limit=10&skip=469000"
  measure "/v1/logs?order=id&skip=469000" "/v1/logs?limit=10&order=id&skip=469000"
  measure "/v1/logs?order=-date&skip=300000" "/v1/logs?limit=10&order=-date&skip=300000"
  measure "/v1/logs?order=comment,id&skip=100000" "/v1/logs?order=comment,id&skip=100000"
  measure "/v1/logs?include=photos&skip=400000" "/v1/logs?limit=20&include=photos&skip=400000"
  measure "/v1/photos?skip=383000" "/v1/photos?limit=10&skip=383000"
  measure "/v1/trigs?skip=24000" "/v1/trigs?limit=10&skip=24000"
  measure "/v1/users?skip=14900" "/v1/users?limit=10&skip=14900"
}

# The location search, each query computed (cache off): after importing every live GB unit
# postcode ($BENCH_POSTCODES, default the project's shared open data) when they are not there.
search_bench() {
  local postcodes="${BENCH_POSTCODES:-../shared/data/search/postcodes.csv.gz}"
  for backend in "$@"; do
    local url units
    url=$(url_for "$backend")
    seed_if_needed "$backend" "$url"
    units=$(case "$backend" in
              sqlite) python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from postcodes').fetchone()[0])" "$WORK/full.db" ;;
              postgres) psql -h 127.0.0.1 -U postgres -d trigapi_bench -Atc "select count(*) from postcodes" ;;
              mysql) mariadb -uroot -N trigapi_bench -e "select count(*) from postcodes" ;;
            esac)
    if [ "${units:-0}" -lt 1000000 ] && [ -f "$postcodes" ]; then
      echo "== importing $postcodes into $backend"
      /usr/bin/time -f "import wall time: %e s, max RSS %M KB" env DATABASE_URL="$url" REDIS_URL= "$BIN" import postcodes "$postcodes" 2>&1 | tail -n 3
    fi
    CACHE_ENABLED=false LOG_FORMAT=json RUST_LOG=warn DATABASE_URL="$url" PHOTOS_DIR="$WORK/photos" BIND_ADDR="127.0.0.1:$PORT" "$BIN" serve &
    local pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    wait_up "http://127.0.0.1:$PORT/health"
    echo
    echo "### $backend: location search, computed on every request"
    echo
    echo "| endpoint                           | p50 (1c) | p99 (1c) | req/s (8c) | errors |"
    echo "|---|---|---|---|---|"
    local s="/v1/locations/search"
    measure "/search?q=buxton" "$s?q=buxton"
    measure "/search?q=SK 06 73 (grid ref)" "$s?q=SK%2006%2073"
    measure "/search?q=53.38N 1.87W" "$s?q=53.38N%201.87W"
    measure "/search?q=sw1a 1aa" "$s?q=sw1a%201aa"
    measure "/search/all?q=hill" "$s/all?q=hill"
    measure "/search/trigpoints?q=hill" "$s/trigpoints?q=hill"
    measure "/search/trigpoints?q=tp 1234" "$s/trigpoints?q=tp%201234"
    measure "/search/station-numbers?q=S12" "$s/station-numbers?q=S12"
    measure "/search/places?q=ash" "$s/places?q=ash"
    measure "/search/users?q=walker" "$s/users?q=walker"
    measure "/search/postcodes?q=SK17 6" "$s/postcodes?q=SK17%206"
    measure "/search/postcodes?q=SW1A" "$s/postcodes?q=SW1A"
    measure "/search/logs/substring?q=howling gale" "$s/logs/substring?q=howling%20gale"
    measure "/search/logs/substring?q=spider" "$s/logs/substring?q=spider"
    measure "/search/logs/substring?q=zebra (none)" "$s/logs/substring?q=zebra"
    measure "/search/logs/substring?q=ga (2 chars)" "$s/logs/substring?q=ga"
    measure "/search/logs/regex?q=spider still (visible|there)" "$s/logs/regex?q=spider%20still%20(visible%7Cthere)"
    measure "/search/logs/regex?q=(howling|thick) (gale|clag)" "$s/logs/regex?q=(howling%7Cthick)%20(gale%7Cclag)"
    measure "/search/logs/regex?q=^quick visit" "$s/logs/regex?q=%5Equick%20visit"
    kill $pid; wait $pid 2>/dev/null || true
    trap - EXIT
  done
}

# CPU seconds (user + system) process $1 has used.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# The change stream's block of the admin stats, one field.
stream_field() { # field
  curl -sf -H "Authorization: Bearer bench-admin" "http://127.0.0.1:$PORT/v1/admin/cache/stats" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['change_stream']['$1'])"
}

# The full scale on the PostgreSQL server with wal_level=logical, seeded once; prints its URL.
logical_postgres() {
  local server port
  port=$(pg_lsclusters -h 2>/dev/null | awk '$2 == "trigapi_logical" { print $3 }')
  server="${BENCH_POSTGRES_LOGICAL_URL:-postgres://postgres@127.0.0.1:${port:-5433}/postgres}"
  local url="${server%/*}/trigapi_bench_changes" logs
  psql -q "$server" -tc "SELECT 1 FROM pg_database WHERE datname = 'trigapi_bench_changes'" | grep -q 1 \
    || psql -q "$server" -c "CREATE DATABASE trigapi_bench_changes" >&2
  DATABASE_URL="$url" "$BIN" migrate >/dev/null 2>&1
  logs=$(psql "$url" -Atc "SELECT count(*) FROM tlog")
  if [ "$logs" != 470000 ]; then
    echo "== seeding full scale on the logical PostgreSQL server" >&2
    env DATABASE_URL="$url" PHOTOS_DIR="$WORK/photos" "$BIN" seed --scale full --reset >&2
  fi
  echo "$url"
}

# The full scale on the MariaDB server with a row-based binlog (test-services.sh's), seeded
# once; prints its URL.
binlog_mariadb() {
  local port server url logs
  port=$(cat /var/tmp/trigapi-binlog-mariadb/port 2>/dev/null || echo 3307)
  server="${BENCH_MYSQL_BINLOG_URL:-mysql://root@127.0.0.1:$port/mysql}"
  url="${server%/*}/trigapi_bench_changes"
  mariadb --protocol=TCP -h 127.0.0.1 -P "$port" -u root -e "CREATE DATABASE IF NOT EXISTS trigapi_bench_changes"
  DATABASE_URL="$url" "$BIN" migrate >/dev/null 2>&1
  logs=$(mariadb --protocol=TCP -h 127.0.0.1 -P "$port" -u root -N trigapi_bench_changes -e "SELECT count(*) FROM tlog")
  if [ "$logs" != 470000 ]; then
    echo "== seeding full scale on the binlog MariaDB server" >&2
    env DATABASE_URL="$url" PHOTOS_DIR="$WORK/photos" "$BIN" seed --scale full --reset >&2
  fi
  echo "$url"
}

changes_bench() { # [postgres|mysql]
  local url redis_port=$((PORT + 9)) db="$WORK/changes.db" writer="scripts/change-writer.py" backend="${1:-sqlite}"
  local plain idle_note without
  if [ "$backend" = postgres ]; then
    python3 -c "import psycopg2" 2>/dev/null || python3 -m pip install --quiet psycopg2-binary
    db=$(logical_postgres)
    url="$db"
    # The cost without the stream: the table's own replica identity (the server sets FULL).
    psql -q "$db" -c "ALTER TABLE tlog REPLICA IDENTITY DEFAULT"
    echo
    echo "### Change stream on PostgreSQL (full scale; another program writes through psycopg2)"
    without="with REPLICA IDENTITY DEFAULT"
  elif [ "$backend" = mysql ]; then
    python3 -c "import pymysql" 2>/dev/null || python3 -m pip install --quiet pymysql
    db=$(binlog_mariadb)
    url="$db"
    echo
    echo "### Change stream on MariaDB (full scale; another program writes through PyMySQL)"
    without="before the server reads the binlog"
  else
    url=$(url_for sqlite)
    seed_if_needed sqlite "$url"
    rm -f "$db" "$db-wal" "$db-shm"
    python3 -c "import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d)" "$WORK/full.db" "$db"
    url="sqlite://$db"
    echo
    echo "### Change stream on SQLite (full scale; another program writes the file)"
    without="without the triggers"
  fi
  echo
  plain=$(python3 "$writer" "$db" bulk 100000)
  if [ "$backend" = postgres ]; then
    # A slot of an earlier run would replay that update into the delays measured below.
    psql -q "$db" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()" >/dev/null
  elif [ "$backend" = mysql ]; then
    python3 "$writer" "$db" sql "DROP TABLE IF EXISTS trigapi_binlog_position"
  fi
  CHANGE_STREAM=on ADMIN_TOKEN=bench-admin start_with_redis "$url" "$redis_port"
  sleep 1
  local before after idle busy changes0 changes1
  before=$(cpu_seconds "$SERVER_PID"); sleep 10; after=$(cpu_seconds "$SERVER_PID")
  idle=$(awk -v a="$after" -v b="$before" 'BEGIN{printf "%.1f", (a - b) * 10}')
  if [ "$backend" != sqlite ]; then idle_note="idle: ${idle}%"; else idle_note="idle, polling every 5 ms: ${idle}%"; fi
  python3 "$writer" "$db" rate 10 10 >/dev/null
  echo "- 100 commits at 10/s: delay from commit to bump p50 $(stream_field delay_p50_ms) ms, p99 $(stream_field delay_p99_ms) ms"
  echo "- $(python3 "$writer" "$db" fresh "http://127.0.0.1:$PORT" 200) (HTTP reads included)"
  changes0=$(stream_field changes)
  before=$(cpu_seconds "$SERVER_PID")
  python3 "$writer" "$db" rate 1000 10 >/dev/null
  after=$(cpu_seconds "$SERVER_PID")
  sleep 1
  changes1=$(stream_field changes)
  busy=$(awk -v a="$after" -v b="$before" 'BEGIN{printf "%.1f", (a - b) * 10}')
  echo "- $((changes1 - changes0)) commits at 1,000/s for 10 s: delay p50 $(stream_field delay_p50_ms) ms, p99 $(stream_field delay_p99_ms) ms;" \
       "server CPU ${busy}% of one core (${idle_note})"
  changes0=$(stream_field changes)
  local streamed started settled
  streamed=$(python3 "$writer" "$db" bulk 100000)
  started=$(date +%s%N)
  while [ "$(stream_field changes)" -lt $((changes0 + 100000)) ] || [ "$(stream_field lag_changes)" != 0 ]; do sleep 0.05; done
  settled=$(( ($(date +%s%N) - started) / 1000000 ))
  echo "- one UPDATE of 100,000 logs: ${plain} ms ${without}, ${streamed} ms with the stream on;" \
       "applied ${settled} ms after its commit (one bump of everything: over 10,000 tags);" \
       "fallbacks $(stream_field fallbacks)"
  kill "$SERVER_PID" "$REDIS_PID"; wait 2>/dev/null || true
  trap - EXIT
}

# Warming: how fast `trigapi cache warm --top 1000` refills after a flush, and what clients asking
# for the same 1,000 requests see meanwhile, against the same clients refilling it themselves.
warm_bench() {
  local url redis_port=6391 urls="$WORK/warm-urls.txt" lua="$WORK/warm-urls.lua"
  url=$(url_for sqlite)
  seed_if_needed sqlite "$url"
  # The server's own warmer is off (CACHE_WARM_TOP=0): the command does the warming here.
  CACHE_HOT_SAMPLE_EVERY=1 CACHE_WARM_TOP=0 start_with_redis "$url" "$redis_port"
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
  # 1,000 distinct requests: trig details with stats, trig log lists, user profiles; each asked
  # 1-3 times so the record has an order.
  python3 - "$urls" <<'PY'
import random, sys
random.seed(7)
urls = [f"/v1/trigs/{t}?include=stats" for t in random.sample(range(1, 24000), 400)]
urls += [f"/v1/trigs/{t}/logs" for t in random.sample(range(1, 24000), 400)]
urls += [f"/v1/users/{u}" for u in random.sample(range(1, 15000), 200)]
open(sys.argv[1], "w").write("\n".join(urls) + "\n")
PY
  python3 - "$urls" "$PORT" <<'PY'
import http.client, sys
urls = open(sys.argv[1]).read().split()
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]))
for i, u in enumerate(urls):
    for _ in range(1 + i % 3):
        c.request("GET", u); c.getresponse().read()
PY
  sleep 2 # the record reaches Redis
  cat > "$lua" <<LUA
local urls = {}
for line in io.lines("$urls") do urls[#urls + 1] = line end
local i = 0
request = function() i = i % #urls + 1; return wrk.format("GET", urls[i]) end
LUA
  flush() { redis-cli -p "$redis_port" --scan --pattern 'trigapi:development:*' | xargs -r redis-cli -p "$redis_port" DEL >/dev/null
            curl -s -o /dev/null -X DELETE "http://127.0.0.1:$PORT/v1/admin/cache" -H "Authorization: Bearer $ADMIN"; }
  live() { wrk -t1 -c4 -d"${1}s" --latency -s "$lua" "http://127.0.0.1:$PORT" | awk '/^ +50%/{p50=$2} /^ +99%/{p99=$2} /Requests\/sec/{rps=$2} END{printf "p50 %s, p99 %s, %s req/s", p50, p99, rps}'; }
  # Each of the 1,000 asked once, in order: what the first client to ask for each one waits.
  first() { python3 - "$urls" "$PORT" <<'PY'
import http.client, sys, time
urls = open(sys.argv[1]).read().split()
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]))
took, hits = [], 0
for u in urls:
    t = time.perf_counter(); c.request("GET", u); r = c.getresponse(); r.read(); took.append(time.perf_counter() - t)
    hits += r.getheader("x-cache-status") == "HIT"
took.sort()
ms = lambda q: took[min(len(took) - 1, int(q * len(took)))] * 1000
print(f"first request to each: p50 {ms(0.5):.2f} ms, p99 {ms(0.99):.2f} ms, {hits}/{len(urls)} hits, {sum(took):.2f} s in all")
PY
  }
  cmd() { env RUST_LOG=warn DATABASE_URL="$url" REDIS_URL="redis://127.0.0.1:$redis_port" PHOTOS_DIR="$WORK/photos" "$@"; }
  echo "| run | result |"
  echo "|---|---|"
  flush; echo "| after a flush, no warming | $(first) |"
  flush; cmd "$BIN" cache warm --top 1000 2>/dev/null; echo "| after a flush and \`cache warm --top 1000\` | $(first) |"
  flush; echo "| live clients alone, 10 s from a flush (they refill it themselves) | $(live 10) |"
  echo "| live clients on a warm cache (every request a hit), 10 s | $(live 10) |"
  for rate in 200 100000; do
    flush
    local started=$(date +%s.%N)
    cmd CACHE_WARM_RATE=$rate "$BIN" cache warm --top 1000 2>"$WORK/warm.log"
    echo "| \`cache warm --top 1000\`, CACHE_WARM_RATE=$rate, alone | $(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.2f} s')" "$started"), $(tail -1 "$WORK/warm.log") |"
  done
  flush
  cmd "$BIN" cache warm --top 1000 2>"$WORK/warm.log" &
  local warm_pid=$!
  echo "| live clients for 10 s while \`cache warm --top 1000\` (rate 200) runs from the same flush | $(live 10); warm: $(wait $warm_pid; tail -1 "$WORK/warm.log") |"
  kill "$SERVER_PID" "$REDIS_PID"; wait 2>/dev/null || true
  trap - EXIT
}

if [ "${1:-}" = warm ]; then
  ADMIN=bench-admin
  export ADMIN_TOKEN=$ADMIN
  warm_bench
  exit 0
fi

if [ "${1:-}" = changes ]; then
  changes_bench "${2:-sqlite}"
  exit 0
fi

if [ "${1:-}" = search ]; then
  shift
  search_bench "$@"
  exit 0
fi

only_deep=false
if [ "${1:-}" = deep ]; then
  only_deep=true
  shift
fi

for backend in "$@"; do
  url=$(url_for "$backend")
  seed_if_needed "$backend" "$url"
  trig=$(busiest "$backend" tlog trig_id)
  user=$(busiest "$backend" tlog user_id)
  CACHE_ENABLED=false LOG_FORMAT=json RUST_LOG=warn DATABASE_URL="$url" PHOTOS_DIR="$WORK/photos" BIND_ADDR="127.0.0.1:$PORT" "$BIN" serve &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
  echo
  echo "### $backend (busiest trig $trig, busiest user $user)"
  echo
  echo "| endpoint                           | p50 (1c) | p99 (1c) | req/s (8c) | errors |"
  echo "|---|---|---|---|---|"
  if $only_deep; then
    deep_rows
    kill $pid; wait $pid 2>/dev/null || true
    trap - EXIT
    continue
  fi
  measure "/v1/stats/site" "/v1/stats/site"
  measure "/v1/logs" "/v1/logs"
  measure "/v1/logs?include=photos&limit=20" "/v1/logs?include=photos&limit=20"
  measure "/v1/trigs?lat&lon&max_km=20" "/v1/trigs?lat=54.45&lon=-3.21&max_km=20"
  measure "/v1/trigs?lat&lon (no radius)" "/v1/trigs?lat=54.45&lon=-3.21"
  measure "/v1/trigs/{busiest}/logs" "/v1/trigs/$trig/logs"
  measure "/v1/trigs/{busiest}?include=all" "/v1/trigs/$trig?include=details,stats,attrs"
  measure "/v1/photos" "/v1/photos"
  measure "/v1/users" "/v1/users"
  measure "/v1/users/{busiest}?include=all" "/v1/users/$user?include=stats,breakdown"
  measure "/v1/users/{busiest}/logs" "/v1/users/$user/logs"
  measure "/v1/trigs/export" "/v1/trigs/export"
  deep_rows
  kill $pid; wait $pid 2>/dev/null || true
  trap - EXIT
done
