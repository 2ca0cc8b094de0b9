#!/usr/bin/env bash
# The requester's side of the demo: keys and CSRs for a small cluster (one
# control-plane node cp1, two workers w1 and w2, in 10.0.0.0/24 and under
# nodes.demo.internal, as ceremonies/sign-components.toml states), made with
# openssl, and the request manifests that `ceremony request seal` reads.
#
#   ./softhsm/make-requests.sh DIR
#
# Writes DIR/keys/*.key (private keys: they stay here), DIR/csr/*.csr,
# DIR/components.toml (every profile in DESIGN.md's table at least once)
# and DIR/intermediate.toml (one intermediate CA for the controller-manager's
# signer).
set -euo pipefail

dir=${1:?usage: make-requests.sh DIR}
mkdir -p "$dir/keys" "$dir/csr"
chmod 700 "$dir/keys"

domain=cluster.local
service_ip=10.96.0.1
declare -A node_ip=([cp1]=10.0.0.10 [w1]=10.0.0.11 [w2]=10.0.0.12)

# csr ID KEYTYPE SUBJECT: a new key in keys/ID.key and its CSR in csr/ID.csr.
csr() {
    local id=$1 keytype=$2 subject=$3
    local newkey
    case $keytype in
        p256) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
        p384) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-384) ;;
        rsa2048) newkey=(-newkey rsa:2048) ;;
        ed25519) newkey=(-newkey ed25519) ;;
        *) echo "unknown key type $keytype" >&2; return 1 ;;
    esac
    (umask 077 && openssl req -new "${newkey[@]}" -nodes -keyout "$dir/keys/$id.key" \
        -out "$dir/csr/$id.csr" -subj "$subject" 2>/dev/null)
}

# entry ID PROFILE [KEY=VALUE-TOML...]: one [[request]] in components.toml.
entry() {
    local id=$1 profile=$2
    shift 2
    {
        printf '\n[[request]]\nid = "%s"\nprofile = "%s"\ncsr = "csr/%s.csr"\n' "$id" "$profile" "$id"
        for line in "$@"; do printf '%s\n' "$line"; done
    } >>"$dir/components.toml"
}

echo "# Requests for the demo cluster: control plane cp1, workers w1 and w2." >"$dir/components.toml"

cp=cp1 ip=${node_ip[cp1]}
csr cp1-apiserver p256 "/CN=kube-apiserver"
entry cp1-apiserver apiserver "node = \"$cp\"" \
    "dns = [\"$cp\", \"kubernetes\", \"kubernetes.default\", \"kubernetes.default.svc\", \"kubernetes.default.svc.$domain\", \"control-plane.demo.internal\"]" \
    "ips = [\"$service_ip\", \"$ip\"]" 'kubeadm_path = "pki/apiserver.crt"'
csr cp1-apiserver-kubelet-client p256 "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client"
entry cp1-apiserver-kubelet-client apiserver-kubelet-client 'kubeadm_path = "pki/apiserver-kubelet-client.crt"'
csr cp1-front-proxy-client p256 "/CN=front-proxy-client"
entry cp1-front-proxy-client front-proxy-client 'kubeadm_path = "pki/front-proxy-client.crt"'
csr cp1-apiserver-etcd-client p256 "/CN=kube-apiserver-etcd-client"
entry cp1-apiserver-etcd-client apiserver-etcd-client 'kubeadm_path = "pki/apiserver-etcd-client.crt"'
for kind in server peer; do
    csr "cp1-etcd-$kind" p256 "/CN=$cp"
    entry "cp1-etcd-$kind" "etcd-$kind" "node = \"$cp\"" "dns = [\"$cp\", \"localhost\"]" \
        "ips = [\"$ip\", \"127.0.0.1\", \"::1\"]" "kubeadm_path = \"pki/etcd/$kind.crt\""
done
csr cp1-etcd-healthcheck-client p256 "/CN=kube-etcd-healthcheck-client"
entry cp1-etcd-healthcheck-client etcd-healthcheck-client 'kubeadm_path = "pki/etcd/healthcheck-client.crt"'
csr admin rsa2048 "/O=kubeadm:cluster-admins/CN=kubernetes-admin"
entry admin admin
csr super-admin p256 "/O=system:masters/CN=kubernetes-super-admin"
entry super-admin super-admin
csr controller-manager p256 "/CN=system:kube-controller-manager"
entry controller-manager controller-manager
csr scheduler p256 "/CN=system:kube-scheduler"
entry scheduler scheduler
csr kube-proxy ed25519 "/CN=system:kube-proxy"
entry kube-proxy kube-proxy
for node in cp1 w1 w2; do
    csr "$node-kubelet-client" p256 "/O=system:nodes/CN=system:node:$node"
    entry "$node-kubelet-client" kubelet-client "node = \"$node\""
    csr "$node-kubelet-serving" p384 "/O=system:nodes/CN=system:node:$node"
    entry "$node-kubelet-serving" kubelet-serving "node = \"$node\"" \
        "dns = [\"$node\", \"$node.nodes.demo.internal\"]" "ips = [\"${node_ip[$node]}\"]"
done

csr controller-manager-signer p256 "/O=demo/CN=demo-cluster-signer"
cat >"$dir/intermediate.toml" <<TOML
# An intermediate CA for the controller-manager's --cluster-signing-cert-file.
[[request]]
id = "controller-manager-signer"
profile = "intermediate-ca"
csr = "csr/controller-manager-signer.csr"
validity_days = 1825
TOML
