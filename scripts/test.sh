#!/usr/bin/env bash
# The project's test command (the README's second set-up command).
# Runs every unit, integration and hermetic end-to-end test on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace -j "${CARGO_BUILD_JOBS:-2}" "$@"
