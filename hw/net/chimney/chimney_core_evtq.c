/*
 * chimney-nic device core: the event FIFO between the device and the
 * event ring (spec "Event delivery and flow control").  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>

#include "chimney_core_int.h"

/* Request completions, which are never dropped (spec "Event delivery"). */
static bool chimney_evt_is_completion(const ChimneyEvent *ev)
{
    switch (GUINT16_FROM_LE(ev->type)) {
    case CHIMNEY_EVT_CMD_DONE:
    case CHIMNEY_EVT_SEND_DONE:
    case CHIMNEY_EVT_RECV_DONE:
    case CHIMNEY_EVT_DISC_DONE:
    case CHIMNEY_EVT_FORWARD_DONE:
        return true;
    default:
        return false;
    }
}

uint32_t chimney_evtq_count(const ChimneyCore *core)
{
    return core->evtq_len + (core->evtq_more ? core->evtq_more->length : 0);
}

/*
 * Append to the core's event FIFO (no ring write yet).  Beyond
 * CHIMNEY_EVT_QUEUE_MAX entries only request completions are kept, in
 * an overflow list bounded by the requests the engine accepts
 * (CHIMNEY_IO_MAX_TOTAL); the engine defers its object events instead.
 */
bool chimney_evtq_push(ChimneyCore *core, const ChimneyEvent *ev)
{
    uint32_t idx;

    if (core->evtq_len == CHIMNEY_EVT_QUEUE_MAX ||
        (core->evtq_more && core->evtq_more->length)) {
        if (!chimney_evt_is_completion(ev)) {
            core->stats[CHIMNEY_STAT_EVT_OVERFLOW]++;
            chimney_core_guest_error(core, CHIMNEY_ERR_NONE,
                                     "chimney-nic: event queue full, event "
                                     "type %u dropped (event ring not "
                                     "serviced)", GUINT16_FROM_LE(ev->type));
            return false;
        }
        if (!core->evtq_more) {
            core->evtq_more = g_queue_new();
        }
        g_queue_push_tail(core->evtq_more, g_memdup2(ev, sizeof(*ev)));
        return true;
    }
    idx = (core->evtq_head + core->evtq_len) % CHIMNEY_EVT_QUEUE_MAX;
    core->evtq[idx] = *ev;
    core->evtq_len++;
    return true;
}

/* Refill the fixed FIFO from the overflow list, in order. */
void chimney_evtq_refill(ChimneyCore *core)
{
    while (core->evtq_more && core->evtq_more->length &&
           core->evtq_len < CHIMNEY_EVT_QUEUE_MAX) {
        ChimneyEvent *ev = g_queue_pop_head(core->evtq_more);
        uint32_t idx = (core->evtq_head + core->evtq_len) %
                       CHIMNEY_EVT_QUEUE_MAX;

        core->evtq[idx] = *ev;
        core->evtq_len++;
        g_free(ev);
    }
}

void chimney_evtq_clear_overflow(ChimneyCore *core)
{
    if (core->evtq_more) {
        g_queue_free_full(core->evtq_more, g_free);
        core->evtq_more = NULL;
    }
}
