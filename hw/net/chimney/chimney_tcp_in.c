/*
 * chimney-nic TCP engine: segment input.  Receive steering, the RFC 9293
 * acceptance test, RFC 5961 ACK validation, window update, in-order data
 * into the receive buffer.  C + GLib only.
 *
 * RST and SYN follow RFC 5961 (challenge ACKs), FIN closes the receive
 * side; URG data, and a SYN at RcvNxt, go up the host path and the
 * connection asks to be uploaded (spec "Upload requests").
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_hdr.h"
#include "chimney_parse.h"
#include "chimney_io.h"
#include "chimney_tcp.h"

/*
 * RFC 9293 3.10.7.4: is any part of the segment inside the receive
 * window?  A zero window admits only a segment at RcvNxt without data.
 */
static bool seg_acceptable(uint32_t rcv_nxt, uint32_t wnd, uint32_t seq,
                           uint32_t len)
{
    if (!wnd) {
        return !len && seq == rcv_nxt;
    }
    if (!len) {
        return chimney_seq_le(rcv_nxt, seq) &&
               chimney_seq_lt(seq, rcv_nxt + wnd);
    }
    return (chimney_seq_le(rcv_nxt, seq) &&
            chimney_seq_lt(seq, rcv_nxt + wnd)) ||
           (chimney_seq_le(rcv_nxt, seq + len - 1) &&
            chimney_seq_lt(seq + len - 1, rcv_nxt + wnd));
}

/*
 * Answers to segments that change nothing (out of the window, an ACK
 * beyond SndMax, challenge ACKs, PAWS) are rate-limited per connection,
 * as RFC 5961 7 asks and Linux does (tcp_invalid_ratelimit): two ends
 * that disagree about the sequence space would otherwise answer each
 * other's ACKs forever.  Segments carrying data are always answered (a
 * window probe needs its answer; data does not make an ACK loop).
 */
#define OOW_ACK_INTERVAL_NS     (500ll * 1000 * 1000)

static void oow_ack(ChimneyEngine *eng, ChimneyTcpObj *o,
                    const ChimneyRxParsed *r)
{
    uint32_t now = chimney_nic_ticks(eng);
    uint32_t gap = MAX(OOW_ACK_INTERVAL_NS / chimney_tick_ns(eng), 1u);

    if (!r->payload_len || (r->tcp_flags & CHIMNEY_TH_SYN)) {
        if (now - o->oow_tick < gap) {
            trace_chimney_engine_rx_steer(o->idx, r->ip_total_len,
                                          "engine: ACK rate-limited");
            return;
        }
        o->oow_tick = now;
    }
    chimney_tcp_send_ack(eng, o);
}

/* PAWS (RFC 7323 5): an old timestamp marks an old duplicate. */
#define PAWS_IDLE_TICKS_MS  (24u * 24u * 3600u * 1000u)

static bool paws_reject(ChimneyEngine *eng, ChimneyTcpObj *o,
                        const ChimneyRxParsed *r)
{
    uint64_t idle_ms;

    if (!r->has_ts || !(o->c.flags & CHIMNEY_TCP_CONST_TIMESTAMP) ||
        (r->tcp_flags & CHIMNEY_TH_RST) ||
        !chimney_seq_lt(r->ts_val, o->d.ts_recent)) {
        return false;
    }
    /* a TsRecent idle for 24 days is no longer valid (RFC 7323 5.5) */
    idle_ms = (uint64_t)chimney_tcp_ts_recent_age(eng, o) *
              chimney_tick_ns(eng) / 1000000u;
    return idle_ms < PAWS_IDLE_TICKS_MS;
}

/*
 * RFC 5961 5.2: an ACK is acceptable only within
 * [SndUna - MaxSndWnd, SndMax]; anything else is dropped with an ACK, so a
 * blind ACK cannot complete the host's sends.  Returns false to drop.
 */
