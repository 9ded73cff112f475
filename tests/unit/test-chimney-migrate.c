/*
 * Unit tests of chimney_core_migrated_state_valid() (chimney_migrate.c):
 * every state the device reaches through its registers, the wire and time
 * is accepted; a table of corrupted states, one field each, is refused
 * with a message that names the field.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "chimney-fake-host.h"
#include "chimney_migrate.h"

static void assert_valid(const ChimneyCore *core, const char *what)
{
    char *why = (char *)"unset";

    if (!chimney_core_migrated_state_valid(core, &why)) {
        g_error("%s: valid state refused: %s", what, why);
    }
    g_assert_null(why);
}

/*
 * A device in the middle of things: every ring enabled (IND too), a ring
 * stopped by an error, a disabled ring whose SIZE was rewritten below its
 * old HEAD, events waiting in the internal queue, a moderated vector with
 * its timer armed, offload paused.
 */
static FakeHost *busy_host(void)
{
    FakeHost *h = fake_host_new();
    ChimneyTxDesc *txd;
    uint64_t tx;
    unsigned i;

    wr(h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    wr(h, CHIMNEY_REG_INT_THROTTLE, 50);
    wr(h, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_PROMISC | CHIMNEY_RXF_UNICAST);
    tx = fake_ring_setup(h, CHIMNEY_RING_TX, 64, sizeof(ChimneyTxDesc));
    fake_ring_setup(h, CHIMNEY_RING_RX, 64, sizeof(ChimneyRxDesc));
    fake_ring_setup(h, CHIMNEY_RING_CMD, 16, sizeof(ChimneyCmdDesc));
    /* an event ring with no free slot: events wait in the queue */
    fake_ring_setup(h, CHIMNEY_RING_EVT, 8, sizeof(ChimneyEvent));
    fake_ring_setup(h, CHIMNEY_RING_IND, 32, sizeof(ChimneyIndDesc));
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL), 40);
    /* TX: 5 one-descriptor frames of length 0, completed with an error */
    txd = fake_ptr(h, tx);
    for (i = 0; i < 5; i++) {
        txd[i].flags = GUINT16_TO_LE(CHIMNEY_TXF_EOP);
    }
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), 5);
    for (i = 0; i < 3; i++) {
        chimney_core_set_link(&h->core, false);
        chimney_core_set_link(&h->core, true);
    }
    /* offload on, then off: PAUSE queued, offload_paused */
    wr(h, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);
    wr(h, CHIMNEY_REG_CTRL, 0);
    g_assert_true(h->core.offload_paused);
    g_assert_cmpuint(h->core.evtq_len, >, 0);
    return h;
}

static void test_reset_state_valid(void)
{
    FakeHost *h = fake_host_new();
    char *why = NULL;

    assert_valid(&h->core, "reset");
    g_assert_true(chimney_core_migrated_state_valid(&h->core, NULL));
    g_assert_null(why);
    fake_host_free(h);
}

static void test_busy_state_valid(void)
{
    FakeHost *h = busy_host();
    unsigned v, armed = 0;

    for (v = 0; v < CHIMNEY_MSIX_VECTORS; v++) {
        armed += h->core.vec_deadline_ns[v] != 0;
    }
    g_assert_cmpuint(armed, >, 0);
    g_assert_cmpuint(h->core.ring[CHIMNEY_RING_TX].head, ==, 5);
    assert_valid(&h->core, "busy");

    /* a ring stopped by an error */
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_CTRL), 0);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_SIZE), 7);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_CTRL),
       CHIMNEY_RING_CTRL_ENABLE);
    g_assert_cmphex(h->core.ring[CHIMNEY_RING_IND].status, ==,
                    CHIMNEY_RING_ST_ERROR |
                    (CHIMNEY_ERR_BAD_SIZE << CHIMNEY_RING_ST_ERR_SHIFT));
    /* a stopped ring shrunk below its HEAD, base anywhere */
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_CTRL), 0);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), 0);
    wr(h, CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_LO), 0x13);
    g_assert_cmpuint(h->core.ring[CHIMNEY_RING_TX].head, ==, 5);
    assert_valid(&h->core, "busy, stopped rings");

    /* the armed moderation timers fire */
    fake_clock_step(h, 1000000);
    assert_valid(&h->core, "busy, timers fired");
    fake_host_free(h);
}

/*
 * Random register programs (with link flips, time, commands, frames and
 * PCI state changes): the validator must accept every state they reach.
 */
