#!/usr/bin/env bash
# Installs what building and testing thresig needs on a fresh Debian machine, only when missing.
# Safe to run again: it does nothing once everything is there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

need_apt=()
# A C compiler: blst and c-kzg (revm's BLS12-381 and KZG precompiles) and PQClean build C.
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
# A C++ compiler: bitcoinconsensus (Bitcoin Core's script interpreter, an adapters test
# dependency) builds C++.
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# Node.js and npm: contracts/ compiles its Solidity with solc-js from the npm registry.
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# m4: GMP (the big-number arithmetic under CGGMP21's Paillier keys) builds from source with it.
command -v m4 >/dev/null 2>&1 || need_apt+=(m4)
# libclang: RocksDB's bindings (the sidecar's node store) are generated with bindgen.
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need_apt+=(libclang-dev)
# SoftHSM2: the PKCS#11 token of each node of `thresig devnet --hsm softhsm` and its tests.
command -v softhsm2-util >/dev/null 2>&1 || need_apt+=(softhsm2)

if ((${#need_apt[@]})); then
  echo "install-deps: installing ${need_apt[*]}" >&2
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "install-deps: need ${need_apt[*]} from apt, but not root and no sudo; install them and run again" >&2
      exit 1
    }
    sudo_cmd=(sudo)
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The pinned solc (contracts/package-lock.json), which the contracts tests recompile with.
if [ ! -d "$root/contracts/node_modules/solc" ]; then
  echo "install-deps: npm ci in contracts/" >&2
  (cd "$root/contracts" && npm ci --no-audit --no-fund >/dev/null)
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install Rust 1.91 or later (https://rustup.rs) and run again" >&2
  exit 1
fi
