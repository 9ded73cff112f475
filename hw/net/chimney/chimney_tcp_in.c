/*
 * chimney-nic TCP engine: segment input.  Receive steering, the RFC 9293
 * acceptance test, RFC 5961 ACK validation, window update, in-order data
 * into the receive buffer.  C + GLib only.
 *
 * Segments this engine does not handle yet (SYN, RST, FIN, URG) go up the
 * host path untouched, and the connection asks to be uploaded: the host
 * then owns the connection before it sees them (spec "Receive path").
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_hdr.h"
#include "chimney_parse.h"
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
 * RFC 5961 5.2: an ACK is acceptable only within
 * [SndUna - MaxSndWnd, SndMax]; anything else is dropped with an ACK, so a
 * blind ACK cannot complete the host's sends.  Returns false to drop.
 */
static bool ack_in(ChimneyEngine *eng, ChimneyTcpObj *o,
                   const ChimneyRxParsed *r, ChimneyNeighObj *n)
{
    uint32_t acked, i, wnd;

    if (!(r->tcp_flags & CHIMNEY_TH_ACK)) {
        return false;                   /* RFC 9293: no ACK, drop */
    }
    if (chimney_seq_lt(o->d.snd_max, r->ack) ||
        chimney_seq_lt(r->ack, o->d.snd_una - o->d.max_snd_wnd)) {
        chimney_tcp_send_ack(eng, o);
        return false;
    }
    if (chimney_seq_lt(o->d.snd_una, r->ack)) {
        acked = r->ack - o->d.snd_una;
        o->d.snd_una = r->ack;
        if (chimney_seq_lt(o->d.snd_nxt, o->d.snd_una)) {
            o->d.snd_nxt = o->d.snd_una;
        }
        for (i = 0; i < o->sendq_len && acked; i++) {
            uint32_t take = MIN(acked, o->sendq[i].len - o->sendq[i].acked);

            o->sendq[i].acked += take;
            acked -= take;
        }
        o->d.dup_ack_count = 0;
        /* forward progress (rule 119, spec "Neighbor reachability") */
        n->nrt = chimney_nic_ticks(eng);
    }
    /* window update (RFC 9293 3.10.7.4, SND.WL1/SND.WL2) */
    if (chimney_seq_lt(o->d.snd_wl1, r->seq) ||
        (o->d.snd_wl1 == r->seq && chimney_seq_le(o->d.snd_una, r->ack))) {
        wnd = r->window;
        if (o->c.flags & CHIMNEY_TCP_CONST_WSCALE) {
            wnd <<= o->c.snd_wind_scale;
        }
        o->d.snd_wnd = wnd;
        o->d.snd_wl1 = r->seq;
        o->d.max_snd_wnd = MAX(o->d.max_snd_wnd, wnd);
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

bool chimney_tcp_input(ChimneyEngine *eng, const uint8_t *frame, size_t len)
{
    ChimneyRxParsed r;
    ChimneyTcpObj *o;
    ChimneyNeighObj *n;
    uint32_t idx, wnd, room, take;

    if (!chimney_parse_frame(frame, len, &r) ||
        !chimney_rx_is_offload_candidate(&r)) {
        return false;
    }
    idx = steer(eng, frame, &r);
    if (idx == CHIMNEY_NO_INDEX) {
        return false;
    }
    o = chimney_tcp_at(eng, idx);
    n = chimney_neigh_at(eng, chimney_path_at(eng, o->path)->neigh);

    if (r.tcp_flags & (CHIMNEY_TH_SYN | CHIMNEY_TH_RST | CHIMNEY_TH_FIN |
                       CHIMNEY_TH_URG)) {
        chimney_offload_request_upload(eng, idx,
                                       (r.tcp_flags & CHIMNEY_TH_URG) ?
                                       CHIMNEY_UPLOAD_URGENT_DATA :
                                       CHIMNEY_UPLOAD_REQUESTED);
        trace_chimney_engine_rx_steer(idx, r.ip_total_len, "host: upload");
        return false;
    }
    trace_chimney_engine_rx_steer(idx, r.ip_total_len, "engine");

    /* RFC 9293 3.10.7.4 first check: the sequence number */
    wnd = chimney_rcvbuf_window(eng, o);
    if (!seg_acceptable(o->d.rcv_nxt, wnd, r.seq, r.payload_len) &&
        !(wnd == 0 && r.seq == o->d.rcv_nxt)) {
        chimney_tcp_send_ack(eng, o);   /* unacceptable: ACK, drop */
        return true;
    }
    if (!ack_in(eng, o, &r, n)) {
        return true;
    }
    if (o->k.flags & CHIMNEY_TCP_CACHED_KEEPALIVE) {
        chimney_tcp_keepalive_restart(eng, idx);    /* idle time restarts */
    }
    if (r.has_ts && (o->c.flags & CHIMNEY_TCP_CONST_TIMESTAMP) &&
        chimney_seq_le(r.seq, o->d.rcv_nxt)) {
        o->d.ts_recent = r.ts_val;
        o->ts_recent_stamp = chimney_nic_ticks(eng);
    }
    if (!r.payload_len) {
        return true;                    /* pure ACK: nothing to answer */
    }
    if (r.seq != o->d.rcv_nxt) {
        /* out of order or old: no reassembly queue yet; re-ACK */
        chimney_tcp_send_ack(eng, o);
        return true;
    }
    room = chimney_rcvbuf_room(eng, o);
    take = MIN(r.payload_len, room);
    if (take) {
        chimney_rcvbuf_append(o, frame + r.payload_off, take);
        o->d.rcv_nxt += take;
        /* new in-sequence data: progress (spec "Neighbor reachability") */
        n->nrt = chimney_nic_ticks(eng);
    }
    chimney_tcp_send_ack(eng, o);
    return true;
}
