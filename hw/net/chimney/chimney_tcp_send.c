/*
 * chimney-nic TCP engine: the send side of an offloaded connection.
 * Segmentation to the effective MSS, send and congestion windows, Nagle
 * and sender SWS avoidance (RFC 9293 3.8.6.2.1), PSH, the FIN of a
 * graceful DISCONNECT, and the completion of acknowledged requests
 * (spec "SEND", "DISCONNECT", rules 026-028, 067-073).  C + GLib only.
 *
 * Send data stays in guest memory: it is read by DMA when a segment is
 * built, straight into the frame, and again when it is retransmitted.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_hdr.h"
#include "chimney_io.h"
#include "chimney_tcp.h"

uint32_t chimney_tcp_eff_mss(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    return chimney_effective_mss(chimney_path_at(eng, o->path), o);
}

/* Index of the request holding sequence number seq (binary search). */
static uint32_t sq_find(ChimneyTcpIo *io, uint32_t una, uint32_t seq)
{
    uint32_t lo = 0, hi = io->sq_len;

    /* requests are in sequence order; compare offsets from SndUna */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (chimney_io_sq_at(io, mid)->start - una <= seq - una) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/*
 * Read [seq, seq + len) of the send queue into dst; *push is set when
 * the range ends a request with SENDF_PUSH.  -1 on a DMA error.
 */
static int sq_read(ChimneyEngine *eng, ChimneyTcpObj *o, uint32_t seq,
                   uint32_t len, uint8_t *dst, bool *push)
{
    ChimneyTcpIo *io = o->io;
    uint32_t i = sq_find(io, o->d.snd_una, seq);

    *push = false;
    while (len && i < io->sq_len) {
        ChimneySendReq *r = chimney_io_sq_at(io, i);
        uint32_t off = seq - r->start;
        uint32_t take;

        /* never outside a queued request's buffer */
        if (off >= r->len) {
            return -1;
        }
        take = MIN(len, r->len - off);

        if (chimney_eng_dma_read(eng, r->addr + off, dst, take) < 0) {
            return -1;
        }
        dst += take;
        seq += take;
        len -= take;
        if (off + take == r->len && (r->flags & CHIMNEY_SREQ_PUSH)) {
            *push = true;
        }
        i++;
    }
    return len ? -1 : 0;
}

/* Send data could not be read: stop, and hand the connection back. */
static void send_dma_failed(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    chimney_eng_guest_error(eng, CHIMNEY_ERR_DMA, "chimney-nic: connection "
                            "%u: send data at sequence %u not readable; "
                            "upload requested", o->idx, o->d.snd_nxt);
    chimney_offload_request_upload(eng, o->idx, CHIMNEY_UPLOAD_REQUESTED);
}

/*
 * Build and send one segment of up to len bytes at seq (plus the FIN if
 * it goes with it).  Returns false when it could not be sent.
 */
static bool send_segment(ChimneyEngine *eng, ChimneyTcpObj *o, uint32_t seq,
                         uint32_t len, bool fin)
{
    ChimneyPathObj *p = chimney_path_at(eng, o->path);
    ChimneyNeighObj *n = chimney_neigh_at(eng, p->neigh);
    size_t hlen = chimney_segment_overhead(n, p, o);
    uint8_t flags = CHIMNEY_TH_ACK;
    bool push = false;

    if (len && sq_read(eng, o, seq, len, eng->txbuf + hlen, &push) < 0) {
        send_dma_failed(eng, o);
        return false;
    }
    /* PSH: a request's SENDF_PUSH, or the send queue drains here */
    if (push || (len && seq + len == o->io->snd_end)) {
        flags |= CHIMNEY_TH_PSH;
    }
    if (fin) {
        flags |= CHIMNEY_TH_FIN;
    }
    return chimney_tcp_emit(eng, o, seq, flags, len,
                            chimney_seq_lt(seq, o->d.snd_max));
}

/* The FIN goes out at snd_end once all data before it is sent. */
static bool fin_due(const ChimneyTcpObj *o, uint32_t seq, uint32_t len)
{
    return o->io->fin_queued && seq + len == o->io->snd_end;
}

static bool state_can_send(uint32_t state)
{
    switch (state) {
    case CHIMNEY_TCPS_ESTABLISHED:
    case CHIMNEY_TCPS_CLOSE_WAIT:
    case CHIMNEY_TCPS_FIN_WAIT_1:
    case CHIMNEY_TCPS_CLOSING:
    case CHIMNEY_TCPS_LAST_ACK:
        return true;
    default:
        return false;
    }
}

void chimney_tcp_output(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t mss, nseg;
    bool nagle;

    if (!io || o->retrieve_pending || o->invalid || io->aborted ||
        !state_can_send(o->d.state)) {
        return;
    }
    mss = chimney_tcp_eff_mss(eng, o);
    nagle = o->k.flags & CHIMNEY_TCP_CACHED_NAGLE;
    for (nseg = 0; nseg < CHIMNEY_TX_BURST; nseg++) {
        uint32_t seq = o->d.snd_nxt;
        uint32_t wnd = MIN(o->d.snd_wnd,
                           o->d.cwnd + io->limited_tx * mss);
        uint32_t inflight = seq - o->d.snd_una;
        uint32_t usable = wnd > inflight ? wnd - inflight : 0;
        uint32_t unsent = chimney_seq_lt(seq, io->snd_end) ?
                          io->snd_end - seq : 0;
        uint32_t len = MIN(MIN(unsent, usable), mss);
        uint32_t big = len == mss ?
                       chimney_tcp_tso_len(eng, o, mss, MIN(unsent, usable),
                                           usable < unsent || nagle) : 0;
        bool fin;

        len = big ? big : len;
        fin = !chimney_seq_lt(io->snd_end, seq) && fin_due(o, seq, len);

        if (fin && len < unsent) {
            fin = false;
        }
        if (!len && !fin) {
            break;
        }
        if (len && len < mss && len < unsent) {
            /* window-limited small segment: RFC 9293 sender SWS */
            if (inflight && len < o->d.max_snd_wnd / 2) {
                break;
            }
        }
        if (len && len < mss && nagle && inflight && !fin) {
            break;                              /* Nagle (RFC 896) */
        }
        if (!send_segment(eng, o, seq, len, fin)) {
            break;
        }
        if (!io->rtt_on && seq == o->d.snd_max && len) {
            io->rtt_on = true;                  /* time this segment */
            io->rtt_seq = seq + len;
            io->rtt_start = chimney_nic_ticks(eng);
        }
        o->d.snd_nxt = seq + len + (fin ? 1 : 0);
        if (fin && !io->fin_sent) {
            io->fin_sent = true;
            chimney_io_set_state(eng, o,
                                 o->d.state == CHIMNEY_TCPS_CLOSE_WAIT ?
                                 CHIMNEY_TCPS_LAST_ACK :
                                 CHIMNEY_TCPS_FIN_WAIT_1);
        }
        if (chimney_seq_lt(o->d.snd_max, o->d.snd_nxt)) {
            o->d.snd_max = o->d.snd_nxt;
        }
        if (fin) {
            break;
        }
    }
    if (nseg == CHIMNEY_TX_BURST) {
        chimney_io_kick(eng, idx);              /* the rest comes next */
    }
    chimney_cc_timer_update(eng, idx);
}

bool chimney_tcp_resend_range(ChimneyEngine *eng, uint32_t idx, uint32_t seq,
                              uint32_t max)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t data = chimney_seq_lt(seq, io->snd_end) ? io->snd_end - seq : 0;
    uint32_t len = MIN(MIN(data, max), chimney_tcp_eff_mss(eng, o));
    bool fin = io->fin_sent && fin_due(o, seq, len);

    if (o->retrieve_pending || io->aborted || (!len && !fin)) {
        return false;
    }
    return send_segment(eng, o, seq, len, fin);
}

