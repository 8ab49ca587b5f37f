#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs every test of the workspace (unit,
# integration, examples, and the benches once each in test mode), then the doc tests.
# The public vectors are read from ../shared/testvectors (or $THRESIG_TESTVECTORS).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace --all-targets --locked "$@"
cargo test --workspace --doc --locked
