/*
 * libFuzzer target for the offload engine's TCP data path: segments,
 * data I/O requests and time on one or two offloaded connections of an
 * engine driven through chimney_engine.h alone (program format and
 * oracles in chimney-fuzz-seg.h).  Build, seed and run it with
 * `scripts/fuzz.sh --target seg` (README, "Fuzzing").
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-fuzz-seg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chimney_fuzz_seg_one(data, size);
    return 0;
}
