#!/usr/bin/env bash
# Crash anywhere, lose nothing (issue 15): the compressed demo day, SIGKILLed at seeded random
# instants and restarted, compared with an uninterrupted run of the same day.
#   bash scripts/crash.sh [--seeds N] [--kills 20] [--seed S] [--storage local|s3|both]
# Each seed's kill schedule is printed; --seed S --seeds 1 repeats it. Exit 1 on any problem.
# Runs are kept under bench/out/crash/<time>/ (service logs per life, the data dirs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test >/dev/null
exec .venv/bin/python -m tests.crash.harness "$@"