static bool ack_in(ChimneyEngine *eng, ChimneyTcpObj *o,
                   const ChimneyRxParsed *r, ChimneyNeighObj *n)
{
    uint32_t acked, wnd, idx = o->idx;
    bool dup, advanced = false;

    if (!(r->tcp_flags & CHIMNEY_TH_ACK)) {
        return false;                   /* RFC 9293: no ACK, drop */
    }
    if (chimney_seq_lt(o->d.snd_max, r->ack) ||
        chimney_seq_lt(r->ack, o->d.snd_una - o->d.max_snd_wnd)) {
        oow_ack(eng, o, r);
        return false;
    }
    wnd = r->window;
    if (o->c.flags & CHIMNEY_TCP_CONST_WSCALE) {
        wnd <<= o->c.snd_wind_scale;
    }
    /* the send side's state, before this ACK changes it (rule 083) */
    chimney_io_get(eng, o);
    /* RFC 5681 2: a duplicate ACK */
    dup = r->ack == o->d.snd_una && !r->payload_len &&
          !(r->tcp_flags & (CHIMNEY_TH_SYN | CHIMNEY_TH_FIN)) &&
          wnd == o->d.snd_wnd && chimney_seq_lt(o->d.snd_una, o->d.snd_max);
    if (chimney_seq_lt(o->d.snd_una, r->ack)) {
        ChimneyTcpIo *io = o->io;

        acked = r->ack - o->d.snd_una;
        o->d.snd_una = r->ack;
        advanced = true;
        if (chimney_seq_lt(o->d.snd_nxt, o->d.snd_una)) {
            o->d.snd_nxt = o->d.snd_una;
        }
        o->d.snd_wnd_probe_count = 0;
        /* forward progress (rule 119, spec "Neighbor reachability") */
        n->nrt = chimney_nic_ticks(eng);
        if (io) {
            /* RTT: timestamps when on, else the timed segment (Karn) */
            if (r->has_ts && r->ts_ecr &&
                (o->c.flags & CHIMNEY_TCP_CONST_TIMESTAMP)) {
                chimney_cc_rtt_sample(eng, o, io, chimney_tcp_ts_now(eng, o) -
                                      r->ts_ecr);
                io->rtt_on = false;
            } else if (io->rtt_on && chimney_seq_le(io->rtt_seq, r->ack)) {
                chimney_cc_rtt_sample(eng, o, io, chimney_nic_ticks(eng) -
                                      io->rtt_start);
                io->rtt_on = false;
            }
            /*
             * The send queue first: a partial ACK in recovery retransmits
             * at the new SndUna, which must be read from the request that
             * holds it, not from one this ACK completed.
             */
            chimney_tcp_acked(eng, idx, acked);
            chimney_cc_on_ack(eng, idx, acked, r->ack);
            /* RFC 6298 5.3: restart the timer for what is still out */
            chimney_tcp_timer_cancel(eng, idx, CHIMNEY_TCP_TMR_REXMIT);
        }
    }
    /* window update (RFC 9293 3.10.7.4, SND.WL1/SND.WL2) */
    if (chimney_seq_lt(o->d.snd_wl1, r->seq) ||
        (o->d.snd_wl1 == r->seq && chimney_seq_le(o->d.snd_una, r->ack))) {
        o->d.snd_wnd = wnd;
        o->d.snd_wl1 = r->seq;
        o->d.max_snd_wnd = MAX(o->d.max_snd_wnd, wnd);
    }
    /*
     * RFC 6675 2: with SACK, an ACK at SndUna that SACKs new bytes is a
     * duplicate whatever its window says (a receiver that reads while
     * the hole waits opens its window on every one).
     */
    if (r->nsack && chimney_sack_update(o, r->nsack, r->sack) &&
        !advanced && chimney_seq_lt(o->d.snd_una, o->d.snd_max)) {
        dup = true;
    }
    if (dup && o->io) {
        chimney_cc_on_dupack(eng, idx);
    }
    chimney_tcp_backlog_check(eng, idx);
    return true;
}

/* The connection's receive side takes data in these states. */
static bool state_can_receive(uint32_t state)
{
    return state == CHIMNEY_TCPS_ESTABLISHED ||
           state == CHIMNEY_TCPS_FIN_WAIT_1 ||
           state == CHIMNEY_TCPS_FIN_WAIT_2;
}

/*
 * Acknowledge received data now or after the delayed-ACK timer; segs:
 * the segments it counts as (a super-segment of receive offload counts
 * as the segments it carries, spec "Segmentation offload").
 */
