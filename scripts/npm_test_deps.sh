#!/usr/bin/env bash
# Installs the npm clients that anvil's interop tests and tokenizer benchmark compare against
# (tests/node/package.json, pinned by its package-lock.json) into tests/node/node_modules, which git
# ignores. Nothing is installed globally. Idempotent: skips when node_modules matches the lock file.
#   bash scripts/npm_test_deps.sh
set -euo pipefail
cd "$(dirname "$0")/../tests/node"
if ! command -v npm > /dev/null 2>&1; then
  echo "npm_test_deps.sh: npm not found (install nodejs + npm)" >&2
  exit 1
fi
if [ node_modules/.package-lock.json -nt package-lock.json ] && [ node_modules/.package-lock.json -nt package.json ]; then
  echo "npm_test_deps.sh: tests/node/node_modules is up to date"
  exit 0
fi
npm ci --no-audit --no-fund
echo "npm_test_deps.sh: installed $(ls node_modules | tr '\n' ' ')"
