#!/usr/bin/env bash
# The batch-signing benchmark, on a throwaway SoftHSM token.
#
#   ./softhsm/bench.sh [N...]        sizes to run (default: 1000 10000 100000)
#   ./softhsm/bench.sh 1000 10000    the quick form (about a minute once built)
#
# Environment:
#   BENCH_DIR                 where everything goes (default target/bench;
#                             an earlier bench there is removed first)
#   BENCH_KEY                 the root's key: p256 (default) or rsa2048
#   BENCH_OPENSSL_SAMPLE      CSRs signed by the openssl loop per N (default 50)
#   BENCH_TRANSCRIPT_ENTRIES  size of the synthetic transcript whose
#                             verification is timed (default 1000000; 0 skips)
#   BENCH_RUNS                ceremony runs per N, the fastest counts (default 1);
#                             more runs steady the numbers on a busy machine
#   BENCH_SESSIONS            token sessions signing at once, given to both the
#                             ceiling and `ceremony run --sessions` (default:
#                             the tool's own default, half the cores, at least 1)
#
# In one run and on one token it builds ceremony and the examples in release
# mode, creates the token and runs a bench-only root ceremony (the cluster
# root of BENCH_KEY and the audit key, no witnessed steps). Then, for each N:
#   1. examples/gen_requests writes N P-256 kubelet-serving CSRs (one DNS and
#      one IP SAN each) and their manifest; `ceremony request seal` seals them;
#   2. examples/token_rate times raw C_Sign calls with the root key on
#      BENCH_SESSIONS sessions, the number `ceremony run` is given: the
#      ceiling (the best of three measurements);
#   3. the real `ceremony run` of a sign-requests script pinned to the bundle,
#      timed end to end by /usr/bin/time (wall clock and peak RSS): transcript
#      verification, login, inventories, bundle digest, CSR and profile
#      checks, signing, software verification of every signature, the
#      fsync'd transcript, the encrypted output bundle and the checkpoint;
#   4. (not timed) the output bundle is decrypted with the stock age CLI, its
#      certificates counted, and the first one checked with
#      openssl verify -x509_strict -purpose sslserver; then (timed) the
#      requester's `ceremony bundle open --ca --audit-key` of it;
#   5. the openssl loop: one `openssl x509 -req -engine pkcs11` process per
#      CSR, on a sample of the same CSRs, with the same key in the same token.
# Then it times `ceremony transcript verify` on a synthetic transcript
# (examples/gen_transcript), prints how time and memory grow with N, and ends
# with one line for the largest N, to compare across runs:
#   N=… key=… certs_per_s=… token_signs_per_s=… tool/token=… tool/openssl=… peak_rss_mib=…
#
# Phases inside a run come from the transcript's timestamps (whole seconds).
# The token, its PINs and the OpenSSL config that gives the engine the PIN
# (mode 0600) are throwaway, under BENCH_DIR; no PIN is put on a command line.
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=softhsm/lib.sh
. "$repo/softhsm/lib.sh"

sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(1000 10000 100000)
for n in "${sizes[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench.sh [N...]  (N a positive integer, got $n)" >&2; exit 2; }
done
key=${BENCH_KEY:-p256}
case $key in
    p256) algorithm=ecdsa-p256 token_signs=10000 ;;
    rsa2048) algorithm=rsa-2048 token_signs=2000 ;;
    *) echo "error: BENCH_KEY must be p256 or rsa2048, not $key" >&2; exit 2 ;;
