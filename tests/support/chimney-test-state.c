/*
 * chimney-nic test support: the default offload states (see
 * chimney-test-state.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "chimney-test-state.h"

const uint32_t chimney_test_neigh_sizes[3] = {
    sizeof(ChimneyNeighConst), sizeof(ChimneyNeighCached),
    sizeof(ChimneyNeighDelegated),
};

const uint32_t chimney_test_path_sizes[3] = {
    sizeof(ChimneyPathConst), sizeof(ChimneyPathCached),
    sizeof(ChimneyPathDelegated),
};

const uint32_t chimney_test_tcp_sizes[3] = {
    sizeof(ChimneyTcpConst), sizeof(ChimneyTcpCached),
    sizeof(ChimneyTcpDelegated),
};

void chimney_test_neigh_state(ChimneyTestNeighState *s, const uint8_t *mac,
                              uint16_t vlan)
{
    memset(s, 0, sizeof(*s));
    s->c.hdr.length = GUINT32_TO_LE(sizeof(s->c));
    s->c.vlan_id = GUINT16_TO_LE(vlan);
    s->k.hdr.length = GUINT32_TO_LE(sizeof(s->k));
    memcpy(s->k.dl_dst_addr, mac, 6);
    s->d.hdr.length = GUINT32_TO_LE(sizeof(s->d));
}

void chimney_test_path_state(ChimneyTestPathState *s, bool v6,
                             const uint8_t *src, const uint8_t *dst,
                             uint32_t mtu)
{
    memset(s, 0, sizeof(*s));
    s->c.hdr.length = GUINT32_TO_LE(sizeof(s->c));
    memcpy(s->c.src_addr, src, v6 ? 16 : 4);
    memcpy(s->c.dst_addr, dst, v6 ? 16 : 4);
    s->k.hdr.length = GUINT32_TO_LE(sizeof(s->k));
    s->k.path_mtu = GUINT32_TO_LE(mtu);
    s->d.hdr.length = GUINT32_TO_LE(sizeof(s->d));
}

void chimney_test_path4_state(ChimneyTestPathState *s, uint8_t src_last,
                              uint8_t dst_last, uint32_t mtu)
{
    uint8_t src[4] = { 10, 0, 0, src_last }, dst[4] = { 10, 0, 0, dst_last };

    chimney_test_path_state(s, false, src, dst, mtu);
}

void chimney_test_tcp_state(ChimneyTestTcpState *s, uint16_t lport,
                            uint16_t rport)
{
    memset(s, 0, sizeof(*s));
    s->c.hdr.length = GUINT32_TO_LE(sizeof(s->c));
    s->c.local_port = GUINT16_TO_LE(lport);
    s->c.remote_port = GUINT16_TO_LE(rport);
    s->c.remote_mss = GUINT16_TO_LE(1460);
    s->k.hdr.length = GUINT32_TO_LE(sizeof(s->k));
    s->k.initial_rcv_wnd = GUINT32_TO_LE(CHIMNEY_TEST_WND);
    s->k.ttl_hop_limit = 64;
    s->d.hdr.length = GUINT32_TO_LE(sizeof(s->d));
    s->d.state = GUINT32_TO_LE(CHIMNEY_TCPS_ESTABLISHED);
    s->d.rcv_nxt = GUINT32_TO_LE(CHIMNEY_TEST_RCV_NXT);
    s->d.rcv_wnd = GUINT32_TO_LE(CHIMNEY_TEST_WND);
    s->d.snd_una = GUINT32_TO_LE(CHIMNEY_TEST_SND_NXT);
    s->d.snd_nxt = GUINT32_TO_LE(CHIMNEY_TEST_SND_NXT);
    s->d.snd_max = GUINT32_TO_LE(CHIMNEY_TEST_SND_NXT);
    s->d.snd_wnd = GUINT32_TO_LE(CHIMNEY_TEST_WND);
    s->d.max_snd_wnd = GUINT32_TO_LE(CHIMNEY_TEST_WND);
    s->d.snd_wl1 = GUINT32_TO_LE(CHIMNEY_TEST_RCV_NXT - 1);
    s->d.cwnd = GUINT32_TO_LE(14600);
    s->d.ssthresh = GUINT32_TO_LE(CHIMNEY_TEST_WND);
    s->d.ka_timeout_delta = GUINT32_TO_LE(CHIMNEY_TIMER_OFF);
    s->d.rexmit_timeout_delta = GUINT32_TO_LE(CHIMNEY_TIMER_OFF);
}
