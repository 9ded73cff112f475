/*
 * chimney-nic TCP engine, internal: the data path of an offloaded
 * connection (spec "Data I/O", "Delivery algorithm", "Offload engine
 * behaviour").  C + GLib only; the device core never includes this file.
 *
 *   chimney_io.c         per-connection I/O state, request queues,
 *                        completions, deferred object events
 *   chimney_io_cmd.c     SEND, RECV_POST, DISCONNECT, FORWARD, IND_DONE
 *   chimney_tcp_send.c   segmentation, windows, Nagle/SWS, FIN, ACK of
 *                        sent data (SEND_DONE)
 *   chimney_tcp_cc.c     RTT, RTO (RFC 6298), congestion control
 *                        (RFC 5681, NewReno RFC 6582)
 *   chimney_deliver.c    the delivery algorithm: posted requests,
 *                        indications, the push timer, remote FIN
 *   chimney_rcvbuf.c     receive buffer, reassembly, the data budget
 *   chimney_stats.c      QUERY_STATS / CLEAR_STATS counters
 *
 * A connection's I/O state (ChimneyTcpIo) is allocated when it first
 * needs one (send list or data at INITIATE, first request, first data)
 * and charged to the device's data-buffer budget, so idle connections
 * stay within the per-connection memory of spec "Capacity".
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_IO_H
#define CHIMNEY_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "chimney_offload.h"

/* Requests one connection may have queued, per kind (spec "SEND"). */
#define CHIMNEY_IO_MAX_REQS         4096u
/*
 * Requests queued on all connections together (bounds the completions
 * the event FIFO may have to hold).
 */
#define CHIMNEY_IO_MAX_TOTAL        (1u << 20)
/*
 * Receive reservations never leave less than budget >> this shift of the
 * budget free: that part stays for I/O state and request queues, so
 * buffered data cannot starve other connections' requests.
 */
#define CHIMNEY_IO_RCV_RESERVE_SHIFT 6
/* Out-of-order ranges held per connection (reassembly). */
#define CHIMNEY_IO_OOO_MAX          8u
/* Segments one output pass sends before yielding (bounded work). */
#define CHIMNEY_TX_BURST            64u

/* ChimneySendReq.flags */
#define CHIMNEY_SREQ_PUSH           0x1u    /* SENDF_PUSH */
#define CHIMNEY_SREQ_DISC           0x2u    /* final data of a DISCONNECT */
/* ChimneyRecvReq.flags, beside CHIMNEY_RECVF_*: a write failed (TERMINATE) */
#define CHIMNEY_RREQ_DMA_FAILED     0x8000u

typedef struct ChimneyRecvReq {
    uint64_t addr;              /* the buffer, or its list (RECVF_SGL) */
    uint64_t cookie;
    uint32_t len;               /* bytes (a list: all its pieces) */
    uint32_t filled;
    uint16_t flags;             /* CHIMNEY_RECVF_* */
    /* RECVF_SGL: entries, and the piece that holds byte 'filled' */
    uint32_t nsge;
    uint32_t sge_idx;
    uint32_t sge_off;           /* bytes of that piece already filled */
    uint64_t sge_addr;          /* that piece, as read at the last use */
    uint32_t sge_len;
} ChimneyRecvReq;

typedef struct ChimneySeqRange {
    uint32_t start;
    uint32_t end;               /* exclusive */
} ChimneySeqRange;

/*
 * Object events that wait for room in the event FIFO (spec "Event
 * delivery and flow control"), one bit each.
 */
#define CHIMNEY_DEFER_DISCONNECT    0x1u
#define CHIMNEY_DEFER_ABORT         0x2u
#define CHIMNEY_DEFER_BACKLOG       0x4u