static void test_reachable_states_valid(void)
{
    static const uint32_t sizes[] = {
        0, 1, 3, 4, 8, 16, 32, 64, 100, 32768, 65536, 0xffffffffu,
    };
    GRand *rnd = g_rand_new_with_seed(0xc41e);
    unsigned prog, step, v, r;
    /* what the walk reached: the test is only as good as its coverage */
    unsigned seen_head = 0, seen_error = 0, seen_armed = 0, seen_evtq = 0;
    unsigned seen_stale = 0;

    for (prog = 0; prog < 60; prog++) {
        FakeHost *h = fake_host_new();

        for (step = 0; step < 400; step++) {
            uint32_t pick = g_rand_int_range(rnd, 0, 16);
            unsigned ring = g_rand_int_range(rnd, 0, CHIMNEY_RING_COUNT);
            uint32_t val = g_rand_int(rnd);
            uint8_t frame[64];

            switch (pick) {
            case 0:
                /* reset rarely: it would hide everything else */
                wr(h, CHIMNEY_REG_CTRL, g_rand_int_range(rnd, 0, 20) ?
                   (val & CHIMNEY_CTRL_OFFLOAD_EN) : CHIMNEY_CTRL_RESET);
                break;
            case 1:
                wr(h, g_rand_boolean(rnd) ? CHIMNEY_REG_MAC_LO :
                   CHIMNEY_REG_MAC_HI, val);
                break;
            case 2:
                wr(h, CHIMNEY_REG_RX_FILTER, val);
                break;
            case 3:
                wr(h, g_rand_boolean(rnd) ? CHIMNEY_REG_INT_CAUSE :
                   CHIMNEY_REG_INT_MASK, val);
                break;
            case 4:
                wr(h, CHIMNEY_REG_INT_THROTTLE,
                   g_rand_boolean(rnd) ? val : val % 100);
                break;
            case 5:
                wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_ADDR_LO),
                   g_rand_int_range(rnd, 0, 4) ?
                   (uint32_t)(FAKE_RAM_BASE + (val % (1u << 20)) * 64) : val);
                break;
            case 6:
                wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_ADDR_HI),
                   g_rand_int_range(rnd, 0, 8) ? 0 : val);
                break;
            case 7:
                wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_SIZE),
                   sizes[val % G_N_ELEMENTS(sizes)]);
                break;
            case 8:
            case 9:
                wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_TAIL),
                   val % (2 * MAX(h->core.ring[ring].size, 1u) % 70000));
                break;
            case 10:
                wr(h, CHIMNEY_RING_REG(ring, CHIMNEY_RING_CTRL), val & 1);
                break;
            case 11:
                chimney_core_set_link(&h->core, g_rand_boolean(rnd));
                break;
            case 12:
                fake_clock_step(h, g_rand_int_range(rnd, 0, 200000));
                break;
            case 13:
                chimney_core_cmd_process(&h->core);
                break;
            case 14:
                memset(frame, 0xff, 6);
                memset(frame + 6, val, sizeof(frame) - 6);
                chimney_core_receive(&h->core, frame, sizeof(frame));
                break;
            default:
                if (g_rand_boolean(rnd)) {
                    h->bus_master = !h->bus_master;
                } else {
                    h->msix = !h->msix;
                }
                chimney_core_pci_changed(&h->core);
                break;
            }
            if (!chimney_core_migrated_state_valid(&h->core, NULL)) {
                char *why;

                chimney_core_migrated_state_valid(&h->core, &why);
                g_error("program %u step %u (action %u): reachable state "
                        "refused: %s", prog, step, pick, why);
            }
            for (r = 0; r < CHIMNEY_RING_COUNT; r++) {
                const ChimneyRing *x = &h->core.ring[r];

                seen_head += (x->status & CHIMNEY_RING_ST_ENABLED) &&
                             x->head;
                seen_error += !!(x->status & CHIMNEY_RING_ST_ERROR);
                seen_stale += !(x->status & CHIMNEY_RING_ST_ENABLED) &&
                              x->head >= x->size;
            }
            for (v = 0; v < CHIMNEY_MSIX_VECTORS; v++) {
                seen_armed += h->core.vec_deadline_ns[v] != 0;
            }
            seen_evtq += h->core.evtq_len != 0;
        }
        fake_host_free(h);
    }
    g_rand_free(rnd);
    g_test_message("states with: enabled ring past entry 0 %u, ring error "
                   "%u, stopped ring with HEAD >= SIZE %u, moderation "
                   "armed %u, queued events %u", seen_head, seen_error,
                   seen_stale, seen_armed, seen_evtq);
    g_assert_cmpuint(seen_head, >, 0);
    g_assert_cmpuint(seen_error, >, 0);
    g_assert_cmpuint(seen_armed, >, 0);
    g_assert_cmpuint(seen_evtq, >, 0);
}

