#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs every test of the workspace.
# The public vectors are read from ../shared/testvectors (or $THRESIG_TESTVECTORS).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace --locked "$@"
