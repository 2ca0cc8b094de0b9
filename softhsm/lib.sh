# Shared by demo.sh and test.sh: install what is missing, make throwaway tokens.
# Source it; it defines functions and SOFTHSM_MODULE and changes nothing else.

SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

# Installs Debian packages for any tool that is missing. Runs apt-get update
# only when something has to be installed. Extra arguments: `etcd` (etcd and
# etcdctl, for the mutual-TLS tests), `chromium` (headless, for the report
# test) and `bench` (OpenSSL's pkcs11 engine and GNU time, for bench.sh).
ensure_packages() {
    local need=() extra
    for extra in "$@"; do
        case $extra in
            etcd)
                command -v etcd >/dev/null || need+=(etcd-server)
                command -v etcdctl >/dev/null || need+=(etcd-client)
                ;;
            chromium) command -v chromium >/dev/null || need+=(chromium) ;;
            bench)
                [ -x /usr/bin/time ] || need+=(time)
                [ -e "$(pkcs11_engine)" ] || need+=(libengine-pkcs11-openssl)
                ;;
        esac
    done
    [ -e "$SOFTHSM_MODULE" ] && command -v softhsm2-util >/dev/null || need+=(softhsm2)
    command -v pkcs11-tool >/dev/null || need+=(opensc)
    command -v openssl >/dev/null || need+=(openssl)
    command -v age >/dev/null && command -v age-keygen >/dev/null || need+=(age)
    command -v ssh-keygen >/dev/null || need+=(openssh-client)
    if [ "${#need[@]}" -eq 0 ]; then
        return 0
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing missing packages: ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# pkcs11_engine: where OpenSSL looks for the pkcs11 engine (Debian package
# libengine-pkcs11-openssl); empty when openssl itself is missing.
pkcs11_engine() {
    local dir
    dir=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
    [ -z "$dir" ] || printf '%s/pkcs11.so' "$dir"
}

# random_digits N: N random decimal digits.
random_digits() {
    local out=""
    while [ "${#out}" -lt "$1" ]; do
        out+=$(od -An -N4 -tu4 /dev/urandom | tr -dc 0-9)
    done
    printf '%s' "${out:0:$1}"
}

# make_token DIR LABEL: a throwaway SoftHSM token under DIR/tokens, its config
# at DIR/softhsm2.conf, its user PIN in DIR/user.pin and SO PIN in DIR/so.pin
# (both mode 0600). For tests and the demo only: SoftHSM keeps keys in files.
make_token() {
    local dir=$1 label=$2
    mkdir -p "$dir/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
        "$dir" >"$dir/softhsm2.conf"
    (umask 077 && random_digits 8 >"$dir/user.pin" && random_digits 8 >"$dir/so.pin")
    # softhsm2-util takes PINs only as arguments or at a prompt; this token is throwaway.
    SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label "$label" \
        --so-pin "$(cat "$dir/so.pin")" --pin "$(cat "$dir/user.pin")" >/dev/null
}

# fill_script TEMPLATE OUT SHA256 RECIPIENT: a ceremony script with the
# request bundle's digest and the requester's age recipient written in, as
# the officers do with the values the requester sent out of band.
fill_script() {
    sed -e "s#REQUEST-BUNDLE-SHA256#$3#" -e "s#REQUESTER-AGE-RECIPIENT#$4#" \
        -e "s#/usr/lib/softhsm/libsofthsm2.so#$SOFTHSM_MODULE#" "$1" >"$2"
}

# answers_for CEREMONY SCRIPT OUT: the witnesses' acknowledgements of every
# witnessed step of SCRIPT, read off its dry run, one "NAME CODE" line each,
# for a rehearsal (`ceremony run --answers OUT`, recorded as such).
answers_for() {
    local dry witnesses
    dry=$("$1" run "$2" --dry-run)
    witnesses=$(sed -n 's/^  witnesses   //p' <<<"$dry")
    : >"$3"
    sed -n 's/.*(witnessed: acknowledgement code \([0-9a-f]*\)).*/\1/p' <<<"$dry" | while read -r code; do
        tr ',' '\n' <<<"$witnesses" | sed 's/^ *//' | while read -r name; do
            printf '%s %s\n' "$name" "$code" >>"$3"
        done
    done
}
