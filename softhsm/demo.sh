#!/usr/bin/env bash
# The demo: the whole flow end to end on a throwaway SoftHSM token.
#
#   ./softhsm/demo.sh [DIR]     (DIR defaults to target/demo)
#
# Installs softhsm2, opensc, openssl, age and ssh-keygen if missing, builds ceremony,
# creates a token under DIR and then:
#   1. makes demo SSH keys for three approvers and two witnesses, has 2 of
#      the 3 approvers sign ceremonies/root-init.toml (with an [approvals]
#      section added, and `backup = true` on every key), runs it (the three
#      root CAs), has both witnesses cosign its checkpoint, and lists the
#      token with `ceremony inventory`; every later ceremony is approved the
#      same way;
#   2. makes age identities for three custodians and runs
#      ceremonies/backup-roots.toml: the roots and the audit key backed up
#      2 of 3 to them, the bundle checked with sha256sum, openssl and age;
#   3. plays the requester: keys and CSRs for a small cluster, sealed into
#      request bundles, and an age identity for the results;
#   4. runs ceremonies/sign-intermediate.toml and sign-components.toml,
#      pinned to the sealed bundles' digests;
#   5. opens the output bundles and checks everything with outside tools;
#   6. kubeadm's external-CA flow: a kubeadm-shaped tree made with openssl
#      (softhsm/make-kubeadm.sh), sealed with `request seal --kubeadm`,
#      signed by ceremonies/sign-kubeadm.toml, opened back into the tree
#      with `bundle open --kubeadm`;
#   7. runs ceremonies/revoke-intermediate.toml: the cluster root's CRL
#      revokes the intermediate, checked with openssl crl -verify and
#      openssl verify -crl_check;
#   8. makes a second token under DIR/restore and runs
#      ceremonies/restore-roots.toml into it with 2 of the 3 custodians'
#      shares; each restored public key is compared with the root's, and
#      the restored cluster root signs the intermediate again there, opened
#      with the original pins and checked with openssl verify;
#   9. a cluster CA rotation: ceremonies/new-roots.toml makes the next roots
#      in DIR/pki-next/ and the link certificates (pki-next/links/),
#      `ceremony rotate plan` writes the three phases under DIR/rotation/,
#      and the new cluster root's intermediate is verified with openssl
#      against only the old root through the link (and not without it).
# Leaves DIR/softhsm2.conf, DIR/user.pin and DIR/so.pin (demo only),
# DIR/transcript.jsonl, DIR/checkpoint, DIR/audit-key.pub,
# DIR/report/report.{html,md}, DIR/pki/, DIR/requester.agekey,
# DIR/requests/, DIR/bundles/*.tar.age with their .sha256 files,
# DIR/opened/, DIR/kubeadm (the opened kubeadm tree: pki/ with the
# fixture's keys and the issued certificates, *.conf filled) and
# DIR/crl/cluster-root.crl; DIR/approvers/ and DIR/witnesses/ (demo SSH
# keys and allowed_signers), DIR/approvals/, DIR/root-init.checkpoint and
# DIR/cosignatures/; DIR/custodians/ (the custodians' demo age identities),
# DIR/backup/ (the backup bundle) and DIR/restore/ (the second token, its
# PINs, transcript, checkpoint and the intermediate it signed); DIR/pki-next/
# (the new roots and links/) and DIR/rotation/ (the rotation plan).
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

cd "$dir"
echo "== approvers (alice, bob, carol) and witnesses: demo SSH keys, allowed_signers files"
# Officers sign with the SSH keys they already carry (often on a hardware
# key); the demo makes throwaway ones. Every ceremony must be approved by 2
# of the 3 approvers; the witnesses cosign the root ceremony's checkpoint.
mkdir -p approvers witnesses approvals cosignatures
signers_line() { printf '%s %s\n' "$1" "$(cut -d' ' -f1,2 "$2.pub")"; }
for who in alice bob carol; do
    ssh-keygen -q -t ed25519 -N '' -C "$who@demo" -f "approvers/$who"
    signers_line "$who@demo" "approvers/$who" >>approvers/allowed_signers
