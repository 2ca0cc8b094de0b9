#!/usr/bin/env bash
# The demo: a root ceremony end to end on a throwaway SoftHSM token.
#
#   ./softhsm/demo.sh [DIR]     (DIR defaults to target/demo)
#
# Installs softhsm2, opensc and openssl if missing, builds ceremony, creates
# a token under DIR, previews and runs ceremonies/root-init.toml there, then
# checks the results with outside tools. Leaves DIR/softhsm2.conf,
# DIR/user.pin (demo only), DIR/transcript.jsonl and DIR/pki/.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=softhsm/lib.sh
. "$repo/softhsm/lib.sh"

dir=${1:-$repo/target/demo}
marker=.ceremony-demo
if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    if [ -e "$dir/$marker" ]; then
        echo "== removing the previous demo in $dir"
        rm -rf "$dir"
    else
        echo "error: $dir exists and is not empty; the demo only writes into a new or earlier demo directory" >&2
        exit 2
    fi
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
touch "$dir/$marker"

ensure_packages
echo "== building ceremony"
(cd "$repo" && cargo build --quiet --bin ceremony)
ceremony="$repo/target/debug/ceremony"

echo "== creating a throwaway SoftHSM token \"ceremony\" under $dir/tokens"
make_token "$dir" ceremony
export SOFTHSM2_CONF="$dir/softhsm2.conf"

script="$repo/ceremonies/root-init.toml"
if [ "$SOFTHSM_MODULE" != /usr/lib/softhsm/libsofthsm2.so ]; then
    sed "s#/usr/lib/softhsm/libsofthsm2.so#$SOFTHSM_MODULE#" "$script" >"$dir/root-init.toml"
    script="$dir/root-init.toml"
fi

cd "$dir"
echo "== dry run"
"$ceremony" run "$script" --dry-run
echo
echo "== ceremony"
"$ceremony" run "$script" --pin-file user.pin
echo
echo "== transcript"
"$ceremony" transcript verify transcript.jsonl

echo
echo "== certificates (checked with openssl)"
for cert in pki/ca.crt pki/etcd/ca.crt pki/front-proxy-ca.crt; do
    openssl verify -x509_strict -CAfile "$cert" "$cert"
    openssl x509 -in "$cert" -noout -subject -serial -enddate -fingerprint -sha256
    openssl x509 -in "$cert" -noout -ext basicConstraints,keyUsage | sed 's/^/    /'
done

echo
echo "== private keys in the token (pkcs11-tool)"
# The demo token is throwaway, so its PIN may appear in pkcs11-tool's argv here.
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label ceremony --login --pin "$(cat user.pin)" \
    --list-objects --type privkey 2>/dev/null

echo
echo "demo complete in $dir:"
echo "  softhsm2.conf     the demo token's SoftHSM config (export SOFTHSM2_CONF=$dir/softhsm2.conf)"
echo "  user.pin          the demo token's user PIN (mode 0600, demo only)"
echo "  transcript.jsonl  the ceremony transcript"
echo "  pki/              ca.crt, etcd/ca.crt, front-proxy-ca.crt"
