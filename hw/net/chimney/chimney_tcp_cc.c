/*
 * chimney-nic TCP engine: round-trip time, the retransmission timer
 * (RFC 6298, seeded from the delegated SRtt/RttVar), congestion control
 * (RFC 5681 slow start, congestion avoidance, fast retransmit; NewReno
 * recovery, RFC 6582) and the persist timer.  C + GLib only.
 *
 * SRtt is kept in ticks x 8 and RttVar in ticks x 4 (the delegated
 * fields' units), so RTO = SRtt/8 + RttVar (= SRTT + 4 RTTVAR).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>

#include "chimney_io.h"
#include "chimney_tcp.h"

/* RFC 6298 2.4 lower bound and 2.5 upper bound, in milliseconds. */
#define RTO_MIN_MS      200u
#define RTO_MAX_MS      60000u
#define RTO_INIT_MS     1000u
/* Windows' default when SET_PARAMS gives none (max_retransmissions). */
#define REXMIT_LIMIT_DEFAULT    5u
#define DUPACK_DEFAULT          3u
/* Persist probes that may go unanswered before giving up. */
#define PERSIST_LIMIT           16u

static uint32_t ms_to_ticks(ChimneyEngine *eng, uint32_t ms)
{
    uint64_t t = (uint64_t)ms * 1000000ull / chimney_tick_ns(eng);

    return MAX(t, 1u);
}

static uint32_t rto_base(ChimneyEngine *eng, const ChimneyTcpObj *o)
{
    uint32_t rto;

    if (!o->d.srtt && !o->d.rttvar) {
        return ms_to_ticks(eng, RTO_INIT_MS);
    }
    rto = (o->d.srtt >> 3) + MAX(o->d.rttvar, 1u);
    return CLAMP(rto, ms_to_ticks(eng, RTO_MIN_MS),
                 ms_to_ticks(eng, RTO_MAX_MS));
}

void chimney_cc_init(ChimneyEngine *eng, ChimneyTcpObj *o, ChimneyTcpIo *io)
{
    uint32_t mss = chimney_tcp_eff_mss(eng, o);

    io->rto = rto_base(eng, o);
    io->recover = o->d.snd_una;
    /* a handed-over window of 0 would never open: RFC 5681 IW */
    if (!o->d.cwnd) {
        o->d.cwnd = MIN(4 * mss, MAX(2 * mss, 4380u));
    }
    if (!o->d.ssthresh) {
        o->d.ssthresh = UINT32_MAX / 2;
    }
}

void chimney_cc_rtt_sample(ChimneyEngine *eng, ChimneyTcpObj *o,
                           ChimneyTcpIo *io, uint32_t m)
{
    int32_t err;
    uint32_t srtt = o->d.srtt, var = o->d.rttvar;

    m = MAX(m, 1u);
    if (!srtt && !var) {
        srtt = m << 3;
        var = m << 1;
    } else {
        err = (int32_t)m - (int32_t)(srtt >> 3);
        srtt = (uint32_t)((int32_t)srtt + err);
        var = var + (uint32_t)ABS(err) - (var >> 2);
    }
    o->d.srtt = MIN(srtt, 0xffffu);
    o->d.rttvar = MIN(var, 0xffffu);
    io->rto = rto_base(eng, o);
}

static uint32_t flight(const ChimneyTcpObj *o)
{
    return o->d.snd_max - o->d.snd_una;
}

static void cc_loss_ssthresh(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    uint32_t mss = chimney_tcp_eff_mss(eng, o);

    /* RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 * SMSS) */
    o->d.ssthresh = MAX(flight(o) / 2, 2 * mss);
}

