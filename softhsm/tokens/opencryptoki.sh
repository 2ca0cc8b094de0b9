#!/usr/bin/env bash
# A throwaway opencryptoki soft token (Debian `opencryptoki`, RSA only) for
# tests, isolated in DIR with its own pkcsslotd.
#
#   softhsm/tokens/opencryptoki.sh start DIR [LABEL]   # LABEL defaults to "ceremony"
#   DIR/run COMMAND...                                  # COMMAND sees the token
#   softhsm/tokens/opencryptoki.sh stop DIR
#
# opencryptoki 3.8 compiles its paths in: the config
# (/etc/opencryptoki/opencryptoki.conf), the daemon's socket and pid file
# (/run/pkcsslotd.socket, /run/pkcsslotd.pid), the token store
# (/var/lib/opencryptoki/swtok), its locks (/var/lock/opencryptoki) and shared
# memory (/dev/shm and SysV shm). Neither pkcsslotd nor the library reads an
# environment variable or option for any of them, so one instance per machine
# is all the paths allow. Each instance here therefore gets its own mount and
# IPC namespace (unshare -m -i, which needs root): DIR's copies are bind
# mounted over those paths inside it, pkcsslotd runs inside it, and DIR/run
# enters it (nsenter) to run a command. Nothing outside DIR is written and the
# host's own pkcsslotd, if any, is neither seen nor touched.
#
# start writes DIR/token.env (KEY=value lines, no quoting, so DIR must not
# hold spaces; a shell can source it) with TOKEN_MODULE, TOKEN_LABEL,
# TOKEN_USER_PIN_FILE, TOKEN_SO_PIN_FILE, TOKEN_RUN and TOKEN_PIDS
# (comma-separated), and DIR/user.pin and DIR/so.pin (mode 0600, 8 digits:
# the soft token takes 4 to 8). Every client must run through DIR/run, which
# also keeps the caller's working directory. stop kills the pids it recorded
# and waits for them; nothing else is left running.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"

OCK_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so
# The soft token's SO PIN before its first C_InitToken.
OCK_DEFAULT_SO_PIN=87654321

die() {
    echo "opencryptoki.sh: $*" >&2
    exit 1
}

