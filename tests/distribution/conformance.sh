#!/usr/bin/env bash
# The MCP conformance suite's server scenarios against our streamable HTTP transport.
#
#   bash tests/distribution/conformance.sh [extra conformance arguments, e.g. --scenario tools-list]
#
# The suite (@modelcontextprotocol/conformance) needs Node >= 22; both come from the npm registry
# into a cache folder on first use. The server runs on a free loopback port against DATABASE_URL
# when set, otherwise against an embedded PostgreSQL kept in the cache folder. Scenarios that
# cannot apply to this server are listed, each with its reason, in conformance-baseline.yml next
# to this script; the suite exits non-zero on any other failure, and on a baseline entry that
# now passes.
#
# Environment: CONFORMANCE_CACHE (default ~/.cache/support-db-mcp/conformance),
# CONFORMANCE_PYTHON (default .venv/bin/python), CONFORMANCE_OUTPUT (results folder; default a
# temporary one), DATABASE_URL / SUPPORT_DB_DATA_DIR as for the server.
set -euo pipefail

NODE_VERSION=22.23.3
SUITE_VERSION=0.1.16
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/support-db-mcp/conformance}"
PY="${CONFORMANCE_PYTHON:-$REPO/.venv/bin/python}"
BASELINE="$HERE/conformance-baseline.yml"
OUT="${CONFORMANCE_OUTPUT:-$(mktemp -d)}"
NODE_BIN="$CACHE/node_modules/node/bin"
SUITE="$CACHE/node_modules/.bin/conformance"

fail() { echo "conformance: $*" >&2; exit 1; }

[ -x "$PY" ] || fail "no Python at $PY: run the README's install command (or set CONFORMANCE_PYTHON)"
command -v npm >/dev/null || fail "npm is not installed: it is needed to fetch node@$NODE_VERSION and the suite"

installed() {
  [ -x "$NODE_BIN/node" ] && [ -x "$SUITE" ] &&
    [ "$("$NODE_BIN/node" --version)" = "v$NODE_VERSION" ] &&
    [ "$(PATH="$NODE_BIN:$PATH" "$SUITE" --version)" = "$SUITE_VERSION" ]
}
if ! installed; then
  echo "conformance: installing node@$NODE_VERSION and @modelcontextprotocol/conformance@$SUITE_VERSION into $CACHE"
  mkdir -p "$CACHE"
  # The `node` package's install script fetches the Node binary itself, also from the npm registry.
  npm install --prefix "$CACHE" --no-audit --no-fund --save-exact --loglevel=error \
    "node@$NODE_VERSION" "@modelcontextprotocol/conformance@$SUITE_VERSION" ||
    fail "npm install failed (is the npm registry reachable?)"
  installed || fail "node@$NODE_VERSION or the suite did not install into $CACHE"
fi

if [ -z "${DATABASE_URL:-}" ]; then
  export SUPPORT_DB_DATA_DIR="${SUPPORT_DB_DATA_DIR:-$CACHE/data}"
fi
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$OUT/server.log"
mkdir -p "$OUT"
"$PY" -m support_db_mcp --transport http --host 127.0.0.1 --port "$PORT" >"$LOG" 2>&1 &
SERVER=$!
stop_server() {
  kill -TERM "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}
trap stop_server EXIT

# Ready when uvicorn says it listens; the first start of an embedded database takes a few seconds.
for _ in $(seq 1 600); do
  grep -q "Uvicorn running on" "$LOG" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$LOG" >&2; fail "the server exited before it listened"; }
  sleep 0.2
done
grep -q "Uvicorn running on" "$LOG" || { cat "$LOG" >&2; fail "the server did not listen within 120 s"; }

echo "conformance: suite $SUITE_VERSION on node $("$NODE_BIN/node" --version) against http://127.0.0.1:$PORT/mcp"
echo "conformance: results in $OUT"
status=0
PATH="$NODE_BIN:$PATH" "$SUITE" server --url "http://127.0.0.1:$PORT/mcp" \
  --expected-failures "$BASELINE" --output-dir "$OUT" "$@" || status=$?
exit "$status"
