#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and integration tests
# that run the real binary against a real SoftHSM token (one per test).
#
#   ./softhsm/test.sh
#
# Installs softhsm2, opensc, openssl, age, etcd and chromium if missing.
# Needs no terminal.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=softhsm/lib.sh
. "$repo/softhsm/lib.sh"
ensure_packages etcd chromium
export SOFTHSM_MODULE

cd "$repo"
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --all-targets --features fault-injection -- -D warnings
echo "== cargo test (with the test-only fault-injection feature)"
cargo test --features fault-injection
