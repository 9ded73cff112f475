/*
 * chimney-nic TCP engine: segment output (ACKs and keepalive probes)
 * through the header builder (chimney_hdr.c).  C + GLib only.
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

#define TCP_MAX_WINDOW_UNSCALED 65535u
#define ETH_MIN_FRAME           60u     /* without FCS; spec: zero padded */

/* Before sending on a neighbor: ask the host if both views are stale. */
static void chimney_tcp_neigh_check(ChimneyEngine *eng, ChimneyNeighObj *n,
                                    uint32_t neigh_idx)
{
    uint32_t stale = eng->params.nce_stale_ticks;
    uint32_t nct = chimney_nic_ticks(eng);

    if (!eng->params_set || !stale) {
        return;
    }
    /*
     * With the event FIFO full the query is not made (nor marked): it is
     * tried again at the next transmission (spec "Event delivery").
     */
    if (nct - n->nrt > stale && nct - n->hrt > stale &&
        eng->svc->event_room(eng->opaque)) {
        ChimneyEvent ev = {
            .type = GUINT16_TO_LE(CHIMNEY_EVT_NEIGH_QUERY),
            .cookie = GUINT64_TO_LE(n->host_handle),
            .handle = GUINT64_TO_LE(chimney_offload_handle(
                          eng, CHIMNEY_KIND_NEIGH, neigh_idx)),
            .info = GUINT32_TO_LE(nct - n->nrt),
        };

        /*
         * The reply comes asynchronously (NEIGH_REPLY); until then treat
         * the host as having just answered so we do not ask per segment.
         */
        n->hrt = nct;
        chimney_eng_post_event(eng, &ev);
    }
}

static uint16_t chimney_tcp_window_field(const ChimneyTcpObj *o,
                                         uint32_t wnd)
{
    if (o->c.flags & CHIMNEY_TCP_CONST_WSCALE) {           /* rule 077 */
        wnd >>= o->c.rcv_wind_scale;
    }
    return MIN(wnd, TCP_MAX_WINDOW_UNSCALED);
}

static uint16_t chimney_tcp_next_ip_id(ChimneyTcpObj *o)
{
    uint16_t id = o->ip_id;

    /* rule 075: the target's ids are 0x8000..0xffff */
    o->ip_id = id == 0xffff ? CHIMNEY_IPV4_ID_BASE : (uint16_t)(id + 1);
    return id;
}

/*
 * IPv4 ids for nseg segments the wire cuts from one super-segment: it
 * counts up from the first (rule 075: ids stay within 0x8000..0xffff;
 * chimney_tcp_tso_len() never lets the run pass 0xffff).
 */
static uint16_t chimney_tcp_take_ip_ids(ChimneyTcpObj *o, uint32_t nseg)
{
    uint16_t id = o->ip_id;
    uint32_t next = (uint32_t)id + nseg;

    o->ip_id = next > 0xffff ? CHIMNEY_IPV4_ID_BASE : (uint16_t)next;
    return id;
}

uint32_t chimney_tcp_tso_len(ChimneyEngine *eng, ChimneyTcpObj *o,
                             uint32_t mss, uint32_t avail, bool whole)
{
    ChimneyPathObj *p = chimney_path_at(eng, o->path);
    ChimneyNeighObj *n = chimney_neigh_at(eng, p->neigh);
    uint32_t max = eng->svc->tso_max ? eng->svc->tso_max(eng->opaque) : 0;
    uint32_t hlen = chimney_segment_overhead(n, p, o);
    uint32_t len, ids;

    max = MIN(max, CHIMNEY_TSO_MAX_FRAME);
    if (max <= hlen + mss || avail <= mss) {
        return 0;
    }
    /* the IP length field; hlen counts the link header too (margin) */
    len = MIN(avail, MIN(max, 65535u) - hlen);
    if (whole || len < avail) {
        len -= len % mss;
    }
    if (!p->ipv6) {
        ids = 0x10000u - MAX(o->ip_id, CHIMNEY_IPV4_ID_BASE);
        len = MIN(len, ids * mss);
    }
    return len > mss ? len : 0;
}

