/*
 * libFuzzer target for the chimney-nic device core.  Each input is a
 * program in the format of chimney-fuzz.h (register and memory traffic,
 * bring-up, state trees over the objects it created, segments to its
 * offloaded connections, time); chimney-fuzz-mutator.h adds mutations
 * at the level of whole operations.  Build, seed and run it with
 * `scripts/fuzz.sh` (README, "Fuzzing"); by hand (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=undefined -DCHIMNEY_STANDALONE \
 *     -I. -Ihw/net/chimney -Iinclude -Itests/support \
 *     -Itests/unit -Itests/fuzz $(pkg-config --cflags glib-2.0) \
 *     $(ls hw/net/chimney/chimney_*.c | grep -v chimney_nic.c) \
 *     tests/support/chimney-test-state.c tests/support/chimney-test-tree.c \
 *     tests/support/chimney-test-seg.c tests/support/chimney-test-hdr.c \
 *     tests/fuzz/fuzz-chimney.c $(pkg-config --libs glib-2.0) -o fuzz-chimney
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-fuzz.h"
#include "chimney-fuzz-mutator.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chimney_fuzz_one(data, size);
    return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed)
{
    return chimney_fuzz_mutate(data, size, max_size, seed);
}
