#!/usr/bin/env bash
# Build QEMU with the chimney-nic device and its qtests.
#
# Usage: scripts/build-qemu.sh [--clean]
#
#   --clean   delete the cached QEMU tree first (full rebuild; the source
#             tarball is kept)
#
# Progress goes to stderr, the full build output to
# $CHIMNEY_CACHE/build-qemu.log, and the last (only) line on stdout is the
# QEMU build directory, so B=$(scripts/build-qemu.sh) works.
#
# Cache layout (CHIMNEY_CACHE, default ~/.cache/chimney-nic):
#
#   src/qemu_<ver>+ds.orig.tar.xz   Debian's QEMU source tarball, fetched
#                                   once with apt-get source from
#                                   bookworm-backports
#   qemu-<ver>/                     the QEMU tree: pristine tarball contents
#                                   + patches/qemu/ series + overlay of the
#                                   project's device and qtest sources
#   qemu-<ver>/build/               QEMU's build directory (configure+ninja)
#   qemu-<ver>/.chimney/            bookkeeping of this script:
#       series-hash                 sha256 of patches/qemu/series and of
#                                   every patch in it (the cache key)
#       patched-files, patched-sums files the series touches and their
#                                   expected content
#       overlay-manifest            project files copied into the tree
#       bin/qemu-system-x86_64      wrapper adding the firmware -L options
#                                   (QTEST_QEMU_BINARY for the qtests)
#   build-qemu.log                  log of the last run
#
# The tree is keyed by QEMU version in its directory name and by the hash
# of the patch series in .chimney/series-hash.  It lives at a fixed path per
# version on purpose: a QEMU build directory embeds absolute paths (compiler
# -I options, the Python venv, meson's regenerate rule), so renaming the
# tree per series hash would force a full ~10 minute rebuild every time a
# list file changes.  Instead, when the series hash differs from the
# recorded one (or a patched file was edited by hand), the files touched by
# the old and the new series are re-extracted from the tarball, the new
# series is applied to those pristine copies in a scratch directory, and
# each result is copied into the tree only if its content differs.  meson
# then regenerates and ninja rebuilds incrementally.  A tree found without
# .chimney/ (e.g. one unpacked and built by hand) is adopted the same way.
#
# The overlay (hw/net/chimney/*, tests/qtest/chimney-*.[ch],
# tests/qtest/libqos/chimney-*.[ch], the test support tests/support/*.[ch]
# shared with the unit tests, and the portable driver core
# guest-driver/core/*.[ch] in tests/qtest/libqos/chimney-drv/, where the
# qtest OS shim compiles it, and the ABI header include/hw/net/chimney_hw.h)
# is synced on every run: a file is copied only when its content differs,
# so mtimes stay stable and ninja rebuilds only what changed; files that disappeared from the project are removed from the
# tree.
#
# Changing the configure options below re-runs QEMU's configure, which
# recreates build/ (full rebuild).  Concurrent runs are serialized with a
# lock on $CHIMNEY_CACHE/.lock.
#
# Copyright (c) 2026 chimney-nic authors
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/qemu-env.sh
. "$ROOT/scripts/qemu-env.sh"

VER=$CHIMNEY_QEMU_VERSION
CACHE=$CHIMNEY_CACHE
SRC_DIR=$CACHE/src
TARBALL=$SRC_DIR/qemu_${VER}+ds.orig.tar.xz
TREE=$CHIMNEY_QEMU_TREE
BUILD=$CHIMNEY_QEMU_BUILD
STATE=$TREE/.chimney
LOG=$CACHE/build-qemu.log
PATCHES=$ROOT/patches/qemu

CONFIGURE_ARGS=(
    --python=/usr/bin/python3
    --target-list=x86_64-softmmu
    --without-default-features
    --enable-slirp
    --enable-tcg
    --disable-docs
    --disable-install-blobs
    --disable-tools
    --disable-user
)
TARGETS=(qemu-system-x86_64 tests/qtest/qos-test)

# Project files that the patch series makes QEMU's build depend on.
REQUIRED=(
    hw/net/chimney/meson.build
    hw/net/chimney/trace-events
    tests/qtest/chimney-nic-test.c
    tests/qtest/chimney-rings-test.c
    tests/qtest/chimney-tree-test.c
    tests/qtest/chimney-engine-test.c
    tests/qtest/chimney-bad-input-test.c
    tests/qtest/chimney-scenario-test.c
    tests/qtest/chimney-limits-test.c
    tests/qtest/chimney-interop-test.c
    tests/qtest/libqos/chimney-env-qtest.c
    tests/qtest/libqos/chimney-nic.c
    tests/qtest/libqos/chimney-drv-qtest.c
    tests/support/chimney-test-state.c
    guest-driver/core/chimney_drv.c
)

say() { echo "build-qemu: $*" >&2; }
die() { say "error: $*"; exit 1; }
fail() {
    say "error: $*"
    if [ -s "$LOG" ]; then
        say "last lines of $LOG:"
        tail -n 60 "$LOG" >&2
    fi
    exit 1
}

clean=0
for arg in "$@"; do
    case $arg in
    --clean) clean=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
    esac