esac
sample_max=${BENCH_OPENSSL_SAMPLE:-50}
transcript_entries=${BENCH_TRANSCRIPT_ENTRIES:-1000000}
runs=${BENCH_RUNS:-1}
sessions=${BENCH_SESSIONS:-$(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 ))}
[[ $sessions =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_SESSIONS must be a positive integer" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_RUNS must be a positive integer" >&2; exit 2; }

dir=${BENCH_DIR:-$repo/target/bench}
marker=.ceremony-bench
if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    if [ -e "$dir/$marker" ]; then
        rm -rf "$dir"
    else
        echo "error: $dir exists and is not empty; the bench only writes into a new or earlier bench directory" >&2
        exit 2
    fi
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
touch "$dir/$marker"

ensure_packages bench
engine=$(pkcs11_engine)

# elapsed START: seconds since START (an $EPOCHREALTIME value), 3 decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
# calc EXPR: awk arithmetic, printed as awk prints it.
calc() { awk "BEGIN { print $1 }"; }

echo "== building ceremony and the bench examples (release)"
build_start=$EPOCHREALTIME
(cd "$repo" && cargo build --release --quiet --bin ceremony \
    --example gen_requests --example token_rate --example gen_transcript)
echo "build: $(elapsed "$build_start")s (not counted below)"
ceremony="$repo/target/release/ceremony"
examples="$repo/target/release/examples"
bench_start=$EPOCHREALTIME

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "== machine: $(nproc) cores (${cpu:-unknown CPU}), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   $(dpkg-query -W -f '${Package} ${Version}' softhsm2 2>/dev/null || echo softhsm2), $(openssl version | cut -d' ' -f1-2), $(dpkg-query -W -f '${Package} ${Version}' libengine-pkcs11-openssl 2>/dev/null || echo pkcs11 engine), $(date -u +%Y-%m-%dT%H:%MZ)"

echo "== throwaway token \"ceremony\" under $dir/tokens; bench root ceremony ($algorithm)"
make_token "$dir" ceremony
export SOFTHSM2_CONF="$dir/softhsm2.conf"
cat >"$dir/root.toml" <<TOML
# Bench only: the cluster root and the audit key, without witnessed steps.
[ceremony]
name = "bench-root"
description = "Benchmark root on a throwaway token"

[token]
module = "$SOFTHSM_MODULE"
label = "ceremony"

[participants]
operator = "Bench Operator"

[output]
transcript = "transcript.jsonl"
directory = "pki"

[audit]
origin = "ceremony benchmark"

[[step]]
action = "generate-root"
id = "cluster-root"
key_label = "cluster-root-ca"
algorithm = "$algorithm"
subject = "CN=kubernetes"
certificate = "ca.crt"

[[step]]
action = "generate-audit-key"
id = "audit-key"
public_key = "audit-key.pub"
TOML
(cd "$dir" && "$ceremony" run root.toml --pin-file user.pin >root.log 2>&1) || { cat "$dir/root.log" >&2; exit 1; }
(umask 077 && age-keygen -o "$dir/requester.agekey" 2>/dev/null)
recipient=$(age-keygen -y "$dir/requester.agekey")

# The openssl loop's engine settings: the module and the PIN, in a 0600 file.
(umask 077 && cat >"$dir/openssl-pkcs11.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $engine
MODULE_PATH = $SOFTHSM_MODULE
PIN = $(cat "$dir/user.pin")
init = 0
CNF
)
# The kubelet-serving profile's extensions; the SANs are copied from the CSR
# (the tool instead takes them from the manifest and checks them).
cat >"$dir/openssl-ext.cnf" <<'CNF'
[kubelet_serving]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
ca_uri="pkcs11:token=ceremony;object=cluster-root-ca;type=private"

# token_rate [SESSIONS]: raw signs per second with the root key.
token_rate() {
    "$examples/token_rate" --module "$SOFTHSM_MODULE" --token ceremony --pin-file "$dir/user.pin" \
        --key cluster-root-ca --count "$token_signs" --sessions "${1:-1}"
}
# time_of FILE TYPE [last]: the epoch second of the first (or last) TYPE entry in FILE.
time_of() {
    local ts
    if [ "${3:-}" = last ]; then
        ts=$(grep "\"event\":{\"type\":\"$2\"" "$1" | tail -1)
    else
        ts=$(grep -m1 "\"event\":{\"type\":\"$2\"" "$1")
    fi
    ts=$(sed -n 's/^{"seq":[0-9]*,"time":"\([^"]*\)".*/\1/p' <<<"$ts")
    date -u -d "$ts" +%s
}

declare -a r_n r_wall r_rate r_rss r_token r_openssl
for n in "${sizes[@]}"; do
    w="$dir/n$n"
    mkdir -p "$w"
    echo
    echo "== N=$n"
    t=$EPOCHREALTIME
    "$examples/gen_requests" "$n" "$w/requests" 2>"$w/gen.log"
    gen_s=$(elapsed "$t")
    (cd "$w" && /usr/bin/time -f '%e %M' -o seal.time "$ceremony" request seal requests/requests.toml --out requests.tar >seal.out 2>&1) ||
        { cat "$w/seal.out" >&2; exit 1; }
    read -r seal_s seal_kib < <(tail -1 "$w/seal.time")
    sha=$(sed -n 's/^sha256 //p' "$w/seal.out")
    echo "requests: generated in ${gen_s}s, sealed in ${seal_s}s (peak RSS $(calc "int($seal_kib / 1024)") MiB), bundle $(du -m "$w/requests.tar" | cut -f1) MiB, sha256 $sha"

    cat >"$w/sign.toml" <<TOML
[ceremony]
name = "bench-sign-$n"
description = "Benchmark: sign $n kubelet-serving requests"

[token]
module = "$SOFTHSM_MODULE"
label = "ceremony"

[participants]
operator = "Bench Operator"

[output]
transcript = "ceremony.jsonl"
directory = "bundles"

[audit]
origin = "ceremony benchmark"

[[step]]
action = "sign-requests"
id = "nodes"
bundle = "requests.tar"
bundle_sha256 = "$sha"
output = "nodes"
recipients = ["$recipient"]
on_rejection = "stop"

# gen_requests puts its nodes in 10.0.0.0/8.
[step.cluster]
node_networks = ["10.0.0.0/8"]

[step.issuers.cluster]
key_label = "cluster-root-ca"
certificate = "$dir/pki/ca.crt"
TOML

    # The ceiling: the best of three measurements, so a busy moment does not lower it.
    token=0
    for _ in 1 2 3; do
        line=$(token_rate "$sessions")
        rate_now=${line##*signs_per_s=}
        if [ "$rate_now" -gt "$token" ]; then
            token=$rate_now token_line=$line
        fi
    done
    echo "token:    $token_line (best of 3)"

    # BENCH_RUNS runs of the same ceremony, each from the same starting
    # transcript into an empty output directory; the fastest one counts.
    wall="" kib=0
    for ((run = 1; run <= runs; run++)); do
        rm -rf "$w/bundles" "$w/checkpoint"
        cp "$dir/transcript.jsonl" "$w/ceremony.jsonl"
        prefix=$(wc -l <"$w/ceremony.jsonl")
        if ! (cd "$w" && /usr/bin/time -f '%e %M' -o run.time "$ceremony" run sign.toml --pin-file ../user.pin --sessions "$sessions" >run.log 2>&1); then
            tail -5 "$w/run.log" >&2
            echo "error: ceremony run failed for N=$n (see $w/run.log)" >&2
            exit 1
        fi
        read -r run_wall run_kib < <(tail -1 "$w/run.time")
        tail -n +"$((prefix + 1))" "$w/ceremony.jsonl" >"$w/run-$run.jsonl"
        issued=$(grep -c '"event":{"type":"certificate_issued"' "$w/run-$run.jsonl" || true)
        [ "$issued" -eq "$n" ] || { echo "error: N=$n: the transcript records $issued certificates" >&2; exit 1; }
        [ "$runs" -eq 1 ] || echo "run $run:    ${run_wall}s wall, peak RSS $(calc "int($run_kib / 1024)") MiB"
        if [ -z "$wall" ] || [ "$(calc "$run_wall < $wall")" = 1 ]; then
            wall=$run_wall
            cp "$w/run-$run.jsonl" "$w/this-run.jsonl"
        fi
        [ "$run_kib" -le "$kib" ] || kib=$run_kib
    done
    rate=$(calc "$n / $wall")
    rss=$(calc "$kib / 1024")
    printf 'ceremony: %d certificates in %.2fs wall = %.0f certs/s, peak RSS %.1f MiB (%.2f ms per certificate)\n' \
        "$n" "$wall" "$rate" "$rss" "$(calc "$wall * 1000 / $n")"
    f="$w/this-run.jsonl"
    start=$(time_of "$f" ceremony_start)
    verified=$(time_of "$f" request_bundle_verified)
    first=$(time_of "$f" certificate_issued)
    last=$(time_of "$f" certificate_issued last)
    written=$(time_of "$f" output_bundle_written)
    end=$(time_of "$f" checkpoint)
    echo "phases (transcript timestamps, whole seconds): open+login+inventory+bundle+CSR checks $((verified - start))s," \
        "issuer check to first certificate $((first - verified))s, signing $((last - first))s," \
        "output bundle $((written - last))s, inventory+end+checkpoint $((end - written))s"

    # Not timed: the output bundle opens with the stock tools and holds N certificates.
    age -d -i "$dir/requester.agekey" "$w/bundles/nodes.tar.age" >"$w/nodes.tar"
    in_bundle=$(tar -tf "$w/nodes.tar" | grep -c '^certs/.*\.crt$' || true)
    first_id=$(sed -n '/^id = "/{s/^id = "\(.*\)"$/\1/p;q}' "$w/requests/requests.toml")
    tar -xOf "$w/nodes.tar" "certs/$first_id.crt" >"$w/$first_id.crt"
    rm -f "$w/nodes.tar"
    [ "$in_bundle" -eq "$n" ] || { echo "error: N=$n: the output bundle holds $in_bundle certificates" >&2; exit 1; }
    echo "output:   $in_bundle certificates in bundles/nodes.tar.age ($(du -m "$w/bundles/nodes.tar.age" | cut -f1) MiB); $(openssl verify -x509_strict -purpose sslserver -CAfile "$dir/pki/ca.crt" "$w/$first_id.crt" | sed "s#^$w/##")"

    # The requester's side: `bundle open` pinned to the root and the audit
    # key, every certificate checked, timed end to end (the files are
    # written to opened/ and removed after).
    rm -rf "$w/opened"
    (cd "$w" && /usr/bin/time -f '%e %M' -o open.time "$ceremony" bundle open bundles/nodes.tar.age \
        --identity ../requester.agekey --ca ../pki/ca.crt --audit-key ../pki/audit-key.pub --out opened >open.out 2>&1) ||
        { cat "$w/open.out" >&2; exit 1; }
    read -r open_s open_kib < <(tail -1 "$w/open.time")
    printf 'open:     bundle open --ca --audit-key of %d certificates in %.2fs, peak RSS %.1f MiB; %s\n' \
        "$n" "$open_s" "$(calc "$open_kib / 1024")" "$(tail -1 "$w/open.out" | cut -d';' -f1-2)"
    rm -rf "$w/opened"

    # The openssl loop, one process per certificate, on the first CSRs of this batch.
    sample=$((n < sample_max ? n : sample_max))
    mkdir -p "$w/openssl"
    mapfile -t ids < <(sed -n 's/^id = "\(.*\)"$/\1/p' "$w/requests/requests.toml" | head -n "$sample")
    serials=()
    for _ in "${ids[@]}"; do
        serials+=("$(printf '0x%08x%08x%08x%08x' $((SRANDOM & 0x7fffffff)) "$SRANDOM" "$SRANDOM" "$SRANDOM")")
    done
    t=$EPOCHREALTIME
    for i in "${!ids[@]}"; do
        OPENSSL_CONF="$dir/openssl-pkcs11.cnf" openssl x509 -req -engine pkcs11 -CAkeyform engine -CAkey "$ca_uri" \
            -CA "$dir/pki/ca.crt" -in "$w/requests/csr/${ids[$i]}.csr" -out "$w/openssl/${ids[$i]}.crt" \
            -days 365 -sha256 -set_serial "${serials[$i]}" -copy_extensions copy \
            -extfile "$dir/openssl-ext.cnf" -extensions kubelet_serving >>"$w/openssl.log" 2>&1 ||
            { tail -5 "$w/openssl.log" >&2; echo "error: the openssl loop failed" >&2; exit 1; }
    done
    openssl_s=$(elapsed "$t")
    openssl_rate=$(calc "$sample / $openssl_s")
    printf 'openssl:  %d certificates, one openssl x509 -req -engine pkcs11 each, in %.2fs = %.1f certs/s; %s\n' \
        "$sample" "$openssl_s" "$openssl_rate" \
        "$(openssl verify -x509_strict -purpose sslserver -CAfile "$dir/pki/ca.crt" "$w/openssl/${ids[0]}.crt" | sed "s#^$w/##")"
    printf 'ratios:   tool/token=%.3f tool/openssl=%.1f\n' "$(calc "$rate / $token")" "$(calc "$rate / $openssl_rate")"
    # N loose CSR files are no longer needed (the sealed bundle holds them); at
    # N = 100,000 they would fill 400 MiB of small blocks.
    rm -rf "$w/requests/csr"

    r_n+=("$n") r_wall+=("$wall") r_rate+=("$rate") r_rss+=("$rss") r_token+=("$token") r_openssl+=("$openssl_rate")
done

echo
echo "== token: one session vs two (this run gave the tool $sessions)"
token_rate 1
token_rate 2

if [ "$transcript_entries" -gt 0 ]; then
    echo
    echo "== ceremony transcript verify on a synthetic transcript of $transcript_entries entries"
    big="$dir/transcript-synthetic.jsonl"
    "$examples/gen_transcript" "$transcript_entries" "$big" 2>"$dir/gen_transcript.log"
    size_mib=$(du -m "$big" | cut -f1)
    /usr/bin/time -f '%e %M' -o "$dir/verify.time" "$ceremony" transcript verify "$big" >"$dir/verify.log" 2>&1 ||
        { cat "$dir/verify.log" >&2; exit 1; }
    read -r verify_s verify_kib < <(tail -1 "$dir/verify.time")
    printf 'transcript verify: %d entries (%d MiB, warm page cache) in %.2fs, peak RSS %.1f MiB; %s\n' \
        "$transcript_entries" "$size_mib" "$verify_s" "$(calc "$verify_kib / 1024")" "$(head -1 "$dir/verify.log" | sed "s#$dir/##")"
    rm -f "$big"
fi

echo
echo "== growth with N (ceremony run, end to end)"
printf '%8s %9s %9s %11s %13s %12s %11s\n' N wall_s certs/s ms/cert peak_rss_mib token_sign/s openssl/s
for i in "${!r_n[@]}"; do
    printf '%8d %9.2f %9.0f %11.3f %13.1f %12.0f %11.1f\n' "${r_n[$i]}" "${r_wall[$i]}" "${r_rate[$i]}" \
        "$(calc "${r_wall[$i]} * 1000 / ${r_n[$i]}")" "${r_rss[$i]}" "${r_token[$i]}" "${r_openssl[$i]}"
done
for ((i = 1; i < ${#r_n[@]}; i++)); do
    printf 'N %d -> %d (x%s): wall time x%.2f, time per certificate x%.2f, peak RSS x%.2f (+%.1f MiB, %.2f KiB per added certificate)\n' \
        "${r_n[$((i - 1))]}" "${r_n[$i]}" "$(calc "${r_n[$i]} / ${r_n[$((i - 1))]}")" \
        "$(calc "${r_wall[$i]} / ${r_wall[$((i - 1))]}")" \
        "$(calc "(${r_wall[$i]} / ${r_n[$i]}) / (${r_wall[$((i - 1))]} / ${r_n[$((i - 1))]})")" \
        "$(calc "${r_rss[$i]} / ${r_rss[$((i - 1))]}")" "$(calc "${r_rss[$i]} - ${r_rss[$((i - 1))]}")" \
        "$(calc "(${r_rss[$i]} - ${r_rss[$((i - 1))]}) * 1024 / (${r_n[$i]} - ${r_n[$((i - 1))]})")"
done
echo "bench: $(elapsed "$bench_start")s after the build, load average now $(cut -d' ' -f1-3 /proc/loadavg); files in $dir"

# The summary of the largest N, always the last line.
big_i=0
for i in "${!r_n[@]}"; do
    [ "${r_n[$i]}" -gt "${r_n[$big_i]}" ] && big_i=$i
done
printf 'N=%d key=%s certs_per_s=%.0f token_signs_per_s=%.0f tool/token=%.3f tool/openssl=%.1f peak_rss_mib=%.1f\n' \
    "${r_n[$big_i]}" "$key" "${r_rate[$big_i]}" "${r_token[$big_i]}" \
    "$(calc "${r_rate[$big_i]} / ${r_token[$big_i]}")" "$(calc "${r_rate[$big_i]} / ${r_openssl[$big_i]}")" "${r_rss[$big_i]}"
