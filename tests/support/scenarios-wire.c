/*
 * chimney-nic test scenarios, spec chapter "Segments on the wire": the
 * headers of what an offloaded connection sends, checked byte for byte by
 * the scripted peer.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-peer.h"

/*
 * Offload the connections (one tree), then the peer sends data on each
 * and the ACK that comes back is compared byte for byte with the one
 * built from the connection's state.
 */
static void check_acks(ChimneyTestEnv *env, ChimneyTestConn *c, unsigned n)
{
    static const char *const payload[] = {
        "a", "segment of data", "0123456789abcdef0123456789abcdef",
        "xyz", "the quick brown fox",
    };
    ChimneyTestHBlk *root = NULL;
    unsigned i;
    uint32_t ts0 = 0;

    env_clock_mid_tick(env);
    for (i = 0; i < n; i++) {
        ChimneyTestHBlk *r = conn_tree(env, &c[i]);

        if (root) {
            hb_next(c[i - 1].n, r);
        } else {
            root = r;
        }
    }
    env_offload_ok(env, root);
    /* 40 ticks later (the TSval moves with them) */
    env->clock_step(env, 40 * CHIMNEY_TEST_NS_PER_MS);
    for (i = 0; i < n; i++) {
        const char *pl = payload[i % G_N_ELEMENTS(payload)];
        size_t len = strlen(pl);
        char ctx[64];

        ts0 = GUINT32_FROM_LE(c[i].s.d.ts_time);
        conn_send_data(env, &c[i], pl, len);
        snprintf(ctx, sizeof(ctx), "ACK of connection %u (%s%s%s)", i,
                 c[i].v6 ? "IPv6" : "IPv4",
                 c[i].vlan || c[i].s.k.user_priority ? ", 802.1Q" : "",
                 GUINT16_FROM_LE(c[i].s.c.flags) &
                 CHIMNEY_TCP_CONST_TIMESTAMP ? ", timestamps" : "");
        conn_check_ack(env, &c[i], GUINT32_FROM_LE(c[i].s.d.rcv_wnd) - len,
                       len, ts0 + 40, ctx);
    }
}

/*
 * IPv4 headers of the ACKs an offloaded connection sends, byte for byte:
 * rule 074 (DF), rule 075 (ids in 0x8000..0xffff), rule 076 (the
 * timestamp option), rule 080 (802.1Q tag with VLAN and priority), rule
 * 081 (MACs), rule 082 (TTL, TOS); ports, addresses, scaled window.
 */
static void scn_hdr_ipv4(ChimneyTestEnv *env)
{
    static const uint8_t mac3[6] = { 0x52, 0x54, 0x00, 0x33, 0x33, 0x33 };
    ChimneyTestConn c[3];

    /* plain: untagged, no options */
    conn_init4(&c[0], 1, 2, 1000, 80);
    /* VLAN 42, priority 5, timestamps, window scaling, TTL/TOS */
    conn_init4(&c[1], 1, 3, 1001, 443);
    memcpy(c[1].nmac, chimney_test_peer2_mac, 6);
    c[1].vlan = 42;
    c[1].s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_TIMESTAMP |
                                   CHIMNEY_TCP_CONST_WSCALE);
    c[1].s.c.rcv_wind_scale = 3;
    c[1].s.c.snd_wind_scale = 2;
    c[1].s.k.user_priority = 5;
    c[1].s.k.ttl_hop_limit = 17;
    c[1].s.k.tos_traffic_class = 0xb8;
    c[1].s.d.rcv_wnd = GUINT32_TO_LE(200000);
    c[1].s.k.initial_rcv_wnd = GUINT32_TO_LE(200000);
    c[1].s.d.ts_time = GUINT32_TO_LE(0x10000000);
    c[1].s.d.ts_recent = GUINT32_TO_LE(0x0badf00d);
    c[1].s.d.snd_una = c[1].s.d.snd_nxt = c[1].s.d.snd_max =
        GUINT32_TO_LE(0xfffffff0);
    c[1].s.d.rcv_nxt = GUINT32_TO_LE(0x7fffffff);
    c[1].peer_seq = 0x7fffffff;
    c[1].peer_ts = 0x0badf10e;         /* newer than TsRecent (PAWS) */
    /* priority-only tag (VLAN 0, priority 3), maximal TTL */
    conn_init4(&c[2], 1, 4, 1002, 8080);
    memcpy(c[2].nmac, mac3, 6);
    c[2].s.k.user_priority = 3;
    c[2].s.k.ttl_hop_limit = 255;
    c[2].s.k.tos_traffic_class = 0x10;
    c[2].s.d.rcv_wnd = GUINT32_TO_LE(30000);
    c[2].s.k.initial_rcv_wnd = GUINT32_TO_LE(30000);
    check_acks(env, c, 3);
}

/*
 * IPv6 headers, byte for byte: rule 082 (traffic class, the low 20 bits
 * of the flow label, hop limit), rule 080 (802.1Q), rule 076
 * (timestamps), rule 081 (MACs); scaled window.
 */
static void scn_hdr_ipv6(ChimneyTestEnv *env)
{
    ChimneyTestConn c[2];

    /* traffic class, flow label, hop limit */
    conn_init6(&c[0], 1, 2, 1000, 80);
    c[0].mtu = 1280;
    c[0].s.k.tos_traffic_class = 0x28;
    c[0].s.k.flow_label = GUINT32_TO_LE(0xabcde);
    c[0].s.k.ttl_hop_limit = 200;
    /* VLAN 7 priority 6, timestamps, window scaling, flow label > 20 bits */
    conn_init6(&c[1], 1, 3, 1001, 443);
    memcpy(c[1].nmac, chimney_test_peer2_mac, 6);
    c[1].vlan = 7;
    c[1].s.c.flags = GUINT16_TO_LE(CHIMNEY_TCP_CONST_TIMESTAMP |
                                   CHIMNEY_TCP_CONST_WSCALE);
    c[1].s.c.rcv_wind_scale = 2;
    c[1].s.k.user_priority = 6;
    c[1].s.k.tos_traffic_class = 0xff;
    c[1].s.k.flow_label = GUINT32_TO_LE(0xfff12345);
    c[1].s.k.ttl_hop_limit = 1;
    c[1].s.d.ts_time = GUINT32_TO_LE(12345);
    c[1].peer_ts = 0x20a0a0a0;         /* newer than TsRecent 0 (PAWS) */
    check_acks(env, c, 2);
}

const ChimneyScenario chimney_scenarios_wire[] = {
    { "rule-074-082-headers-ipv4", scn_hdr_ipv4 },
    { "rule-074-082-headers-ipv6", scn_hdr_ipv6 },
    { NULL, NULL },
};