done
ssh-keygen -q -t ed25519 -N '' -C witness-one@demo -f witnesses/witness-one
ssh-keygen -q -t ecdsa -b 256 -N '' -C witness-two@demo -f witnesses/witness-two
signers_line witness-one@demo witnesses/witness-one >>witnesses/allowed_signers
signers_line witness-two@demo witnesses/witness-two >>witnesses/allowed_signers
cat approvers/allowed_signers witnesses/allowed_signers | cut -c1-60 | sed 's/$/…/;s/^/  /'

# approve SCRIPT: alice and bob sign SCRIPT's bytes (carol does not: 2 of 3
# suffice); sets approval_flags to pass them to `ceremony run`.
approve() {
    approval_flags=()
    local who sig
    for who in alice bob; do
        ssh-keygen -Y sign -f "approvers/$who" -n ceremony-approval "$1" 2>/dev/null
        sig="approvals/$(basename "$1").$who.sig"
        mv "$1.sig" "$sig"
        approval_flags+=(--approval "$sig")
    done
    echo "  $1 approved by alice@demo and bob@demo: ${approval_flags[*]}"
}

# The shipped root ceremony, with its module and the demo's approvals rule.
script="$dir/root-init.toml"
# `backup = true` on every key, so that ceremonies/backup-roots.toml can back
# them up (the shipped script's keys never leave the token).
sed -e "s#/usr/lib/softhsm/libsofthsm2.so#$SOFTHSM_MODULE#" \
    -e 's#^validity_days = 3650$#&\nbackup = true#' \
    -e 's#^public_key = "audit-key.pub"$#&\nbackup = true#' \
    "$repo/ceremonies/root-init.toml" >"$script"
[ "$(grep -c '^backup = true$' "$script")" -eq 4 ] || {
    echo "error: root-init.toml: expected 4 keys to make backup-capable" >&2
    exit 1
}
# add_approvals SCRIPT: the demo's approvals rule, 2 of the 3 approvers.
add_approvals() {
    printf '\n[approvals]\nallowed_signers = "approvers/allowed_signers"\nrequired = 2\n' >>"$1"
}
add_approvals "$script"

echo "== dry run (what the approvers read before they sign)"
"$ceremony" run "$script" --dry-run
echo
echo "== approvals: 2 of 3 approvers sign the script"
approve "$script"
"$ceremony" run "$script" --dry-run "${approval_flags[@]}" | grep '^ *approv'
echo
echo "== ceremony (a rehearsal: the witnesses' acknowledgements come from a file)"
answers_for "$ceremony" "$script" root-init.answers
"$ceremony" run "$script" --pin-file user.pin --answers root-init.answers "${approval_flags[@]}"
echo
echo "== an approval, checked with OpenSSH alone"
ssh-keygen -Y verify -f approvers/allowed_signers -I alice@demo -n ceremony-approval \
    -s approvals/root-init.toml.alice.sig <root-init.toml | sed 's/^/  /'
echo
echo "== the witnesses cosign the root ceremony's checkpoint"
cp checkpoint root-init.checkpoint
for w in witness-one witness-two; do
    ssh-keygen -Y sign -f "witnesses/$w" -n ceremony-checkpoint root-init.checkpoint 2>/dev/null
    mv root-init.checkpoint.sig "cosignatures/root-init.checkpoint.$w.sig"
done
"$ceremony" transcript cosign transcript.jsonl --checkpoint root-init.checkpoint \
    --cosigners witnesses/allowed_signers cosignatures/root-init.checkpoint.*.sig
echo
echo "== transcript"
"$ceremony" transcript verify transcript.jsonl --checkpoint root-init.checkpoint \
    --audit-key pki/audit-key.pub --cosigners witnesses/allowed_signers --min-cosigners 2

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
echo "== token inventory (ceremony inventory)"
"$ceremony" inventory --module "$SOFTHSM_MODULE" --token ceremony --pin-file user.pin