void chimney_tcp_retransmit_head(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    uint32_t una = o->d.snd_una;

    if (chimney_tcp_resend_range(eng, idx, una, UINT32_MAX)) {
        /* SACK recovery goes on after this segment */
        uint32_t next = una + chimney_tcp_eff_mss(eng, o);

        if (chimney_seq_lt(o->io->rexmit_hint, next)) {
            o->io->rexmit_hint = next;
        }
    }
}

void chimney_tcp_send_probe(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    uint32_t seq = o->d.snd_nxt;

    /*
     * One byte beyond the zero window (RFC 9293 3.8.6.1).  SndNxt stays:
     * the byte counts as sent (SndMax, so the peer may acknowledge it)
     * but the connection stays in persist, not retransmission.
     */
    if (send_segment(eng, o, seq, 1, false) &&
        chimney_seq_lt(o->d.snd_max, seq + 1)) {
        o->d.snd_max = seq + 1;
    }
}

/*
 * The peer acknowledged `acked` more bytes (FIN included): complete the
 * requests it covers, in order; SEND_DONE only for acknowledged bytes
 * (rule 067); DISC_DONE once the FIN is acknowledged.
 */
void chimney_tcp_acked(ChimneyEngine *eng, uint32_t idx, uint32_t acked)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;

    while (acked && io->sq_len) {
        ChimneySendReq *r = chimney_io_sq_at(io, 0);
        uint32_t take = MIN(acked, r->len - r->acked);

        r->acked += take;
        acked -= take;
        if (r->acked < r->len) {
            break;
        }
        if (r->flags & CHIMNEY_SREQ_DISC) {
            /* final data: reported in DISC_DONE */
        } else {
            io->nsend--;
            chimney_io_complete(eng, idx, CHIMNEY_EVT_SEND_DONE, r->cookie,
                                CHIMNEY_ST_SUCCESS, r->len);
        }
        chimney_io_sq_pop(eng, io);
    }
    if (acked && io->fin_sent && o->d.snd_una == io->snd_end + 1) {
        /* our FIN is acknowledged */
        io->fin_queued = false;
        if (io->disc_pending) {
            io->disc_pending = false;
            eng->io_reqs--;
            chimney_io_complete(eng, idx, CHIMNEY_EVT_DISC_DONE,
                                io->disc_cookie, CHIMNEY_ST_SUCCESS,
                                io->disc_len);
        }
        switch (o->d.state) {
        case CHIMNEY_TCPS_FIN_WAIT_1:
            chimney_io_set_state(eng, o, CHIMNEY_TCPS_FIN_WAIT_2);
            chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_FIN_WAIT_2,
                                  chimney_tcp_fin_wait2_ticks(eng));
            break;
        case CHIMNEY_TCPS_CLOSING:
            /* rule 127: TIME_WAIT is the host's */
            chimney_io_set_state(eng, o, CHIMNEY_TCPS_TIME_WAIT);
            chimney_offload_request_upload(eng, idx,
                                           CHIMNEY_UPLOAD_REQUESTED);
            break;
        case CHIMNEY_TCPS_LAST_ACK:
            chimney_io_set_state(eng, o, CHIMNEY_TCPS_CLOSED);
            chimney_offload_request_upload(eng, idx,
                                           CHIMNEY_UPLOAD_REQUESTED);
            break;
        default:
            break;
        }
    }
}

/*
 * Rule 083: EVT_TCP_BACKLOG when the preferred backlog moved by at least
 * one MSS, at most once per round-trip time (spec "TCP events").
 */
void chimney_tcp_backlog_check(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t now = chimney_nic_ticks(eng), val, diff, rtt;

    if (!io || o->retrieve_pending || io->aborted) {
        return;
    }
    val = chimney_tcp_send_backlog(o);
    diff = val > io->backlog_sent ? val - io->backlog_sent :
           io->backlog_sent - val;
    rtt = MAX(o->d.srtt >> 3, 1u);
    if (diff < chimney_tcp_eff_mss(eng, o) || now - io->backlog_tick < rtt) {
        return;
    }
    io->backlog_sent = val;
    io->backlog_tick = now;
    chimney_io_object_event(eng, idx, CHIMNEY_DEFER_BACKLOG);
}
