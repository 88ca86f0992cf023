#!/usr/bin/env bash
# Shared set-up for scripts/demo.sh and scripts/test.sh: system tools, a venv, the package.
# Usage: scripts/setup.sh [--test]   (--test also brings the browser and dev tools)
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0; [ "${1:-}" = "--test" ] && want_test=1

need_pkgs=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need_pkgs+=(ffmpeg)
# the simulated broadcast burns a clock into its picture with this font
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_pkgs+=(fonts-dejavu-core)
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium fonts-noto-cjk)
  # the distributed tests start their own throwaway cluster (initdb + pg_ctl, tests/pgcluster.py)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 \
    || need_pkgs+=(postgresql)
  command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)  # network namespaces (partition test)
fi
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3 python3.11 python3.12 python3.13; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 or newer is required (Debian: apt-get install python3)" >&2; exit 1; }
if [ ! -x .venv/bin/python ] && ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need_pkgs+=(python3-venv)
fi

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need_pkgs[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need_pkgs[*]}" >&2
    echo "setup: install them first, e.g.: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY" >&2
  "$PY" -m venv .venv
fi
extra=""; [ "$want_test" = 1 ] && extra="[dev]"
stamp=".venv/.streamer-installed${extra}"
digest=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "setup: installing streamer${extra} into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".${extra}"
  echo "$digest" > "$stamp"
fi
