/*
 * chimney-nic test support: one offloaded connection and the scripted
 * peer at the other end of the wire.
 *
 * A ChimneyTestConn is the connection as the host hands it over (its
 * neighbor, path and TCP state, the default ones of chimney-test-state.h
 * unless the scenario changes them) and the remote TCP's view of it:
 * the peer's next sequence number and timestamp.  The peer sends data,
 * ACKs, FIN and RST with the reference segment builder
 * (chimney-test-seg.h) and checks what the device sends back byte for
 * byte, every differing header field named.
 *
 * QEMU-free (C + GLib).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_PEER_H
#define CHIMNEY_TEST_PEER_H

#include "chimney-test-env.h"

/* The default neighbor (the peer's MAC) and a second one. */
extern const uint8_t chimney_test_peer_mac[6];
extern const uint8_t chimney_test_peer2_mac[6];

typedef struct ChimneyTestConn {
    bool v6;
    uint8_t lip[16];            /* ours (path src) */
    uint8_t rip[16];            /* the peer's (path dst) */
    uint16_t lport;
    uint16_t rport;
    uint8_t nmac[6];            /* neighbor dl_dst_addr */
    uint16_t vlan;              /* neighbor vlan_id */
    uint32_t mtu;
    ChimneyTestTcpState s;      /* the state handed over */
    ChimneyTestHBlk *n, *p, *t; /* after conn_offload(): the slots */
    /* the peer's view */
    uint32_t peer_seq;          /* next byte the peer sends (= rcv_nxt) */
    uint32_t peer_ts;
} ChimneyTestConn;

/* 10.0.0.<lip_last>:lport <-> 10.0.0.<rip_last>:rport, default state. */
void conn_init4(ChimneyTestConn *c, uint8_t lip_last, uint8_t rip_last,
                uint16_t lport, uint16_t rport);
/* The same in fd00:c41e:0:1::/64. */
void conn_init6(ChimneyTestConn *c, uint8_t lip_last, uint8_t rip_last,
                uint16_t lport, uint16_t rport);

/* Host blocks N{P{T}} for the connection (not submitted). */
ChimneyTestHBlk *conn_tree(ChimneyTestEnv *env, ChimneyTestConn *c);
/* Offload it (every block must succeed). */
void conn_offload(ChimneyTestEnv *env, ChimneyTestConn *c);

/* A segment the peer sends on this connection (the device receives it). */
void conn_peer_seg(ChimneyTestEnv *env, const ChimneyTestConn *c,
                   ChimneyTestSeg *s, const void *payload, size_t plen);
/* The peer sends @plen bytes in order; its sequence moves on. */
void conn_send_data(ChimneyTestEnv *env, ChimneyTestConn *c,
                    const void *payload, size_t plen);
/*
 * The peer sends a segment with @flags (CHIMNEY_TH_*) and no data,
 * acknowledging @ack; a FIN takes one sequence number.
 */
void conn_send_flags(ChimneyTestEnv *env, ChimneyTestConn *c, uint8_t flags,
                     uint32_t ack);

/* One frame from the wire; fails the test if none comes. */
size_t env_wire_recv(ChimneyTestEnv *env, uint8_t *buf, size_t cap);

/*
 * Receiver side of a connection as the spec defines the window, before
 * the host consumed data (spec "Memory budget": the reservation is
 * CHIMNEY_RCV_BUF_INITIAL until it grows by use).
 */
uint16_t conn_window(const ChimneyTestConn *c, uint32_t rcv_wnd,
                     uint32_t buffered);
/* The ACK the device must send now, from the connection's state. */
size_t conn_expect_ack(ChimneyTestEnv *env, const ChimneyTestConn *c,
                       uint32_t ack, uint16_t win, uint32_t tsval,
                       uint32_t tsecr, uint16_t ip_id, uint8_t *buf);
/* Offset of the TCP header in the connection's frames. */
size_t conn_l4_off(const ChimneyTestConn *c);
/*
 * Byte-for-byte comparison, every differing field named: NULL when the
 * frames are equal, else a description (caller frees).
 */
char *frame_diff(const uint8_t *got, size_t glen, const uint8_t *exp,
                 size_t elen, bool v6, bool tagged);

/*
 * Receive the ACK for data the peer sent and compare it byte for byte
 * with the one built here (a soft failure if it differs).  The IPv4 id
 * only has to lie in 0x8000..0xffff (rule 075); the observed value is
 * used.
 */
void conn_check_ack(ChimneyTestEnv *env, ChimneyTestConn *c,
                    uint32_t rcv_wnd, uint32_t buffered, uint32_t tsval,
                    const char *ctx);
/* Receive one frame and check only where it goes and what it ACKs. */
void conn_recv_ack_basic(ChimneyTestEnv *env, const ChimneyTestConn *c,
                         const uint8_t *dmac, uint8_t *f, size_t cap);

/*
 * The peer sends @f, which must come up the L2 RX ring as is and get no
 * answer on the wire (a soft failure naming @what otherwise).
 */
void env_expect_l2(ChimneyTestEnv *env, const uint8_t *f, size_t len,
                   const char *what);

#endif /* CHIMNEY_TEST_PEER_H */
