/*
 * chimney-nic TCP engine: the receive buffer of a connection and the
 * device-wide data-buffer budget (the mem-budget property, advertised in
 * CAP_MEM_BUDGET).  C + GLib only.
 *
 * A connection holds received data only in bytes it has reserved from
 * the budget, and never advertises a window larger than what it has
 * reserved and not yet filled (spec "Memory budget").  Reservations grow
 * when the connection advertises a window and are returned when it is
 * uploaded; when the budget is spent, windows shrink to what is held.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_tcp.h"

/* Reservations grow in steps of at least this much (fewer reallocs). */
#define RCVBUF_STEP     (16u * 1024u)

/* The most a connection may want to hold: its window over what it holds. */
static uint32_t rcvbuf_want(const ChimneyTcpObj *o)
{
    uint64_t want = (uint64_t)o->rcv_len + o->d.rcv_wnd;

    return MIN(want, CHIMNEY_RCV_BUF);
}

/* Try to make the reservation at least `need` bytes (never shrinks). */
static void rcvbuf_reserve(ChimneyEngine *eng, ChimneyTcpObj *o,
                           uint32_t need)
{
    uint64_t free_bytes = eng->cfg.mem_budget > eng->mem_used ?
                          eng->cfg.mem_budget - eng->mem_used : 0;
    uint32_t grow, cap;
    uint8_t *buf;

    if (need <= o->rcv_cap) {
        return;
    }
    grow = MAX(need - o->rcv_cap, RCVBUF_STEP);
    grow = MIN(grow, CHIMNEY_RCV_BUF - o->rcv_cap);
    if (grow > free_bytes) {
        grow = (uint32_t)free_bytes;
        trace_chimney_engine_budget_exhausted(need - o->rcv_cap,
                                              eng->mem_used,
                                              eng->cfg.mem_budget);
    }
    if (!grow) {
        return;
    }
    cap = o->rcv_cap + grow;
    buf = g_try_realloc(o->rcvbuf, cap);
    if (!buf) {
        return;                         /* host memory: behave as spent */
    }
    o->rcvbuf = buf;
    o->rcv_cap = cap;
    eng->mem_used += grow;
}

uint32_t chimney_rcvbuf_window(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    rcvbuf_reserve(eng, o, rcvbuf_want(o));
    return MIN(o->d.rcv_wnd, o->rcv_cap - o->rcv_len);
}

uint32_t chimney_rcvbuf_room(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    return chimney_rcvbuf_window(eng, o);
}

bool chimney_rcvbuf_init(ChimneyEngine *eng, ChimneyTcpObj *o, uint32_t len)
{
    if (!len) {
        return true;
    }
    rcvbuf_reserve(eng, o, len);
    return o->rcv_cap >= len;
}

void chimney_rcvbuf_append(ChimneyTcpObj *o, const uint8_t *data,
                           uint32_t len)
{
    memcpy(o->rcvbuf + o->rcv_len, data, len);
    o->rcv_len += len;
    o->d.rcv_wnd = o->d.rcv_wnd > len ? o->d.rcv_wnd - len : 0;
}
