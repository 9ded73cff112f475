/*
 * chimney-nic TCP engine: a connection's I/O state, its request queues,
 * request completions and the object events that wait for room in the
 * event FIFO (spec "Data I/O", "Event delivery and flow control").
 * C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_io.h"
#include "chimney_tcp.h"

/* Queue storage grows in these steps, up to CHIMNEY_IO_MAX_REQS. */
#define IO_QUEUE_MIN    8u

/* Budget charge of a queue of cap entries of size esz. */
static bool io_charge(ChimneyEngine *eng, uint64_t bytes)
{
    if (eng->mem_used + bytes > eng->cfg.mem_budget) {
        trace_chimney_engine_budget_exhausted(bytes, eng->mem_used,
                                              eng->cfg.mem_budget);
        return false;
    }
    eng->mem_used += bytes;
    return true;
}

ChimneyTcpIo *chimney_io_get(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    ChimneyTcpIo *io;

    if (o->io) {
        return o->io;
    }
    if (!io_charge(eng, sizeof(*io))) {
        return NULL;
    }
    io = g_try_new0(ChimneyTcpIo, 1);
    if (!io) {
        eng->mem_used -= sizeof(*io);
        return NULL;
    }
    io->snd_end = o->d.snd_una;
    /* the window the host stack advertised last (delegated rcv_wnd) */
    io->adv_wnd = o->d.rcv_wnd;
    io->rcv_allow = CHIMNEY_RCV_BUF_INITIAL;
    io->ind_next = io->ind_prev = CHIMNEY_NO_INDEX;
    io->defer_next = io->defer_prev = CHIMNEY_NO_INDEX;
    io->kick_next = CHIMNEY_NO_INDEX;
    o->io = io;
    chimney_cc_init(eng, o, io);
    /* the backlog the host knows from the offload (rule 083) */
    io->backlog_sent = chimney_tcp_send_backlog(o);
    io->backlog_tick = chimney_nic_ticks(eng) - 0x7fffffffu;   /* none yet */
    return io;
}

/* Unlink idx from a doubly linked engine list kept in the I/O state. */
#define IO_LIST_REMOVE(eng, idx, io, head, tail, next, prev) do {          \
        if ((io)->prev != CHIMNEY_NO_INDEX) {                              \
            chimney_tcp_at(eng, (io)->prev)->io->next = (io)->next;        \
        } else {                                                           \
            (eng)->head = (io)->next;                                      \
        }                                                                  \
        if ((io)->next != CHIMNEY_NO_INDEX) {                              \
            chimney_tcp_at(eng, (io)->next)->io->prev = (io)->prev;        \
        } else {                                                           \
            (eng)->tail = (io)->prev;                                      \
        }                                                                  \
        (io)->next = (io)->prev = CHIMNEY_NO_INDEX;                        \
    } while (0)

#define IO_LIST_APPEND(eng, idx, io, head, tail, next, prev) do {          \
        (io)->next = CHIMNEY_NO_INDEX;                                     \
        (io)->prev = (eng)->tail;                                          \
        if ((eng)->tail != CHIMNEY_NO_INDEX) {                             \
            chimney_tcp_at(eng, (eng)->tail)->io->next = (idx);            \
        } else {                                                           \
            (eng)->head = (idx);                                           \
        }                                                                  \
        (eng)->tail = (idx);                                               \
    } while (0)

void chimney_deliver_ind_unlist(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;

    if (io && io->ind_waiting) {
        IO_LIST_REMOVE(eng, idx, io, ind_head, ind_tail, ind_next, ind_prev);
        io->ind_waiting = false;
    }
}

void chimney_deliver_ind_wait(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;

    if (!io->ind_waiting) {
        IO_LIST_APPEND(eng, idx, io, ind_head, ind_tail, ind_next, ind_prev);
        io->ind_waiting = true;
    }
}

void chimney_io_free(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t k, prev;

    if (!io) {
        return;
    }
    chimney_deliver_ind_unlist(eng, idx);
    if (io->defer_listed) {
        IO_LIST_REMOVE(eng, idx, io, defer_head, defer_tail, defer_next,
                       defer_prev);
    }
    if (io->kick_listed) {
        /* singly linked: find the predecessor (kicks are few) */
        k = eng->kick_head;
        prev = CHIMNEY_NO_INDEX;
        while (k != CHIMNEY_NO_INDEX && k != idx) {
            prev = k;
            k = chimney_tcp_at(eng, k)->io->kick_next;
        }
        if (k == idx) {
            if (prev == CHIMNEY_NO_INDEX) {
                eng->kick_head = io->kick_next;
            } else {
                chimney_tcp_at(eng, prev)->io->kick_next = io->kick_next;
            }
            if (eng->kick_tail == idx) {
                eng->kick_tail = prev;
            }
        }
    }
    eng->io_reqs -= io->sq_len + io->rq_len + (io->disc_pending ? 1 : 0);
    eng->mem_used -= sizeof(*io) +
                     (uint64_t)io->sq_cap * sizeof(ChimneySendReq) +
                     (uint64_t)io->rq_cap * sizeof(ChimneyRecvReq) +
                     io->rcv_cap;
    g_free(io->sq);
    g_free(io->rq);
    g_free(io->rbuf);
    g_free(io);
    o->io = NULL;
}