/*
 * Corrupted states: each case changes one field of the busy state (rings:
 * TX 64, RX 64, CMD 16, EVT 8, IND 32 entries, all enabled).
 */
typedef struct Corruption {
    const char *name;
    const char *field;      /* the refusal message must name it */
    void (*mutate)(ChimneyCore *c);
} Corruption;

#define MUT(n, stmt) static void mut_##n(ChimneyCore *c) { stmt; }
#define R(i) (c->ring[CHIMNEY_RING_##i])

MUT(evtq_head_max, c->evtq_head = CHIMNEY_EVT_QUEUE_MAX)
MUT(evtq_head_huge, c->evtq_head = 0xffffffffu)
MUT(evtq_len_over, c->evtq_len = CHIMNEY_EVT_QUEUE_MAX + 1)
MUT(evtq_len_huge, c->evtq_len = 0x80000000u)
MUT(evt_size0, R(EVT).size = 0)
MUT(rx_size0, R(RX).size = 0)
MUT(rx_size_npow2, R(RX).size = 96)
MUT(tx_size_small, R(TX).size = 4)
MUT(cmd_size_big, R(CMD).size = 65536)
MUT(ind_size_huge, R(IND).size = 0x80000000u)
MUT(rx_head_eq_size, R(RX).head = 64)
MUT(tx_tail_eq_size, R(TX).tail = 64)
MUT(evt_head_huge, R(EVT).head = 0xffffffffu)
MUT(cmd_tail_huge, R(CMD).tail = 0x7fffffffu)
MUT(ind_base_unaligned, R(IND).base += 8)
MUT(ring_ctrl_bits, R(TX).ctrl |= 0x100)
MUT(ring_ctrl_no_status, R(RX).status = 0)
MUT(ring_status_no_ctrl, R(RX).ctrl = 0)
MUT(ring_enabled_error, R(CMD).status |= CHIMNEY_RING_ST_ERROR |
                                         (4u << CHIMNEY_RING_ST_ERR_SHIFT))
MUT(ring_status_bits, R(EVT).status |= 0x10000)
MUT(ring_code_no_error, R(IND).ctrl = 0;
    R(IND).status = 4u << CHIMNEY_RING_ST_ERR_SHIFT)
MUT(off_ring_head, R(TX).ctrl = 0; R(TX).status = 0;
    R(TX).head = CHIMNEY_RING_MAX)
MUT(off_ring_tail, R(RX).ctrl = 0; R(RX).status = 0;
    R(RX).tail = 0xfffffff0u)
MUT(ctrl_reset, c->ctrl |= CHIMNEY_CTRL_RESET)
MUT(ctrl_high, c->ctrl = 0x80000000u)
MUT(paused_enabled, c->ctrl = CHIMNEY_CTRL_OFFLOAD_EN)
MUT(rx_filter_bits, c->rx_filter |= 0x10)
MUT(last_err_big, c->last_err = 0x100)
MUT(int_cause_bits, c->int_cause |= 0x100)
MUT(int_mask_all, c->int_mask = 0xffffffffu)
MUT(int_throttle_big, c->int_throttle = 0x10000)
MUT(vec_last_min, c->vec_last_ns[2] = INT64_MIN)
MUT(vec_last_max, c->vec_last_ns[4] = INT64_MAX)
MUT(vec_deadline_far, c->vec_last_ns[0] = 1000000;
    c->vec_deadline_ns[0] = 1000000 + CHIMNEY_MIGRATE_MAX_GAP_NS + 1)
MUT(vec_deadline_past, c->vec_last_ns[1] = 1000000;
    c->vec_deadline_ns[1] = 1000000)
MUT(vec_deadline_neg, c->vec_last_ns[3] = 0;
    c->vec_deadline_ns[3] = INT64_MIN)