ensure_ock_packages() {
    local need=()
    [ -x /usr/sbin/pkcsslotd ] && [ -e "$OCK_MODULE" ] || need+=(opencryptoki)
    command -v pkcs11-tool >/dev/null || need+=(opensc)
    command -v nsenter >/dev/null && command -v unshare >/dev/null || need+=(util-linux)
    command -v ps >/dev/null || need+=(procps)
    [ "${#need[@]}" -eq 0 ] && return 0
    echo "installing missing packages: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# The namespace's first process: mounts DIR's copies over opencryptoki's
# fixed paths, starts pkcsslotd in the foreground, records both pids, and
# waits. Run by `unshare -m -i --fork`.
namespace_main() {
    local dir=$1 ock=$1/ock
    mount --make-rprivate /
    mount --bind "$ock/etc" /etc/opencryptoki
    mount --bind "$ock/lib" /var/lib/opencryptoki
    # /var/run and /var/lock are /run and /run/lock on Debian.
    mount --bind "$ock/run" /run
    mount -t tmpfs -o mode=1777,size=16m tmpfs /dev/shm
    /usr/sbin/pkcsslotd -f >"$ock/pkcsslotd.log" 2>&1 &
    echo $! >"$ock/pkcsslotd.pid"
    echo $$ >"$ock/namespace.pid"
    wait
}

start() {
    local dir label=${2:-ceremony}
    [ "$(id -u)" -eq 0 ] || die "needs root (a private mount and IPC namespace per token: unshare -m -i)"
    [ -n "${1:-}" ] || die "usage: opencryptoki.sh start DIR [LABEL]"
    mkdir -p "$1"
    dir=$(cd "$1" && pwd)
    case $dir in *[[:space:]]*) die "DIR must not contain spaces: $dir" ;; esac
    [ ! -e "$dir/ock" ] || die "$dir/ock exists; stop that token first or use a fresh DIR"
    ensure_ock_packages
    getent group pkcs11 >/dev/null || die "group pkcs11 is missing (the opencryptoki package creates it)"
    [ -d /etc/opencryptoki ] && [ -d /var/lib/opencryptoki ] || die "opencryptoki's directories are missing"

    local ock=$dir/ock
    mkdir -p "$ock/etc" "$ock/lib/swtok/TOK_OBJ" "$ock/run/lock/opencryptoki/swtok"
    chgrp -R pkcs11 "$ock/lib" "$ock/run/lock/opencryptoki"
    chmod -R 0770 "$ock/lib" "$ock/run/lock/opencryptoki"
    printf 'version opencryptoki-3.1\n\nslot 0\n{\nstdll = libpkcs11_sw.so\n}\n' >"$ock/etc/opencryptoki.conf"
    (umask 077 && random_digits 8 >"$dir/user.pin" && random_digits 8 >"$dir/so.pin")

    # setsid: the namespace outlives this script and is not in its process group.
    setsid unshare -m -i --fork -- bash "$here/opencryptoki.sh" _namespace "$dir" \
        >"$ock/namespace.log" 2>&1 </dev/null &
    echo $! >"$ock/unshare.pid"

    local i socket_ok=""
    for i in $(seq 1 100); do
        if [ -s "$ock/namespace.pid" ] && [ -S "$ock/run/pkcsslotd.socket" ]; then
            socket_ok=1
            break
        fi
        alive "$(cat "$ock/unshare.pid")" || break
        sleep 0.1
    done
    if [ -z "$socket_ok" ]; then
        cat "$ock/namespace.log" "$ock/pkcsslotd.log" >&2 2>/dev/null || true
        stop "$dir" || true
        die "pkcsslotd did not start"
    fi

    cat >"$dir/run" <<EOF
#!/bin/sh
# Runs a command inside this opencryptoki token's namespace ($dir).
exec nsenter -t $(cat "$ock/namespace.pid") -m -i --wd="\$PWD" -- "\$@"
EOF
    chmod 0755 "$dir/run"

    # First C_InitToken takes the default SO PIN; then the user PIN (as SO),
    # then the SO PIN is changed. PINs go on argv: throwaway token only.
    local so user p11=(pkcs11-tool --module "$OCK_MODULE")
    so=$(cat "$dir/so.pin")
    user=$(cat "$dir/user.pin")
    if ! {
        "$dir/run" "${p11[@]}" --slot 0 --init-token --label "$label" --so-pin "$OCK_DEFAULT_SO_PIN" &&
            "$dir/run" "${p11[@]}" --slot 0 --login --login-type so --so-pin "$OCK_DEFAULT_SO_PIN" \
                --init-pin --new-pin "$user" &&
            "$dir/run" "${p11[@]}" --slot 0 --login --login-type so --so-pin "$OCK_DEFAULT_SO_PIN" \
                --change-pin --new-pin "$so"
    } >"$ock/init.log" 2>&1; then
        cat "$ock/init.log" >&2
        stop "$dir" || true
        die "token initialisation failed"
    fi

    cat >"$dir/token.env" <<EOF
TOKEN_KIND=opencryptoki
TOKEN_MODULE=$OCK_MODULE
TOKEN_LABEL=$label
TOKEN_USER_PIN_FILE=$dir/user.pin
TOKEN_SO_PIN_FILE=$dir/so.pin
TOKEN_RUN=$dir/run
TOKEN_PIDS=$(cat "$ock/pkcsslotd.pid"),$(cat "$ock/namespace.pid"),$(cat "$ock/unshare.pid")
EOF
    cat "$dir/token.env"
}

# alive PID: the process exists and is not a zombie (a daemon's zombie waits
# for init to reap it; it holds nothing).
alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "${state:0:1}" != Z ]
}

# stop_pids PID...: SIGTERM, up to 5 s, then SIGKILL, for each pid still alive.
stop_pids() {
    local pid i
    for pid in "$@"; do
        alive "$pid" || continue
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "pid $pid ignored SIGTERM for 5 s; sending SIGKILL" >&2
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}

stop() {
    [ -n "${1:-}" ] || die "usage: opencryptoki.sh stop DIR"
    local ock=$1/ock f pids=()
    # pkcsslotd first (it removes its socket and shared memory on SIGTERM),
    # then the namespace's holder, then unshare itself.
    for f in pkcsslotd namespace unshare; do
        [ -s "$ock/$f.pid" ] && pids+=("$(cat "$ock/$f.pid")")
    done
    [ "${#pids[@]}" -eq 0 ] || stop_pids "${pids[@]}"
}

case ${1:-} in
    start) shift && start "$@" ;;
    stop) shift && stop "$@" ;;
    _namespace) shift && namespace_main "$@" ;;
    *) die "usage: opencryptoki.sh start DIR [LABEL] | stop DIR" ;;
esac
