/*
 * chimney-nic test scenarios, spec chapter "Offload engine behaviour":
 * receive steering, the logical switch between offloaded connections and
 * the L2 path.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-peer.h"

/*
 * The logical switch: a segment of an offloaded 4-tuple goes to the
 * connection (ACKed, never in the RX ring); any other goes up the L2 RX
 * ring byte for byte: another local or remote port, another address,
 * and, for the offloaded 4-tuple itself, everything the engine must not
 * process (bad TCP checksum, IPv4 options, a fragment).
 */
static void scn_demux(ChimneyTestEnv *env)
{
    ChimneyTestConn c, c6;
    ChimneyTestSeg s;
    uint8_t f[256];
    size_t len;
    ChimneyTestHBlk *root;

    conn_init4(&c, 1, 2, 1000, 80);
    conn_init6(&c6, 1, 2, 1000, 80);
    root = conn_tree(env, &c);
    hb_next(root, conn_tree(env, &c6));
    env_offload_ok(env, root);

    conn_send_data(env, &c, "mine", 4);
    conn_recv_ack_basic(env, &c, chimney_test_peer_mac, f, sizeof(f));
    conn_send_data(env, &c6, "mine6", 5);
    conn_recv_ack_basic(env, &c6, chimney_test_peer_mac, f, sizeof(f));
    g_assert_true(env->wire_quiet(env));

    conn_peer_seg(env, &c, &s, "other local port", 16);
    s.dport = 1001;
    len = seg_build(&s, f);
    env_expect_l2(env, f, len, "other local port");
    conn_peer_seg(env, &c, &s, "other remote port", 17);
    s.sport = 81;
    env_expect_l2(env, f, seg_build(&s, f), "other remote port");
    conn_peer_seg(env, &c, &s, "other remote address", 20);
    s.src_ip[3] = 9;
    env_expect_l2(env, f, seg_build(&s, f), "other remote address");
    conn_peer_seg(env, &c, &s, "other local address", 19);
    s.dst_ip[3] = 7;
    env_expect_l2(env, f, seg_build(&s, f), "other local address");
    conn_peer_seg(env, &c6, &s, "v6 other port", 13);
    s.dport = 1001;
    env_expect_l2(env, f, seg_build(&s, f), "IPv6, other local port");
    /* the offloaded 4-tuple, but not for the engine */
    conn_peer_seg(env, &c, &s, "bad checksum", 12);
    s.bad_tcp_csum = true;
    env_expect_l2(env, f, seg_build(&s, f), "bad TCP checksum");
    conn_peer_seg(env, &c, &s, "with IP options", 15);
    s.ip_opt_len = 4;
    env_expect_l2(env, f, seg_build(&s, f), "IPv4 options");
    conn_peer_seg(env, &c, &s, "fragment", 8);
    s.frag = 0x2000;                            /* MF */
    env_expect_l2(env, f, seg_build(&s, f), "IPv4 fragment");
    /* and the connection is still there and in sequence */
    conn_send_data(env, &c, "still mine", 10);
    conn_recv_ack_basic(env, &c, chimney_test_peer_mac, f, sizeof(f));
    g_assert_true(env->wire_quiet(env));
}

/*
 * Receive steering, the rest of the list: a segment of an offloaded
 * 4-tuple is the engine's only if its destination MAC is the interface
 * MAC and its VLAN tag suits the neighbor (VLAN != 0: a tag with that
 * VID); otherwise it takes the L2 path (RX_FILTER, RX ring).
 */
static void scn_demux_steering(ChimneyTestEnv *env)
{
    static const uint8_t other[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
    ChimneyTestConn c, v;
    ChimneyTestSeg s;
    uint8_t f[256];
    ChimneyTestHBlk *root;

    conn_init4(&c, 1, 2, 1000, 80);
    conn_init4(&v, 1, 3, 1000, 80);
    v.vlan = 42;
    memcpy(v.nmac, chimney_test_peer2_mac, 6);
    root = conn_tree(env, &c);
    hb_next(root, conn_tree(env, &v));
    env_offload_ok(env, root);
    env->reg_write(env, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_PROMISC);

    conn_peer_seg(env, &c, &s, "not to us", 9);
    s.dst_mac = other;
    env_expect_l2(env, f, seg_build(&s, f), "destination MAC not ours");
    conn_peer_seg(env, &v, &s, "wrong vlan", 10);
    s.tci = 43;
    env_expect_l2(env, f, seg_build(&s, f), "VLAN 43 for a VLAN-42 neighbor");
    conn_peer_seg(env, &v, &s, "untagged", 8);
    s.tci = -1;
    env_expect_l2(env, f, seg_build(&s, f), "untagged for a VLAN-42 neighbor");
    /* both connections still in sequence */
    conn_send_data(env, &c, "ok", 2);
    conn_recv_ack_basic(env, &c, chimney_test_peer_mac, f, sizeof(f));
    conn_send_data(env, &v, "ok", 2);
    conn_recv_ack_basic(env, &v, chimney_test_peer2_mac, f, sizeof(f));
}

const ChimneyScenario chimney_scenarios_engine[] = {
    { "offload-demux", scn_demux },
    { "offload-demux-steering", scn_demux_steering },
    { NULL, NULL },
};
