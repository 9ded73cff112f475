/*
 * chimney-nic: checks of device state that arrives in a migration stream.
 *
 * The rule for every field: accept exactly the values the device can reach
 * through its registers (so that a genuine migration is never refused), and
 * refuse the rest.  Values the core uses as indexes, sizes, loop bounds or
 * in arithmetic must be in range for the core to be memory safe: an event
 * queue head past the queue makes the device copy host memory into the
 * guest's event ring, an enabled ring of size 0 makes the RX path allocate
 * 64 GiB of descriptors, a HEAD or TAIL past the ring moves DMA outside it.
 * Fields that are only read back by the guest (statistics, counters, the
 * MAC) take any value.  The spec lists the checks ("Migration").
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>

#include "chimney_migrate.h"

static const char *const chimney_ring_names[CHIMNEY_RING_COUNT] = {
    [CHIMNEY_RING_TX] = "TX",
    [CHIMNEY_RING_RX] = "RX",
    [CHIMNEY_RING_CMD] = "CMD",
    [CHIMNEY_RING_EVT] = "EVT",
    [CHIMNEY_RING_IND] = "IND",
};

static bool chimney_migrate_fail(char **why, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static bool chimney_migrate_fail(char **why, const char *fmt, ...)
{
    va_list ap;

    if (why) {
        va_start(ap, fmt);
        *why = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool chimney_pow2_size_ok(uint32_t size)
{
    return size >= CHIMNEY_RING_MIN && size <= CHIMNEY_RING_MAX &&
           !(size & (size - 1));
}

static bool chimney_ring_valid(const ChimneyRing *r, unsigned i, char **why)
{
    const char *name = chimney_ring_names[i];
    uint32_t st_known = CHIMNEY_RING_ST_ENABLED | CHIMNEY_RING_ST_ERROR |
                        CHIMNEY_RING_ST_ERR_MASK;
    bool enabled = r->status & CHIMNEY_RING_ST_ENABLED;

    if (r->ctrl & ~CHIMNEY_RING_CTRL_ENABLE) {
        return chimney_migrate_fail(why, "ring[%u] (%s) ctrl 0x%x has "
                                    "undefined bits", i, name, r->ctrl);
    }
    if (r->status & ~st_known) {
        return chimney_migrate_fail(why, "ring[%u] (%s) status 0x%x has "
                                    "undefined bits", i, name, r->status);
    }
    /* CTRL.ENABLE reads 1 exactly while the ring runs (STATUS.ENABLED). */
    if (!!(r->ctrl & CHIMNEY_RING_CTRL_ENABLE) != enabled) {
        return chimney_migrate_fail(why, "ring[%u] (%s) ctrl 0x%x does not "
                                    "match status 0x%x", i, name, r->ctrl,
                                    r->status);
    }
    /* An error stops the ring; its code is set with the ERROR bit only. */
    if ((r->status & CHIMNEY_RING_ST_ERR_MASK) &&
        !(r->status & CHIMNEY_RING_ST_ERROR)) {
        return chimney_migrate_fail(why, "ring[%u] (%s) status 0x%x: error "
                                    "code without ERROR", i, name, r->status);
    }
    if (enabled) {
        if (r->status != CHIMNEY_RING_ST_ENABLED) {
            return chimney_migrate_fail(why, "ring[%u] (%s) status 0x%x: "
                                        "enabled and stopped by an error",
                                        i, name, r->status);
        }
        if (!chimney_pow2_size_ok(r->size)) {
            return chimney_migrate_fail(why, "ring[%u] (%s) size %u: an "
                                        "enabled ring needs a power of 2 "
                                        "in [%u, %u]", i, name, r->size,
                                        CHIMNEY_RING_MIN, CHIMNEY_RING_MAX);
        }
        if (r->base & (CHIMNEY_RING_ALIGN - 1)) {
            return chimney_migrate_fail(why, "ring[%u] (%s) base 0x%"
                                        G_GINT64_MODIFIER "x not %u-byte "
                                        "aligned", i, name, r->base,
                                        CHIMNEY_RING_ALIGN);
        }
        if (r->head >= r->size) {
            return chimney_migrate_fail(why, "ring[%u] (%s) head %u >= size "
                                        "%u", i, name, r->head, r->size);
        }
        if (r->tail >= r->size) {
            return chimney_migrate_fail(why, "ring[%u] (%s) tail %u >= size "
                                        "%u", i, name, r->tail, r->size);
        }
    } else {
        /*
         * A stopped ring keeps the HEAD and TAIL it had (below the size it
         * ran with, at most CHIMNEY_RING_MAX) while SIZE and the base may
         * be rewritten with anything; enabling it starts again at 0.
         */
        if (r->head >= CHIMNEY_RING_MAX) {
            return chimney_migrate_fail(why, "ring[%u] (%s) head %u >= %u "
                                        "(disabled ring)", i, name, r->head,
                                        CHIMNEY_RING_MAX);
        }
        if (r->tail >= CHIMNEY_RING_MAX) {
            return chimney_migrate_fail(why, "ring[%u] (%s) tail %u >= %u "
                                        "(disabled ring)", i, name, r->tail,
                                        CHIMNEY_RING_MAX);
        }
    }
    /* count: a wrapping counter of processed entries, any value. */
    return true;
}

