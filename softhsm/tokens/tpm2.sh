#!/usr/bin/env bash
# A throwaway tpm2-pkcs11 token on a software TPM (swtpm) for tests,
# isolated in DIR: its own swtpm, D-Bus bus and tpm2-abrmd.
#
#   softhsm/tokens/tpm2.sh start DIR [LABEL]   # LABEL defaults to "ceremony"
#   DIR/run COMMAND...                          # COMMAND sees the token
#   softhsm/tokens/tpm2.sh stop DIR
#
# swtpm listens on a Unix socket in DIR (DIR/swtpm.sock, control channel
# DIR/swtpm.sock.ctrl), so no TCP port is taken and instances cannot collide.
# tpm2-abrmd, the resource manager, sits between it and the module: with the
# direct swtpm TCTI every process leaves its transient objects loaded in the
# TPM (no flush at exit), and after three of them key generation and login
# fail with "out of memory for object contexts" (TPM_RC_OBJECT_MEMORY). The
# broker talks D-Bus; each instance runs its own bus daemon on DIR/bus, so
# nothing reaches the system bus. The token's store (a SQLite file) lives in
# DIR/store.
#
# start writes DIR/token.env (KEY=value lines, no quoting, so DIR must not
# hold spaces; a shell can source it) with TOKEN_MODULE, TOKEN_LABEL,
# TOKEN_USER_PIN_FILE, TOKEN_SO_PIN_FILE, TOKEN_RUN, TOKEN_PIDS
# (comma-separated) and the environment a client needs (TPM2_PKCS11_STORE,
# TPM2_PKCS11_TCTI, DBUS_SESSION_BUS_ADDRESS; DIR/run sets them), and
# DIR/user.pin and DIR/so.pin (mode 0600). stop kills the pids it recorded and
# waits for them; nothing else is left running.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"

TPM2_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so

die() {
    echo "tpm2.sh: $*" >&2
    exit 1
}