static const Corruption corruptions[] = {
    { "evtq-head-max", "evtq_head", mut_evtq_head_max },
    { "evtq-head-huge", "evtq_head", mut_evtq_head_huge },
    { "evtq-len-over", "evtq_len", mut_evtq_len_over },
    { "evtq-len-huge", "evtq_len", mut_evtq_len_huge },
    { "evt-ring-size-0", "ring[3] (EVT) size 0", mut_evt_size0 },
    { "rx-ring-size-0", "ring[1] (RX) size 0", mut_rx_size0 },
    { "rx-ring-size-not-pow2", "ring[1] (RX) size 96", mut_rx_size_npow2 },
    { "tx-ring-size-below-min", "ring[0] (TX) size", mut_tx_size_small },
    { "cmd-ring-size-above-max", "ring[2] (CMD) size", mut_cmd_size_big },
    { "ind-ring-size-huge", "ring[4] (IND) size", mut_ind_size_huge },
    { "rx-head-eq-size", "ring[1] (RX) head", mut_rx_head_eq_size },
    { "tx-tail-eq-size", "ring[0] (TX) tail", mut_tx_tail_eq_size },
    { "evt-head-huge", "ring[3] (EVT) head", mut_evt_head_huge },
    { "cmd-tail-huge", "ring[2] (CMD) tail", mut_cmd_tail_huge },
    { "ind-base-unaligned", "ring[4] (IND) base", mut_ind_base_unaligned },
    { "ring-ctrl-undefined", "ring[0] (TX) ctrl", mut_ring_ctrl_bits },
    { "ring-ctrl-without-status", "ring[1] (RX) ctrl",
      mut_ring_ctrl_no_status },
    { "ring-status-without-ctrl", "ring[1] (RX) ctrl",
      mut_ring_status_no_ctrl },
    { "ring-enabled-with-error", "ring[2] (CMD) status",
      mut_ring_enabled_error },
    { "ring-status-undefined", "ring[3] (EVT) status", mut_ring_status_bits },
    { "ring-code-without-error", "ring[4] (IND) status",
      mut_ring_code_no_error },
    { "disabled-ring-head", "ring[0] (TX) head", mut_off_ring_head },
    { "disabled-ring-tail", "ring[1] (RX) tail", mut_off_ring_tail },
    { "ctrl-reset-bit", "ctrl", mut_ctrl_reset },
    { "ctrl-undefined", "ctrl", mut_ctrl_high },
    { "paused-while-enabled", "offload_paused", mut_paused_enabled },
    { "rx-filter-undefined", "rx_filter", mut_rx_filter_bits },
    { "last-err-wide", "last_err", mut_last_err_big },
    { "int-cause-undefined", "int_cause", mut_int_cause_bits },
    { "int-mask-undefined", "int_mask", mut_int_mask_all },
    { "int-throttle-wide", "int_throttle", mut_int_throttle_big },
    { "vec-last-ns-min", "vec_last_ns[2]", mut_vec_last_min },
    { "vec-last-ns-max", "vec_last_ns[4]", mut_vec_last_max },
    { "vec-deadline-far", "vec_deadline_ns[0]", mut_vec_deadline_far },
    { "vec-deadline-not-after-last", "vec_deadline_ns[1]",
      mut_vec_deadline_past },
    { "vec-deadline-negative", "vec_deadline_ns[3]", mut_vec_deadline_neg },
};

static void test_corrupted(gconstpointer data)
{
    const Corruption *k = data;
    FakeHost *h = busy_host();
    ChimneyCore *c = g_new(ChimneyCore, 1);
    char *why = NULL;

    memcpy(c, &h->core, sizeof(*c));
    assert_valid(c, "busy (before corruption)");
    k->mutate(c);
    g_assert_false(chimney_core_migrated_state_valid(c, &why));
    g_assert_nonnull(why);
    if (!strstr(why, k->field)) {
        g_error("%s: message \"%s\" does not name \"%s\"", k->name, why,
                k->field);
    }
    g_test_message("%s: %s", k->name, why);
    g_free(why);
    /* NULL @why is allowed */
    g_assert_false(chimney_core_migrated_state_valid(c, NULL));
    g_free(c);
    fake_host_free(h);
}

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney/migrate/reset-state-valid",
                    test_reset_state_valid);
    g_test_add_func("/chimney/migrate/busy-state-valid",
                    test_busy_state_valid);
    g_test_add_func("/chimney/migrate/reachable-states-valid",
                    test_reachable_states_valid);
    for (i = 0; i < G_N_ELEMENTS(corruptions); i++) {
        char *path = g_strdup_printf("/chimney/migrate/refused/%s",
                                     corruptions[i].name);

        g_test_add_data_func(path, &corruptions[i], test_corrupted);
        g_free(path);
    }
    return g_test_run();
}
