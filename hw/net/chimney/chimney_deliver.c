/*
 * chimney-nic TCP engine: delivery of received data to the host (spec
 * "Delivery algorithm", events A-E, rules 084-099): posted RECV_POST
 * requests first, receive indications through the IND ring when none is
 * posted, the push timer, and the peer's FIN once everything before it
 * has been delivered (EVT_TCP_DISCONNECT).  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>

#include "chimney_io.h"
#include "chimney_tcp.h"

/* Connections served per IND-buffer post (bounded work per call). */
#define IND_WAKE_MAX    1024u

uint32_t chimney_deliver_head_seq(const ChimneyTcpObj *o)
{
    const ChimneyTcpIo *io = o->io;
    uint32_t end = io->fin_rcvd ? io->fin_seq : o->d.rcv_nxt;

    return end - io->rcv_len;
}

static void complete_head(ChimneyEngine *eng, uint32_t idx, uint32_t status)
{
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;
    ChimneyRecvReq *r = chimney_io_rq_at(io, 0);

    /* spec RECV_POST "Hold": what comes next waits for the next request */
    if (r->flags & CHIMNEY_RECVF_HOLD) {
        io->suppressed = true;
    }
    chimney_io_complete(eng, idx, CHIMNEY_EVT_RECV_DONE, r->cookie, status,
                        r->filled);
    chimney_io_rq_pop(io);
    eng->io_reqs--;
}

/* Zero-length requests at the head are full as soon as they get there. */
static bool complete_zero_len(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;
    bool any = false;

    while (io->rq_len && !chimney_io_rq_at(io, 0)->len) {
        complete_head(eng, idx, CHIMNEY_ST_SUCCESS);
        any = true;
    }
    return any;
}

/*
 * Window update after the host consumed data (receiver SWS, RFC 9293
 * 3.8.6.2.2): once the window has grown enough beyond the one our last
 * segment advertised.  Measured from the advertised window, not from
 * the window before this delivery: consumption comes in many small
 * steps (each IND_DONE, each RECV_POST), and a peer facing a closed
 * window must not wait for its persist timer.
 */
static void window_update(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    uint32_t mss = chimney_tcp_eff_mss(eng, o);
    uint32_t adv = o->io->adv_wnd;
    uint32_t now;

    if (o->io->in_segment) {
        return;                 /* the segment's own ACK carries it */
    }
    if (o->io->fin_rcvd) {
        return;                 /* nothing more can come (as Linux) */
    }
    now = chimney_rcvbuf_window(eng, o);
    if (now >= adv + MAX(2 * mss, o->io->rcv_cap / 2) ||
        (adv < mss && now >= mss)) {
        chimney_tcp_send_ack(eng, o);
    }
}

/* Move bufferedQ into postedQ (the middle of DELIVER). */
static void fill_posted(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    bool completed = false, moved_psh = false, dma_err;
    ChimneyRecvReq *r;

    while (io->rq_len && io->rcv_len) {
        uint32_t seq = chimney_deliver_head_seq(o), n;

        r = chimney_io_rq_at(io, 0);
        n = chimney_io_rq_place(eng, r, chimney_rcvbuf_head(o),
                                io->rcv_len, &dma_err);
        if (n && io->psh && chimney_seq_lt(seq, io->psh_seq) &&
            chimney_seq_le(io->psh_seq, seq + n)) {
            moved_psh = true;
            io->psh = false;
        }
        chimney_rcvbuf_consume(o, n);
        if (dma_err) {
            /* the rest stays buffered for the next request */
            chimney_eng_guest_error(eng, CHIMNEY_ERR_DMA, "chimney-nic: "
                                    "connection %u: RECV_POST buffer not "
                                    "writable", idx);
            complete_head(eng, idx, CHIMNEY_ST_DMA_ERROR);
            completed = true;
            moved_psh = false;
            continue;
        }
        if (r->filled == r->len) {
            complete_head(eng, idx, CHIMNEY_ST_SUCCESS);
            completed = true;
            moved_psh = false;
            complete_zero_len(eng, idx);
        }
    }
    if (completed) {
        chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_PUSH);
    }
    if (!io->rq_len) {
        return;
    }
    r = chimney_io_rq_at(io, 0);
    if (r->filled && !(r->flags & CHIMNEY_RECVF_NO_PUSH)) {
        if (moved_psh) {
            complete_head(eng, idx, CHIMNEY_ST_SUCCESS);
            chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_PUSH);
            complete_zero_len(eng, idx);
        } else if (!(o->tmr_armed & (1u << CHIMNEY_TCP_TMR_PUSH)) &&
                   eng->params.push_ticks) {
            chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_PUSH,
                                  eng->params.push_ticks);
        }
    }
}

/* One indication from the head of bufferedQ (the end of DELIVER). */
static void indicate(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t n = io->rcv_len, seq = chimney_deliver_head_seq(o);
    int64_t got;

    if (!eng->svc->event_room(eng->opaque)) {
        chimney_deliver_ind_wait(eng, idx);     /* deferred: FIFO full */
        return;
    }
    if (o->k.rcv_indication_size) {
        n = MIN(n, o->k.rcv_indication_size);
    }
    got = eng->svc->indicate(eng->opaque,
                             chimney_offload_handle(eng, CHIMNEY_KIND_TCP,
                                                    idx),
                             seq, chimney_rcvbuf_head(o), n);
    trace_chimney_engine_indicate(idx, seq, got);
    if (got <= 0) {
        chimney_deliver_ind_wait(eng, idx);     /* no IND buffer (yet) */
        return;
    }
    io->busy = true;
    io->ind_bytes = (uint32_t)got;
    {
        ChimneyEvent ev = {
            .type = GUINT16_TO_LE(CHIMNEY_EVT_RECV_INDICATE),
            .cookie = GUINT64_TO_LE(o->host_handle),
            .handle = GUINT64_TO_LE(chimney_offload_handle(
                          eng, CHIMNEY_KIND_TCP, idx)),
            .info = GUINT32_TO_LE((uint32_t)got),
        };

        chimney_eng_post_event(eng, &ev);
    }
}