void chimney_cc_on_ack(ChimneyEngine *eng, uint32_t idx, uint32_t acked,
                       uint32_t ack)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t mss = chimney_tcp_eff_mss(eng, o);

    o->d.rexmit_count = 0;
    io->persist_shift = 0;
    io->limited_tx = 0;
    io->rto = rto_base(eng, o);
    if (io->in_recovery) {
        if (!chimney_seq_lt(ack, io->recover)) {
            /* RFC 6582 3.2 (3): full acknowledgment, leave recovery */
            io->in_recovery = false;
            o->d.cwnd = MIN(o->d.ssthresh, flight(o) + mss);
        } else {
            /* partial acknowledgment: retransmit the next hole, deflate */
            chimney_tcp_retransmit_head(eng, idx);
            o->d.cwnd = o->d.cwnd > acked ? o->d.cwnd - acked : 0;
            if (acked >= mss) {
                o->d.cwnd += mss;
            }
            o->d.cwnd = MAX(o->d.cwnd, mss);
        }
    } else if (o->d.cwnd < o->d.ssthresh) {
        /*
         * Slow start by the bytes acknowledged (RFC 3465 byte counting,
         * without its L = 2 SMSS cap, as Linux does): one ACK for a
         * super-segment or from a receiver that coalesces (GRO/LRO)
         * covers many segments, and counting it as one would hold the
         * window at a few segments per round trip (spec "Segmentation
         * offload").
         */
        o->d.cwnd += acked;
    } else {
        /* congestion avoidance: one MSS per window of bytes acknowledged */
        o->d.cwnd += MAX(1u, (uint32_t)((uint64_t)mss * MIN(acked,
                                        o->d.cwnd) / o->d.cwnd));
    }
    o->d.cwnd = MIN(o->d.cwnd, 1u << 30);
    o->d.dup_ack_count = 0;
}

void chimney_cc_on_dupack(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t mss = chimney_tcp_eff_mss(eng, o);
    uint32_t thresh = eng->params.dup_ack_threshold ?
                      eng->params.dup_ack_threshold : DUPACK_DEFAULT;

    if (o->d.dup_ack_count < 255) {
        o->d.dup_ack_count++;
    }
    if (io->in_recovery) {
        /* with SACK a departing segment lets the next hole go out */
        if (!chimney_sack_retransmit_next(eng, idx)) {
            o->d.cwnd += mss;                   /* RFC 6582 3.2 (4) */
            chimney_tcp_output(eng, idx);
        }
        return;
    }
    /*
     * RFC 3042 limited transmit: the first two duplicate ACKs each let
     * one new segment out beyond cwnd, so a small window still gathers
     * enough duplicates for fast retransmit instead of a timeout.
     */
    if (o->d.dup_ack_count < thresh && o->d.dup_ack_count <= 2) {
        io->limited_tx = o->d.dup_ack_count;
        chimney_tcp_output(eng, idx);
    }
    /* RFC 6582 3.2 (1): only for losses above the last recovery point */
    if (o->d.dup_ack_count == thresh &&
        chimney_seq_lt(io->recover, o->d.snd_una + 1)) {
        cc_loss_ssthresh(eng, o);
        io->recover = o->d.snd_max;
        io->in_recovery = true;
        io->limited_tx = 0;
        io->rexmit_hint = o->d.snd_una;
        io->rtt_on = false;                     /* Karn */
        o->d.total_rt++;
        chimney_tcp_retransmit_head(eng, idx);
        o->d.cwnd = o->d.ssthresh + 3 * mss;
        chimney_tcp_output(eng, idx);
    }
}

static bool cc_limit_reached(ChimneyEngine *eng, const ChimneyTcpObj *o)
{
    uint32_t limit = eng->params.max_retransmissions ?
                     eng->params.max_retransmissions : REXMIT_LIMIT_DEFAULT;

    /* spec "Upload requests", TIMEOUT: max_retransmissions or max_rt */
    return o->d.rexmit_count >= limit ||
           (o->k.max_rt && o->d.total_rt >= o->k.max_rt);
}

