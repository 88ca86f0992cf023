#!/usr/bin/env bash
# The whole check: set-up, lint, types, then the test suite (real ffmpeg, HTTP, S3, Chromium).
# Any arguments go to pytest (e.g. -k schedule, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check streamer tests bench
echo "== mypy"; mypy streamer
echo "== pytest"
set +e
pytest -q -rfE --durations=15 "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "no tests collected" >&2; exit 1; fi
exit "$rc"
