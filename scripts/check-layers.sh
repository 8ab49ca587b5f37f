#!/usr/bin/env bash
# The sidecar's layering rule (docs/sidecar.md, "Code map"; ../shared/ARCHITECTURE.md): each area
# of sidecar/src may name only the areas below it. Above all, node code never names the
# coordinator, the API or the composition roots, and coordinator code never names node code or
# what a node keeps at rest (custody), so no change to the coordinator can change what a node
# accepts.
#
#   scripts/check-layers.sh              checks sidecar/src
#   scripts/check-layers.sh DIR          checks DIR laid out like sidecar/src
#   scripts/check-layers.sh --self-test  shows that the check catches each kind of violation
#
# A reference is a path that starts `crate::AREA` or `$crate::AREA`. Grouped imports from the
# crate root (`use crate::{a, b}`) and `super::super` (which climbs out of an area) are refused
# outright, so no reference can hide from the check; so is a module-level `use super::*`, which
# hides what a file takes from its parent (a test module's `use super::*` is fine: one indented
# in `mod tests`, or at the top of a `tests.rs`).
set -euo pipefail

# What each area may name besides itself. Root items (fsutil, error_chain,
# install_crypto_provider, with_ciphersuite) are open to every area.
declare -A allowed=(
  [model]=""
  [protocols]="model"
  [chains]="model protocols"
  [cluster]="model protocols chains"
  [custody]="model protocols chains cluster"
  [wire]="model protocols chains cluster"
  [node]="model protocols chains cluster wire custody"
  [coordinator]="model protocols chains cluster wire"
  [api]="model protocols chains cluster wire coordinator"
  [run]="model protocols chains cluster wire custody node coordinator api"
)
root_items="fsutil error_chain install_crypto_provider with_ciphersuite"