void chimney_cc_on_timeout(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = chimney_io_get(eng, o);
    uint32_t mss = chimney_tcp_eff_mss(eng, o);

    if (!io) {
        chimney_offload_request_upload(eng, idx, CHIMNEY_UPLOAD_REQUESTED);
        return;
    }
    if (!chimney_seq_lt(o->d.snd_una, o->d.snd_max)) {
        return;                 /* nothing outstanding any more */
    }
    if (cc_limit_reached(eng, o)) {
        chimney_offload_request_upload(eng, idx, CHIMNEY_UPLOAD_TIMEOUT);
        return;
    }
    o->d.rexmit_count++;
    o->d.total_rt++;
    trace_chimney_engine_rto(idx, io->rto, o->d.rexmit_count);
    /* RFC 5681 (4) and 3.1: one segment, then slow start again */
    if (!io->in_recovery || o->d.rexmit_count == 1) {
        cc_loss_ssthresh(eng, o);
    }
    o->d.cwnd = mss;
    io->in_recovery = false;
    io->recover = o->d.snd_max;
    io->rtt_on = false;
    o->d.dup_ack_count = 0;
    /* RFC 2018 8: the peer may have reneged; start afresh */
    io->nsacked = 0;
    io->rexmit_hint = o->d.snd_una;
    /* RFC 6298 5.5: back off */
    io->rto = MIN(io->rto * 2, ms_to_ticks(eng, RTO_MAX_MS));
    o->d.snd_nxt = o->d.snd_una;
    chimney_tcp_output(eng, idx);
    chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_REXMIT, io->rto);
}

void chimney_cc_timer_update(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = o->io;
    uint32_t rexmit = chimney_tcp_timer_left(eng, o, CHIMNEY_TCP_TMR_REXMIT);
    uint32_t persist = chimney_tcp_timer_left(eng, o,
                                              CHIMNEY_TCP_TMR_PERSIST);
    /* a window probe out (snd_nxt not moved) is persist, not retransmit */
    bool probing = !o->d.snd_wnd && o->d.snd_nxt == o->d.snd_una;

    if (!io || o->retrieve_pending || io->aborted) {
        return;
    }

    if (chimney_seq_lt(o->d.snd_una, o->d.snd_max) && !probing) {
        /* RFC 6298 5.1: running while data is outstanding */
        if (rexmit == CHIMNEY_TIMER_OFF) {
            chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_REXMIT, io->rto);
        }
        return;
    }
    if (rexmit != CHIMNEY_TIMER_OFF) {
        chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_REXMIT);   /* 5.2 */
    }
    /* nothing in flight: a zero window with data waiting needs probes */
    if (!o->d.snd_wnd && chimney_seq_lt(o->d.snd_una, io->snd_end)) {
        if (persist == CHIMNEY_TIMER_OFF) {
            chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_PERSIST,
                                  io->rto << MIN(io->persist_shift, 6u));
        }
    } else if (persist != CHIMNEY_TIMER_OFF) {
        chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_PERSIST);
    }
}

void chimney_cc_persist_expired(ChimneyEngine *eng, uint32_t idx)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyTcpIo *io = chimney_io_get(eng, o);

    if (!io || !chimney_seq_lt(o->d.snd_nxt, io->snd_end)) {
        /* a persist timer handed over with nothing to probe with */
        if (io) {
            chimney_tcp_send_ack(eng, o);
        }
        return;
    }
    if (o->d.snd_wnd_probe_count >= PERSIST_LIMIT) {
        chimney_offload_request_upload(eng, idx, CHIMNEY_UPLOAD_TIMEOUT);
        return;
    }
    o->d.snd_wnd_probe_count++;
    chimney_tcp_send_probe(eng, idx);
    if (io->persist_shift < 6) {
        io->persist_shift++;                    /* exponential backoff */
    }
    chimney_tcp_timer_arm(eng, idx, CHIMNEY_TCP_TMR_PERSIST,
                          MIN(io->rto << io->persist_shift,
                              ms_to_ticks(eng, RTO_MAX_MS)));
}
