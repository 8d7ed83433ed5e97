#!/usr/bin/env bash
# API fuzzing with schemathesis (PyPI), against a spawned server on the demo SQLite data:
#
# 1. trigapi's own document (/v1/openapi.json): every operation, with a token holding every
#    scope and the webhook secret; every phase (stateful links included) and every check.
#    Zero failures.
# 2. The original's document (a copy of the project's ../shared/spec/original-openapi.json is
#    kept beside this script, so a clone alone can run it), GET operations: the only failures
#    allowed are the contract's documented differences, listed in
#    scripts/schemathesis/original-differences.txt.
#
# The example count and seed are fixed (ST_MAX_EXAMPLES, ST_SEED) and no example database is
# kept between runs, so a run is reproducible and fits in CI time. Needs the debug binary (`cargo build`, or the tests, make it).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
bin="${TRIGAPI_BIN:-$target/debug/trigapi}"
examples="${ST_MAX_EXAMPLES:-10}"
seed="${ST_SEED:-1}"
venv="${ST_VENV:-/var/tmp/trigapi-schemathesis}"
version=4.32.5
here="$PWD/scripts/schemathesis"
original="${ORIGINAL_OPENAPI:-$here/original-openapi.json}"

# The newest Python here: under 3.11.7, hypothesis's lambda descriptions trip CPython's "AST
# constructor recursion depth mismatch" now and then, which schemathesis reports as an error.
python="$( (ls -d /root/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/bin/python3.1[2-9] 2>/dev/null || true) | sort -V | tail -n 1)"
python="${ST_PYTHON:-${python:-python3}}"
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
    echo "installing schemathesis $version into $venv ($("$python" --version))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
export JWT_HS256_SECRET="schemathesis-secret-0123456789" WEBHOOK_SHARED_SECRET="schemathesis-webhook"
export BIND_ADDR="127.0.0.1:$port" PUBLIC_URL="$base" DATABASE_URL="sqlite://$work/trigapi.db"
export PHOTOS_DIR="$work/photos" REDIS_URL="" ADMIN_TOKEN="" LOG_FORMAT=json
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 180); do
    curl -sf "$base/health" >/dev/null && break
    kill -0 $server 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 1
done
token="$("$bin" token --user 1 --scope api:admin --scope api:read-pii | tail -n 1)"
original="$(realpath "$original")"
# schemathesis keeps the failures it found in ./.schemathesis and replays them on the next run;
# running in the temporary directory keeps every run independent of the ones before.
cd "$work"

echo "== schemathesis: trigapi's own document, every operation and check ($examples examples, seed $seed)"
"$venv/bin/st" --config-file "$here/schemathesis.toml" run "$base/v1/openapi.json" --url "$base" \
    -H "Authorization: Bearer $token" -H "X-Webhook-Secret: $WEBHOOK_SHARED_SECRET" \
    --checks all --max-examples "$examples" --seed "$seed" --generation-database none --workers 2 --no-color \
    --report junit --report-junit-path "$work/own.xml"

echo "== schemathesis: the original's document, GET operations ($examples examples, seed $seed)"
set +e
"$venv/bin/st" --config-file "$here/schemathesis.toml" run "$original" --url "$base" \
    -H "Authorization: Bearer $token" --include-method GET \
    --checks all --max-examples "$examples" --seed "$seed" --generation-database none --workers 2 --no-color \
    --report junit --report-junit-path "$work/original.xml" >"$work/original.txt" 2>&1
set -e
python3 "$here/allowed_failures.py" "$work/original.xml" "$here/original-differences.txt" || {
    tail -n 80 "$work/original.txt"
    exit 1
}