typedef struct ChimneyTcpIo {
    /* send queue: requests in send order, a ring */
    ChimneySendReq *sq;
    uint32_t sq_head;
    uint32_t sq_len;
    uint32_t sq_cap;
    uint32_t snd_end;           /* sequence after the last queued byte */
    uint32_t nsend;             /* SEND requests queued (not DISC data) */

    /* graceful / abortive close */
    bool disc_pending;          /* a graceful DISCONNECT is queued */
    bool fin_queued;            /* ... its FIN follows snd_end */
    bool fin_sent;              /* the FIN went out (at snd_end) */
    bool aborted;               /* RST received or sent (spec "Common") */
    bool rcv_closed;            /* DISC_RCV_CLOSED: new data resets */
    uint8_t abort_info;         /* EVT_TCP_ABORT info (CHIMNEY_ABORT_*) */
    uint64_t disc_cookie;
    uint32_t disc_len;          /* its final data bytes */

    /* retransmission, RTT, congestion (chimney_tcp_cc.c) */
    uint32_t rto;               /* ticks, with backoff */
    uint32_t rtt_seq;           /* timed segment (Karn), if rtt_on */
    uint32_t rtt_start;
    bool rtt_on;
    bool in_recovery;           /* NewReno fast recovery */
    uint32_t recover;           /* RFC 6582 "recover" */
    uint8_t persist_shift;

    /*
     * receive: [rbuf_off, rbuf_off + rcv_len) is bufferedQ (ends at
     * RcvNxt); out-of-order data sits after it at its offset
     */
    uint8_t *rbuf;
    uint32_t rbuf_off;
    uint32_t rcv_len;
    uint32_t rcv_cap;           /* bytes charged to the budget */
    /* rcv_cap may grow to this now: grows by use (spec "Memory budget") */
    uint32_t rcv_allow;
    uint32_t adv_wnd;           /* window our last segment advertised */
    ChimneySeqRange ooo[CHIMNEY_IO_OOO_MAX];
    uint32_t nooo;
    uint32_t ooo_recent;        /* start of the last out-of-order data */

    /* SACK scoreboard (TCP_CONST_SACK): what the peer holds above SndUna */
    ChimneySeqRange sacked[CHIMNEY_IO_OOO_MAX];
    uint32_t nsacked;
    uint32_t rexmit_hint;       /* next hole to resend in SACK recovery */
    uint32_t psh_seq;           /* end of the last PSH data, if psh */
    bool psh;
    bool fin_rcvd;              /* the peer's FIN is in sequence */
    uint32_t fin_seq;           /* its sequence number */
    bool disc_indicated;        /* EVT_TCP_DISCONNECT generated */

    /* posted receive requests, a ring */
    ChimneyRecvReq *rq;
    uint32_t rq_head;
    uint32_t rq_len;
    uint32_t rq_cap;

    /* indications */
    bool busy;                  /* an indication is outstanding */
    bool suppressed;            /* not fully accepted, no RECV_POST yet */
    uint32_t ind_bytes;         /* bytes of the outstanding indication */
    uint32_t ind_next;          /* connections waiting for IND buffers */
    uint32_t ind_prev;
    bool ind_waiting;

    /* delayed ACK */
    uint32_t segs_unacked;
    bool in_segment;            /* a received segment's ACK will follow */
    uint8_t limited_tx;         /* RFC 3042 segments allowed beyond cwnd */

    /* deferred object events, and the FIFO of connections with some */
    uint8_t deferred;
    uint32_t defer_next;
    uint32_t defer_prev;
    bool defer_listed;
    uint32_t backlog_sent;      /* last EVT_TCP_BACKLOG value */
    uint32_t backlog_tick;

    /* output continuation (more than one burst to send) */
    bool kick_listed;
    uint32_t kick_next;
} ChimneyTcpIo;

/* chimney_io.c */
/* The connection's I/O state, allocated on first use; NULL: budget spent. */
ChimneyTcpIo *chimney_io_get(ChimneyEngine *eng, ChimneyTcpObj *o);
void chimney_io_free(ChimneyEngine *eng, uint32_t idx);
/* Engine-wide data-path state to its initial values (new, reset). */
void chimney_io_engine_reset(ChimneyEngine *eng);
/* Bytes of send data queued and not acknowledged. */
uint32_t chimney_io_send_bytes(const ChimneyTcpObj *o);
ChimneySendReq *chimney_io_sq_at(ChimneyTcpIo *io, uint32_t i);
ChimneyRecvReq *chimney_io_rq_at(ChimneyTcpIo *io, uint32_t i);
int chimney_io_sge_read(ChimneyEngine *eng, uint64_t list, uint32_t i,
                        uint64_t *addr, uint32_t *len);
uint32_t chimney_io_rq_place(ChimneyEngine *eng, ChimneyRecvReq *r,
                             const uint8_t *data, uint32_t n, bool *dma_err);
