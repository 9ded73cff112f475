/*
 * chimney-nic TCP engine: the offload statistics of QUERY_STATS and
 * CLEAR_STATS (spec "QUERY_STATS and CLEAR_STATS", rules 133-136).
 * Counters count only traffic of offloaded connections, per IP version,
 * and wrap.  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_io.h"
#include "chimney_tcp.h"

static bool obj_ipv6(ChimneyEngine *eng, const ChimneyTcpObj *o)
{
    return chimney_path_at(eng, o->path)->ipv6;
}

ChimneyTcpStats *chimney_stats_tcp(ChimneyEngine *eng, const ChimneyTcpObj *o)
{
    return obj_ipv6(eng, o) ? &eng->stats.tcp6 : &eng->stats.tcp4;
}

ChimneyIpStats *chimney_stats_ip(ChimneyEngine *eng, const ChimneyTcpObj *o)
{
    return obj_ipv6(eng, o) ? &eng->stats.ip6 : &eng->stats.ip4;
}

void chimney_stats_out(ChimneyEngine *eng, const ChimneyTcpObj *o,
                       uint32_t ip_len, bool rexmit, bool rst)
{
    ChimneyTcpStats *t = chimney_stats_tcp(eng, o);
    ChimneyIpStats *ip = chimney_stats_ip(eng, o);

    ip->out_requests++;
    ip->out_octets += ip_len;
    if (rexmit) {
        t->retransmitted_segments++;
    } else {
        t->out_segments++;
    }
    if (rst) {
        t->out_resets++;
    }
}

static void tcp_to_le(ChimneyTcpStats *d, const ChimneyTcpStats *s)
{
    d->in_segments = GUINT64_TO_LE(s->in_segments);
    d->out_segments = GUINT64_TO_LE(s->out_segments);
    d->currently_established = GUINT32_TO_LE(s->currently_established);
    d->reset_established = GUINT32_TO_LE(s->reset_established);
    d->retransmitted_segments = GUINT32_TO_LE(s->retransmitted_segments);
    d->in_errors = GUINT32_TO_LE(s->in_errors);
    d->out_resets = GUINT32_TO_LE(s->out_resets);
    d->rsvd = 0;
}

static void ip_to_le(ChimneyIpStats *d, const ChimneyIpStats *s)
{
    d->in_receives = GUINT64_TO_LE(s->in_receives);
    d->in_octets = GUINT64_TO_LE(s->in_octets);
    d->in_delivers = GUINT64_TO_LE(s->in_delivers);
    d->out_requests = GUINT64_TO_LE(s->out_requests);
    d->out_octets = GUINT64_TO_LE(s->out_octets);
    d->in_header_errors = GUINT32_TO_LE(s->in_header_errors);
    d->in_truncated_packets = GUINT32_TO_LE(s->in_truncated_packets);
    d->in_discards = GUINT32_TO_LE(s->in_discards);
    d->out_discards = GUINT32_TO_LE(s->out_discards);
    d->out_no_routes = GUINT32_TO_LE(s->out_no_routes);
    d->rsvd = 0;
}

static void clear_tcp(ChimneyTcpStats *t)
{
    uint32_t gauge = t->currently_established;     /* not zeroed */

    memset(t, 0, sizeof(*t));
    t->currently_established = gauge;
}

uint32_t chimney_stats_command(ChimneyEngine *eng, const ChimneyCmdDesc *cmd)
{
    uint16_t flags = GUINT16_FROM_LE(cmd->flags);
    ChimneyOffloadStats out;

    if (GUINT16_FROM_LE(cmd->opcode) == CHIMNEY_CMD_CLEAR_STATS) {
        if (flags & CHIMNEY_STATS_TCP4) {
            clear_tcp(&eng->stats.tcp4);
        }
        if (flags & CHIMNEY_STATS_TCP6) {
            clear_tcp(&eng->stats.tcp6);
        }
        if (flags & CHIMNEY_STATS_IP4) {
            memset(&eng->stats.ip4, 0, sizeof(eng->stats.ip4));
        }
        if (flags & CHIMNEY_STATS_IP6) {
            memset(&eng->stats.ip6, 0, sizeof(eng->stats.ip6));
        }
        return CHIMNEY_ST_SUCCESS;
    }
    if (GUINT32_FROM_LE(cmd->len) < sizeof(out)) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                "QUERY_STATS buffer of %u bytes, need %zu",
                                GUINT32_FROM_LE(cmd->len), sizeof(out));
        return CHIMNEY_ST_BAD_LENGTH;
    }
    memset(&out, 0, sizeof(out));
    out.hdr.length = GUINT32_TO_LE(sizeof(out));
    tcp_to_le(&out.tcp4, &eng->stats.tcp4);
    tcp_to_le(&out.tcp6, &eng->stats.tcp6);
    ip_to_le(&out.ip4, &eng->stats.ip4);
    ip_to_le(&out.ip6, &eng->stats.ip6);
    if (chimney_eng_dma_write(eng, GUINT64_FROM_LE(cmd->addr), &out,
                              sizeof(out)) < 0) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_DMA, "chimney-nic: "
                                "QUERY_STATS buffer not writable");
        return CHIMNEY_ST_DMA_ERROR;
    }
    return CHIMNEY_ST_SUCCESS;
}
