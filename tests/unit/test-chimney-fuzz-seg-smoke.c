/*
 * Deterministic run of the segment fuzzer's harness
 * (tests/fuzz/chimney-fuzz-seg.h): programs of random operations from a
 * fixed seed, longer than libFuzzer's early inputs, on every
 * configuration, with all the harness's oracles on (a violation aborts).
 * CHIMNEY_FUZZ_SEG_RUNS sets the number of programs (default 1000),
 * CHIMNEY_FUZZ_SEG_SEED the seed (default 0x5e6f).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "../fuzz/chimney-fuzz-seg.h"

static void test_random_programs(void)
{
    const char *env = g_getenv("CHIMNEY_FUZZ_SEG_RUNS");
    unsigned runs = env ? atoi(env) : 1000, i, j;
    const char *seed = g_getenv("CHIMNEY_FUZZ_SEG_SEED");
    GRand *r = g_rand_new_with_seed(seed ? atoi(seed) : 0x5e6f);
    uint8_t buf[2048];

    for (i = 0; i < runs; i++) {
        unsigned len = g_rand_int_range(r, 2, sizeof(buf));

        for (j = 0; j < len; j++) {
            buf[j] = g_rand_int(r);
        }
        /* every configuration in turn; most operations near RcvNxt */
        buf[0] = i;
        if (g_test_verbose()) {
            g_test_message("program %u, %u bytes", i, len);
        }
        chimney_fuzz_seg_one(buf, len);
    }
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney/fuzz-seg-smoke/random-programs",
                    test_random_programs);
    return g_test_run();
}