bool chimney_tcp_emit(ChimneyEngine *eng, ChimneyTcpObj *o, uint32_t seq,
                      uint8_t flags, uint32_t len, bool rexmit)
{
    ChimneyPathObj *p = chimney_path_at(eng, o->path);
    ChimneyNeighObj *n = chimney_neigh_at(eng, p->neigh);
    size_t hlen = chimney_segment_overhead(n, p, o);
    uint32_t mss = chimney_effective_mss(p, o);
    uint32_t nseg = len > mss ? (len + mss - 1) / mss : 1;
    uint32_t ipth = hlen - (hlen - CHIMNEY_TCP_HLEN -
                            (p->ipv6 ? CHIMNEY_IPV6_HLEN : CHIMNEY_IPV4_HLEN) -
                            ((o->c.flags & CHIMNEY_TCP_CONST_TIMESTAMP) ?
                             CHIMNEY_TCP_TS_OPTLEN : 0));
    uint32_t i;
    ChimneySegment seg = {
        .seq = seq,
        .ack = o->d.rcv_nxt,
        .flags = flags,
        .ts_val = chimney_tcp_ts_now(eng, o),
        .ts_ecr = o->d.ts_recent,
        .payload = eng->txbuf + hlen,
        .payload_len = len,
    };
    size_t flen;
    uint32_t wnd;

    /* rule 064: nothing leaves on state the host invalidated */
    if (o->invalid || p->invalid || n->invalid) {
        return false;
    }
    /* only chimney_tcp_tso_len() makes a segment longer than the MSS */
    if (nseg > 1 && !eng->svc->emit_tso) {
        return false;
    }
    chimney_tcp_neigh_check(eng, n, p->neigh);
    wnd = chimney_rcvbuf_window(eng, o);
    seg.window = chimney_tcp_window_field(o, wnd);
    if (o->io) {
        o->io->adv_wnd = wnd;   /* receiver SWS: window_update() */
    }
    /* more than one segment: the wire cuts it (chimney_tcp_tso_len()) */
    seg.csum_partial = nseg > 1;
    seg.ip_id = nseg > 1 ? chimney_tcp_take_ip_ids(o, nseg) :
                chimney_tcp_next_ip_id(o);
    if (!len && !(flags & (CHIMNEY_TH_RST | CHIMNEY_TH_FIN))) {
        /* RFC 2018: what is held out of order, on every pure ACK */
        seg.nsack = chimney_sack_blocks(o, seg.sack,
                                        (o->c.flags &
                                         CHIMNEY_TCP_CONST_TIMESTAMP) ? 3 : 4);
        hlen += seg.nsack ? 4 + 8 * seg.nsack : 0;
    }
    flen = chimney_build_segment(eng->mac, n, p, o, &seg, eng->txbuf,
                                 sizeof(eng->txbuf));
    if (!flen) {
        chimney_stats_ip(eng, o)->out_discards++;
        return false;
    }
    if (flen < ETH_MIN_FRAME) {
        memset(eng->txbuf + flen, 0, ETH_MIN_FRAME - flen);
        flen = ETH_MIN_FRAME;
    }
    trace_chimney_engine_tx_seg(o->idx, seq, len,
                                flags);
    /* the counters count the segments on the wire, cut or not */
    for (i = 0; i < nseg; i++) {
        chimney_stats_out(eng, o, ipth + MIN(mss, len - i * mss), rexmit,
                          flags & CHIMNEY_TH_RST);
    }
    /* an ACK goes out: no delayed ACK is owed any more */
    if (o->io) {
        o->io->segs_unacked = 0;
    }
    if (o->tmr_armed & (1u << CHIMNEY_TCP_TMR_DELACK)) {
        chimney_tcp_timer_cancel(eng, o->idx,
                                 CHIMNEY_TCP_TMR_DELACK);
    }
    if (nseg > 1) {
        trace_chimney_engine_tx_tso(o->idx, seq, len, mss);
        eng->svc->emit_tso(eng->opaque, eng->txbuf, flen,
                           hlen - (ipth - (p->ipv6 ? CHIMNEY_IPV6_HLEN :
                                           CHIMNEY_IPV4_HLEN)),
                           hlen, mss, p->ipv6);
    } else {
        eng->svc->emit_frame(eng->opaque, eng->txbuf, flen);
    }
    return true;
}

void chimney_tcp_send_ack(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    chimney_tcp_emit(eng, o, o->d.snd_nxt, CHIMNEY_TH_ACK, 0, false);
}

/*
 * A keepalive probe is an ACK one below SndUna without data (RFC 9293
 * 3.8.4): the peer must answer it with an ACK.
 */
void chimney_tcp_send_keepalive(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    chimney_tcp_emit(eng, o, o->d.snd_una - 1, CHIMNEY_TH_ACK, 0, false);
}

void chimney_tcp_send_rst(ChimneyEngine *eng, ChimneyTcpObj *o)
{
    chimney_tcp_emit(eng, o, o->d.snd_nxt, CHIMNEY_TH_RST | CHIMNEY_TH_ACK, 0,
                     false);
}
