/*
 * chimney-nic TCP engine, part 1: NIC time, timestamps, neighbor
 * reachability, in-order receive into the connection buffer, ACK
 * processing of the send data handed over at offload, and ACK emission
 * through the header builder.  C + GLib only.
 *
 * Segments this part does not handle (SYN, RST, FIN, URG) go up the host
 * path untouched, and the connection asks to be uploaded: the host then
 * owns the connection before it sees them (spec "Receive path").
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "chimney_core.h"
#include "chimney_hdr.h"
#include "chimney_parse.h"
#include "chimney_tcp.h"

#define TCP_MAX_WINDOW_UNSCALED 65535u

/* Sequence-space comparisons (RFC 793), modular. */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static inline bool seq_le(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

uint32_t chimney_nic_ticks(ChimneyCore *core)
{
    uint32_t tps = core->offload->params_set ?
                   core->offload->params.ticks_per_second : 1000;
    uint64_t ns = core->ops->clock_ns(core->opaque);

    /* rule 131: 32-bit ticks of >= 1 ms wrap after 49 days, not sooner */
    return (uint32_t)(ns / (1000000000ull / tps));
}

uint32_t chimney_tcp_ts_recent_age(ChimneyCore *core, const ChimneyTcpObj *o)
{
    return chimney_nic_ticks(core) - o->ts_recent_stamp;
}

uint32_t chimney_tcp_ts_now(ChimneyCore *core, const ChimneyTcpObj *o)
{
    /* rules 036, 042: NicTime + NicDelta */
    return chimney_nic_ticks(core) + (uint32_t)o->ts_delta;
}

/*
 * Neighbor reachability (chimney-spec 5.2, rules 119-120)
 */

void chimney_tcp_neigh_offloaded(ChimneyCore *core, ChimneyNeighObj *n,
                                 uint32_t nrd)
{
    uint32_t nct = chimney_nic_ticks(core);

    n->nrt = nct - nrd;
    n->hrt = nct - n->hrd;
}

uint32_t chimney_tcp_neigh_nrd(ChimneyCore *core, const ChimneyNeighObj *n)
{
    return chimney_nic_ticks(core) - n->nrt;
}

void chimney_tcp_neigh_hrd_updated(ChimneyCore *core, ChimneyNeighObj *n)
{
    n->hrt = chimney_nic_ticks(core) - n->hrd;
}

/* Before sending on a neighbor: ask the host if both views are stale. */
static void chimney_tcp_neigh_check(ChimneyCore *core, ChimneyNeighObj *n,
                                    uint32_t neigh_idx)
{
    ChimneyOffload *ofl = core->offload;
    uint32_t stale = ofl->params.nce_stale_ticks;
    uint32_t nct = chimney_nic_ticks(core);

    if (!ofl->params_set || !stale) {
        return;
    }
    if (nct - n->nrt > stale && nct - n->hrt > stale) {
        ChimneyEvent ev = {
            .type = GUINT16_TO_LE(CHIMNEY_EVT_NEIGH_QUERY),
            .cookie = GUINT64_TO_LE(n->host_handle),
            .handle = GUINT64_TO_LE(chimney_offload_handle(
                          ofl, CHIMNEY_KIND_NEIGH, neigh_idx)),
            .info = GUINT32_TO_LE(nct - n->nrt),
        };

        /*
         * The reply comes asynchronously (NEIGH_REPLY); until then treat
         * the host as having just answered so we do not ask per segment.
         */
        n->hrt = nct;
        chimney_core_post_event(core, &ev);
    }
}

/*
 * Sending
 */

/*
 * Window to advertise: RcvWnd (from InitialRcvWnd, shrinking as data is
 * buffered), capped by the free space of the device's buffer (spec
 * "Delivery algorithm").
 */
static uint32_t chimney_tcp_rcv_window(const ChimneyTcpObj *o)
{
    uint32_t space = CHIMNEY_RCV_BUF - o->rcv_len;

    return MIN(space, o->d.rcv_wnd);
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

void chimney_tcp_send_ack(ChimneyCore *core, ChimneyTcpObj *o)
{
    ChimneyOffload *ofl = core->offload;
    ChimneyPathObj *p = chimney_path_at(ofl, o->path);
    ChimneyNeighObj *n = chimney_neigh_at(ofl, p->neigh);
    uint8_t frame[128];
    ChimneySegment seg = {
        .seq = o->d.snd_nxt,
        .ack = o->d.rcv_nxt,
        .flags = CHIMNEY_TH_ACK,
        .ts_val = chimney_tcp_ts_now(core, o),
        .ts_ecr = o->d.ts_recent,
    };
    size_t len;

    /* rule 064: nothing leaves on state the host invalidated */
    if (o->invalid || p->invalid || n->invalid) {
        return;
    }
    chimney_tcp_neigh_check(core, n, p->neigh);
    seg.window = chimney_tcp_window_field(o, chimney_tcp_rcv_window(o));
    seg.ip_id = chimney_tcp_next_ip_id(o);
    len = chimney_build_segment(core->mac, n, p, o, &seg, frame,
                                sizeof(frame));
    if (!len) {
        return;
    }
    if (len < 60) {
        memset(frame + len, 0, 60 - len);
        len = 60;
    }
    core->ops->send_frame(core->opaque, frame, len);
}

/*
 * State hooks
 */

void chimney_tcp_offloaded(ChimneyCore *core, ChimneyTcpObj *o)
{
    uint32_t now = chimney_nic_ticks(core);

    /* rule 036: NicDelta = TsTime - NicTime */
    o->ts_delta = (int32_t)(o->d.ts_time - now);
    /* TsRecentAge keeps aging on the NIC clock */
    o->ts_recent_stamp = now - o->d.ts_recent_age;
}

void chimney_tcp_before_upload(ChimneyCore *core, ChimneyTcpObj *o)
{
    /*
     * rule 040: the part-1 engine ACKs every in-order segment at once, so
     * no delayed ACK is ever pending here.
     */
    (void)core;
    (void)o;
}

void chimney_tcp_cached_update(ChimneyCore *core, ChimneyTcpObj *o,
                               const ChimneyTcpCachedState *k)
{
    bool ka_was_on = o->k.flags & CHIMNEY_TCP_CACHED_KEEPALIVE;
    bool ka_params = k->ka_timeout != o->k.ka_timeout ||
                     k->ka_interval != o->k.ka_interval ||
                     k->ka_probe_count != o->k.ka_probe_count;

    o->k = *k;
    if (k->flags & CHIMNEY_TCP_CACHED_MAX_RT_RESTART) {
        o->d.total_rt = 0;                                  /* rule 055 */
    }
    /* rule 058: keepalive follows the enable flag */
    if (!(k->flags & CHIMNEY_TCP_CACHED_KEEPALIVE)) {
        o->d.ka_timeout_delta = CHIMNEY_TIMER_OFF;
        o->d.ka_probe_count = 0;
    } else if (!ka_was_on || (k->flags & CHIMNEY_TCP_CACHED_KA_RESTART)) {
        o->d.ka_timeout_delta = k->ka_timeout;              /* rule 056 */
        o->d.ka_probe_count = 0;
    } else if (ka_params && (k->flags & (CHIMNEY_TCP_CACHED_KA_RESTART |
                                         CHIMNEY_TCP_CACHED_MAX_RT_RESTART))) {
        /* decision 9.4: either restart flag resets the keepalive state */
        o->d.ka_timeout_delta = k->ka_timeout;
        o->d.ka_probe_count = 0;
    }
    if ((k->flags & CHIMNEY_TCP_CACHED_UPDATE_RCV_WND) &&
        k->initial_rcv_wnd != o->d.rcv_wnd) {
        /* rule 057: advertise the new window */
        o->d.rcv_wnd = k->initial_rcv_wnd;
        chimney_tcp_send_ack(core, o);
    }
}

/*
 * Receive
 */

/* An acceptable ACK moves SndUna over the handed-over send data. */
static void chimney_tcp_ack_in(ChimneyCore *core, ChimneyTcpObj *o,
                               const ChimneyRxParsed *r, uint32_t neigh_idx)
{
    uint32_t acked, i;

    if (!(r->tcp_flags & CHIMNEY_TH_ACK)) {
        return;
    }
    if (seq_lt(o->d.snd_una, r->ack) && seq_le(r->ack, o->d.snd_max)) {
        acked = r->ack - o->d.snd_una;
        o->d.snd_una = r->ack;
        if (seq_lt(o->d.snd_nxt, o->d.snd_una)) {
            o->d.snd_nxt = o->d.snd_una;
        }
        for (i = 0; i < o->sendq_len && acked; i++) {
            uint32_t take = MIN(acked, o->sendq[i].len - o->sendq[i].acked);

            o->sendq[i].acked += take;
            acked -= take;
        }
        o->d.dup_ack_count = 0;
        /* forward progress (rule 119) */
        chimney_neigh_at(core->offload, neigh_idx)->nrt =
            chimney_nic_ticks(core);
    }
    /* window update (RFC 793 SND.WL1/WL2 rule, simplified to WL1) */
    if (seq_le(o->d.snd_wl1, r->seq)) {
        uint32_t wnd = r->window;

        if (o->c.flags & CHIMNEY_TCP_CONST_WSCALE) {
            wnd <<= o->c.snd_wind_scale;
        }
        o->d.snd_wnd = wnd;
        o->d.snd_wl1 = r->seq;
        o->d.max_snd_wnd = MAX(o->d.max_snd_wnd, wnd);
    }
}

bool chimney_offload_rx(ChimneyCore *core, const uint8_t *frame, size_t len)
{
    ChimneyOffload *ofl = core->offload;
    ChimneyRxParsed r;
    ChimneyTcpObj *o;
    ChimneyPathObj *p;
    ChimneyNeighObj *n;
    uint32_t idx, take;

    if (!ofl->tcp.used || !chimney_parse_frame(frame, len, &r) ||
        !chimney_rx_is_offload_candidate(&r)) {
        return false;
    }
    idx = chimney_demux_lookup(ofl, r.is_ipv6, r.dst_ip, r.src_ip,
                               r.dst_port, r.src_port);
    if (idx == CHIMNEY_NO_INDEX) {
        return false;                   /* not offloaded: host path */
    }
    o = chimney_tcp_at(ofl, idx);
    p = chimney_path_at(ofl, o->path);
    n = chimney_neigh_at(ofl, p->neigh);

    /*
     * Receive steering (spec): only frames to the interface MAC, and not
     * for a connection the host must take back (every upload reason this
     * engine raises is mandatory), or whose state was invalidated.
     */
    if (memcmp(frame, core->mac, 6) || o->retrieve_pending || o->invalid) {
        return false;
    }

    /* chimney-spec 1.6: a neighbor VLAN admits only its own tag */
    if (n->vlan_id && (!r.vlan || r.vlan_id != n->vlan_id)) {
        return false;                   /* not steered: host path */
    }
    if (r.tcp_flags & (CHIMNEY_TH_SYN | CHIMNEY_TH_RST | CHIMNEY_TH_FIN |
                       CHIMNEY_TH_URG)) {
        chimney_offload_request_upload(ofl, idx,
                                       (r.tcp_flags & CHIMNEY_TH_URG) ?
                                       CHIMNEY_UPLOAD_URGENT_DATA :
                                       CHIMNEY_UPLOAD_REQUESTED);
        chimney_core_drain_events(core);
        return false;
    }

    chimney_tcp_ack_in(core, o, &r, p->neigh);
    if (r.has_ts && (o->c.flags & CHIMNEY_TCP_CONST_TIMESTAMP) &&
        seq_le(r.seq, o->d.rcv_nxt)) {
        o->d.ts_recent = r.ts_val;
        o->ts_recent_stamp = chimney_nic_ticks(core);
    }
    if (!r.payload_len) {
        return true;                    /* pure ACK: nothing to answer */
    }
    if (r.seq != o->d.rcv_nxt) {
        /* out of order or old: no reassembly queue yet; re-ACK */
        chimney_tcp_send_ack(core, o);
        return true;
    }
    take = MIN(r.payload_len, CHIMNEY_RCV_BUF - o->rcv_len);
    if (take) {
        if (!o->rcvbuf) {
            o->rcvbuf = g_malloc(CHIMNEY_RCV_BUF);
        }
        memcpy(o->rcvbuf + o->rcv_len, frame + r.payload_off, take);
        o->rcv_len += take;
        o->d.rcv_nxt += take;
        o->d.rcv_wnd = o->d.rcv_wnd > take ? o->d.rcv_wnd - take : 0;
        /* a segment showing the peer saw our ACK is progress too */
        n->nrt = chimney_nic_ticks(core);
    }
    chimney_tcp_send_ack(core, o);
    return true;
}