done

start=$SECONDS
mkdir -p "$CACHE" "$SRC_DIR"

# One build at a time per cache.
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
    say "waiting for another build-qemu.sh to finish"
    flock 9
fi
: >"$LOG"
say "log: $LOG"

missing=()
for f in "${REQUIRED[@]}"; do
    [ -f "$ROOT/$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
    die "the patch series needs these project files, which do not exist yet: ${missing[*]}"
fi
[ -f "$PATCHES/series" ] || die "$PATCHES/series is missing"

if [ "$clean" = 1 ] && [ -d "$TREE" ]; then
    say "--clean: removing $TREE"
    rm -rf "$TREE"
fi

# --- 1. source tarball ------------------------------------------------------
if [ ! -f "$TARBALL" ]; then
    say "downloading the QEMU source (apt-get source qemu/bookworm-backports)"
    (cd "$SRC_DIR" &&
     apt-get source --download-only --tar-only qemu/bookworm-backports) \
        >>"$LOG" 2>&1 || fail "apt-get source failed (did scripts/setup-host.sh run?)"
    [ -f "$TARBALL" ] ||
        fail "apt-get source did not produce $(basename "$TARBALL"); got: $(cd "$SRC_DIR" && echo *)"
fi

# --- 2. unpack ----------------------------------------------------------------
if [ ! -d "$TREE" ]; then
    say "unpacking $(basename "$TARBALL")"
    tmp=$CACHE/.unpack.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    tar -xJf "$TARBALL" -C "$tmp" >>"$LOG" 2>&1 || { rm -rf "$tmp"; fail "cannot unpack $TARBALL"; }
    top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d)
    if [ -z "$top" ] || [ ! -f "$top/VERSION" ]; then
        rm -rf "$tmp"
        fail "unexpected tarball layout"
    fi
    mv "$top" "$TREE"
    rm -rf "$tmp"
fi
mkdir -p "$STATE"
[ "$(cat "$TREE/VERSION")" = "$VER" ] || fail "$TREE is QEMU $(cat "$TREE/VERSION"), expected $VER"

