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
# Four workers on two cores: most tests wait on real-time simulated broadcasts rather than
# compute, so the waits overlap (24 min -> 12 min on a loaded 2-core machine). loadgroup keeps
# tests marked xdist_group("name") on one worker. Arguments given here come later and win:
# -n 0 runs in one process, -p no:randomly in file order.
pytest -q -rfE --durations=15 -n "${STREAMER_TEST_WORKERS:-4}" --dist loadgroup "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "no tests collected" >&2; exit 1; fi
exit "$rc"
