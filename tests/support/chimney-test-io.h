/*
 * chimney-nic test support: data I/O on an offloaded connection (spec
 * "Data I/O").  Requests go through the driver core as raw commands, so
 * the same scenario runs over the fake host and over QEMU; the scripted
 * peer (chimney-test-peer.h) checks what reaches the wire.
 *
 * QEMU-free (C + GLib).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_IO_H
#define CHIMNEY_TEST_IO_H

#include "chimney-test-peer.h"

/*
 * Submit a data request (SEND, RECV_POST, DISCONNECT, FORWARD, IND_DONE,
 * QUERY_STATS, CLEAR_STATS) and wait for its CMD_DONE; returns that
 * status.  *cookie (may be NULL) gets the cookie its completion carries.
 */
uint32_t io_req(ChimneyTestEnv *env, uint16_t opcode, uint16_t flags,
                uint64_t addr, uint32_t len, uint64_t handle,
                uint64_t *cookie);
/* The completion of request @cookie if it came ('I' record), else NULL. */
const ChimneyTestRec *io_find(ChimneyTestEnv *env, uint64_t cookie);
/* Wait (bounded) for it; fails the test if it does not come. */
const ChimneyTestRec *io_wait(ChimneyTestEnv *env, uint64_t cookie);
/* Completions (type @type, 0 = any) recorded so far. */
unsigned io_count(ChimneyTestEnv *env, uint16_t type);
/* TCP object events of @type recorded so far. */
unsigned io_tcp_events(ChimneyTestEnv *env, uint16_t type);

/* One segment of connection @c the device sent (fails if none). */
void peer_recv(ChimneyTestEnv *env, const ChimneyTestConn *c,
               ChimneyTestRxSeg *rs, uint8_t *buf, size_t cap);
/*
 * Take segments until @len bytes starting at @seq arrived in order with
 * the contents @expect (pure ACKs in between are skipped); returns the
 * segments, *flags the TCP flags of the last one.
 */
unsigned peer_expect_data(ChimneyTestEnv *env, const ChimneyTestConn *c,
                          uint32_t seq, const uint8_t *expect, uint32_t len,
                          uint32_t max_seg, uint8_t *flags);
/* The peer acknowledges @ack with window @win (no data). */
void peer_ack(ChimneyTestEnv *env, ChimneyTestConn *c, uint32_t ack,
              uint16_t win);
/* The peer sends @len bytes at @seq with @flags (its sequence unchanged). */
void peer_data_at(ChimneyTestEnv *env, ChimneyTestConn *c, uint32_t seq,
                  const void *data, uint32_t len, uint8_t flags,
                  uint32_t ack);

/* A pattern of @len bytes derived from @seed (caller frees). */
uint8_t *io_pattern(uint32_t len, uint8_t seed);

/* Shorthands shared by the scenarios of the data path. */
/* Our first sequence number and the peer's (the default TCP state). */
#define SND     CHIMNEY_TEST_SND_NXT
#define RCV     CHIMNEY_TEST_RCV_NXT
/* Offload 10.0.0.1:@lport <-> 10.0.0.2:80 (conn_init4) as @c; its handle. */
uint64_t conn_up(ChimneyTestEnv *env, ChimneyTestConn *c, uint16_t lport);
/* A DMA buffer holding @data. */
void buf_with(ChimneyTestEnv *env, struct chimney_dma_buf *b,
              const void *data, uint32_t len);
/*
 * A RECV_POST list (RECVF_SGL) in a DMA buffer: @n pieces @pieces of
 * @lens bytes (@pieces NULL: addresses that cannot be accessed).
 */
void sgl_with(ChimneyTestEnv *env, struct chimney_dma_buf *list,
              const struct chimney_dma_buf *pieces,
              const uint32_t *lens, unsigned n);
/* Wait for the completion of request @cookie; check type, status, info. */
void check_done(ChimneyTestEnv *env, uint64_t cookie, uint16_t type,
                uint32_t status, uint32_t info);
/* QUERY connection @h into *q (may be NULL); returns its TCP state. */
uint32_t query_state(ChimneyTestEnv *env, uint64_t h,
                     ChimneyTestTcpState *q);
/* Receive indications recorded so far ('D' records). */
unsigned ind_count(ChimneyTestEnv *env);

#endif /* CHIMNEY_TEST_IO_H */