echo
echo "== custodians (one, two, three): demo age identities; the backup ceremony"
# Each custodian makes an age identity and sends its recipient to the
# officers, who write it into ceremonies/backup-roots.toml; any 2 of the 3
# custodians' shares restore the keys. The security officer logs in too.
mkdir -p custodians
custodian_flags=()
custodians=(one two three)
for i in 1 2 3; do
    who=${custodians[i - 1]}
    (umask 077 && age-keygen -o "custodians/$who.agekey" 2>/dev/null)
    custodian_flags+=(-e "s#CUSTODIAN-$i-AGE-RECIPIENT#$(age-keygen -y "custodians/$who.agekey")#")
    echo "  custodian $who: $(age-keygen -y "custodians/$who.agekey")"
done
sed -e "s#/usr/lib/softhsm/libsofthsm2.so#$SOFTHSM_MODULE#" "${custodian_flags[@]}" \
    "$repo/ceremonies/backup-roots.toml" >backup-roots.toml
add_approvals backup-roots.toml
approve backup-roots.toml
"$ceremony" run backup-roots.toml --dry-run "${approval_flags[@]}"
answers_for "$ceremony" backup-roots.toml backup-roots.answers
"$ceremony" run backup-roots.toml --pin-file user.pin --so-pin-file so.pin \
    --answers backup-roots.answers "${approval_flags[@]}"
echo
echo "== the backup bundle, checked with outside tools"
find backup -type f | sort | sed 's/^/  /'
(cd backup && sha256sum -c SHA256SUMS) | sed 's/^/  /'
openssl dgst -sha256 -verify pki/audit-key.pub -signature backup/SHA256SUMS.sig backup/SHA256SUMS |
    sed 's/^/  openssl dgst -verify SHA256SUMS.sig: /'
# A custodian opens their share with the stock age CLI; the demo shows its
# header, never its value line (the custodian's secret).
echo "  age -d -i custodians/two.agekey backup/shares/02-custodian-two.age (value line not shown):"
age -d -i custodians/two.agekey backup/shares/02-custodian-two.age | sed -n '/^value: /!p' | cut -c1-100 | sed 's/^/    /'

echo
echo "== requester: keys and CSRs for cp1, w1, w2 (openssl), sealed into request bundles"
"$repo/softhsm/make-requests.sh" "$dir/requester"
(umask 077 && age-keygen -o requester.agekey 2>/dev/null)
recipient=$(age-keygen -y requester.agekey)
mkdir -p requests
for name in intermediate components; do
    "$ceremony" request seal "requester/$name.toml" --out "requests/$name.tar" | tee "requests/$name.sealed"
done
sha_of() { sed -n 's/^sha256 //p' "requests/$1.sealed"; }

for name in intermediate components; do
    echo
    echo "== ceremony sign-$name (script pinned to sha256 $(sha_of $name))"
    fill_script "$repo/ceremonies/sign-$name.toml" "sign-$name.toml" "$(sha_of $name)" "$recipient"
    approve "sign-$name.toml"
    "$ceremony" run "sign-$name.toml" --dry-run "${approval_flags[@]}"
    "$ceremony" run "sign-$name.toml" --pin-file user.pin "${approval_flags[@]}"
done
"$ceremony" transcript verify transcript.jsonl

echo
echo "== requester: open the output bundles, pinned to the roots and the audit key"
# The requester pins the roots and the audit key it got out of band (here
# from pki/, as the root ceremony wrote them; compare their fingerprints
# with the ceremony's report or paper record).
pins=(--ca pki/ca.crt --ca pki/etcd/ca.crt --ca pki/front-proxy-ca.crt --audit-key pki/audit-key.pub)
for root in pki/ca.crt pki/etcd/ca.crt pki/front-proxy-ca.crt; do
    echo "  pinned $root: $(openssl x509 -in "$root" -noout -fingerprint -sha256)"