uint32_t chimney_io_send_bytes(const ChimneyTcpObj *o)
{
    return o->io ? o->io->snd_end - o->d.snd_una : 0;
}

ChimneySendReq *chimney_io_sq_at(ChimneyTcpIo *io, uint32_t i)
{
    return &io->sq[(io->sq_head + i) & (io->sq_cap - 1)];
}

ChimneyRecvReq *chimney_io_rq_at(ChimneyTcpIo *io, uint32_t i)
{
    return &io->rq[(io->rq_head + i) & (io->rq_cap - 1)];
}

int chimney_io_sge_read(ChimneyEngine *eng, uint64_t list, uint32_t i,
                        uint64_t *addr, uint32_t *len)
{
    ChimneyRecvSge e;

    if (chimney_eng_dma_read(eng, list + (uint64_t)i * sizeof(e), &e,
                             sizeof(e)) < 0) {
        return -1;
    }
    *addr = GUINT64_FROM_LE(e.addr);
    *len = GUINT32_FROM_LE(e.len);
    return (*len && !e.reserved) ? 0 : 1;
}

/*
 * Write @n bytes at byte 'filled' of a posted request and advance it.
 * A list request (RECVF_SGL) is walked piece by piece, each entry read
 * again from guest memory when the data reaches it (spec: the list stays
 * unchanged until RECV_DONE; one that changed or cannot be read is a DMA
 * error like an unwritable buffer).  Returns the bytes placed: @n, or
 * fewer with *@dma_err set.
 */
uint32_t chimney_io_rq_place(ChimneyEngine *eng, ChimneyRecvReq *r,
                             const uint8_t *data, uint32_t n, bool *dma_err)
{
    uint32_t done = 0;

    *dma_err = false;
    n = MIN(n, r->len - r->filled);
    if (!(r->flags & CHIMNEY_RECVF_SGL)) {
        if (n && chimney_eng_dma_write(eng, r->addr + r->filled, data,
                                       n) < 0) {
            *dma_err = true;
            return 0;
        }
        r->filled += n;
        return n;
    }
    while (done < n) {
        uint32_t k;

        if (r->sge_off == r->sge_len) {
            /* the next piece: at most nsge (<= RECV_SGL_MAX) reads */
            if (r->sge_len) {
                r->sge_idx++;
            }
            r->sge_off = 0;
            r->sge_len = 0;
            if (r->sge_idx >= r->nsge ||
                chimney_io_sge_read(eng, r->addr, r->sge_idx, &r->sge_addr,
                                    &r->sge_len)) {
                r->sge_len = 0;
                *dma_err = true;
                break;
            }
        }
        k = MIN(n - done, r->sge_len - r->sge_off);
        if (chimney_eng_dma_write(eng, r->sge_addr + r->sge_off, data + done,
                                  k) < 0) {
            *dma_err = true;
            break;
        }
        r->sge_off += k;
        r->filled += k;
        done += k;
    }
    return done;
}

/* Grow a power-of-two ring to hold one more entry (charged to budget). */
static bool io_ring_grow(ChimneyEngine *eng, void **ring, uint32_t *head,
                         uint32_t len, uint32_t *cap, size_t esz)
{
    uint32_t ncap = *cap ? *cap * 2 : IO_QUEUE_MIN, i;
    uint8_t *n;

    if (len < *cap) {
        return true;
    }
    if (len >= CHIMNEY_IO_MAX_REQS ||
        !io_charge(eng, (uint64_t)(ncap - *cap) * esz)) {
        return false;
    }
    n = g_try_malloc((size_t)ncap * esz);
    if (!n) {
        eng->mem_used -= (uint64_t)(ncap - *cap) * esz;
        return false;
    }
    for (i = 0; i < len; i++) {
        memcpy(n + i * esz,
               (uint8_t *)*ring + ((*head + i) & (*cap - 1)) * esz, esz);
    }
    g_free(*ring);
    *ring = n;
    *head = 0;
    *cap = ncap;
    return true;
}

bool chimney_io_sq_push(ChimneyEngine *eng, ChimneyTcpIo *io,
                        const ChimneySendReq *r)
{
    if (eng->io_reqs >= CHIMNEY_IO_MAX_TOTAL ||
        !io_ring_grow(eng, (void **)&io->sq, &io->sq_head, io->sq_len,
                      &io->sq_cap, sizeof(ChimneySendReq))) {
        return false;
    }
    *chimney_io_sq_at(io, io->sq_len++) = *r;
    eng->io_reqs++;
    return true;
}

