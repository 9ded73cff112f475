/*
 * chimney-nic offload engine: conversion between the little-endian ABI
 * structures of include/hw/net/chimney_hw.h and the engine's own
 * host-order state (chimney_offload.h).  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_tree.h"
#include "chimney_io.h"
#include "chimney_tcp.h"

void chimney_conv_neigh_const(ChimneyNeighObj *o, const ChimneyNeighConst *c)
{
    memcpy(o->dl_src, c->dl_src_addr, 6);
    o->vlan_id = GUINT16_FROM_LE(c->vlan_id) & 0xfff;
}

void chimney_conv_neigh_cached(ChimneyNeighObj *o, const ChimneyNeighCached *c)
{
    memcpy(o->dl_dst, c->dl_dst_addr, 6);
    o->hrd = GUINT32_FROM_LE(c->host_reachability_delta);
}

void chimney_conv_tcp_const(ChimneyTcpConstState *s, const ChimneyTcpConst *c)
{
    s->flags = GUINT16_FROM_LE(c->flags);
    s->remote_port = GUINT16_FROM_LE(c->remote_port);
    s->local_port = GUINT16_FROM_LE(c->local_port);
    s->snd_wind_scale = c->snd_wind_scale;
    s->rcv_wind_scale = c->rcv_wind_scale;
    s->remote_mss = GUINT16_FROM_LE(c->remote_mss);
    s->hash_value = GUINT32_FROM_LE(c->hash_value);
}

void chimney_conv_tcp_cached(ChimneyTcpCachedState *s,
                            const ChimneyTcpCached *c)
{
    s->flags = GUINT16_FROM_LE(c->flags);
    s->initial_rcv_wnd = GUINT32_FROM_LE(c->initial_rcv_wnd);
    s->rcv_indication_size = GUINT32_FROM_LE(c->rcv_indication_size);
    s->ka_timeout = GUINT32_FROM_LE(c->ka_timeout);
    s->ka_interval = GUINT32_FROM_LE(c->ka_interval);
    s->max_rt = GUINT32_FROM_LE(c->max_rt);
    s->flow_label = GUINT32_FROM_LE(c->flow_label) & 0xfffff;
    s->ka_probe_count = c->ka_probe_count;
    s->ttl_hop_limit = c->ttl_hop_limit;
    s->tos_traffic_class = c->tos_traffic_class;
    s->user_priority = c->user_priority & 7;
}

void chimney_conv_tcp_delegated(ChimneyTcpDelegatedState *s,
                               ChimneyTcpHandover *h,
                               const ChimneyTcpDelegated *d)
{
    s->state = GUINT32_FROM_LE(d->state);
    s->flags = GUINT16_FROM_LE(d->flags);
    s->rcv_nxt = GUINT32_FROM_LE(d->rcv_nxt);
    s->rcv_wnd = GUINT32_FROM_LE(d->rcv_wnd);
    s->snd_una = GUINT32_FROM_LE(d->snd_una);
    s->snd_nxt = GUINT32_FROM_LE(d->snd_nxt);
    s->snd_max = GUINT32_FROM_LE(d->snd_max);
    s->snd_wnd = GUINT32_FROM_LE(d->snd_wnd);
    s->max_snd_wnd = GUINT32_FROM_LE(d->max_snd_wnd);
    s->snd_wl1 = GUINT32_FROM_LE(d->snd_wl1);
    s->cwnd = GUINT32_FROM_LE(d->cwnd);
    s->ssthresh = GUINT32_FROM_LE(d->ssthresh);
    s->srtt = GUINT16_FROM_LE(d->srtt);
    s->rttvar = GUINT16_FROM_LE(d->rttvar);
    s->ts_recent = GUINT32_FROM_LE(d->ts_recent);
    h->ts_recent_age = GUINT32_FROM_LE(d->ts_recent_age);
    h->ts_time = GUINT32_FROM_LE(d->ts_time);
    s->total_rt = GUINT32_FROM_LE(d->total_rt);
    s->dup_ack_count = d->dup_ack_count;
    s->snd_wnd_probe_count = d->snd_wnd_probe_count;
    s->ka_probe_count = d->ka_probe_count;
    s->rexmit_count = d->rexmit_count;
    h->ka_timeout_delta = GUINT32_FROM_LE(d->ka_timeout_delta);
    h->rexmit_timeout_delta = GUINT32_FROM_LE(d->rexmit_timeout_delta);
    s->dwnd = GUINT32_FROM_LE(d->dwnd);
}

void chimney_conv_hdr(ChimneyStateHdr *h, size_t len)
{
    h->length = GUINT32_TO_LE(len);
    h->recognized_options = 0;
}

void chimney_conv_neigh_store(const ChimneyNeighObj *o, ChimneyNeighConst *c,
                        ChimneyNeighCached *k, ChimneyNeighDelegated *d,
                        uint32_t nrd)
{
    if (c) {
        memset(c, 0, sizeof(*c));
        chimney_conv_hdr(&c->hdr, sizeof(*c));
        memcpy(c->dl_src_addr, o->dl_src, 6);
        c->vlan_id = GUINT16_TO_LE(o->vlan_id);
    }
    if (k) {
        memset(k, 0, sizeof(*k));
        chimney_conv_hdr(&k->hdr, sizeof(*k));
        memcpy(k->dl_dst_addr, o->dl_dst, 6);
        k->host_reachability_delta = GUINT32_TO_LE(o->hrd);
    }
    if (d) {
        memset(d, 0, sizeof(*d));
        chimney_conv_hdr(&d->hdr, sizeof(*d));
        d->nic_reachability_delta = GUINT32_TO_LE(nrd);
    }
}

void chimney_conv_path_store(const ChimneyPathObj *o, ChimneyPathConst *c,
                       ChimneyPathCached *k, ChimneyPathDelegated *d)
{
    if (c) {
        memset(c, 0, sizeof(*c));
        chimney_conv_hdr(&c->hdr, sizeof(*c));
        memcpy(c->src_addr, o->src, o->ipv6 ? 16 : 4);
        memcpy(c->dst_addr, o->dst, o->ipv6 ? 16 : 4);
    }
    if (k) {
        memset(k, 0, sizeof(*k));
        chimney_conv_hdr(&k->hdr, sizeof(*k));
        k->path_mtu = GUINT32_TO_LE(o->path_mtu);
    }
    if (d) {
        chimney_conv_hdr(&d->hdr, sizeof(*d));
    }
}

void chimney_conv_tcp_store(const ChimneyTcpObj *o, ChimneyTcpConst *c,
                      ChimneyTcpCached *k)
{
    if (c) {
        memset(c, 0, sizeof(*c));
        chimney_conv_hdr(&c->hdr, sizeof(*c));
        c->flags = GUINT16_TO_LE(o->c.flags);
        c->remote_port = GUINT16_TO_LE(o->c.remote_port);
        c->local_port = GUINT16_TO_LE(o->c.local_port);
        c->snd_wind_scale = o->c.snd_wind_scale;
        c->rcv_wind_scale = o->c.rcv_wind_scale;
        c->remote_mss = GUINT16_TO_LE(o->c.remote_mss);
        c->hash_value = GUINT32_TO_LE(o->c.hash_value);
    }
    if (k) {
        memset(k, 0, sizeof(*k));
        chimney_conv_hdr(&k->hdr, sizeof(*k));
        /* restart/update flags are one-shot requests, not state */
        k->flags = GUINT16_TO_LE(o->k.flags & (CHIMNEY_TCP_CACHED_KEEPALIVE |
                                               CHIMNEY_TCP_CACHED_NAGLE));
        k->initial_rcv_wnd = GUINT32_TO_LE(o->k.initial_rcv_wnd);
        k->rcv_indication_size = GUINT32_TO_LE(o->k.rcv_indication_size);
        k->ka_timeout = GUINT32_TO_LE(o->k.ka_timeout);
        k->ka_interval = GUINT32_TO_LE(o->k.ka_interval);
        k->max_rt = GUINT32_TO_LE(o->k.max_rt);
        k->flow_label = GUINT32_TO_LE(o->k.flow_label);
        k->ka_probe_count = o->k.ka_probe_count;
        k->ttl_hop_limit = o->k.ttl_hop_limit;
        k->tos_traffic_class = o->k.tos_traffic_class;
        k->user_priority = o->k.user_priority;
    }
}

