/*
 * chimney-nic TCP engine: the receive buffer of a connection, reassembly
 * of out-of-order data, and the device-wide data-buffer budget (the
 * mem-budget property, advertised in CAP_MEM_BUDGET).  C + GLib only.
 *
 * A connection holds received data only in bytes it has reserved from
 * the budget, and never advertises a window larger than what it has
 * reserved and not yet filled (spec "Memory budget").  Reservations grow
 * when the connection advertises a window, by use: at first to
 * CHIMNEY_RCV_BUF_INITIAL, beyond that by what the host has consumed (a
 * connection whose reader drains it earns a bigger buffer, an idle or
 * stalled one keeps a small one); and never into the last part of the
 * budget (CHIMNEY_IO_RCV_RESERVE_SHIFT), which stays for I/O state and
 * request queues.  They are returned when the connection is uploaded;
 * when the budget is spent, windows shrink to what is held.
 *
 * Layout: bufferedQ is [rbuf_off, rbuf_off + rcv_len) and ends at RcvNxt
 * (at the peer's FIN once it arrived); out-of-order data inside the
 * window sits at its offset from RcvNxt after that, its extent kept in
 * up to CHIMNEY_IO_OOO_MAX sorted ranges.  Duplicate and overlapping
 * data is trimmed against both.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_io.h"
#include "chimney_tcp.h"

/* Reservations grow in steps of at least this much (fewer reallocs). */
#define RCVBUF_STEP     (16u * 1024u)

/*
 * The most a connection may want to hold: its window over what it holds,
 * within what it has earned by use.
 */
static uint32_t rcvbuf_want(const ChimneyTcpIo *io, const ChimneyTcpObj *o)
{
    uint64_t want = (uint64_t)io->rcv_len + o->d.rcv_wnd;

    return MIN(want, MIN(io->rcv_allow, CHIMNEY_RCV_BUF));
}

/* Move the buffered bytes (and out-of-order data) to offset 0. */
static void rcvbuf_compact(ChimneyTcpIo *io)
{
    uint32_t used = io->rcv_len;

    if (!io->rbuf_off) {
        return;
    }
    if (io->nooo) {
        used = io->rcv_cap - io->rbuf_off;
    }
    memmove(io->rbuf, io->rbuf + io->rbuf_off, used);
    io->rbuf_off = 0;
}

/* Try to make the reservation at least `need` bytes (never shrinks). */
static void rcvbuf_reserve(ChimneyEngine *eng, ChimneyTcpIo *io,
                           uint32_t need)
{
    /* the last part of the budget is for requests, not data */
    uint64_t limit = eng->cfg.mem_budget -
                     (eng->cfg.mem_budget >> CHIMNEY_IO_RCV_RESERVE_SHIFT);
    uint64_t free_bytes = limit > eng->mem_used ? limit - eng->mem_used : 0;
    uint32_t grow, cap;
    uint8_t *buf;

    if (need <= io->rcv_cap) {
        return;
    }
    grow = MAX(need - io->rcv_cap, RCVBUF_STEP);
    grow = MIN(grow, CHIMNEY_RCV_BUF - io->rcv_cap);
    if (grow > free_bytes) {
        grow = (uint32_t)free_bytes;
        trace_chimney_engine_budget_exhausted(need - io->rcv_cap,
                                              eng->mem_used,
                                              eng->cfg.mem_budget);
    }
    if (!grow) {
        return;
    }
    rcvbuf_compact(io);
    cap = io->rcv_cap + grow;
    buf = g_try_realloc(io->rbuf, cap);
    if (!buf) {
        return;                         /* host memory: behave as spent */
    }
    io->rbuf = buf;
    io->rcv_cap = cap;
    eng->mem_used += grow;
}

uint32_t chimney_rcvbuf_window(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    ChimneyTcpIo *io = chimney_io_get(eng, o);

    if (!io) {
        return 0;                       /* budget spent: hold nothing */
    }
    rcvbuf_reserve(eng, io, rcvbuf_want(io, o));
    return MIN(o->d.rcv_wnd, io->rcv_cap - io->rcv_len);
}

uint32_t chimney_rcvbuf_room(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    return chimney_rcvbuf_window(eng, o);
}

