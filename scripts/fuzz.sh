#!/usr/bin/env bash
# Long fuzzing run of issue 17's property tests: 10,000 examples each (CI runs ~200).
# Usage: bash scripts/fuzz.sh [EXAMPLES]   (from the repository root, after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export STREAMER_FUZZ_EXAMPLES="${1:-10000}"
exec .venv/bin/pytest tests/security/test_fuzz.py -q -p no:cacheprovider --timeout 0 \
  --hypothesis-show-statistics