bool chimney_io_sq_push(ChimneyEngine *eng, ChimneyTcpIo *io,
                        const ChimneySendReq *r);
bool chimney_io_rq_push(ChimneyEngine *eng, ChimneyTcpIo *io,
                        const ChimneyRecvReq *r);
void chimney_io_rq_pop(ChimneyTcpIo *io);
void chimney_io_sq_pop(ChimneyEngine *eng, ChimneyTcpIo *io);
/* Post a request completion (never dropped). */
void chimney_io_complete(ChimneyEngine *eng, uint32_t idx, uint16_t type,
                         uint64_t cookie, uint32_t status, uint32_t info);
/* An object event now, or deferred while the event FIFO is full. */
void chimney_io_object_event(ChimneyEngine *eng, uint32_t idx,
                             uint8_t which);
/* The event FIFO has room again: generate deferred events. */
void chimney_io_flush_deferred(ChimneyEngine *eng);
/*
 * The connection is aborted: complete its requests (after the event);
 * posted receives too unless keep_recvs (abortive DISCONNECT).
 */
void chimney_io_abort_requests(ChimneyEngine *eng, uint32_t idx,
                               bool keep_recvs);
/* Move the connection to a new TCP state (keeps the gauges right). */
void chimney_io_set_state(ChimneyEngine *eng, ChimneyTcpObj *o,
                          uint32_t state);
/* Ask for another output pass soon (bounded work per pass). */
void chimney_io_kick(ChimneyEngine *eng, uint32_t idx);
void chimney_io_run_kicks(ChimneyEngine *eng);

/*
 * chimney_io_cmd.c: one data I/O command; returns the CMD_DONE status.
 * What the request then does (and every event it causes) runs in
 * chimney_io_after_command(), once the core has queued the CMD_DONE
 * (spec "Command processing": completions follow their CMD_DONE).
 */
uint32_t chimney_io_command(ChimneyEngine *eng, const ChimneyCmdDesc *cmd);
void chimney_io_after_command(ChimneyEngine *eng);
bool chimney_io_handles_opcode(uint16_t opcode);

/* chimney_tcp_send.c */
uint32_t chimney_tcp_eff_mss(ChimneyEngine *eng, ChimneyTcpObj *o);
/* Send what windows, Nagle and SWS allow (a bounded burst). */
void chimney_tcp_output(ChimneyEngine *eng, uint32_t idx);
/* Send one segment again at seq, at most max bytes; false if not sent. */
bool chimney_tcp_resend_range(ChimneyEngine *eng, uint32_t idx, uint32_t seq,
                              uint32_t max);
/* Retransmit one segment from SndUna (timeout or fast retransmit). */
void chimney_tcp_retransmit_head(ChimneyEngine *eng, uint32_t idx);
/* Complete what the peer acknowledged: SEND_DONE in order, DISC_DONE. */
void chimney_tcp_acked(ChimneyEngine *eng, uint32_t idx, uint32_t acked);
/* Send a window probe (persist). */
void chimney_tcp_send_probe(ChimneyEngine *eng, uint32_t idx);
/* EVT_TCP_BACKLOG if the preferred backlog moved enough (rule 083). */
void chimney_tcp_backlog_check(ChimneyEngine *eng, uint32_t idx);
/* Send an RST (abortive DISCONNECT). */
void chimney_tcp_send_rst(ChimneyEngine *eng, ChimneyTcpObj *o);

/* chimney_tcp_cc.c */
void chimney_cc_init(ChimneyEngine *eng, ChimneyTcpObj *o, ChimneyTcpIo *io);
void chimney_cc_rtt_sample(ChimneyEngine *eng, ChimneyTcpObj *o,
                           ChimneyTcpIo *io, uint32_t ticks);
/* New data acknowledged (ack > SndUna before the update). */
void chimney_cc_on_ack(ChimneyEngine *eng, uint32_t idx, uint32_t acked,
                       uint32_t ack);
/* A duplicate ACK (RFC 5681 definition). */
void chimney_cc_on_dupack(ChimneyEngine *eng, uint32_t idx);
/* The retransmit timer fired. */
void chimney_cc_on_timeout(ChimneyEngine *eng, uint32_t idx);
/* (Re)start or stop the retransmit/persist timer after output or ACK. */
void chimney_cc_timer_update(ChimneyEngine *eng, uint32_t idx);
void chimney_cc_persist_expired(ChimneyEngine *eng, uint32_t idx);