/*
 * The delegated TCP state as handed back (terminate) or reported (query).
 * Timers are remaining ticks or CHIMNEY_TIMER_OFF (rule 041), TsTime is
 * NicTime + NicDelta (rule 042), SRtt/RttVar keep their scaling (rule 034).
 */
void chimney_conv_tcp_delegated_store(ChimneyEngine *eng, ChimneyTcpObj *o,
                                ChimneyTcpDelegated *d, bool query)
{
    const ChimneyTcpDelegatedState *s = &o->d;

    d->state = GUINT32_TO_LE(s->state);
    d->flags = GUINT16_TO_LE(s->flags);
    d->rsvd = 0;
    d->rcv_nxt = GUINT32_TO_LE(s->rcv_nxt);
    d->rcv_wnd = GUINT32_TO_LE(s->rcv_wnd);
    d->snd_una = GUINT32_TO_LE(s->snd_una);
    d->snd_nxt = GUINT32_TO_LE(s->snd_nxt);
    d->snd_max = GUINT32_TO_LE(s->snd_max);
    d->snd_wnd = GUINT32_TO_LE(s->snd_wnd);
    d->max_snd_wnd = GUINT32_TO_LE(s->max_snd_wnd);
    d->snd_wl1 = GUINT32_TO_LE(s->snd_wl1);
    d->cwnd = GUINT32_TO_LE(s->cwnd);
    d->ssthresh = GUINT32_TO_LE(s->ssthresh);
    d->srtt = GUINT16_TO_LE(s->srtt);
    d->rttvar = GUINT16_TO_LE(s->rttvar);
    d->ts_recent = GUINT32_TO_LE(s->ts_recent);
    d->ts_recent_age = GUINT32_TO_LE(chimney_tcp_ts_recent_age(eng, o));
    d->ts_time = GUINT32_TO_LE(chimney_tcp_ts_now(eng, o));
    d->total_rt = GUINT32_TO_LE(s->total_rt);
    d->dup_ack_count = s->dup_ack_count;
    d->snd_wnd_probe_count = s->snd_wnd_probe_count;
    d->ka_probe_count = s->ka_probe_count;
    d->rexmit_count = s->rexmit_count;
    /* rule 041: what remains of the running timers, or TIMER_OFF */
    d->ka_timeout_delta = GUINT32_TO_LE(
        chimney_tcp_timer_left(eng, o, CHIMNEY_TCP_TMR_KEEPALIVE));
    d->rexmit_timeout_delta = GUINT32_TO_LE(chimney_tcp_rexmit_left(eng, o));
    /* rule 061: preferred backlog (spec "send_backlog_size") */
    d->send_backlog_size = GUINT32_TO_LE(query ?
                                         chimney_tcp_send_backlog(o) : 0);
    d->rcv_backlog_size = GUINT32_TO_LE(query ? chimney_rcvbuf_len(o) : 0);
    d->dwnd = GUINT32_TO_LE(s->dwnd);
    d->rsvd2 = 0;
}
