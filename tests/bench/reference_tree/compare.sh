#!/usr/bin/env bash
# Side-by-side decision cost: our tree (bench-tree --cold) and the reference
# router's tree (sglang-router 0.3.2, src/policies/tree.rs, unmodified), on
# the same cold workload, in one run. Needs curl, cargo and network access to
# PyPI and crates.io. Usage: tests/bench/reference_tree/compare.sh [runs]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
work=${TMPDIR:-/tmp}/sr-reference-tree
runs=${1:-3}

mkdir -p "$work/src"
if [ ! -f "$work/tree.rs" ]; then
  url=$(curl -fsSL https://pypi.org/simple/sglang-router/ |
    grep -o 'href="[^"]*sglang_router-0.3.2.tar.gz[^"]*"' | head -1 | sed 's/^href="//; s/"$//')
  curl -fsSL "$url" -o "$work/sdist.tar.gz"
  tar -xzf "$work/sdist.tar.gz" -C "$work" sglang_router-0.3.2/src/policies/tree.rs
  cp "$work/sglang_router-0.3.2/src/policies/tree.rs" "$work/tree.rs"
fi
cp "$here/Cargo.toml" "$work/Cargo.toml"
cp "$here/main.rs" "$work/main.rs"
cp "$work/tree.rs" "$work/src/tree.rs"
sed -i 's|^mod tree;|#[path = "src/tree.rs"] mod tree;|' "$work/main.rs"
(cd "$work" && cargo build --release -q)

cmake --build "$top/build" --target bench-tree >/dev/null
for i in $(seq "$runs"); do
  echo "--- run $i"
  "$top/build/bin/bench-tree" --cold decision_ns_per_byte 2>/dev/null
  "$work/target/release/reference-tree-bench"
done
