#!/usr/bin/env bash
# A kubeadm-shaped fixture: the tree `kubeadm certs generate-csr
# --kubeconfig-dir D --cert-dir D/pki` leaves on a control-plane node, made
# with openssl because kubeadm is not packaged for Debian. Same file names,
# subjects and SANs as kubeadm (DESIGN.md's table); RSA-2048 keys, as
# kubeadm's default, or P-256 keys with KEY_TYPE=ec (kubeadm's
# encryptionAlgorithm: ECDSA-P256; faster to make).
#
#   [KEY_TYPE=rsa|ec] ./softhsm/make-kubeadm.sh D [NODE] [NODE_IP]
#
# Writes D/pki/*.{key,csr}, D/pki/etcd/*.{key,csr}, and for each kubeconfig
# D/NAME.conf (a partial kubeconfig holding the client key, no certificate)
# with D/NAME.conf.csr. No CA files: in external-CA mode those come from the
# ceremony. The etcd certificates name NODE_IP (the advertise address), so
# the signing script's [step.cluster] node_networks must hold it
# (ceremonies/sign-kubeadm.toml states 10.0.0.0/24).
set -euo pipefail

dir=${1:?usage: make-kubeadm.sh D [NODE] [NODE_IP]}
node=${2:-cp1}
ip=${3:-10.0.0.10}
service_ip=10.96.0.1
domain=cluster.local
endpoint=$ip:6443
mkdir -p "$dir/pki/etcd"
chmod 700 "$dir" "$dir/pki" "$dir/pki/etcd"

# pair BASE SUBJECT [SAN]: BASE.key (mode 0600) and BASE.csr.
pair() {
    local base=$1 subject=$2 san=${3:-}
    local ext=()
    [ -n "$san" ] && ext=(-addext "subjectAltName=$san")
    local newkey=(-newkey rsa:2048)
    [ "${KEY_TYPE:-rsa}" = ec ] && newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
    (umask 077 && openssl req -new "${newkey[@]}" -nodes -keyout "$base.key" -out "$base.csr" \
        -subj "$subject" "${ext[@]}" 2>/dev/null)
}

pair "$dir/pki/apiserver" "/CN=kube-apiserver" \
    "DNS:$node,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$domain,IP:$service_ip,IP:$ip"
pair "$dir/pki/apiserver-kubelet-client" "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client"
pair "$dir/pki/front-proxy-client" "/CN=front-proxy-client"
pair "$dir/pki/apiserver-etcd-client" "/CN=kube-apiserver-etcd-client"
for kind in server peer; do
    pair "$dir/pki/etcd/$kind" "/CN=$node" "DNS:$node,DNS:localhost,IP:$ip,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1"
done
pair "$dir/pki/etcd/healthcheck-client" "/CN=kube-etcd-healthcheck-client"

# kubeconfig NAME USER SUBJECT: NAME.conf holding the key, and NAME.conf.csr.
kubeconfig() {
    local name=$1 user=$2 subject=$3
    local tmp
    tmp=$(mktemp -d)
    pair "$tmp/key" "$subject"
    mv "$tmp/key.csr" "$dir/$name.conf.csr"
    (umask 077 && cat >"$dir/$name.conf" <<YAML
apiVersion: v1
clusters:
- cluster:
    server: https://$endpoint
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: $user
  name: $user@kubernetes
current-context: $user@kubernetes
kind: Config
preferences: {}
users:
- name: $user
  user:
    client-key-data: $(base64 -w0 "$tmp/key.key")
YAML
    )
    rm -rf "$tmp"
}

kubeconfig admin kubernetes-admin "/O=kubeadm:cluster-admins/CN=kubernetes-admin"
kubeconfig super-admin kubernetes-super-admin "/O=system:masters/CN=kubernetes-super-admin"
kubeconfig controller-manager system:kube-controller-manager "/CN=system:kube-controller-manager"
kubeconfig scheduler system:kube-scheduler "/CN=system:kube-scheduler"
kubeconfig kubelet "system:node:$node" "/O=system:nodes/CN=system:node:$node"