done
for name in intermediate components; do
    (cd bundles && sha256sum -c "$name.tar.age.sha256")
    "$ceremony" bundle open "bundles/$name.tar.age" --identity requester.agekey "${pins[@]}" --out "opened/$name" | tail -1
    # The stock tools give the same result: age -d, tar, sha256sum -c, and
    # the ceremony's signature over SHA256SUMS with openssl dgst -verify.
    mkdir -p "stock/$name"
    age -d -i requester.agekey "bundles/$name.tar.age" | tar -x -C "stock/$name"
    (cd "stock/$name" && sha256sum --quiet -c SHA256SUMS) && echo "stock age + sha256sum -c: $name OK"
    openssl dgst -sha256 -verify pki/audit-key.pub -signature "stock/$name/SHA256SUMS.sig" "stock/$name/SHA256SUMS" |
        sed "s/^/stock openssl dgst -verify SHA256SUMS.sig: $name /"
done

echo
echo "== issued certificates (openssl verify -x509_strict, with each profile's purpose)"
o=opened/components
check() { # check CA PURPOSE CERT...
    local ca=$1 purpose=$2
    shift 2
    for cert in "$@"; do
        openssl verify -x509_strict -purpose "$purpose" -CAfile "$ca" "$cert" | sed 's/^/  /'
    done
}
check $o/pki/ca.crt sslserver $o/certs/cp1-apiserver.crt $o/certs/*-kubelet-serving.crt
check $o/pki/ca.crt sslclient $o/certs/cp1-apiserver-kubelet-client.crt $o/certs/admin.crt \
    $o/certs/super-admin.crt $o/certs/controller-manager.crt $o/certs/scheduler.crt \
    $o/certs/kube-proxy.crt $o/certs/{cp1,w1,w2}-kubelet-client.crt
check $o/pki/etcd/ca.crt sslserver $o/certs/cp1-etcd-server.crt $o/certs/cp1-etcd-peer.crt
check $o/pki/etcd/ca.crt sslclient $o/certs/cp1-etcd-peer.crt $o/certs/cp1-apiserver-etcd-client.crt \
    $o/certs/cp1-etcd-healthcheck-client.crt
check $o/pki/front-proxy-ca.crt sslclient $o/certs/cp1-front-proxy-client.crt
if openssl verify -x509_strict -CAfile $o/pki/ca.crt $o/certs/cp1-etcd-server.crt >/dev/null 2>&1; then
    echo "error: an etcd certificate verified against the cluster root" >&2
    exit 1
fi
echo "  etcd certificates do not verify against the cluster root: OK"
i=opened/intermediate
openssl verify -x509_strict -CAfile $i/pki/ca.crt $i/certs/controller-manager-signer.crt | sed 's/^/  /'
openssl x509 -in $i/certs/controller-manager-signer.crt -noout -subject -ext basicConstraints,keyUsage,nameConstraints | sed 's/^/  /'

echo
echo "== kubeadm external-CA flow: fixture in kubeadm/, sealed with --kubeadm"
"$repo/softhsm/make-kubeadm.sh" "$dir/kubeadm"
"$ceremony" request seal --kubeadm kubeadm --out requests/kubeadm.tar | tee requests/kubeadm.sealed
fill_script "$repo/ceremonies/sign-kubeadm.toml" sign-kubeadm.toml "$(sha_of kubeadm)" "$recipient"
approve sign-kubeadm.toml
"$ceremony" run sign-kubeadm.toml --pin-file user.pin "${approval_flags[@]}"
"$ceremony" bundle open bundles/kubeadm.tar.age --identity requester.agekey "${pins[@]}" --kubeadm kubeadm | tail -1
for cert in kubeadm/pki/*.crt kubeadm/pki/etcd/*.crt; do
    case $cert in
        */ca.crt | */front-proxy-ca.crt) continue ;;
        kubeadm/pki/etcd/* | */apiserver-etcd-client.crt) ca=kubeadm/pki/etcd/ca.crt ;;
        */front-proxy-client.crt) ca=kubeadm/pki/front-proxy-ca.crt ;;
        *) ca=kubeadm/pki/ca.crt ;;
    esac
    openssl verify -x509_strict -CAfile "$ca" "$cert" | sed 's/^/  /'
