#!/usr/bin/env bash
# Builds anvil and runs its test suite: bash scripts/test.sh [ctest args...]
# Installs what is missing first (scripts/setup.sh, needs root), then configures build/, builds, and
# runs ctest. ANVIL_TEST_LABELS (a ctest -L regex) narrows the run, e.g. ANVIL_TEST_LABELS=unit.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then bash scripts/setup.sh; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
bash scripts/npm_test_deps.sh || echo "npm clients unavailable: interop tests will skip"
args=(--test-dir build --output-on-failure -j"$(nproc)")
if [ -n "${ANVIL_TEST_LABELS:-}" ]; then args+=(-L "$ANVIL_TEST_LABELS"); fi
ctest "${args[@]}" "$@"
