/*
 * libFuzzer target for the chimney-nic device core.  Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ihw/net/chimney -Iinclude \
 *     -Itests/unit -Itests/fuzz $(pkg-config --cflags --libs glib-2.0) \
 *     hw/net/chimney/chimney_{core,state,tree,tcp,hdr,parse}.c \
 *     tests/fuzz/fuzz-chimney.c -o fuzz-chimney
 * or `scripts/fuzz.sh`, which also seeds a corpus.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chimney_fuzz_one(data, size);
    return 0;
}