bool chimney_io_rq_push(ChimneyEngine *eng, ChimneyTcpIo *io,
                        const ChimneyRecvReq *r)
{
    if (eng->io_reqs >= CHIMNEY_IO_MAX_TOTAL ||
        !io_ring_grow(eng, (void **)&io->rq, &io->rq_head, io->rq_len,
                      &io->rq_cap, sizeof(ChimneyRecvReq))) {
        return false;
    }
    *chimney_io_rq_at(io, io->rq_len++) = *r;
    eng->io_reqs++;
    return true;
}

void chimney_io_rq_pop(ChimneyTcpIo *io)
{
    io->rq_head = (io->rq_head + 1) & (io->rq_cap - 1);
    io->rq_len--;
}

void chimney_io_sq_pop(ChimneyEngine *eng, ChimneyTcpIo *io)
{
    io->sq_head = (io->sq_head + 1) & (io->sq_cap - 1);
    io->sq_len--;
    eng->io_reqs--;
}

void chimney_io_complete(ChimneyEngine *eng, uint32_t idx, uint16_t type,
                         uint64_t cookie, uint32_t status, uint32_t info)
{
    static const uint16_t opcode_of[] = {
        [CHIMNEY_EVT_SEND_DONE] = CHIMNEY_CMD_SEND,
        [CHIMNEY_EVT_RECV_DONE] = CHIMNEY_CMD_RECV_POST,
        [CHIMNEY_EVT_DISC_DONE] = CHIMNEY_CMD_DISCONNECT,
        [CHIMNEY_EVT_FORWARD_DONE] = CHIMNEY_CMD_FORWARD,
    };
    ChimneyEvent ev = {
        .type = GUINT16_TO_LE(type),
        .code = GUINT16_TO_LE(opcode_of[type]),
        .status = GUINT32_TO_LE(status),
        .cookie = GUINT64_TO_LE(cookie),
        .handle = GUINT64_TO_LE(chimney_offload_handle(eng, CHIMNEY_KIND_TCP,
                                                       idx)),
        .info = GUINT32_TO_LE(info),
    };

    trace_chimney_engine_io_done(idx, type, status, info);
    chimney_eng_post_event(eng, &ev);
}

/*
 * Object events
 */

static void io_post_object(ChimneyEngine *eng, uint32_t idx, uint16_t type,
                           uint32_t info)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyEvent ev = {
        .type = GUINT16_TO_LE(type),
        .cookie = GUINT64_TO_LE(o->host_handle),
        .handle = GUINT64_TO_LE(chimney_offload_handle(eng, CHIMNEY_KIND_TCP,
                                                       idx)),
        .info = GUINT32_TO_LE(info),
    };

    chimney_eng_post_event(eng, &ev);
}

/*
 * Generate the deferred events of one connection, in their order, as
 * long as the event FIFO has room for each; false if some remain.
 */
static bool io_emit(ChimneyEngine *eng, uint32_t idx)
{
    static const uint8_t order[] = {
        CHIMNEY_DEFER_BACKLOG, CHIMNEY_DEFER_DISCONNECT, CHIMNEY_DEFER_ABORT,
    };
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;
    unsigned i;

    for (i = 0; i < G_N_ELEMENTS(order); i++) {
        if (!(io->deferred & order[i])) {
            continue;
        }
        if (!eng->svc->event_room(eng->opaque)) {
            return false;
        }
        io->deferred &= ~order[i];
        switch (order[i]) {
        case CHIMNEY_DEFER_BACKLOG:
            io_post_object(eng, idx, CHIMNEY_EVT_TCP_BACKLOG,
                           io->backlog_sent);
            break;
        case CHIMNEY_DEFER_DISCONNECT:
            io_post_object(eng, idx, CHIMNEY_EVT_TCP_DISCONNECT, 0);
            break;
        default:
            /* spec "TCP events": the requests complete after the event */
            io_post_object(eng, idx, CHIMNEY_EVT_TCP_ABORT, io->abort_info);
            chimney_io_abort_requests(eng, idx, false);
            break;
        }
    }
    return true;
}

void chimney_io_object_event(ChimneyEngine *eng, uint32_t idx, uint8_t which)
{
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;

    io->deferred |= which;
    if (io->defer_listed || io_emit(eng, idx)) {
        return;                 /* behind its earlier ones, or done */
    }
    IO_LIST_APPEND(eng, idx, io, defer_head, defer_tail, defer_next,
                   defer_prev);
    io->defer_listed = true;
}

