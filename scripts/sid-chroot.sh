#!/usr/bin/env bash
# scripts/sid-chroot.sh: CPython 3.14 and 3.15 from Debian sid, in a chroot.
#
#   sid-chroot.sh ensure           build the chroot once (cached), print its path
#   sid-chroot.sh versions         print the Python versions it holds (X.Y a line)
#   sid-chroot.sh run CMD [ARG...] run CMD inside it, in this checkout
#
# Those interpreters link against sid's libc, so they run inside the chroot.
# The checkout is bind-mounted at its own absolute path, so paths (and the
# .venv/<X.Y> it makes there) read the same inside and out. /proc is mounted
# for the run, in a private mount namespace where unshare(1) works, and
# everything mounted is unmounted again on any exit.
#
# Needs root and debootstrap (installed with apt-get when missing). Where
# that can't be had, `ensure` fails with one line saying why; callers decide
# what to do (make test says so loudly and tests what the host has).
#
# MONITRACE_CHROOT overrides the location (default ~/.cache/monitrace/sid).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
root=${MONITRACE_CHROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/monitrace/sid}
packages=python3.14-dev,python3.14-venv,python3.15-dev,python3.15-venv
packages=$packages,gcc,make,git,ca-certificates,valgrind

say() { echo "sid-chroot: $*" >&2; }

mirror() {
    # The Debian mirror the host's own apt sources name; deb.debian.org else.
    local m
    m=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
        | head -n 1 | tr -d ' ') || true
    echo "${m:-http://deb.debian.org/debian}"
}

# Host settings pip needs inside: resolver, CA bundle, pip configuration and
# any local wheel directories it names.
copy_host_config() {
    local f
    for f in /etc/resolv.conf /etc/hosts /etc/pip.conf; do
        [ -f "$f" ] && cp -L "$f" "$root$f"
    done
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        mkdir -p "$root/etc/ssl/certs"
        cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    fi
    if [ -d "$HOME/.config/pip" ]; then
        mkdir -p "$root/root/.config"
        cp -rL "$HOME/.config/pip" "$root/root/.config/"
    fi
}

ensure() {
    if [ -f "$root/.monitrace-complete" ]; then
        copy_host_config
        echo "$root"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        say "not root: can't build a chroot"
        return 1
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing debootstrap"
        { apt-get update -qq && apt-get install -y -qq debootstrap; } \
            >/dev/null 2>&1 || { say "debootstrap can't be installed"; return 1; }
    fi
    rm -rf "$root"
    mkdir -p "$root"
    chmod 0700 "$(dirname "$root")"
    say "building Debian sid in $root (a few minutes, once)"
    if ! debootstrap --variant=minbase --include="$packages" sid "$root" \
        "$(mirror)" >"$root.log" 2>&1; then
        say "debootstrap failed; see $root.log"
        return 1
    fi
    copy_host_config
    touch "$root/.monitrace-complete"
    echo "$root"
}

versions() {
    local v
    for v in 3.14 3.15; do
        [ -x "$root/usr/bin/python$v" ] && echo "$v"
    done
    return 0
}

mounts=()
cleanup() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount -l "${mounts[$i]}" 2>/dev/null || true
    done
}

bind() { # bind SRC: mount SRC at the same path inside the chroot
    mkdir -p "$root$1"
    mount --bind "$1" "$root$1"
    mounts+=("$root$1")
}

run() {
    [ -f "$root/.monitrace-complete" ] || { say "no chroot: run ensure"; return 1; }
    # A private mount namespace where we can have one: the mounts below are
    # then invisible to other runs and vanish with the run, whatever ends it.
    if [ -z "${MT_SID_NS:-}" ] && unshare -m true 2>/dev/null; then
        MT_SID_NS=1 exec unshare -m --propagation private "$0" run "$@"
    fi
    trap cleanup EXIT INT TERM
    mount -t proc proc "$root/proc"
    mounts+=("$root/proc")
    if [ -d /dev/shm ] && ! mountpoint -q "$root/dev/shm" 2>/dev/null; then
        mkdir -p "$root/dev/shm"
        mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
        mounts+=("$root/dev/shm")
    fi
    bind "$here"
    local d
    for d in /opt/wheels /opt/pypi /opt/pypi-more; do
        [ -d "$d" ] && bind "$d"
    done
    local status=0
    chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
        PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
        PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
        SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
        ${PIP_FIND_LINKS:+PIP_FIND_LINKS=$PIP_FIND_LINKS} \
        ${MONITRACE_WERROR:+MONITRACE_WERROR=$MONITRACE_WERROR} \
        /bin/bash -c 'cd "$1" && shift && exec "$@"' _ "$here" "$@" \
        || status=$?
    cleanup
    mounts=()
    trap - EXIT INT TERM
    return $status
}

case "${1:-}" in
    ensure) ensure ;;
    versions) versions ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 ensure|versions|run CMD..." >&2; exit 2 ;;
esac
