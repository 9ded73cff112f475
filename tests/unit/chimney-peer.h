/*
 * Test support: the peer on the wire.  Builds the segments a remote TCP
 * sends to an offloaded connection, through the device's own header
 * builder (checksums included), so tests and the device share one
 * implementation of the wire format.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_PEER_H
#define CHIMNEY_PEER_H

#include <string.h>

#include "chimney_hdr.h"
#include "chimney_offload.h"

typedef struct PeerSeg {
    const uint8_t *dst_mac;     /* the device's MAC (or another one) */
    uint32_t saddr, daddr;      /* IPv4, host order */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;              /* CHIMNEY_TH_*; 0 means ACK|PSH */
    uint16_t window;            /* 0 means 1000 */
    uint16_t vlan;              /* 802.1Q VID, 0 = untagged */
    const void *payload;
    uint32_t len;
} PeerSeg;

static inline size_t peer_segment(uint8_t *buf, size_t cap, const PeerSeg *s)
{
    static const uint8_t peer_mac[6] = { 2, 0, 0, 0, 0, 1 };
    ChimneyNeighObj n = { 0 };
    ChimneyPathObj p = { .path_mtu = 1500 };
    ChimneyTcpObj t = { 0 };
    uint32_t sa = GUINT32_TO_BE(s->saddr), da = GUINT32_TO_BE(s->daddr);
    ChimneySegment seg = {
        .seq = s->seq, .ack = s->ack,
        .window = s->window ? s->window : 1000,
        .flags = s->flags ? s->flags : CHIMNEY_TH_ACK | CHIMNEY_TH_PSH,
        .ip_id = 0x8001,
        .payload = s->payload, .payload_len = s->len,
    };

    memcpy(n.dl_dst, s->dst_mac, 6);
    n.vlan_id = s->vlan;
    memcpy(p.src, &sa, 4);
    memcpy(p.dst, &da, 4);
    t.c.local_port = s->sport;
    t.c.remote_port = s->dport;
    t.k.ttl_hop_limit = 64;
    return chimney_build_segment(peer_mac, &n, &p, &t, &seg, buf, cap);
}

#endif /* CHIMNEY_PEER_H */
