/*
 * chimney-nic test scenarios, spec chapter "Offload engine behaviour":
 * receive steering, the logical switch between offloaded connections and
 * the L2 path; timers (keepalive); segment acceptance (RFC 5961).
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

/* The next frame on the wire, parsed (a TCP segment with good checksums). */
static void take_seg(ChimneyTestEnv *env, uint8_t *f, size_t cap,
                     ChimneyTestRxSeg *rs)
{
    size_t len = env_wire_recv(env, f, cap);

    g_assert_true(seg_parse(f, len, rs));
}

static unsigned count_retrieve(ChimneyTestEnv *env, uint32_t reason)
{
    unsigned i, n = 0;

    env_settle(env, 3);
    for (i = 0; i < env->recs->len; i++) {
        const ChimneyTestRec *r = &g_array_index(env->recs, ChimneyTestRec,
                                                 i);

        n += r->kind == 'T' && r->type == CHIMNEY_EVT_TCP_RETRIEVE &&
             r->a == reason;
    }
    return n;
}

/*
 * Keepalive (spec "Timers"; rules 041, 056, 058): after ka_timeout idle
 * ticks a probe (SndUna - 1, no data), then one every ka_interval while
 * unanswered; QUERY reports the ticks that remain and the probes sent;
 * after ka_probe_count probes the connection asks to be uploaded with
 * TIMEOUT.
 */
static void scn_keepalive(ChimneyTestEnv *env)
{
    const int64_t ms = CHIMNEY_TEST_NS_PER_MS;
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTestRxSeg rs;
    uint8_t f[256];
    unsigned probe;

    conn_init4(&c, 1, 2, 1000, 80);
    c.s.k.flags = GUINT16_TO_LE(GUINT16_FROM_LE(c.s.k.flags) |
                                CHIMNEY_TCP_CACHED_KEEPALIVE);
    c.s.k.ka_timeout = GUINT32_TO_LE(100);
    c.s.k.ka_interval = GUINT32_TO_LE(10);
    c.s.k.ka_probe_count = 2;
    c.s.d.ka_timeout_delta = GUINT32_TO_LE(100);
    env_clock_mid_tick(env);
    conn_offload(env, &c);

    env->clock_step(env, 40 * ms);
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==, 60);
    g_assert_true(env->wire_quiet(env));
    env->clock_step(env, 60 * ms);
    for (probe = 1; probe <= 2; probe++) {
        take_seg(env, f, sizeof(f), &rs);
        g_assert_cmpuint(rs.seq, ==, GUINT32_FROM_LE(c.s.d.snd_una) - 1);
        g_assert_cmpuint(rs.ack, ==, c.peer_seq);
        g_assert_cmpuint(rs.plen, ==, 0);
        g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==,
                        CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(q.d.ka_probe_count, ==, probe);
        g_assert_cmpuint(GUINT32_FROM_LE(q.d.ka_timeout_delta), ==, 10);
        g_assert_cmpuint(count_retrieve(env, CHIMNEY_UPLOAD_TIMEOUT), ==, 0);
        env->clock_step(env, 10 * ms);
    }
    /* two probes unanswered: the host takes the connection back */
    g_assert_cmpuint(count_retrieve(env, CHIMNEY_UPLOAD_TIMEOUT), ==, 1);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
}

/*
 * Blind segments (RFC 5961, spec "Processing of offloaded segments"): an
 * ACK for data never sent and a segment outside the receive window are
 * answered with an ACK and change nothing.
 */
static void scn_blind_ack(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTestRxSeg rs;
    ChimneyTestSeg s;
    uint32_t snd_una;
    uint8_t f[256];

    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    snd_una = GUINT32_FROM_LE(c.s.d.snd_una);

    conn_send_flags(env, &c, CHIMNEY_TH_ACK, snd_una + 100000);
    take_seg(env, f, sizeof(f), &rs);
    g_assert_cmpuint(rs.seq, ==, snd_una);
    g_assert_cmpuint(rs.ack, ==, c.peer_seq);
    conn_peer_seg(env, &c, &s, "blind", 5);
    s.seq = c.peer_seq + 0x40000000u;
    env->wire_inject(env, f, seg_build(&s, f));
    take_seg(env, f, sizeof(f), &rs);
    g_assert_cmpuint(rs.ack, ==, c.peer_seq);
    g_assert_true(env->wire_quiet(env));
    g_assert_cmphex(env_query_tcp(env, c.t->slot, &q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.snd_una), ==, snd_una);
    g_assert_cmpuint(GUINT32_FROM_LE(q.d.rcv_nxt), ==, c.peer_seq);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
}

/*
 * A VLAN-0 neighbor (spec "Receive steering") takes untagged frames and
 * priority-tagged ones (VID 0); a frame with another VID goes up the L2
 * path.
 */
static void scn_steering_vlan0(ChimneyTestEnv *env)
{
    ChimneyTestConn c;
    ChimneyTestRxSeg rs;
    ChimneyTestSeg s;
    uint8_t f[256];

    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(env, &c);
    conn_peer_seg(env, &c, &s, "tagged", 6);
    s.tci = 5;
    env_expect_l2(env, f, seg_build(&s, f), "VID 5 for a VLAN-0 neighbor");
    conn_peer_seg(env, &c, &s, "priority", 8);
    s.tci = 3 << 13;
    env->wire_inject(env, f, seg_build(&s, f));
    c.peer_seq += 8;
    take_seg(env, f, sizeof(f), &rs);
    g_assert_cmpuint(rs.ack, ==, c.peer_seq);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
}

const ChimneyScenario chimney_scenarios_engine[] = {
    { "offload-demux", scn_demux },
    { "offload-demux-steering", scn_demux_steering },
    { "rule-041-056-058-keepalive-probes", scn_keepalive },
    { "rfc5961-blind-ack", scn_blind_ack },
    { "steering-vlan0", scn_steering_vlan0 },
    { NULL, NULL },
};
