/*
 * Test support: the peer on the wire.  Builds the segments a remote TCP
 * sends to an offloaded connection with the reference segment builder
 * the qtests use too (tests/support/chimney-test-seg.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_PEER_H
#define CHIMNEY_PEER_H

#include <string.h>

#include "chimney-test-seg.h"

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

/* The frame, built by the shared reference builder (chimney-test-seg.h). */
static inline size_t peer_segment(uint8_t *buf, size_t cap, const PeerSeg *s)
{
    static const uint8_t peer_mac[6] = { 2, 0, 0, 0, 0, 1 };
    uint32_t sa = GUINT32_TO_BE(s->saddr), da = GUINT32_TO_BE(s->daddr);
    ChimneyTestSeg seg = {
        .dst_mac = s->dst_mac,
        .src_mac = peer_mac,
        .tci = s->vlan ? s->vlan : -1,
        .ttl = 64,
        .ip_id = 0x8001,
        .frag = 0x4000,                 /* DF */
        .sport = s->sport,
        .dport = s->dport,
        .seq = s->seq,
        .ack = s->ack,
        .flags = s->flags ? s->flags : CHIMNEY_TH_ACK | CHIMNEY_TH_PSH,
        .win = s->window ? s->window : 1000,
        .payload = s->payload,
        .plen = s->len,
    };

    memcpy(seg.src_ip, &sa, 4);
    memcpy(seg.dst_ip, &da, 4);
    if (seg_len(&seg) > cap) {
        return 0;
    }
    return seg_build(&seg, buf);
}

#endif /* CHIMNEY_PEER_H */