void chimney_deliver(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;

    if (!io || io->busy || io->aborted) {
        return;
    }
    complete_zero_len(eng, idx);
    if (io->rq_len && io->rcv_len) {
        fill_posted(eng, idx);
    }
    if (!io->rq_len && io->rcv_len && !io->suppressed) {
        indicate(eng, idx);
    }
    chimney_deliver_check_fin(eng, idx);
    window_update(eng, o);
}

uint32_t chimney_deliver_direct(ChimneyEngine *eng, uint32_t idx,
                                const uint8_t *data, uint32_t len, bool psh)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t done = 0;

    /*
     * Only when nothing is buffered or held (delivery stays in order)
     * and no indication is outstanding: then DELIVER would move this
     * data into the posted requests at once anyway.
     */
    if (!io || io->rcv_len || io->nooo || io->busy || io->aborted ||
        io->fin_rcvd) {
        return 0;
    }
    while (done < len && io->rq_len) {
        ChimneyRecvReq *r = chimney_io_rq_at(io, 0);
        uint32_t n;
        bool dma_err;

        if (r->filled == r->len) {
            complete_head(eng, idx, CHIMNEY_ST_SUCCESS);     /* 0 bytes */
            continue;
        }
        n = chimney_io_rq_place(eng, r, data + done, len - done, &dma_err);
        done += n;
        o->d.rcv_nxt += n;
        if (dma_err) {
            break;              /* the buffered path reports the error */
        }
        if (r->filled == r->len) {
            complete_head(eng, idx, CHIMNEY_ST_SUCCESS);
            chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_PUSH);
        }
    }
    if (done) {
        chimney_rcvbuf_earn(o, done);
    }
    if (done && io->rq_len) {
        ChimneyRecvReq *r = chimney_io_rq_at(io, 0);

        if (r->filled && !(r->flags & CHIMNEY_RECVF_NO_PUSH)) {
            if (psh && done == len) {
                complete_head(eng, idx, CHIMNEY_ST_SUCCESS);
                chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_PUSH);
            } else if (!(o->tmr_armed & (1u << CHIMNEY_TCP_TMR_PUSH)) &&
                       eng->params.push_ticks) {
                chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_PUSH,
                                      eng->params.push_ticks);
            }
        }
    }
    return done;
}

void chimney_deliver_push_expired(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;
    ChimneyRecvReq *r;

    if (!io || !io->rq_len) {
        return;
    }
    r = chimney_io_rq_at(io, 0);
    if (r->filled && !(r->flags & CHIMNEY_RECVF_NO_PUSH)) {
        complete_head(eng, idx, CHIMNEY_ST_SUCCESS);    /* event C */
        chimney_deliver(eng, idx);
    }
}

/*
 * RECV_FLUSH: every posted request completes now with the bytes it holds,
 * in order (spec "RECV_FLUSH"); then indications resume as after a
 * RECV_POST (event A), so data the host declined is not held back.
 * At most CHIMNEY_IO_MAX_REQS completions, like TERMINATE's.
 */
void chimney_deliver_flush(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;
    uint32_t st;

    if (!io) {
        return;
    }
    st = io->aborted ? CHIMNEY_ST_REQUEST_ABORTED : CHIMNEY_ST_SUCCESS;
    while (io->rq_len) {
        complete_head(eng, idx, st);
    }
    chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_PUSH);
    if (!io->aborted) {
        io->suppressed = false;
        chimney_deliver(eng, idx);
    }
}

void chimney_deliver_ind_posted(ChimneyEngine *eng)
{
    uint32_t budget = IND_WAKE_MAX;

    while (budget-- && eng->ind_head != CHIMNEY_NO_INDEX) {
        uint32_t idx = eng->ind_head;

        chimney_deliver_ind_unlist(eng, idx);
        chimney_deliver(eng, idx);
        if (chimney_tcp_at(eng, idx)->io->ind_waiting) {
            break;                      /* out of buffers again */
        }
    }
}

uint32_t chimney_deliver_ind_done(ChimneyEngine *eng, uint32_t idx,
                                  uint32_t n)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;

    if (!io || !io->busy) {
        return CHIMNEY_ST_INVALID_STATE;
    }
    if (n > io->ind_bytes) {
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    /* event D: consumed bytes leave bufferedQ */
    if (io->psh && chimney_seq_le(io->psh_seq,
                                  chimney_deliver_head_seq(o) + n)) {
        io->psh = false;
    }
    chimney_rcvbuf_consume(o, n);
    io->busy = false;
    if (n < io->ind_bytes) {
        io->suppressed = true;
    }
    io->ind_bytes = 0;
    return CHIMNEY_ST_SUCCESS;
}

void chimney_deliver_check_fin(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;

    if (!io || !io->fin_rcvd || io->disc_indicated || io->rcv_len ||
        io->busy) {
        return;
    }
    /* spec "TCP events": posted requests complete just before it */
    while (io->rq_len) {
        complete_head(eng, idx, chimney_io_rq_at(io, 0)->filled ?
                      CHIMNEY_ST_SUCCESS : CHIMNEY_ST_INVALID_STATE);
    }
    chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_PUSH);
    io->disc_indicated = true;
    chimney_io_object_event(eng, idx, CHIMNEY_DEFER_DISCONNECT);
}
