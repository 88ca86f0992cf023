#!/usr/bin/env bash
# The main job on the embedded default: a simulated broadcast of the forum's first sessions,
# recorded, cut and published to local storage, with the API and viewer on :8000.
# Any arguments go to `streamer demo` (e.g. --once, --port 8080, --sessions 3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamer demo "$@"
