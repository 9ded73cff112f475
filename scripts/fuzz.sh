#!/usr/bin/env bash
# Build and run a libFuzzer target of the chimney-nic device core:
#   core  tests/fuzz/fuzz-chimney.c, the device core (program format in
#         tests/fuzz/chimney-fuzz.h), the default
#   seg   tests/fuzz/fuzz-chimney-seg.c, the offload engine's TCP data path
#         through chimney_engine.h alone: segments, data I/O requests, time
#         (program format in tests/fuzz/chimney-fuzz-seg.h)
#
# Usage: scripts/fuzz.sh [options] [-- extra libFuzzer arguments]
#
#   --target T     core (default) or seg
#   -t SECONDS     run time (default 600; 0 = until a crash or Ctrl-C)
#   -s SEED        libFuzzer -seed (default 1; 0 = random)
#   -j JOBS        parallel libFuzzer jobs (default 1)
#   --build-only   build the target and the seed writer, write the seeds
#   --ci           the CI smoke run: a fresh corpus from the seeds only,
#                  -max_total_time=${CHIMNEY_FUZZ_CI_TIME:-120} (seg:
#                  ${CHIMNEY_FUZZ_SEG_CI_TIME:-60}), -seed=1,
#                  TAP on stdout ("ok 1" / "not ok 1"; "ok 1 # SKIP" when
#                  clang cannot be installed); exit status 1 on a crash
#   --reproduce F  run one input (a crash-* artifact) and show the report
#
# Files (all under build/fuzz/, which is git-ignored; the seg target's
# under build/fuzz/seg/, named fuzz-chimney-seg and chimney-fuzz-seg-seeds):
#   fuzz-chimney          the target (clang -fsanitize=fuzzer,address,undefined)
#   chimney-fuzz-seeds    writes the seed corpus
#   seeds/                the seeds (rewritten on every run)
#   corpus/               the corpus that grows across runs (not in --ci)
#   artifacts/            crash-*, timeout-*, oom-* inputs
#   ci/                   the --ci run's corpus, log and artifacts
#
# clang: clang-14 and libclang-rt-14-dev from Debian 12, installed with apt
# when missing (needs root or sudo).  CC overrides the compiler.
#
# Copyright (c) 2026 chimney-nic authors
# SPDX-License-Identifier: GPL-2.0-or-later
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
OUT=$ROOT/build/fuzz
TARGET=core
TIME=600
SEED=1
JOBS=1
MODE=run
REPRO=
EXTRA=()

while [ $# -gt 0 ]; do
    case $1 in
    --target) TARGET=$2; shift 2 ;;
    -t) TIME=$2; shift 2 ;;
    -s) SEED=$2; shift 2 ;;
    -j) JOBS=$2; shift 2 ;;
    --build-only) MODE=build; shift ;;
    --ci) MODE=ci; shift ;;
    --reproduce) MODE=repro; REPRO=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,/^# SPDX/p' "$0" | sed 's/^# \{0,1\}//;/^SPDX/d'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

case $TARGET in
core)
    FUZZ_BIN=fuzz-chimney
    SEED_BIN=chimney-fuzz-seeds
    FUZZ_SRC=tests/fuzz/fuzz-chimney.c
    SEED_SRC=tests/fuzz/chimney-fuzz-seeds.c
    DICT=(-dict=tests/fuzz/chimney.dict)
    CI_TIME=${CHIMNEY_FUZZ_CI_TIME:-120}
    CI_NAME="libFuzzer smoke run"
    ;;
seg)
    OUT=$OUT/seg
    FUZZ_BIN=fuzz-chimney-seg
    SEED_BIN=chimney-fuzz-seg-seeds
    FUZZ_SRC=tests/fuzz/fuzz-chimney-seg.c
    SEED_SRC=tests/fuzz/chimney-fuzz-seg-seeds.c
    DICT=()
    CI_TIME=${CHIMNEY_FUZZ_SEG_CI_TIME:-60}
    CI_NAME="libFuzzer smoke run (segments)"
    ;;
*) echo "unknown target: $TARGET (core or seg)" >&2; exit 2 ;;
esac

# --- compiler -------------------------------------------------------------------
# A clang whose runtime has libFuzzer: try to link an empty fuzz target.
clang_works() {
    local cc=$1 tmp
    tmp=$(mktemp -d)
    printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$tmp/t.c"
    "$cc" -fsanitize=fuzzer,address,undefined "$tmp/t.c" -o "$tmp/t" >/dev/null 2>&1
    local rc=$?
    rm -rf "$tmp"
    return $rc
}