static void ack_data(ChimneyEngine *eng, ChimneyTcpObj *o, bool now,
                     uint32_t segs)
{
    ChimneyTcpIo *io = o->io;
    uint32_t freq = eng->params.ack_frequency;

    if (io && !now && freq > 1 && eng->params.delayed_ack_ticks) {
        /* rule 129: every ack_frequency-th segment, else the timer */
        io->segs_unacked += segs;
        if (io->segs_unacked < freq) {
            if (!(o->tmr_armed & (1u << CHIMNEY_TCP_TMR_DELACK))) {
                chimney_tcp_timer_arm(eng, o->idx, CHIMNEY_TCP_TMR_DELACK,
                                      eng->params.delayed_ack_ticks);
            }
            return;
        }
    }
    chimney_tcp_send_ack(eng, o);
}

/* An acceptable RST at RcvNxt: the connection is aborted. */
static void rst_in(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    ChimneyTcpIo *io = chimney_io_get(eng, o);

    chimney_io_set_state(eng, o, CHIMNEY_TCPS_CLOSED);
    chimney_tcp_timers_stop(eng, o->idx);
    if (!io) {
        /* no memory for the request queues: the host takes over */
        chimney_offload_request_upload(eng, o->idx,
                                       CHIMNEY_UPLOAD_REQUESTED);
        return;
    }
    io->aborted = true;
    chimney_io_object_event(eng, o->idx, CHIMNEY_DEFER_ABORT);
}

/*
 * New data after a DISCONNECT with DISC_RCV_CLOSED: nobody will read it
 * (RFC 1122 4.2.2.13), so it is not acknowledged; an RST tells the peer
 * and the connection is aborted (spec DISCONNECT "Receive side closed").
 */
static void rst_after_close(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    ChimneyTcpIo *io = o->io;

    trace_chimney_engine_rst_after_close(o->idx, o->d.rcv_nxt);
    chimney_tcp_send_rst(eng, o);
    chimney_io_set_state(eng, o, CHIMNEY_TCPS_CLOSED);
    chimney_tcp_timers_stop(eng, o->idx);
    io->aborted = true;
    io->abort_info = CHIMNEY_ABORT_DATA_AFTER_CLOSE;
    chimney_io_object_event(eng, o->idx, CHIMNEY_DEFER_ABORT);
}

/* The peer's FIN, in sequence: ACK it, close the receive side. */
static void fin_in(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    ChimneyTcpIo *io = chimney_io_get(eng, o);

    if (!io) {
        chimney_offload_request_upload(eng, o->idx,
                                       CHIMNEY_UPLOAD_REQUESTED);
        return;
    }
    io->fin_rcvd = true;
    io->fin_seq = o->d.rcv_nxt;
    o->d.rcv_nxt++;
    chimney_tcp_send_ack(eng, o);
    switch (o->d.state) {
    case CHIMNEY_TCPS_ESTABLISHED:
        chimney_io_set_state(eng, o, CHIMNEY_TCPS_CLOSE_WAIT);
        break;
    case CHIMNEY_TCPS_FIN_WAIT_1:
        chimney_io_set_state(eng, o, CHIMNEY_TCPS_CLOSING);
        break;
    case CHIMNEY_TCPS_FIN_WAIT_2:
        /* rule 127: TIME_WAIT is handed back to the host */
        chimney_tcp_timer_cancel(eng, o->idx, CHIMNEY_TCP_TMR_FIN_WAIT_2);
        chimney_io_set_state(eng, o, CHIMNEY_TCPS_TIME_WAIT);
        chimney_offload_request_upload(eng, o->idx,
                                       CHIMNEY_UPLOAD_REQUESTED);
        break;
    default:
        break;
    }
    chimney_deliver_check_fin(eng, o->idx);
}

