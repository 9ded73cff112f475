/*
 * Deterministic robustness run of the device core: thousands of fuzz
 * programs (tests/fuzz/chimney-fuzz.h) from a fixed seed.  Half of them
 * are engine programs: a bring-up, then offloads, state trees over the
 * objects created (including the same object twice), queued batches,
 * segments to the offloaded connections, time and raw traffic mixed in;
 * the other half are raw register/memory/frame programs.  Passing means
 * no crash, no sanitizer report, no hang and no violation of the rules
 * the harness checks (see "Oracles" in chimney-fuzz.h); libFuzzer
 * (scripts/fuzz.sh) explores further.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "../fuzz/chimney-fuzz.h"

static uint8_t rnd8(GRand *r)
{
    return g_rand_int(r);
}

/* Small record indices most of the time: objects meet again. */
static uint8_t rnd_ref(GRand *r)
{
    uint8_t kind = g_rand_int_range(r, 0, 4);
    uint8_t rec = g_rand_boolean(r) ? g_rand_int_range(r, 0, 3) :
                  g_rand_int_range(r, 0, 16);

    return kind | rec << 2 | (g_rand_int_range(r, 0, 8) == 0 ? FZ_R_STALE : 0) |
           (g_rand_boolean(r) ? FZ_R_STATE : 0);
}

static void emit_engine_op(GByteArray *b, GRand *r)
{
    switch (g_rand_int_range(r, 0, 10)) {
    case 0:
    case 1: {
        FzTcpSpec t[3];
        unsigned i;

        for (i = 0; i < 3; i++) {
            t[i].sel = rnd8(r);
            t[i].opts = g_rand_boolean(r) ? 0 : rnd8(r);
            t[i].bytes = g_rand_int(r);
        }
        fz_emit_offload(b, g_rand_boolean(r) ? 0x20 | (rnd8(r) & 0xdf) :
                        rnd8(r) & 0x1f, rnd8(r) & (g_rand_boolean(r) ? 0x9f :
                                                   0x1f), rnd8(r) & 0x0f, t);
        break;
    }
    case 2:
    case 3:
    case 4: {
        static const uint8_t ops[] = {
            FZ_T_TERMINATE, FZ_T_TERMINATE, FZ_T_UPDATE, FZ_T_QUERY,
            FZ_T_INVALIDATE, FZ_T_INITIATE,
        };
        FzBlockSpec blk[6];
        unsigned n = g_rand_int_range(r, 1, 7), i;

        for (i = 0; i < n; i++) {
            blk[i].ref = rnd_ref(r);
            blk[i].shape = g_rand_boolean(r) ? g_rand_int_range(r, 0, 2) :
                           rnd8(r);
            blk[i].val = g_rand_int(r);
        }
        fz_emit_tree(b, ops[g_rand_int_range(r, 0, G_N_ELEMENTS(ops))] |
                     (g_rand_int_range(r, 0, 4) == 0 ? FZ_T_DEFER : 0), n, blk);
        break;
    }
    case 5:
    case 6: {
        uint8_t plen = g_rand_boolean(r) ? 0 : g_rand_int_range(r, 0, 8);
        uint8_t payload[64 * 8 + 7];
        unsigned i;

        for (i = 0; i < sizeof(payload); i++) {
            payload[i] = rnd8(r);
        }
        fz_emit_segment(b, g_rand_int_range(r, 0, 4),
                        g_rand_int_range(r, 0, 3) ? g_rand_int_range(r, 0, 2) :
                        rnd8(r), g_rand_int_range(r, -100, 100),
                        g_rand_int_range(r, -100, 3000), g_rand_int(r),
                        g_rand_boolean(r) ? rnd8(r) & 0x07 : rnd8(r),
                        g_rand_int_range(r, 0, 4) ? 0 : rnd8(r) & ~FZ_M_RAW_SEQ,
                        payload, plen);
        break;
    }
    case 7:
        fz_emit_advance(b, g_rand_boolean(r) ? g_rand_int_range(r, 0, 2000) :
                        0x8000 | g_rand_int_range(r, 0, 200));
        break;
    case 8:
        fz_emit_data(b, rnd8(r), rnd8(r) & 0x43, g_rand_int(r),
                     g_rand_int_range(r, 0, 128));
        break;
    default:
        if (g_rand_int_range(r, 0, 8) == 0) {
            /* a small bulk offload, sometimes terminated again */
            fz_emit_u8(b, FZ_BULK);
            fz_emit_u8(b, rnd8(r) & 0x0f);
            fz_emit_u16(b, g_rand_int_range(r, 0, 64));
        } else if (g_rand_int_range(r, 0, 4) == 0) {
            /*
             * the backend's receive offloads for the frames that follow:
             * mostly what a tap gives (checksum at the TCP header's, a
             * real MSS), sometimes anything
             */
            static const uint16_t gso[] = { 0, 1, 8, 536, 1000, 1460 };
            bool sane = g_rand_int_range(r, 0, 4);

            fz_emit_u8(b, FZ_RXOFF);
            fz_emit_u8(b, g_rand_int_range(r, 0, 4));
            fz_emit_u8(b, sane ? 34 : rnd8(r));
            fz_emit_u8(b, sane ? 16 : rnd8(r));
            fz_emit_u16(b, sane ? gso[g_rand_int_range(r, 0, 6)] :
                        g_rand_int(r));
        } else {
            fz_emit_u8(b, FZ_FLUSH);
        }
        break;
    }
}