find_clang() {
    local c
    for c in ${CC:-} clang clang-14 clang-15 clang-16; do
        if command -v "$c" >/dev/null 2>&1 && clang_works "$c"; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

CLANG=$(find_clang)
if [ -z "$CLANG" ]; then
    echo "fuzz.sh: no clang with libFuzzer; installing clang-14 libclang-rt-14-dev" >&2
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    if command -v apt-get >/dev/null 2>&1 &&
       { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            clang-14 libclang-rt-14-dev >&2 ||
        { $SUDO apt-get update -q >&2 &&
          $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
              clang-14 libclang-rt-14-dev >&2; }
    fi
    CLANG=$(find_clang)
fi
if [ -z "$CLANG" ]; then
    if [ "$MODE" = ci ]; then
        echo "1..1"
        echo "ok 1 - $CI_NAME # SKIP clang with libFuzzer not available"
        exit 0
    fi
    echo "fuzz.sh: clang with -fsanitize=fuzzer is not available" >&2
    exit 1
fi

# --- build ------------------------------------------------------------------------
mkdir -p "$OUT"
# The QEMU-free core: every hw/net/chimney/chimney_*.c but the QEMU glue
# (the same rule as meson.build).
CORE_SRCS=()
for f in hw/net/chimney/chimney_*.c; do
    [ "$f" = hw/net/chimney/chimney_nic.c ] || CORE_SRCS+=("$f")
done
# shellcheck disable=SC2207
GLIB_CFLAGS=($(pkg-config --cflags glib-2.0))
# shellcheck disable=SC2207
GLIB_LIBS=($(pkg-config --libs glib-2.0))
INC=(-DCHIMNEY_STANDALONE -I. -Ihw/net/chimney -Iinclude -Itests/support
     -Itests/unit -Itests/fuzz)
# the shared test support the fake host's tree builder uses (no driver core)
CORE_SRCS+=(tests/support/chimney-test-state.c tests/support/chimney-test-tree.c
           tests/support/chimney-test-seg.c tests/support/chimney-test-hdr.c)

build() {
    echo "fuzz.sh: building with $CLANG" >&2
    "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -Wall -Wno-unused-parameter \
        "${INC[@]}" "${GLIB_CFLAGS[@]}" "${CORE_SRCS[@]}" \
        "$FUZZ_SRC" "${GLIB_LIBS[@]}" \
        -o "$OUT/$FUZZ_BIN" &&
    "$CLANG" -g -O1 -Wall -Wno-unused-parameter \
        "${INC[@]}" "${GLIB_CFLAGS[@]}" "${CORE_SRCS[@]}" \
        "$SEED_SRC" "${GLIB_LIBS[@]}" \
        -o "$OUT/$SEED_BIN" &&
    rm -rf "$OUT/seeds" &&
    "$OUT/$SEED_BIN" "$OUT/seeds" >&2
}

if ! build >"$OUT/build.log" 2>&1; then
    cat "$OUT/build.log" >&2
    if [ "$MODE" = ci ]; then
        echo "1..1"
        echo "not ok 1 - $CI_NAME: the target did not build (${OUT#"$ROOT"/}/build.log)"
    fi
    exit 1
fi

# libFuzzer options every mode shares.  -max_len: a program of 256
# operations of a few bytes each; -timeout: a maximal tree takes well
# under a second even sanitized.
COMMON=(-max_len=4096 -timeout=60 -rss_limit_mb=4096 -print_final_stats=1
        "${DICT[@]}")

case $MODE in
build)
    echo "$OUT/$FUZZ_BIN"
    exit 0
    ;;
repro)
    exec "$OUT/$FUZZ_BIN" "${COMMON[@]}" "$REPRO"
    ;;
run)
    mkdir -p "$OUT/corpus" "$OUT/artifacts"
    args=("${COMMON[@]}" -seed="$SEED" -artifact_prefix="$OUT/artifacts/")
    [ "$TIME" != 0 ] && args+=(-max_total_time="$TIME")
    [ "$JOBS" != 1 ] && args+=(-jobs="$JOBS" -workers="$JOBS")
    echo "fuzz.sh: $OUT/$FUZZ_BIN ${args[*]} ${EXTRA[*]} corpus/ seeds/" >&2
    exec "$OUT/$FUZZ_BIN" "${args[@]}" "${EXTRA[@]}" \
        "$OUT/corpus" "$OUT/seeds"
    ;;
ci)
    CI_DIR=$OUT/ci
    rm -rf "$CI_DIR"
    mkdir -p "$CI_DIR/corpus" "$CI_DIR/artifacts"
    echo "1..1"
    start=$(date +%s)
    "$OUT/$FUZZ_BIN" "${COMMON[@]}" -seed=1 -max_total_time="$CI_TIME" \
        -artifact_prefix="$CI_DIR/artifacts/" "${EXTRA[@]}" \
        "$CI_DIR/corpus" "$OUT/seeds" >"$CI_DIR/fuzz.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$CI_DIR/fuzz.log" | tail -n1)
    [ -n "$execs" ] || execs=$(grep -o '#[0-9]*' "$CI_DIR/fuzz.log" | tail -n1 | tr -d '#')
    art=$(ls "$CI_DIR/artifacts" 2>/dev/null | head -n1)
    if [ "$rc" = 0 ] && [ -z "$art" ]; then
        echo "ok 1 - $CI_NAME: no crash in ${secs}s, ${execs:-?} execs (seed 1)"
        exit 0
    fi
    # the sanitizer report, as TAP diagnostics
    # (a SPEC VIOLATION line comes from the harness's oracles)
    grep -m1 -A25 -E 'SPEC VIOLATION|runtime error|^==[0-9]+==ERROR|deadly signal' \
        "$CI_DIR/fuzz.log" | sed 's/^/# /'
    echo "# log: $CI_DIR/fuzz.log"
    [ -n "$art" ] && echo "# reproduce: scripts/fuzz.sh --target $TARGET --reproduce $CI_DIR/artifacts/$art"
    echo "not ok 1 - $CI_NAME: ${art:-exit status $rc} after ${secs}s, ${execs:-?} execs (seed 1)"
    exit 1
    ;;
esac
