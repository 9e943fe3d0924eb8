#!/usr/bin/env bash
# What tests/clients/ needs besides the Python test extra: the clients it checks our server with.
#
#   bash tests/clients/install.sh
#
# - the MCP Inspector 0.15.0 (the newest that runs on Node 20) and the TypeScript SDK client with
#   Ajv and ajv-formats, from the npm registry, into a cache folder outside the repository
#   (SUPPORT_DB_CLIENTS_CACHE, default ~/.cache/support-db-mcp/clients); nothing is committed;
# - Debian's chromium for the Inspector's web UI (Playwright cannot download its own browsers
#   here), with apt-get when it is missing.
# Each is installed once; a second run only checks the versions.
set -euo pipefail

INSPECTOR_VERSION=0.15.0
SDK_VERSION=1.32.2
AJV_VERSION=8.20.0
AJV_FORMATS_VERSION=3.0.1
CACHE="${SUPPORT_DB_CLIENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/support-db-mcp/clients}"

fail() { echo "tests/clients/install.sh: $*" >&2; exit 1; }
version_of() { # folder, package -> installed version or nothing
  node -e 'try { console.log(require(process.argv[1] + "/node_modules/" + process.argv[2] + "/package.json").version) } catch {}' "$1" "$2"
}
command -v npm >/dev/null || fail "npm is not installed (Debian: apt-get install -y nodejs npm)"

if [ "$(version_of "$CACHE/inspector" @modelcontextprotocol/inspector)" != "$INSPECTOR_VERSION" ]; then
  echo "installing @modelcontextprotocol/inspector@$INSPECTOR_VERSION into $CACHE/inspector"
  mkdir -p "$CACHE/inspector"
  npm install --prefix "$CACHE/inspector" --no-audit --no-fund --save-exact --loglevel=error \
    "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" || fail "npm install of the Inspector failed"
fi

if [ "$(version_of "$CACHE/ts-client" @modelcontextprotocol/sdk)" != "$SDK_VERSION" ] ||
  [ "$(version_of "$CACHE/ts-client" ajv)" != "$AJV_VERSION" ] ||
  [ "$(version_of "$CACHE/ts-client" ajv-formats)" != "$AJV_FORMATS_VERSION" ]; then
  echo "installing @modelcontextprotocol/sdk@$SDK_VERSION, ajv@$AJV_VERSION, ajv-formats@$AJV_FORMATS_VERSION into $CACHE/ts-client"
  mkdir -p "$CACHE/ts-client"
  npm install --prefix "$CACHE/ts-client" --no-audit --no-fund --save-exact --loglevel=error \
    "@modelcontextprotocol/sdk@$SDK_VERSION" "ajv@$AJV_VERSION" "ajv-formats@$AJV_FORMATS_VERSION" ||
    fail "npm install of the TypeScript SDK failed"
fi

if [ ! -x /usr/bin/chromium ]; then
  command -v apt-get >/dev/null || fail "/usr/bin/chromium is missing and there is no apt-get to install it"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian's chromium with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null || fail "apt-get install chromium failed"
fi