void chimney_io_flush_deferred(ChimneyEngine *eng)
{
    uint32_t budget = CHIMNEY_EVT_QUEUE_MAX;

    while (budget-- && eng->defer_head != CHIMNEY_NO_INDEX &&
           eng->svc->event_room(eng->opaque)) {
        uint32_t idx = eng->defer_head;
        ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;

        if (!io_emit(eng, idx)) {
            break;              /* stays first: its order is kept */
        }
        IO_LIST_REMOVE(eng, idx, io, defer_head, defer_tail, defer_next,
                       defer_prev);
        io->defer_listed = false;
    }
}

void chimney_io_abort_requests(ChimneyEngine *eng, uint32_t idx,
                               bool keep_recvs)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;

    /* SEND (and final DISCONNECT data): REQUEST_ABORTED, in order */
    while (io->sq_len) {
        ChimneySendReq *r = chimney_io_sq_at(io, 0);

        if (!(r->flags & CHIMNEY_SREQ_DISC)) {
            chimney_io_complete(eng, idx, CHIMNEY_EVT_SEND_DONE, r->cookie,
                                CHIMNEY_ST_REQUEST_ABORTED, r->acked);
        }
        chimney_io_sq_pop(eng, io);
    }
    io->snd_end = o->d.snd_una;
    io->nsend = 0;
    /* posted receives: REQUEST_ABORTED with what was placed */
    while (!keep_recvs && io->rq_len) {
        ChimneyRecvReq *r = chimney_io_rq_at(io, 0);

        chimney_io_complete(eng, idx, CHIMNEY_EVT_RECV_DONE, r->cookie,
                            CHIMNEY_ST_REQUEST_ABORTED, r->filled);
        chimney_io_rq_pop(io);
        eng->io_reqs--;
    }
    if (io->disc_pending) {
        io->disc_pending = false;
        eng->io_reqs--;
        chimney_io_complete(eng, idx, CHIMNEY_EVT_DISC_DONE, io->disc_cookie,
                            CHIMNEY_ST_REQUEST_ABORTED, 0);
    }
    chimney_tcp_timers_stop(eng, idx);
    chimney_deliver_ind_unlist(eng, idx);
}

/*
 * Output continuation: a connection that had more to send than one
 * burst is queued here and served from the engine timer at once.
 */

void chimney_io_kick(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;

    if (io->kick_listed) {
        return;
    }
    io->kick_listed = true;
    io->kick_next = CHIMNEY_NO_INDEX;
    if (eng->kick_tail != CHIMNEY_NO_INDEX) {
        chimney_tcp_at(eng, eng->kick_tail)->io->kick_next = idx;
    } else {
        eng->kick_head = idx;
    }
    eng->kick_tail = idx;
    eng->svc->timer_set(eng->opaque, eng->svc->clock_ns(eng->opaque));
}

void chimney_io_run_kicks(ChimneyEngine *eng)
{
    uint32_t budget = 256, head = eng->kick_head;

    /* only those queued before this pass: each runs once per pass */
    eng->kick_head = eng->kick_tail = CHIMNEY_NO_INDEX;
    while (head != CHIMNEY_NO_INDEX) {
        uint32_t idx = head;
        ChimneyTcpIo *io = chimney_tcp_at(eng, idx)->io;

        head = io->kick_next;
        io->kick_listed = false;
        io->kick_next = CHIMNEY_NO_INDEX;
        if (budget) {
            budget--;
            chimney_tcp_output(eng, idx);
        } else {
            chimney_io_kick(eng, idx);
        }
    }
}

static bool state_established(uint32_t s)
{
    return s == CHIMNEY_TCPS_ESTABLISHED || s == CHIMNEY_TCPS_CLOSE_WAIT;
}

void chimney_io_set_state(ChimneyEngine *eng, ChimneyTcpObj *o,
                          uint32_t state)
{
    ChimneyTcpStats *ts = chimney_stats_tcp(eng, o);

    if (state_established(o->d.state) && !state_established(state)) {
        ts->currently_established--;
        if (state == CHIMNEY_TCPS_CLOSED) {
            ts->reset_established++;
        }
    } else if (!state_established(o->d.state) && state_established(state)) {
        ts->currently_established++;
    }
    trace_chimney_engine_tcp_state(o->d.state, state);
    o->d.state = state;
}

void chimney_io_engine_reset(ChimneyEngine *eng)
{
    eng->io_reqs = 0;
    eng->ind_head = eng->ind_tail = CHIMNEY_NO_INDEX;
    eng->defer_head = eng->defer_tail = CHIMNEY_NO_INDEX;
    eng->kick_head = eng->kick_tail = CHIMNEY_NO_INDEX;
    g_free(eng->io_after.seg);
    memset(&eng->io_after, 0, sizeof(eng->io_after));
    memset(&eng->stats, 0, sizeof(eng->stats));
}