bool chimney_tcp_segment(ChimneyEngine *eng, uint32_t idx,
                         const ChimneyRxParsed *r, const uint8_t *payload)
{
    ChimneyTcpObj *o = chimney_tcp_at(eng, idx);
    ChimneyNeighObj *n = chimney_neigh_at(eng,
                                          chimney_path_at(eng, o->path)->neigh);
    uint32_t wnd, seglen, adv, mss;
    bool ooo;

    chimney_stats_tcp(eng, o)->in_segments++;
    if (o->io && o->io->aborted) {
        return true;            /* spec "DISCONNECT": nothing more */
    }
    wnd = chimney_rcvbuf_window(eng, o);
    seglen = r->payload_len + ((r->tcp_flags & CHIMNEY_TH_FIN) ? 1 : 0);

    /* RFC 5961 3: RST only at RcvNxt, in-window: challenge ACK */
    if (r->tcp_flags & CHIMNEY_TH_RST) {
        if (r->seq == o->d.rcv_nxt) {
            rst_in(eng, o);
        } else if (seg_acceptable(o->d.rcv_nxt, MAX(wnd, 1u), r->seq, 0)) {
            oow_ack(eng, o, r);                     /* challenge ACK */
        }
        return true;
    }
    /* RFC 9293 3.10.7.4 first check: the sequence number */
    if (!seg_acceptable(o->d.rcv_nxt, wnd, r->seq, seglen) &&
        !(wnd == 0 && r->seq == o->d.rcv_nxt)) {
        oow_ack(eng, o, r);             /* unacceptable: ACK, drop */
        return true;
    }
    if (paws_reject(eng, o, r)) {
        oow_ack(eng, o, r);
        return true;
    }
    /* RFC 5961 4: a SYN is answered with a challenge ACK ... */
    if (r->tcp_flags & CHIMNEY_TH_SYN) {
        if (r->seq != o->d.rcv_nxt) {
            oow_ack(eng, o, r);
            return true;
        }
        /* ... except at RcvNxt: the host decides (spec, REQUESTED) */
        chimney_offload_request_upload(eng, idx, CHIMNEY_UPLOAD_REQUESTED);
        return false;
    }
    /* urgent data is the host's (spec "Upload requests", URGENT_DATA) */
    if (r->tcp_flags & CHIMNEY_TH_URG) {
        chimney_offload_request_upload(eng, idx, CHIMNEY_UPLOAD_URGENT_DATA);
        return false;
    }
    if (!ack_in(eng, o, r, n)) {
        return true;
    }
    if (!o->in_use || o->retrieve_pending) {
        return true;            /* the ACK asked for an upload */
    }
    if (o->k.flags & CHIMNEY_TCP_CACHED_KEEPALIVE) {
        chimney_tcp_keepalive_restart(eng, idx);    /* idle time restarts */
    }
    if (r->has_ts && (o->c.flags & CHIMNEY_TCP_CONST_TIMESTAMP) &&
        chimney_seq_le(r->seq, o->d.rcv_nxt)) {
        o->d.ts_recent = r->ts_val;
        o->ts_recent_stamp = chimney_nic_ticks(eng);
    }
    if (r->payload_len) {
        if (!state_can_receive(o->d.state) ||
            (o->io && o->io->fin_rcvd)) {
            chimney_tcp_send_ack(eng, o);           /* after FIN: ignored */
        } else if (o->io && o->io->rcv_closed &&
                   chimney_seq_lt(o->d.rcv_nxt, r->seq + r->payload_len)) {
            rst_after_close(eng, o);
            return true;
        } else {
            uint32_t direct = 0;

            ooo = r->seq != o->d.rcv_nxt;
            if (!ooo) {
                /* never more than the window advertised */
                direct = chimney_deliver_direct(eng, idx, payload,
                                                MIN(r->payload_len, wnd),
                                                r->tcp_flags & CHIMNEY_TH_PSH);
            }
            adv = direct + (direct < r->payload_len ?
                            chimney_rcvbuf_place(eng, o, r->seq + direct,
                                                 payload + direct,
                                                 r->payload_len - direct) :
                            0);
            if (adv) {
                ChimneyTcpIo *io = o->io;

                /* new in-sequence data: progress ("Neighbor reach.") */
                n->nrt = chimney_nic_ticks(eng);
                chimney_stats_ip(eng, o)->in_delivers++;
                if (r->tcp_flags & CHIMNEY_TH_PSH) {
                    io->psh = true;
                    io->psh_seq = chimney_seq_lt(o->d.rcv_nxt,
                                                 r->seq + r->payload_len) ?
                                  o->d.rcv_nxt : r->seq + r->payload_len;
                }
            }
            /*
             * Deliver first, so the ACK below advertises the window after
             * delivery: a window that moves between ACKs would make the
             * peer's duplicate ACK count miss (RFC 5681 2).  The ACK then
             * covers any window update delivery would have sent.
             */
            if (adv) {
                o->io->in_segment = true;
                chimney_deliver(eng, idx);
                o->io->in_segment = false;
            }
            /*
             * RFC 5681 4.2: out of order, filling a hole, or dropped: ACK
             * now.  Only full-sized segments wait for the delayed ACK; a
             * shorter one usually ends a write, and delaying its ACK would
             * stall a peer running Nagle (spec "Delayed ACK").
             */
            mss = chimney_tcp_eff_mss(eng, o);
            ack_data(eng, o, ooo || !adv || (o->io && o->io->nooo) ||
                     adv > r->payload_len || r->payload_len < mss,
                     (r->payload_len + mss - 1) / mss);
        }
    }
    if ((r->tcp_flags & CHIMNEY_TH_FIN) && o->in_use &&
        !o->retrieve_pending && state_can_receive(o->d.state) &&
        !(o->io && o->io->fin_rcvd) &&
        r->seq + r->payload_len == o->d.rcv_nxt) {
        fin_in(eng, o);
    }
    if (o->in_use) {
        chimney_tcp_output(eng, idx);
    }
    return true;
}