/* chimney_deliver.c */
void chimney_deliver(ChimneyEngine *eng, uint32_t idx);
void chimney_deliver_flush(ChimneyEngine *eng, uint32_t idx);
void chimney_deliver_push_expired(ChimneyEngine *eng, uint32_t idx);
/*
 * In-sequence data at RcvNxt straight into the posted requests when
 * nothing is buffered (one copy instead of two); returns the bytes
 * taken (RcvNxt advanced past them), the rest goes the buffered way.
 */
uint32_t chimney_deliver_direct(ChimneyEngine *eng, uint32_t idx,
                                const uint8_t *data, uint32_t len, bool psh);
/* IND buffers were posted: deliver to connections waiting for them. */
void chimney_deliver_ind_posted(ChimneyEngine *eng);
void chimney_deliver_ind_unlist(ChimneyEngine *eng, uint32_t idx);
void chimney_deliver_ind_wait(ChimneyEngine *eng, uint32_t idx);
/* Sequence number of the first byte of bufferedQ. */
uint32_t chimney_deliver_head_seq(const ChimneyTcpObj *o);
/* IND_DONE(n): returns the CMD_DONE status. */
uint32_t chimney_deliver_ind_done(ChimneyEngine *eng, uint32_t idx,
                                  uint32_t n);
/* The peer's FIN has been reached by delivery: TCP_DISCONNECT. */
void chimney_deliver_check_fin(ChimneyEngine *eng, uint32_t idx);

/* chimney_stats.c */
uint32_t chimney_stats_command(ChimneyEngine *eng, const ChimneyCmdDesc *cmd);
ChimneyTcpStats *chimney_stats_tcp(ChimneyEngine *eng, const ChimneyTcpObj *o);
ChimneyIpStats *chimney_stats_ip(ChimneyEngine *eng, const ChimneyTcpObj *o);
/* One frame the engine sent for o (ip_len: IP datagram bytes). */
void chimney_stats_out(ChimneyEngine *eng, const ChimneyTcpObj *o,
                       uint32_t ip_len, bool rexmit, bool rst);

/* chimney_tcp_sack.c: SACK (RFC 2018) and SACK-based recovery */
/* Add [s, e) to a sorted list of at most max ranges; false if full. */
bool chimney_seq_ranges_add(ChimneySeqRange *r, uint32_t *n, uint32_t max,
                            uint32_t s, uint32_t e);
/* Fill a pure ACK's SACK blocks from the data held out of order. */
uint8_t chimney_sack_blocks(const ChimneyTcpObj *o, uint32_t blocks[][2],
                            uint8_t max);
/*
 * Take the peer's SACK blocks into the scoreboard (after the ACK); true
 * if they reported bytes not SACKed before (an RFC 6675 duplicate ACK).
 */
bool chimney_sack_update(ChimneyTcpObj *o, const uint8_t nsack,
                         const uint32_t sack[][2]);
/* In recovery: resend the next hole the scoreboard shows; false: none. */
bool chimney_sack_retransmit_next(ChimneyEngine *eng, uint32_t idx);

/* chimney_rcvbuf.c (reassembly) */
/* Place in-window data at seq; returns bytes that became in-order. */
uint32_t chimney_rcvbuf_place(ChimneyEngine *eng, ChimneyTcpObj *o,
                              uint32_t seq, const uint8_t *data,
                              uint32_t len);
/* Remove n delivered bytes from the head of bufferedQ. */
void chimney_rcvbuf_consume(ChimneyTcpObj *o, uint32_t n);
/*
 * The host consumed n bytes (from bufferedQ or placed directly): the
 * connection's reservation may grow by as much (spec "Memory budget").
 */
void chimney_rcvbuf_earn(ChimneyTcpObj *o, uint32_t n);
/* The first byte of bufferedQ. */
const uint8_t *chimney_rcvbuf_head(const ChimneyTcpObj *o);
uint32_t chimney_rcvbuf_len(const ChimneyTcpObj *o);

#endif /* CHIMNEY_IO_H */
