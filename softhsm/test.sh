#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and integration tests
# that run the real binary against a real SoftHSM token (one per test), then
# tests/modules.rs's table: the whole flow per PKCS#11 module.
#
#   ./softhsm/test.sh
#
# Installs softhsm2, opensc, openssl, age, etcd and chromium if missing, and
# the packages softhsm/tokens/ needs for opencryptoki and tpm2-pkcs11 on
# swtpm. Needs no terminal. tests/modules.rs runs SoftHSM, opencryptoki and
# tpm2-pkcs11 (opencryptoki needs root: one mount+IPC namespace per token).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=softhsm/lib.sh
. "$repo/softhsm/lib.sh"
ensure_packages etcd chromium
export SOFTHSM_MODULE

# The packages softhsm/tokens/{opencryptoki,tpm2}.sh use, installed when
# missing (the scripts would install them at their first start otherwise).
ensure_module_packages() {
    local need=() lib=/usr/lib/x86_64-linux-gnu
    [ -x /usr/sbin/pkcsslotd ] && [ -e "$lib/pkcs11/libopencryptoki.so" ] || need+=(opencryptoki)
    command -v swtpm >/dev/null || need+=(swtpm)
    command -v swtpm_setup >/dev/null || need+=(swtpm-tools)
    [ -e "$lib/pkcs11/libtpm2_pkcs11.so" ] || need+=(libtpm2-pkcs11-1)
    command -v tpm2-abrmd >/dev/null || need+=(tpm2-abrmd)
    compgen -G "$lib/libtss2-tcti-tabrmd.so.0*" >/dev/null || need+=(libtss2-tcti-tabrmd0)
    compgen -G "$lib/libtss2-tcti-swtpm.so.0*" >/dev/null || need+=(libtss2-tcti-swtpm0)
    command -v tpm2_getcap >/dev/null || need+=(tpm2-tools)
    command -v dbus-daemon >/dev/null || need+=(dbus-daemon)
    command -v nsenter >/dev/null && command -v unshare >/dev/null || need+=(util-linux)
    [ "${#need[@]}" -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing missing packages: ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}
ensure_module_packages

cd "$repo"
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --all-targets --features fault-injection -- -D warnings
echo "== cargo test (with the test-only fault-injection feature)"
# The etcd rotation runs once, on its own below, where its counts are shown.
cargo test --features fault-injection -- --skip etcd_ca_rotates_under_load
echo "== etcd CA rotation under load: requests per phase (tests/etcd_rotation.rs)"
cargo test --quiet --features fault-injection --test etcd_rotation -- --nocapture
echo "== the whole flow per PKCS#11 module: exit code per step (tests/modules.rs)"
cargo test --quiet --features fault-injection --test modules -- --nocapture --test-threads=1 whole_flow