static void emit_raw_bytes(GByteArray *b, GRand *r)
{
    uint32_t len = g_rand_int_range(r, 1, 24), j;

    for (j = 0; j < len; j++) {
        fz_emit_u8(b, rnd8(r));
    }
}

static void test_fuzz_smoke(void)
{
    GRand *r = g_rand_new_with_seed(0xc41313e7);
    unsigned i, programs = g_test_slow() ? 20000 : 3000;

    for (i = 0; i < programs; i++) {
        GByteArray *b = g_byte_array_new();
        unsigned n = g_rand_int_range(r, 1, (i & 1) ? 40 : 200), k;

        if (i & 1) {
            fz_emit_bringup(b, rnd8(r) & 0x7f);
        }
        for (k = 0; k < n; k++) {
            if ((i & 1) && g_rand_int_range(r, 0, 10) < 8) {
                emit_engine_op(b, r);
            } else {
                emit_raw_bytes(b, r);
            }
        }
        chimney_fuzz_one(b->data, b->len);
        g_byte_array_unref(b);
    }
    g_rand_free(r);
}

/* One maximal tree (CHIMNEY_TREE_MAX_BLOCKS blocks with state) and one
 * block more, through the harness: the fake RAM must hold them. */
static void test_fuzz_maximal_tree(void)
{
    unsigned v;

    for (v = 2; v <= 3; v++) {
        GByteArray *b = g_byte_array_new();

        fz_emit_bringup(b, 0);
        fz_emit_u8(b, FZ_BULK);
        fz_emit_u8(b, FZ_BULK_BIG | v | 4);
        fz_emit_u16(b, 0);
        chimney_fuzz_one(b->data, b->len);
        g_byte_array_unref(b);
    }
}

/*
 * Regression: one TCP connection named twice in a TERMINATE tree.  On the
 * core before the fix, both blocks were applied: the path's connection
 * count dropped twice, so the path could be terminated under a live
 * connection; once its slot was reused with other addresses, terminating
 * that connection left it in the 4-tuple demux, and after the slot got the
 * old addresses back, a pure ACK for the dead connection's 4-tuple
 * dereferenced its freed send list (NULL) in chimney_tcp_ack_in.  With
 * the spec's rule (a tree naming a handle twice is BAD_TREE) nothing of
 * this happens; the oracle checks the first step, the sanitizers the
 * rest.  Found by hand, kept out of the fuzzer's seeds on purpose.
 */
static void test_fuzz_double_terminate(void)
{
    GByteArray *b = g_byte_array_new();
    FzTcpSpec conns[2] = { { 0, 0, 0 }, { 1 | (1 << 6), 0, 100 } };
    FzTcpSpec other[1] = { { 2, 0, 0 } };
    FzBlockSpec term1[3] = {
        { FZ_K_PATH | (0 << 2), 1, 0 },     /* P (root) */
        { FZ_K_TCP | (0 << 2), 0, 0 },      /*   A */
        { FZ_K_TCP | (0 << 2), 0, 0 },      /*   A again */
    };
    FzBlockSpec term2[2] = {
        { FZ_K_PATH | (1 << 2), 1, 0 },     /* P2 (root) */
        { FZ_K_TCP | (1 << 2), 2, 0 },      /*   B, under P2 */
    };

    fz_emit_bringup(b, 0);
    fz_emit_offload(b, 0, 0, 2, conns);             /* N{P{A, B}} */
    fz_emit_tree(b, FZ_T_TERMINATE, 3, term1);
    fz_emit_offload(b, 0x20, 0x08, 1, other);       /* N{P2{C}}, new IPs */
    fz_emit_tree(b, FZ_T_TERMINATE, 2, term2);
    fz_emit_offload(b, 0x20, 0x00, 0, NULL);        /* N{P3}, P's IPs */
    fz_emit_segment(b, 1, 0, 0, 10, 1000, 0, 0, NULL, 0);  /* ACK to B */
    chimney_fuzz_one(b->data, b->len);
    g_byte_array_unref(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* every operation run must have the length the mutator computes */
    fz_check_lengths = true;
    g_test_add_func("/chimney/fuzz/smoke", test_fuzz_smoke);
    g_test_add_func("/chimney/fuzz/maximal-tree", test_fuzz_maximal_tree);
    g_test_add_func("/chimney/fuzz/regression/double-terminate",
                    test_fuzz_double_terminate);
    return g_test_run();
}