ensure_tpm2_packages() {
    local need=() lib=/usr/lib/x86_64-linux-gnu
    command -v swtpm >/dev/null || need+=(swtpm)
    [ -e "$TPM2_MODULE" ] || need+=(libtpm2-pkcs11-1)
    command -v tpm2-abrmd >/dev/null || need+=(tpm2-abrmd)
    compgen -G "$lib/libtss2-tcti-tabrmd.so.0*" >/dev/null || need+=(libtss2-tcti-tabrmd0)
    compgen -G "$lib/libtss2-tcti-swtpm.so.0*" >/dev/null || need+=(libtss2-tcti-swtpm0)
    command -v dbus-daemon >/dev/null || need+=(dbus-daemon)
    command -v ps >/dev/null || need+=(procps)
    command -v pkcs11-tool >/dev/null || need+=(opensc)
    [ "${#need[@]}" -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing missing packages: ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# wait_for TRIES COMMAND...: runs COMMAND every 0.1 s until it succeeds.
wait_for() {
    local tries=$1 i
    shift
    for i in $(seq 1 "$tries"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

start() {
    local dir label=${2:-ceremony}
    [ -n "${1:-}" ] || die "usage: tpm2.sh start DIR [LABEL]"
    mkdir -p "$1"
    dir=$(cd "$1" && pwd)
    case $dir in *[[:space:]]*) die "DIR must not contain spaces: $dir" ;; esac
    # sockaddr_un holds 108 bytes; the longest path is DIR/swtpm.sock.ctrl.
    [ "${#dir}" -le 80 ] || die "DIR is too long for a Unix socket path: $dir"
    [ ! -e "$dir/tpm" ] || die "$dir/tpm exists; stop that token first or use a fresh DIR"
    ensure_tpm2_packages

    mkdir -p "$dir/tpm" "$dir/store"
    (umask 077 && random_digits 8 >"$dir/user.pin" && random_digits 8 >"$dir/so.pin")

    # swtpm: fresh state in DIR/tpm, started up (TPM2_Startup) on its own.
    swtpm socket --tpm2 --tpmstate dir="$dir/tpm" \
        --server type=unixio,path="$dir/swtpm.sock" \
        --ctrl type=unixio,path="$dir/swtpm.sock.ctrl" \
        --flags not-need-init,startup-clear \
        --log file="$dir/swtpm.log" --pid file="$dir/swtpm.pid" --daemon ||
        die "swtpm did not start (see $dir/swtpm.log)"
    wait_for 50 test -s "$dir/swtpm.pid" || die "swtpm wrote no pid file"

    # A private bus: the broker registers on it, clients find it there.
    local bus=unix:path=$dir/bus
    dbus-daemon --session --address="$bus" --nopidfile --fork --print-pid=1 \
        >"$dir/dbus.pid" 2>"$dir/dbus.log" || { stop "$dir"; die "dbus-daemon did not start"; }

    local root_flag=()
    [ "$(id -u)" -ne 0 ] || root_flag=(--allow-root)
    DBUS_SESSION_BUS_ADDRESS=$bus setsid tpm2-abrmd --session "${root_flag[@]}" --flush-all \
        --tcti="swtpm:path=$dir/swtpm.sock" >"$dir/abrmd.log" 2>&1 </dev/null &
    echo $! >"$dir/abrmd.pid"

    cat >"$dir/run" <<EOF
#!/bin/sh
# Runs a command with this tpm2-pkcs11 token ($dir) reachable.
export TPM2_PKCS11_STORE=$dir/store
export TPM2_PKCS11_TCTI=tabrmd:bus_type=session
export TPM2TOOLS_TCTI=tabrmd:bus_type=session
export DBUS_SESSION_BUS_ADDRESS=$bus
exec "\$@"
EOF
    chmod 0755 "$dir/run"

    local p11=("$dir/run" pkcs11-tool --module "$TPM2_MODULE")
    if ! wait_for 100 "${p11[@]}" -L; then
        cat "$dir/abrmd.log" >&2
        stop "$dir"
        die "tpm2-abrmd did not come up"
    fi

    # The module's first slot is an empty one; C_InitToken there makes the
    # token (and its primary key in the TPM). PINs on argv: throwaway only.
    local so user
    so=$(cat "$dir/so.pin")
    user=$(cat "$dir/user.pin")
    if ! {
        "${p11[@]}" --slot-index 0 --init-token --label "$label" --so-pin "$so" &&
            "${p11[@]}" --token-label "$label" --login --login-type so --so-pin "$so" \
                --init-pin --new-pin "$user"
    } >"$dir/init.log" 2>&1; then
        cat "$dir/init.log" >&2
        stop "$dir"
        die "token initialisation failed"
    fi

    cat >"$dir/token.env" <<EOF
TOKEN_KIND=tpm2
TOKEN_MODULE=$TPM2_MODULE
TOKEN_LABEL=$label
TOKEN_USER_PIN_FILE=$dir/user.pin
TOKEN_SO_PIN_FILE=$dir/so.pin
TOKEN_RUN=$dir/run
TOKEN_PIDS=$(cat "$dir/abrmd.pid"),$(cat "$dir/dbus.pid"),$(cat "$dir/swtpm.pid")
TPM2_PKCS11_STORE=$dir/store
TPM2_PKCS11_TCTI=tabrmd:bus_type=session
DBUS_SESSION_BUS_ADDRESS=$bus
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
    [ -n "${1:-}" ] || die "usage: tpm2.sh stop DIR"
    local f pids=()
    # The broker first (its clients' objects are flushed), then the bus, then the TPM.
    for f in abrmd dbus swtpm; do
        [ -s "$1/$f.pid" ] && pids+=("$(cat "$1/$f.pid")")
    done
    [ "${#pids[@]}" -eq 0 ] || stop_pids "${pids[@]}"
}

case ${1:-} in
    start) shift && start "$@" ;;
    stop) shift && stop "$@" ;;
    *) die "usage: tpm2.sh start DIR [LABEL] | stop DIR" ;;
esac
