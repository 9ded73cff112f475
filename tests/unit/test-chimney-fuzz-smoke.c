/*
 * Deterministic robustness run of the device core: thousands of fuzz
 * programs (tests/fuzz/chimney-fuzz.h) from a fixed seed, half of them
 * starting with a valid bring-up (rings, OFFLOAD_EN, SET_PARAMS) so that
 * random trees, commands and frames reach the offload code.  Passing
 * means no crash, no sanitizer report and no hang; libFuzzer
 * (tests/fuzz/fuzz-chimney.c) explores further.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "../fuzz/chimney-fuzz.h"

static void emit(GByteArray *b, const void *p, size_t n)
{
    g_byte_array_append(b, p, n);
}

static void emit_reg(GByteArray *b, uint16_t off, uint32_t val)
{
    uint8_t op = FZ_WRITE_REG;

    emit(b, &op, 1);
    emit(b, &off, 2);
    emit(b, &val, 4);
}

static void emit_poke(GByteArray *b, uint32_t off, const void *p, uint8_t n)
{
    uint8_t op = FZ_POKE;

    emit(b, &op, 1);
    emit(b, &off, 4);
    emit(b, &n, 1);
    emit(b, p, n);
}

/* CMD ring at RAM+0x1000, EVT ring at RAM+0x2000, params at RAM+0x3000. */
static void emit_bringup(GByteArray *b)
{
    ChimneyOffloadParams prm = {
        .hdr.length = GUINT32_TO_LE(sizeof(prm)),
        .ticks_per_second = GUINT32_TO_LE(1000),
        .nce_stale_ticks = GUINT32_TO_LE(10),
    };
    ChimneyCmdDesc cmd = {
        .opcode = GUINT16_TO_LE(CHIMNEY_CMD_SET_PARAMS),
        .len = GUINT32_TO_LE(sizeof(prm)),
        .addr = GUINT64_TO_LE(FAKE_RAM_BASE + 0x3000),
    };
    uint8_t op = FZ_CMD;

    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_ADDR_LO),
             FAKE_RAM_BASE + 0x1000);
    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_SIZE), 16);
    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_CTRL), 1);
    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_ADDR_LO),
             FAKE_RAM_BASE + 0x2000);
    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_SIZE), 64);
    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_CTRL), 1);
    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL), 63);
    emit_reg(b, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);
    emit_reg(b, CHIMNEY_REG_INT_MASK, 0xff);
    emit_poke(b, 0x3000, &prm, sizeof(prm));
    emit_poke(b, 0x1000, &cmd, sizeof(cmd));
    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL), 1);
    emit(b, &op, 1);
}

/* A state command on a random block, through the next CMD slot. */
static void emit_state_cmd(GByteArray *b, GRand *r, unsigned slot)
{
    ChimneyCmdDesc cmd = {
        .opcode = GUINT16_TO_LE(CHIMNEY_CMD_INITIATE + g_rand_int_range(r, 0, 6)),
        .addr = GUINT64_TO_LE(FAKE_RAM_BASE + 0x8000 +
                              8 * g_rand_int_range(r, 0, 64)),
        .handle = GUINT64_TO_LE(g_rand_int(r)),
    };
    uint8_t op = FZ_CMD;

    emit_poke(b, 0x1000 + 32 * (slot % 16), &cmd, sizeof(cmd));
    emit_reg(b, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL),
             (slot + 1) % 16);
    emit(b, &op, 1);
}

static void test_fuzz_smoke(void)
{
    GRand *r = g_rand_new_with_seed(0xc41313e7);
    unsigned i, programs = g_test_slow() ? 20000 : 3000;

    for (i = 0; i < programs; i++) {
        GByteArray *b = g_byte_array_new();
        unsigned n = g_rand_int_range(r, 1, 200), k, slot = 1;

        if (i & 1) {
            emit_bringup(b);
        }
        for (k = 0; k < n; k++) {
            uint32_t kind = g_rand_int_range(r, 0, 10);

            if ((i & 1) && kind < 3) {
                uint8_t op = FZ_BLOCK;
                uint32_t off = 0x8000 + 8 * g_rand_int_range(r, 0, 64);
                uint32_t rnd = g_rand_int(r);

                emit(b, &op, 1);
                emit(b, &off, 4);
                emit(b, &rnd, 4);
                rnd = g_rand_int(r);
                emit(b, &rnd, 3);
                rnd = g_rand_int(r);
                emit(b, &rnd, 3);
            } else if ((i & 1) && kind < 5) {
                emit_state_cmd(b, r, slot++);
            } else {
                uint32_t len = g_rand_int_range(r, 1, 24), j;

                for (j = 0; j < len; j++) {
                    uint8_t v = g_rand_int(r);

                    emit(b, &v, 1);
                }
            }
        }
        chimney_fuzz_one(b->data, b->len);
        g_byte_array_unref(b);
    }
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney/fuzz/smoke", test_fuzz_smoke);
    return g_test_run();
}