/*
 * Receive steering (spec "Receive steering"): only frames to the
 * interface MAC, on the neighbor's VLAN (untagged or priority-tagged for
 * VLAN 0), for a connection that is not waiting to be uploaded and whose
 * state is valid.  Returns the connection or CHIMNEY_NO_INDEX.
 */
static uint32_t steer(ChimneyEngine *eng, const uint8_t *frame,
                      const ChimneyRxParsed *r)
{
    ChimneyTcpObj *o;
    ChimneyNeighObj *n;
    uint32_t idx;

    idx = chimney_demux_lookup(eng, r->is_ipv6, r->dst_ip, r->src_ip,
                               r->dst_port, r->src_port);
    if (idx == CHIMNEY_NO_INDEX) {
        return idx;                     /* not offloaded: host path */
    }
    o = chimney_tcp_at(eng, idx);
    n = chimney_neigh_at(eng, chimney_path_at(eng, o->path)->neigh);
    if (memcmp(frame, eng->mac, 6) || o->retrieve_pending || o->invalid) {
        trace_chimney_engine_rx_steer(idx, r->ip_total_len, "host: not ours");
        return CHIMNEY_NO_INDEX;
    }
    /* chimney-spec 1.6: a neighbor admits only its own VLAN */
    if ((r->vlan ? r->vlan_id : 0) != n->vlan_id) {
        trace_chimney_engine_rx_steer(idx, r->ip_total_len, "host: VLAN");
        return CHIMNEY_NO_INDEX;
    }
    return idx;
}

bool chimney_tcp_input(ChimneyEngine *eng, const uint8_t *frame, size_t len,
                       bool csum_trusted)
{
    ChimneyRxParsed r;
    ChimneyTcpObj *o;
    uint32_t idx;

    if (!(csum_trusted ? chimney_parse_frame_vouched(frame, len, &r) :
          chimney_parse_frame(frame, len, &r))) {
        return false;
    }
    if (!chimney_rx_is_offload_candidate(&r)) {
        return false;
    }
    idx = steer(eng, frame, &r);
    if (idx == CHIMNEY_NO_INDEX) {
        return false;
    }
    o = chimney_tcp_at(eng, idx);
    chimney_stats_ip(eng, o)->in_receives++;
    chimney_stats_ip(eng, o)->in_octets += r.ip_total_len;
    if (!chimney_tcp_segment(eng, idx, &r, frame + r.payload_off)) {
        trace_chimney_engine_rx_steer(idx, r.ip_total_len, "host: upload");
        return false;
    }
    trace_chimney_engine_rx_steer(idx, r.ip_total_len, "engine");
    return true;
}
