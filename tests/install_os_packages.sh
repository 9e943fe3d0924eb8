#!/usr/bin/env bash
# Install the OS packages of tests/os-packages.txt (or of the list given as $1) that are missing:
# with apt-get when running as root, otherwise say in one line what to install. Never fails the
# run: the tests that need a package still missing are skipped and name it.
set -euo pipefail
list=${1:-"$(dirname "$0")/os-packages.txt"}

missing=()
while read -r package probe _; do
  [[ -z "$package" || "$package" == \#* ]] && continue
  if [[ ! -e "$probe" && " ${missing[*]-} " != *" $package "* ]]; then
    missing+=("$package")
  fi
done <"$list"
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "tests: the tests that need ${missing[*]} will be skipped; install them (Debian: sudo apt-get install ${missing[*]}) or run tests/run.sh as root"
  exit 0
fi

# Debian creates and (where an init system runs) starts a default cluster when it installs a
# PostgreSQL server; the suite makes throw-away clusters of its own, so one made now is dropped.
had_clusters=$(ls /etc/postgresql 2>/dev/null || true)
echo "== installing the OS packages the tests use: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null; then
  echo "tests: apt-get could not install ${missing[*]}; the tests that need them will be skipped" >&2
  exit 0
fi
if [[ -z "$had_clusters" ]] && command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _; do
    pg_dropcluster --stop "$version" "$cluster" || true
  done
fi