bool chimney_core_migrated_state_valid(const ChimneyCore *core, char **why)
{
    unsigned i;

    if (why) {
        *why = NULL;
    }
    /* mac: MAC_LO/MAC_HI take any value; err_count, stats: counters. */
    if (core->ctrl & ~CHIMNEY_CTRL_OFFLOAD_EN) {
        /* RESET is self-clearing: never stored */
        return chimney_migrate_fail(why, "ctrl 0x%x has bits other than "
                                    "OFFLOAD_EN", core->ctrl);
    }
    if (core->offload_paused && (core->ctrl & CHIMNEY_CTRL_OFFLOAD_EN)) {
        return chimney_migrate_fail(why, "offload_paused set while ctrl "
                                    "0x%x has OFFLOAD_EN", core->ctrl);
    }
    if (core->rx_filter & ~(CHIMNEY_RXF_UNICAST | CHIMNEY_RXF_BROADCAST |
                            CHIMNEY_RXF_ALLMULTI | CHIMNEY_RXF_PROMISC)) {
        return chimney_migrate_fail(why, "rx_filter 0x%x has undefined bits",
                                    core->rx_filter);
    }
    if (core->last_err > (CHIMNEY_RING_ST_ERR_MASK >>
                          CHIMNEY_RING_ST_ERR_SHIFT)) {
        return chimney_migrate_fail(why, "last_err 0x%x is not an 8-bit "
                                    "error code", core->last_err);
    }
    if (core->int_cause & ~CHIMNEY_INT_ALL) {
        return chimney_migrate_fail(why, "int_cause 0x%x has undefined bits",
                                    core->int_cause);
    }
    if (core->int_mask & ~CHIMNEY_INT_ALL) {
        return chimney_migrate_fail(why, "int_mask 0x%x has undefined bits",
                                    core->int_mask);
    }
    if (core->int_throttle & ~0xffffu) {
        return chimney_migrate_fail(why, "int_throttle 0x%x exceeds 16 bits",
                                    core->int_throttle);
    }
    for (i = 0; i < CHIMNEY_RING_COUNT; i++) {
        if (!chimney_ring_valid(&core->ring[i], i, why)) {
            return false;
        }
    }
    for (i = 0; i < CHIMNEY_MSIX_VECTORS; i++) {
        int64_t last = core->vec_last_ns[i];
        int64_t deadline = core->vec_deadline_ns[i];

        if (last < CHIMNEY_MIGRATE_NS_MIN || last > CHIMNEY_MIGRATE_NS_MAX) {
            return chimney_migrate_fail(why, "vec_last_ns[%u] %"
                                        G_GINT64_FORMAT " out of range",
                                        i, last);
        }
        /* armed: the last message plus a gap of at most 65,535 us */
        if (deadline &&
            (deadline <= last ||
             deadline > last + CHIMNEY_MIGRATE_MAX_GAP_NS)) {
            return chimney_migrate_fail(why, "vec_deadline_ns[%u] %"
                                        G_GINT64_FORMAT " not within %"
                                        G_GINT64_FORMAT " ns after "
                                        "vec_last_ns[%u] %" G_GINT64_FORMAT,
                                        i, deadline,
                                        CHIMNEY_MIGRATE_MAX_GAP_NS, i, last);
        }
    }
    if (core->evtq_head >= CHIMNEY_EVT_QUEUE_MAX) {
        return chimney_migrate_fail(why, "evtq_head %u >= %u "
                                    "(CHIMNEY_EVT_QUEUE_MAX)",
                                    core->evtq_head, CHIMNEY_EVT_QUEUE_MAX);
    }
    if (core->evtq_len > CHIMNEY_EVT_QUEUE_MAX) {
        return chimney_migrate_fail(why, "evtq_len %u > %u "
                                    "(CHIMNEY_EVT_QUEUE_MAX)",
                                    core->evtq_len, CHIMNEY_EVT_QUEUE_MAX);
    }
    /* evtq[]: queued events in wire format, copied to the guest as is. */
    return true;
}
