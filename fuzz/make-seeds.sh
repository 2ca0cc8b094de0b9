#!/usr/bin/env bash
# Rebuilds the seed corpora in fuzz/seeds/ from a finished demo and the
# shipped ceremony scripts. The committed seeds were made this way; run it
# again only to refresh them (keys and digests change on every demo run).
#
#   ./softhsm/demo.sh /tmp/demo && ./fuzz/make-seeds.sh /tmp/demo
#
# Needs openssl, age, tar and the ceremony binary (target/debug/ceremony).
set -euo pipefail

demo=${1:?usage: make-seeds.sh DEMO_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
seeds=$repo/fuzz/seeds
ceremony=$repo/target/debug/ceremony
recipient=age1c2ncf4rf2yqg92jhju2dl9d6j48588gducllv7f3z0c5wyyn3azs02z7mx # fuzz/src/lib.rs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rm -rf "$seeds"
mkdir -p "$seeds"/{csr,request_bundle,manifest,transcript,checkpoint,script,bundle_open,share_file}

# csr: one CSR of every key kind the demo makes, one as DER, one from the
# kubeadm fixture, and openssl CSRs that ask for what no profile gives.
for id in cp1-apiserver cp1-kubelet-serving admin kube-proxy controller-manager-signer super-admin cp1-etcd-server; do
    cp "$demo/requester/csr/$id.csr" "$seeds/csr/demo-$id.csr"
done
openssl req -in "$demo/requester/csr/w1-kubelet-client.csr" -outform DER -out "$seeds/csr/demo-w1-kubelet-client.der"
cp "$demo/kubeadm/pki/apiserver.csr" "$seeds/csr/kubeadm-apiserver.csr"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/k" -subj "/O=system:nodes/CN=system:node:w1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "subjectAltName=DNS:w1,IP:10.0.0.11,IP:::1,email:a@example.com,URI:https://example.com/" \
    -outform DER -out "$seeds/csr/openssl-asks-ca-and-sans.der" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$work/k" \
    -subj "/C=DE/O=example/OU=pki/CN=online-signer" -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -out "$seeds/csr/openssl-intermediate-extra-attributes.csr" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:secp521r1 -nodes -keyout "$work/k" -subj "/CN=p521" \
    -outform DER -out "$seeds/csr/openssl-p521-refused.der" 2>/dev/null

# request_bundle and manifest: the demo's intermediate bundle and a small
# two-request bundle sealed here; the manifests of all of them.
cp "$demo/requests/intermediate.tar" "$seeds/request_bundle/demo-intermediate.tar"
mkdir -p "$work/req/csr"
cp "$demo/requester/csr/kube-proxy.csr" "$demo/requester/csr/cp1-etcd-server.csr" "$work/req/csr/"
cat >"$work/req/requests.toml" <<'EOF'
[[request]]
id = "kube-proxy"
profile = "kube-proxy"
csr = "csr/kube-proxy.csr"

[[request]]
id = "cp1-etcd-server"
profile = "etcd-server"
csr = "csr/cp1-etcd-server.csr"
node = "cp1"
dns = ["cp1", "localhost"]
ips = ["10.0.0.10", "127.0.0.1", "::1"]
validity_days = 365
kubeadm_path = "pki/etcd/server.crt"
EOF
"$ceremony" request seal --out "$seeds/request_bundle/two-requests.tar" "$work/req/requests.toml" >/dev/null
for b in intermediate components kubeadm; do
    tar -xOf "$demo/requests/$b.tar" manifest.json >"$seeds/manifest/demo-$b.json"
done
tar -xOf "$seeds/request_bundle/two-requests.tar" manifest.json >"$seeds/manifest/two-requests.json"

# transcript: the demo's first entries, its first ceremony up to the
# checkpoint it signed, and a torn line followed by the crash_remnant entry
# the tool writes when it finds one.
head -n 4 "$demo/transcript.jsonl" >"$seeds/transcript/demo-root-init-first-4.jsonl"
n=$(grep -n '"type":"checkpoint"' "$demo/transcript.jsonl" | head -n 1 | cut -d: -f1)
head -n "$n" "$demo/transcript.jsonl" >"$seeds/transcript/demo-root-init-to-checkpoint.jsonl"
head -n 3 "$demo/transcript.jsonl" >"$work/torn.jsonl"
sed -n 4p "$demo/transcript.jsonl" | head -c 100 >>"$work/torn.jsonl"
"$ceremony" transcript note --author "Fuzz Seed" "$work/torn.jsonl" "after a crash" >/dev/null
cp "$work/torn.jsonl" "$seeds/transcript/torn-line-then-crash-remnant.jsonl"
: >"$seeds/transcript/empty.jsonl"

# checkpoint: the demo's last checkpoint (signed by fuzz/fixtures/audit-key.pub).
cp "$demo/checkpoint" "$seeds/checkpoint/demo-checkpoint"
cp "$demo/audit-key.pub" "$repo/fuzz/fixtures/audit-key.pub"

# script: every shipped ceremony script.
cp "$repo"/ceremonies/*.toml "$seeds/script/"

# bundle_open: decrypted output bundles (the target encrypts each input to
# its fixed identity), one written by GNU tar with a directory entry, and
# one whole age file encrypted to that identity.
age -d -i "$demo/requester.agekey" "$demo/bundles/intermediate.tar.age" >"$seeds/bundle_open/demo-intermediate.tar"
mkdir -p "$work/gnu/certs"
cp "$demo/opened/intermediate/manifest.json" "$work/gnu/"
cp "$demo/opened/intermediate/certs/controller-manager-signer.crt" "$work/gnu/certs/"
(cd "$work/gnu" && sha256sum manifest.json certs/controller-manager-signer.crt >SHA256SUMS &&
    tar --format=gnu --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$seeds/bundle_open/gnu-tar-with-directory.tar" SHA256SUMS manifest.json certs)
age -r "$recipient" -o "$seeds/bundle_open/demo-intermediate.tar.age" "$seeds/bundle_open/demo-intermediate.tar"

# share_file: a 2-of-3 share's text (fuzz/fixtures/share-2-of-3.txt, written
# by ShareFile::to_text; no command writes one yet).
cp "$repo/fuzz/fixtures/share-2-of-3.txt" "$seeds/share_file/share-2-of-3.txt"

du -sh "$seeds"/*
