#!/usr/bin/env bash
# Reproducible build of the release binary (docs/reproducible-build.md).
#
# Exports the source of one git revision (default HEAD) twice, into two
# directories whose paths differ in length, builds `cargo build --release
# --locked` in each with its own target directory, and compares the two
# binaries' SHA-256. Paths (source, cargo home, target) are remapped, the
# timestamps come from the commit, and the locale, time zone, umask and
# environment are fixed, so the hash depends only on the source, Cargo.lock,
# the toolchain and the target triple.
#
# usage: .ci/reproducible-build.sh [--rev REV] [--out FILE] [--expect SHA256]
#                                  [--offline] [--keep]
#   --rev REV        the revision to build (a tag, a commit; default HEAD)
#   --out FILE       copy the built binary to FILE (never over an existing file)
#   --expect SHA256  also require this hash, e.g. a transcript's binary_sha256
#   --offline        take crates only from the local cargo cache
#   --keep           keep the build directories (printed) instead of removing them
#
# Exit 0: both builds (and --expect) agree. Exit 1: they differ, or the
# binary holds a build path. Exit 2: a bad argument or a failed build.
set -euo pipefail

usage() {
    sed -n '/^# usage:/,/^#$/p' "$0" | sed 's/^# \{0,1\}//'
}
die() {
    echo "reproducible-build: $*" >&2
    exit 2
}

rev=HEAD
out=
expect=
offline=
keep=
while [ $# -gt 0 ]; do
    case "$1" in
        --rev|--out|--expect) [ $# -ge 2 ] || die "$1 needs a value" ;;&
        --rev) rev=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --expect) expect=$2; shift 2 ;;
        --offline) offline=--offline; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument $1" ;;
    esac
done
if [ -n "$expect" ]; then
    expect=$(printf '%s' "$expect" | tr 'A-F' 'a-f')
    [[ "$expect" =~ ^[0-9a-f]{64}$ ]] || die "--expect $expect: not a SHA-256 (64 hex digits)"
fi
if [ -n "$out" ] && { [ -e "$out" ] || [ -L "$out" ]; }; then
    die "--out $out: the file exists; this script never overwrites"
fi

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null) \
    || die "$(dirname "$0"): not inside a git repository (the script builds a commit)"
commit=$(git -C "$root" rev-parse --verify --quiet "$rev^{commit}") \
    || die "--rev $rev: not a commit of $root"
epoch=$(git -C "$root" log -1 --format=%ct "$commit")
if [ "$rev" = HEAD ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    echo "note: the work tree has uncommitted changes; they are not built (the commit is)" >&2
fi

cargo_home=${CARGO_HOME:-$HOME/.cargo}
cargo_home=$(cd "$cargo_home" && pwd -P)
if [ -e "$cargo_home/config.toml" ] || [ -e "$cargo_home/config" ]; then
    echo "note: $cargo_home has a cargo config; its profile or build settings change the binary" >&2
fi

umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/ceremony-repro.XXXXXX")
work=$(cd "$work" && pwd -P)
if [ -z "$keep" ]; then
    trap 'rm -rf "$work"' EXIT
fi

# One build: export the commit into $1/src, build it with target dir
# $1/target, print the binary's path.
build() {
    local dir=$1 src=$1/src target=$1/target
    mkdir -p "$src" "$target"
    git -C "$root" archive --format=tar "$commit" | tar -x -C "$src"
    # Every path rustc could embed, mapped to one that is the same on every
    # machine (CARGO_ENCODED_RUSTFLAGS: one flag per 0x1f-separated field,
    # so a path may hold spaces).
    local -a remap=(
        "--remap-path-prefix=$src=/ceremony"
        "--remap-path-prefix=$target=/target"
        "--remap-path-prefix=$cargo_home=/cargo"
    )
    local flags
    flags=$(IFS=$'\x1f'; printf '%s' "${remap[*]}")
    # C code of dependencies (ring): the same remapping for its compiler.
    local cflags="-ffile-prefix-map=$src=/ceremony -ffile-prefix-map=$target=/target"
    cflags+=" -ffile-prefix-map=$cargo_home=/cargo"
    echo "== build in $src" >&2
    (
        cd "$src"
        env -i \
            PATH="$PATH" HOME="$HOME" CARGO_HOME="$cargo_home" \
            ${RUSTUP_HOME:+RUSTUP_HOME="$RUSTUP_HOME"} \
            ${RUSTUP_TOOLCHAIN:+RUSTUP_TOOLCHAIN="$RUSTUP_TOOLCHAIN"} \
            LC_ALL=C TZ=UTC SOURCE_DATE_EPOCH="$epoch" \
            CARGO_TARGET_DIR="$target" CARGO_INCREMENTAL=0 \
            CARGO_ENCODED_RUSTFLAGS="$flags" CFLAGS="$cflags" \
            cargo build --release --locked $offline >&2
    ) || die "cargo build failed in $src"
    local bin=$target/release/ceremony
    [ -f "$bin" ] || die "$bin: not built"
    # A binary that names its build directory or cargo home would not
    # rebuild elsewhere to the same bytes, even if these two agree.
    local leak
    for leak in "$work" "$cargo_home"; do
        if grep -a -q -F "$leak" "$bin"; then
            echo "reproducible-build: $bin contains the path $leak (a remapping is missing)" >&2
            exit 1
        fi
    done
    printf '%s\n' "$bin"
}

start=$(date +%s)
bin_a=$(build "$work/a")
bin_b=$(build "$work/build-number-two")
sum_a=$(sha256sum "$bin_a" | cut -d' ' -f1)
sum_b=$(sha256sum "$bin_b" | cut -d' ' -f1)

echo "commit:  $commit (SOURCE_DATE_EPOCH=$epoch)"
rustc -vV | sed 's/^/rustc:   /'
echo "cargo:   $(cargo -V)"
echo "time:    $(($(date +%s) - start)) s for both builds"
echo "$sum_a  ${bin_a#"$work"/}"
echo "$sum_b  ${bin_b#"$work"/}"
[ -n "$keep" ] && echo "kept:    $work"

if [ "$sum_a" != "$sum_b" ]; then
    echo "reproducible-build: NOT reproducible: the two builds of $commit differ" >&2
    echo "hint: compare them with diffoscope, or rerun with --keep and cmp -l" >&2
    exit 1
fi
echo "reproducible: both builds are $sum_a"
if [ -n "$expect" ]; then
    if [ "$sum_a" != "$expect" ]; then
        echo "reproducible-build: the rebuilt binary is $sum_a, not the expected $expect" >&2
        echo "hint: the same toolchain (rustc -vV above) and target triple as the operator's build are needed" >&2
        exit 1
    fi
    echo "matches: --expect $expect"
fi
if [ -n "$out" ]; then
    install -m 0755 "$bin_a" "$out"
    echo "wrote:   $out"
fi