bool chimney_rcvbuf_init(ChimneyEngine *eng, ChimneyTcpObj *o, uint32_t len)
{
    ChimneyTcpIo *io;

    if (!len) {
        return true;
    }
    io = chimney_io_get(eng, o);
    if (!io) {
        return false;
    }
    /* data the host stack had buffered: that much was in use already */
    io->rcv_allow = MAX(io->rcv_allow, len);
    rcvbuf_reserve(eng, io, len);
    return io->rcv_cap >= len;
}

uint8_t *chimney_rcvbuf_init_data(ChimneyTcpObj *o)
{
    return o->io->rbuf;
}

void chimney_rcvbuf_init_done(ChimneyTcpObj *o, uint32_t len)
{
    if (len) {
        o->io->rcv_len = len;
    }
}

const uint8_t *chimney_rcvbuf_head(const ChimneyTcpObj *o)
{
    return o->io->rbuf + o->io->rbuf_off;
}

uint32_t chimney_rcvbuf_len(const ChimneyTcpObj *o)
{
    return o->io ? o->io->rcv_len : 0;
}

void chimney_rcvbuf_consume(ChimneyTcpObj *o, uint32_t n)
{
    ChimneyTcpIo *io = o->io;

    io->rbuf_off += n;
    io->rcv_len -= n;
    if (!io->rcv_len && !io->nooo) {
        io->rbuf_off = 0;
    }
    /* the host consumed n bytes: RcvWnd grows (spec "Receive window") */
    o->d.rcv_wnd = (uint32_t)MIN((uint64_t)o->d.rcv_wnd + n,
                                 CHIMNEY_MAX_RCV_WND);
    chimney_rcvbuf_earn(o, n);
}

void chimney_rcvbuf_earn(ChimneyTcpObj *o, uint32_t n)
{
    ChimneyTcpIo *io = o->io;

    io->rcv_allow = (uint32_t)MIN((uint64_t)io->rcv_allow + n,
                                  CHIMNEY_RCV_BUF);
}

uint32_t chimney_rcvbuf_place(ChimneyEngine *eng, ChimneyTcpObj *o,
                              uint32_t seq, const uint8_t *data,
                              uint32_t len)
{
    ChimneyTcpIo *io = chimney_io_get(eng, o);
    uint32_t nxt = o->d.rcv_nxt, room, off, adv = 0;

    if (!io) {
        return 0;
    }
    /* trim what was already received */
    if (chimney_seq_lt(seq, nxt)) {
        uint32_t dup = nxt - seq;

        if (dup >= len) {
            return 0;
        }
        seq += dup;
        data += dup;
        len -= dup;
    }
    room = chimney_rcvbuf_room(eng, o);
    off = seq - nxt;
    if (off >= room) {
        return 0;                       /* beyond Room: dropped, unacked */
    }
    len = MIN(len, room - off);
    if (io->rbuf_off + io->rcv_len + off + len > io->rcv_cap) {
        rcvbuf_compact(io);
    }
    if (off) {
        if (!chimney_seq_ranges_add(io->ooo, &io->nooo, CHIMNEY_IO_OOO_MAX,
                                    seq, seq + len)) {
            return 0;                   /* too fragmented: peer resends */
        }
        io->ooo_recent = seq;
        memcpy(io->rbuf + io->rbuf_off + io->rcv_len + off, data, len);
        return 0;
    }
    memcpy(io->rbuf + io->rbuf_off + io->rcv_len, data, len);
    adv = len;
    /* the hole is filled: held ranges that now follow join bufferedQ */
    while (io->nooo && chimney_seq_le(io->ooo[0].start, nxt + adv)) {
        uint32_t end = io->ooo[0].end, i;

        if (chimney_seq_lt(nxt + adv, end)) {
            adv = end - nxt;
        }
        for (i = 0; i + 1 < io->nooo; i++) {
            io->ooo[i] = io->ooo[i + 1];
        }
        io->nooo--;
    }
    io->rcv_len += adv;
    o->d.rcv_nxt = nxt + adv;
    o->d.rcv_wnd = o->d.rcv_wnd > adv ? o->d.rcv_wnd - adv : 0;
    return adv;
}
