#!/usr/bin/env bash
# The main job: builds `thresig`, runs `thresig demo` (a local signer cluster on embedded
# defaults: DKG, a Taproot PSBT and a Solana transfer signed and checked, a BridgeVault
# withdrawal signed by the cluster executed in revm), then every worked
# example of docs/precompiles.md as a real transaction in revm, and `thresig verify`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked -p thresig
thresig="${CARGO_TARGET_DIR:-target}/release/thresig"

echo "== thresig demo"
"$thresig" demo

echo "== precompile calls in revm (docs/precompiles.md worked examples)"
examples=$(awk '/^```sh$/{getline; print}' docs/precompiles.md)
failures=0
while IFS= read -r command; do
  [ -n "$command" ] || continue
  name=$(printf '%s' "$command" | cut -c1-120)
  read -r -a words <<<"$command"
  result=$("$thresig" "${words[@]:1}") || result="thresig exited with status $?"
  echo "${name}..."
  echo "  -> $result"
  case "$result" in *'"success":true'*'0000000000000000000000000000000000000000000000000000000000000001"'*) ;; *) failures=$((failures + 1)) ;; esac
done <<<"$examples"

echo "== thresig verify (BIP-340 test vector 1)"
"$thresig" verify --scheme bip340 \
  --public-key DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659 \
  --message 243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89 \
  --signature 6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A

if [ "$failures" -ne 0 ]; then
  echo "demo: $failures example(s) did not verify" >&2
  exit 1
fi
echo "demo: every example verified"