check() {
  local src=$1 failures=0 area file
  # Every source file belongs to an area; only the crate root and its leaf utility sit beside
  # them, so no new folder or file escapes the check.
  while IFS= read -r -d '' file; do
    local rel=${file#"$src"/} top
    top=${rel%%/*}
    if [[ "$rel" != */* ]]; then
      top=${rel%.rs}
      [[ "$rel" == lib.rs || "$rel" == fsutil.rs ]] && continue
    fi
    if [[ -z "${allowed[$top]+set}" || "$rel" != */* ]]; then
      echo "$file: not inside one of the areas (${!allowed[*]}); put it in the area it belongs to" >&2
      failures=$((failures + 1))
    fi
  done < <(find "$src" -name '*.rs' -print0)
  for area in "${!allowed[@]}"; do
    [[ -d "$src/$area" ]] || continue
    local ok=" $area ${allowed[$area]} $root_items "
    while IFS= read -r -d '' file; do
      # One reference per line: "line:what".
      while IFS=: read -r line named; do
        if [[ "$named" == "{" ]]; then
          echo "$file:$line: grouped import from the crate root; name each area's path on its own line" >&2
          failures=$((failures + 1))
        elif [[ "$named" == "super::*" ]]; then
          echo "$file:$line: use super::* at module level; import what the file uses by name" >&2
          failures=$((failures + 1))
        elif [[ "$named" == "super::super" ]]; then
          echo "$file:$line: super::super climbs out of the $area area; name the path from crate::" >&2
          failures=$((failures + 1))
        elif [[ "$named" == "alias" ]]; then
          echo "$file:$line: the crate under another name, a #[path] module or include! hides paths from this check" >&2
          failures=$((failures + 1))
        elif [[ "$named" =~ ^[A-Z] ]]; then
          if [[ "$area" != run && "$area" != api ]]; then
            echo "$file:$line: crate::$named is a root re-export; name it by its area's path" >&2
            failures=$((failures + 1))
          fi
        elif [[ "$ok" != *" $named "* ]]; then
          echo "$file:$line: the $area area names crate::$named, which it may not use (allowed: ${allowed[$area]:-nothing})" >&2
          failures=$((failures + 1))
        fi
      done < <(LAYER_FILE=${file#"$src"/} perl -ne '
        # In an area'"'"'s own mod.rs, super:: is the crate root.
        my $top = $ENV{LAYER_FILE} =~ m{^[a-z_]+/mod\.rs$};
        while (/\$?\bcrate::(\{|[A-Za-z_][A-Za-z0-9_]*)/g) { print "$.:$1\n" }
        if ($top) { while (/\bsuper::(\{|[A-Za-z_][A-Za-z0-9_]*)/g) { print "$.:$1\n" unless $1 eq "super" } }
        while (/\bsuper::super\b/g) { print "$.:super::super\n" }
        print "$.:super::*\n" if /^(pub(\([a-z]+\))? )?use super::\*;/ && $ARGV !~ m{/tests\.rs$};
        print "$.:alias\n" if /\bcrate\s+as\b|#\s*\[\s*path\b|\binclude!|\bextern\s+crate\s+self\b/;
      ' "$file")
    done < <(find "$src/$area" -name '*.rs' -print0)
  done
  if ((failures > 0)); then
    echo "check-layers: $failures reference(s) across the sidecar's layers (see docs/sidecar.md, \"Code map\")" >&2
    return 1
  fi
}

self_test() {
  local dir
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  mkdir -p "$dir/node" "$dir/coordinator" "$dir/model" "$dir/util" "$dir/custody/store"
  echo 'use crate::wire::paths;' >"$dir/node/ok.rs"
  echo 'use crate::model::scheme::WalletScheme;' >"$dir/coordinator/ok.rs"
  # super:: below an area's own mod.rs stays inside the area.
  echo 'use super::claims::RequestClaim;' >"$dir/custody/store/mod.rs"
  echo 'use super::key_provider::KeyProvider;' >"$dir/custody/store/nonces.rs"
  check "$dir" || { echo "self-test: a clean tree was refused" >&2; return 1; }
  local case
  for case in 'node/bad.rs:use crate::coordinator::NodeClient;' \
    'node/bad.rs:    let x = crate::api::rpc::serve;' \
    'node/bad.rs:use crate::run::shutdown_signal;' \
    'coordinator/bad.rs:use crate::node::NodeState;' \
    'coordinator/bad.rs:use crate::custody::store::NodeStore;' \
    'coordinator/bad.rs:use crate::{model, node};' \
    'coordinator/bad.rs:use super::super::node::NodeState;' \
    'node/bad.rs:use super::*;' \
    'node/bad.rs:pub(crate) use super::*;' \
    'model/bad.rs:        $crate::protocols::frost::FrostOpError::Failed' \
    'coordinator/bad.rs:use crate::NodeState;' \
    'coordinator/mod.rs:use super::node::NodeState;' \
    'node/mod.rs:use super::{coordinator, wire};' \
    'coordinator/bad.rs:use crate as root;' \
    'coordinator/bad.rs:#[path = "../node/error.rs"] mod error;' \
    'node/bad.rs:include!("../coordinator/mod.rs");' \
    'util/bad.rs:pub use crate::custody::store::NodeStore;' \
    'node.rs:pub mod x;' ; do
    local path=${case%%:*} text=${case#*:}
    local existed=0
    [[ -e "$dir/$path" ]] && existed=1 && cp "$dir/$path" "$dir/$path.keep"
    echo "$text" >"$dir/$path"
    if check "$dir" 2>/dev/null; then
      echo "self-test: not caught: $path: $text" >&2
      return 1
    fi
    rm "$dir/$path"
    ((existed)) && mv "$dir/$path.keep" "$dir/$path"
  done
  echo "check-layers self-test: every violation caught"
}

cd "$(dirname "$0")/.."
case "${1:-}" in
  --self-test) self_test ;;
  "") check sidecar/src && echo "check-layers: sidecar/src keeps its layers" ;;
  *) check "$1" ;;
esac