done
for conf in kubeadm/*.conf; do
    grep -q 'client-certificate-data: ' "$conf" && echo "  $conf: client-certificate-data filled"
done

echo
echo "== ceremony revoke-intermediate: the cluster root revokes the intermediate with a CRL"
sed "s#/usr/lib/softhsm/libsofthsm2.so#$SOFTHSM_MODULE#" "$repo/ceremonies/revoke-intermediate.toml" >revoke-intermediate.toml
approve revoke-intermediate.toml
"$ceremony" run revoke-intermediate.toml --dry-run "${approval_flags[@]}"
"$ceremony" run revoke-intermediate.toml --pin-file user.pin "${approval_flags[@]}"
openssl crl -in crl/cluster-root.crl -noout -verify -CAfile pki/ca.crt 2>&1 | sed 's/^/  /'
openssl crl -in crl/cluster-root.crl -noout -text | sed -n '/CRL Number/,+1p;/Serial Number/,+4p' | sed 's/^/  /'
if openssl verify -crl_check -CAfile <(cat pki/ca.crt crl/cluster-root.crl) $i/certs/controller-manager-signer.crt >/dev/null 2>&1; then
    echo "error: the revoked intermediate still verifies with the CRL" >&2
    exit 1
fi
echo "  openssl verify -crl_check: the intermediate is revoked: OK"

echo
echo "== restore drill: a second token under $dir/restore, restore-roots.toml with 2 of 3 shares"
make_token "$dir/restore" restore
restore_conf="$dir/restore/softhsm2.conf"
sed "s#/usr/lib/softhsm/libsofthsm2.so#$SOFTHSM_MODULE#" "$repo/ceremonies/restore-roots.toml" >restore-roots.toml
add_approvals restore-roots.toml
approve restore-roots.toml
SOFTHSM2_CONF=$restore_conf "$ceremony" run restore-roots.toml --dry-run "${approval_flags[@]}"
answers_for "$ceremony" restore-roots.toml restore-roots.answers
# Custodians one and three are present; two is not.
SOFTHSM2_CONF=$restore_conf "$ceremony" run restore-roots.toml \
    --pin-file restore/user.pin --so-pin-file restore/so.pin \
    --share backup/shares/01-custodian-one.age=custodians/one.agekey \
    --share backup/shares/03-custodian-three.age=custodians/three.agekey \
    --answers restore-roots.answers "${approval_flags[@]}"
SOFTHSM2_CONF=$restore_conf "$ceremony" inventory --module "$SOFTHSM_MODULE" --token restore \
    --pin-file restore/user.pin | grep -E '^private-key|^    policy|object\(s\)' | cut -c1-100
echo
echo "== the restored keys are the roots: public keys in the restore token (pkcs11-tool) vs pki/"
spki_sha() { openssl pkey -pubin -inform "$1" -outform DER | sha256sum | cut -d' ' -f1; }
for pair in cluster-root-ca:pki/ca.crt etcd-root-ca:pki/etcd/ca.crt \
    front-proxy-root-ca:pki/front-proxy-ca.crt ceremony-audit:pki/audit-key.pub; do
    label=${pair%%:*} file=${pair#*:}
    restored=$(SOFTHSM2_CONF=$restore_conf pkcs11-tool --module "$SOFTHSM_MODULE" --token-label restore \
        --login --pin "$(cat restore/user.pin)" --read-object --type pubkey --label "$label" 2>/dev/null | spki_sha DER)
    case $file in
        *.crt) original=$(openssl x509 -in "$file" -noout -pubkey | spki_sha PEM) ;;
        *) original=$(spki_sha PEM <"$file") ;;
    esac
    if [ "$restored" != "$original" ]; then
        echo "error: restored $label's public key differs from $file's" >&2
        exit 1
    fi
    echo "  $label: restored public key sha256 $restored = $file's: OK"
done
echo
echo "== the restored cluster root signs the intermediate request again, in the restore token"
fill_script "$repo/ceremonies/sign-intermediate.toml" restore-sign-intermediate.toml \
    "$(sha_of intermediate)" "$recipient"
sed -i -e 's#^label = "ceremony"$#label = "restore"#' \
    -e 's#^transcript = "transcript.jsonl"$#transcript = "restore/transcript.jsonl"#' \
    -e 's#^directory = "bundles"$#directory = "restore/bundles"#' \
    -e 's#^origin = .*#origin = "demo cluster PKI restored"#' \
    -e 's#^checkpoint = "checkpoint"$#checkpoint = "restore/checkpoint"#' restore-sign-intermediate.toml
approve restore-sign-intermediate.toml
SOFTHSM2_CONF=$restore_conf "$ceremony" run restore-sign-intermediate.toml \
    --pin-file restore/user.pin "${approval_flags[@]}"
# Opened with the original roots and audit key as pins: the restored audit
# key signed the bundle's SHA256SUMS.
"$ceremony" bundle open restore/bundles/intermediate.tar.age --identity requester.agekey "${pins[@]}" \
    --out restore/opened | tail -1
openssl verify -x509_strict -CAfile pki/ca.crt restore/opened/certs/controller-manager-signer.crt | sed 's/^/  /'
"$ceremony" transcript verify restore/transcript.jsonl --checkpoint restore/checkpoint --audit-key pki/audit-key.pub

echo
echo "== cluster CA rotation: ceremonies/new-roots.toml (new roots in pki-next/, cross-signed)"
sed "s#/usr/lib/softhsm/libsofthsm2.so#$SOFTHSM_MODULE#" "$repo/ceremonies/new-roots.toml" >new-roots.toml
add_approvals new-roots.toml
approve new-roots.toml
"$ceremony" run new-roots.toml --dry-run "${approval_flags[@]}"
answers_for "$ceremony" new-roots.toml new-roots.answers
"$ceremony" run new-roots.toml --pin-file user.pin --answers new-roots.answers "${approval_flags[@]}"
for link in pki-next/links/*.crt; do
    echo "  $link: $(openssl x509 -in "$link" -noout -subject -issuer -enddate | paste -sd' ')"
done
echo
echo "== ceremony rotate plan: the three phases under $dir/rotation"
"$ceremony" rotate plan --current pki --new pki-next --kubeadm kubeadm --out rotation \
    --new-key-label cluster=cluster-root-ca-2 --new-key-label etcd=etcd-root-ca-2 \
    --new-key-label front-proxy=front-proxy-root-ca-2
count_certs() { openssl crl2pkcs7 -nocrl -certfile "$1" | openssl pkcs7 -print_certs -noout | grep -c '^subject='; }
for phase in rotation/phase-*; do
    echo "  $phase/:"
    (cd "$phase" && find . -type f | sed 's#^\./##' | sort | sed 's/^/    /')
    sed -n '1,4p' "$phase/CHECKLIST.md" | sed 's/^/    | /'
    for rel in ca.crt etcd/ca.crt front-proxy-ca.crt; do
        echo "    pki/$rel: $(count_certs "$phase/pki/$rel") certificate(s)"
    done
done
echo
echo "== the new cluster root signs the intermediate request; verified against only the old root"
fill_script "$repo/ceremonies/sign-intermediate.toml" sign-intermediate-next.toml \
    "$(sha_of intermediate)" "$recipient"
sed -i -e 's#^key_label = "cluster-root-ca"$#key_label = "cluster-root-ca-2"#' \
    -e 's#^certificate = "pki/ca.crt"$#certificate = "pki-next/ca.crt"#' \
    -e 's#^output = "intermediate"$#output = "intermediate-next"#' \
    -e 's#^name = "sign-intermediate"$#name = "sign-intermediate-next"#' sign-intermediate-next.toml
[ "$(grep -c -e '"cluster-root-ca-2"' -e '"pki-next/ca.crt"' -e 'intermediate-next"$' sign-intermediate-next.toml)" -eq 4 ] || {
    echo "error: sign-intermediate.toml: expected the issuer and the output to switch to the new root" >&2
    exit 1
}
approve sign-intermediate-next.toml
"$ceremony" run sign-intermediate-next.toml --pin-file user.pin "${approval_flags[@]}"
"$ceremony" bundle open bundles/intermediate-next.tar.age --identity requester.agekey \
    --ca pki-next/ca.crt --audit-key pki/audit-key.pub --out opened/intermediate-next | tail -1
next=opened/intermediate-next/certs/controller-manager-signer.crt
openssl verify -x509_strict -CAfile pki-next/ca.crt "$next" | sed 's/^/  new root only: /'
openssl verify -x509_strict -CAfile pki/ca.crt -untrusted pki-next/links/cluster-new-by-old.crt "$next" |
    sed 's/^/  old root only, through the link: /'
if without=$(openssl verify -x509_strict -CAfile pki/ca.crt "$next" 2>&1); then
    echo "error: the new root's intermediate verified against the old root without the link" >&2
    exit 1
fi
echo "  old root only, without the link (expected to fail):"
sed 's/^/    /' <<<"$without"

cp pki/audit-key.pub audit-key.pub
"$ceremony" transcript verify transcript.jsonl --checkpoint checkpoint --audit-key audit-key.pub
echo "checkpoint (print it and file it with the paper record):"
sed 's/^/  /' checkpoint
echo
echo "== the ceremony report (HTML and Markdown, verdict at the top)"
"$ceremony" report transcript.jsonl --out report --checkpoint checkpoint --audit-key audit-key.pub

echo
echo "demo complete in $dir:"
echo "  softhsm2.conf     the demo token's SoftHSM config (export SOFTHSM2_CONF=$dir/softhsm2.conf)"
echo "  user.pin          the demo token's user PIN (mode 0600, demo only)"
echo "  transcript.jsonl  the transcript of every ceremony"
echo "  pki/              the roots: ca.crt, etcd/ca.crt, front-proxy-ca.crt"
echo "  requester.agekey  the requester's age identity"
echo "  requests/         the sealed request bundles"
echo "  bundles/          the output bundles (*.tar.age, *.tar.age.sha256)"
echo "  opened/           the output bundles, opened with ceremony bundle open"
echo "  kubeadm/          a kubeadm tree in external-CA mode: keys, certificates, filled kubeconfigs"
echo "  checkpoint        the last signed checkpoint of the transcript"
echo "  audit-key.pub     the audit key's public key (checks every checkpoint)"
echo "  report/           report.html and report.md: the transcript rendered for people"
echo "  crl/              the cluster root's CRL, revoking the intermediate"
echo "  approvers/        the approvers' demo SSH keys and allowed_signers (2 of 3 approve each ceremony)"
echo "  approvals/        each ceremony script's approvals (ssh-keygen -Y sign -n ceremony-approval)"
echo "  witnesses/        the witnesses' demo SSH keys and allowed_signers"
echo "  root-init.checkpoint  the root ceremony's checkpoint, cosigned by both witnesses"
echo "  cosignatures/     the witnesses' cosignatures of it (recorded in the transcript too)"
echo "  custodians/       the custodians' demo age identities (one, two, three; mode 0600)"
echo "  backup/           the backup of the roots and the audit key: manifest.json, shares/, SHA256SUMS(.sig)"
echo "  restore/          the second token (softhsm2.conf, tokens/, user.pin, so.pin), its transcript and checkpoint"
echo "  pki-next/         the new roots (laid out like pki/) and links/: the link certificates, old→new and new→old"
echo "  rotation/         the rotation plan: README.md and the three phases (phase-1-trust-both, phase-2-new-leaves, phase-3-trust-new)"
