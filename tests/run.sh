#!/usr/bin/env bash
# The README's test command: installs the Debian packages, configures, builds
# and runs every test (ctest). Extra arguments go to ctest, e.g.
#   tests/run.sh -R unit.radix      one test
#   tests/run.sh -L unit            one label (unit, bench)
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSR_WITH_ORACLE=ON
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