# --- 3. patch series ----------------------------------------------------------
series=()
while read -r line; do
    line=${line%%#*}
    line=$(echo "$line" | tr -d '[:space:]')
    [ -n "$line" ] || continue
    [ -f "$PATCHES/$line" ] || die "patch listed in series not found: patches/qemu/$line"
    series+=("$line")
done <"$PATCHES/series"

series_hash=$( { cat "$PATCHES/series"; for p in "${series[@]}"; do
                   printf '\n== %s\n' "$p"; cat "$PATCHES/$p"; done; } |
               sha256sum | cut -d' ' -f1)

# Files a patch touches (-p1 paths of its ---/+++ lines, minus /dev/null).
patch_files() {
    awk '/^(---|\+\+\+) / {
            f = $2; sub(/\t.*/, "", f)
            if (f == "/dev/null") next
            sub(/^[^\/]*\//, "", f)
            print f
         }' "$@" | sort -u
}

series_current() {
    [ -f "$STATE/series-hash" ] && [ -f "$STATE/patched-sums" ] &&
        [ "$(cat "$STATE/series-hash")" = "$series_hash" ] &&
        (cd "$TREE" && sha256sum --quiet --status -c "$STATE/patched-sums" 2>/dev/null)
}

if series_current; then
    say "patch series unchanged (${series_hash:0:12})"
else
    say "applying patch series ${series_hash:0:12} (${#series[@]} patches)"
    new_files=$(cd "$PATCHES" && patch_files "${series[@]}")
    old_files=$(cat "$STATE/patched-files" 2>/dev/null || true)
    all_files=$(printf '%s\n%s\n' "$new_files" "$old_files" | sed '/^$/d' | sort -u)
    scratch=$(mktemp -d "$CACHE/.patch.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    top=$({ tar -tJf "$TARBALL" 2>/dev/null || true; } | head -n1 | cut -d/ -f1)
    # Pristine copies; files created by a patch are not in the tarball,
    # which tar reports (ignored here: patch fails if one is really needed).
    mapfile -t members < <(while read -r f; do echo "$top/$f"; done <<<"$all_files")
    tar -xJf "$TARBALL" -C "$scratch" "${members[@]}" >>"$LOG" 2>&1 || true
    mkdir -p "$scratch/$top"
    for p in "${series[@]}"; do
        echo "== patch -p1 < $p" >>"$LOG"
        (cd "$scratch/$top" &&
         patch -p1 --batch --forward --no-backup-if-mismatch -i "$PATCHES/$p") \
            >>"$LOG" 2>&1 || fail "patches/qemu/$p does not apply to QEMU $VER"
    done
    changed=0
    while read -r f; do
        [ -n "$f" ] || continue
        if [ -f "$scratch/$top/$f" ]; then
            if ! cmp -s "$scratch/$top/$f" "$TREE/$f"; then
                mkdir -p "$(dirname "$TREE/$f")"
                cp "$scratch/$top/$f" "$TREE/$f"
                echo "patched: $f" >>"$LOG"
                changed=$((changed + 1))
            fi
        elif [ -e "$TREE/$f" ]; then
            rm -f "$TREE/$f"        # created by an old patch, gone now
            echo "removed: $f" >>"$LOG"
            changed=$((changed + 1))
        fi
    done <<<"$all_files"
    printf '%s\n' "$new_files" >"$STATE/patched-files"
    mapfile -t new_list <<<"$new_files"
    (cd "$TREE" && sha256sum "${new_list[@]}") >"$STATE/patched-sums"
    echo "$series_hash" >"$STATE/series-hash"
    rm -rf "$scratch"
    trap - EXIT
    say "patch series applied, $changed file(s) updated in the tree"
fi

# --- 4. overlay of the project's sources --------------------------------------
# Lines "SRC DST": project path, path in the QEMU tree (usually the same).
DRV_DST=tests/qtest/libqos/chimney-drv
overlay_map=$(cd "$ROOT" && {
    find hw/net/chimney -type f ! -name '*~' ! -name '.*' ! -name '*.orig' \
         ! -name '*.rej' ! -name '*.o' ! -name '*.a' |
        while read -r f; do echo "$f $f"; done
    for f in tests/qtest/chimney-*.[ch] tests/qtest/libqos/chimney-*.[ch]; do
        [ -f "$f" ] && echo "$f $f"
    done
    # the QEMU-free test support shared with the unit tests, compiled
    # into libqos (patches/qemu/0010)
    for f in tests/support/*.[ch]; do
        [ -f "$f" ] && echo "$f $f"
    done
    # the ABI header, in QEMU's include/ like every shared header
    echo "include/hw/net/chimney_hw.h include/hw/net/chimney_hw.h"
    # the driver core, compiled into libqos by the qtest OS shim
    # (libqos/chimney-drv-qtest.c); it includes "hw/net/chimney_hw.h"
    for f in guest-driver/core/*.[ch]; do
        [ -f "$f" ] && echo "$f $DRV_DST/$(basename "$f")"
    done
} | sort -u -k2,2)
overlay=$(cut -d' ' -f2 <<<"$overlay_map")
copied=0
removed=0
while read -r src f; do
    [ -n "$f" ] || continue
    if ! cmp -s "$ROOT/$src" "$TREE/$f"; then
        mkdir -p "$(dirname "$TREE/$f")"
        cp "$ROOT/$src" "$TREE/$f"
        echo "overlay: $src -> $f" >>"$LOG"
        copied=$((copied + 1))
    fi
done <<<"$overlay_map"
if [ -f "$STATE/overlay-manifest" ]; then
    while read -r f; do
        [ -n "$f" ] || continue
        if ! grep -qxF -- "$f" <<<"$overlay" && [ -e "$TREE/$f" ]; then
            rm -f "$TREE/$f"
            echo "overlay removed: $f" >>"$LOG"
            removed=$((removed + 1))
        fi
    done <"$STATE/overlay-manifest"
fi
printf '%s\n' "$overlay" >"$STATE/overlay-manifest"
say "overlay: $(wc -l <<<"$overlay") file(s), $copied copied, $removed removed"

# --- 5. qtest wrapper (QEMU + firmware path) ----------------------------------
mkdir -p "$STATE/bin"
wrapper=$(printf '#!/bin/sh\n# generated by scripts/build-qemu.sh\nexec %s %s "$@"\n' \
          "$CHIMNEY_QEMU" "$CHIMNEY_QEMU_FW_ARGS")
if [ ! -x "$CHIMNEY_QTEST_QEMU_BINARY" ] ||
   [ "$(cat "$CHIMNEY_QTEST_QEMU_BINARY")" != "$wrapper" ]; then
    printf '%s\n' "$wrapper" >"$CHIMNEY_QTEST_QEMU_BINARY"
    chmod +x "$CHIMNEY_QTEST_QEMU_BINARY"
fi

# --- 6. configure -------------------------------------------------------------
# config.status ends with: exec '<path>/configure' '<arg>'... "$@"
want_args="$(printf " '%s'" "${CONFIGURE_ARGS[@]}") \"\$@\""
have_args=$(sed -n "s/^exec '[^']*configure'//p" "$BUILD/config.status" 2>/dev/null || true)
if [ ! -f "$BUILD/build.ninja" ] || [ "$have_args" != "$want_args" ]; then
    say "configuring QEMU (full build follows, ~10 minutes on 2 cores)"
    # Same layout as "./configure" from the source directory (build/ with
    # its marker), but run from build/ so config.status stays relative.
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    touch "$BUILD/auto-created-by-configure"
    (cd "$BUILD" && ../configure "${CONFIGURE_ARGS[@]}") >>"$LOG" 2>&1 ||
        fail "QEMU configure failed"
fi

# --- 7. build -----------------------------------------------------------------
say "ninja ${TARGETS[*]}"
ninja -C "$BUILD" -j"$(nproc)" "${TARGETS[@]}" >>"$LOG" 2>&1 || fail "QEMU build failed"
for t in "${TARGETS[@]}"; do
    [ -x "$BUILD/$t" ] || fail "$BUILD/$t was not built"
done
say "done in $((SECONDS - start))s"
echo "$BUILD"
