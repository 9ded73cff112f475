/*
 * chimney-nic offload engine, internal: state objects, tables and the
 * engine's own state.  C + GLib only; the device core never includes this
 * file (it sees the engine through chimney_engine.h).
 *
 * Objects live in three tables (neighbor, path, TCP).  They form the
 * inverted tree of the "Offload Target's Internal State Trees" page: each
 * TCP object names its path, each path its neighbor.  Received frames are
 * matched to TCP objects through a 4-tuple hash (no tree walk).
 *
 * All fields are in host byte order; conversion to and from the
 * little-endian wire structures of chimney_hw.h happens at the DMA edge.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_OFFLOAD_H
#define CHIMNEY_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "hw/net/chimney_hw.h"
#include "chimney_engine.h"
#include "chimney_timer.h"

#define CHIMNEY_NO_INDEX        UINT32_MAX

typedef struct ChimneyNeighObj {
    uint32_t gen;               /* generation; 0 = slot never used */
    bool in_use;
    bool invalid;               /* invalidated, awaiting terminate */
    uint8_t dl_src[6];          /* const; all zero = interface MAC */
    uint16_t vlan_id;           /* const, 12 bits */
    uint8_t dl_dst[6];          /* cached */
    uint32_t hrd;               /* cached HostReachabilityDelta */
    uint32_t hrt;               /* NIC ticks: host last saw progress */
    uint32_t nrt;               /* NIC ticks: we last saw progress */
    uint64_t host_handle;
    uint32_t npaths;            /* paths linked to this neighbor */
    uint32_t first_path;        /* list of those paths, in link order */
    uint32_t last_path;
} ChimneyNeighObj;

typedef struct ChimneyPathObj {
    uint32_t gen;
    bool in_use;
    bool invalid;
    bool ipv6;
    uint8_t src[16];            /* const, network order; IPv4 in [0..3] */
    uint8_t dst[16];
    uint32_t path_mtu;          /* cached */
    uint32_t neigh;             /* index of the neighbor it is linked to */
    uint32_t neigh_prev;        /* the neighbor's list of paths */
    uint32_t neigh_next;
    uint64_t host_handle;
    uint32_t ntcp;              /* TCP objects linked to this path */
    uint32_t first_tcp;         /* list of those connections, in order */
    uint32_t last_tcp;
} ChimneyPathObj;

typedef struct ChimneyTcpConstState {
    uint16_t flags;             /* CHIMNEY_TCP_CONST_* */
    uint16_t remote_port;
    uint16_t local_port;
    uint8_t snd_wind_scale;
    uint8_t rcv_wind_scale;
    uint16_t remote_mss;
    uint32_t hash_value;
} ChimneyTcpConstState;

typedef struct ChimneyTcpCachedState {
    uint16_t flags;             /* CHIMNEY_TCP_CACHED_* */
    uint32_t initial_rcv_wnd;
    uint32_t rcv_indication_size;
    uint32_t ka_timeout;
    uint32_t ka_interval;
    uint32_t max_rt;
    uint32_t flow_label;
    uint8_t ka_probe_count;
    uint8_t ttl_hop_limit;
    uint8_t tos_traffic_class;
    uint8_t user_priority;
} ChimneyTcpCachedState;

typedef struct ChimneyTcpDelegatedState {
    uint32_t state;             /* ChimneyTcpState */
    uint16_t flags;
    uint32_t rcv_nxt;
    uint32_t rcv_wnd;
    uint32_t snd_una;
    uint32_t snd_nxt;
    uint32_t snd_max;
    uint32_t snd_wnd;
    uint32_t max_snd_wnd;
    uint32_t snd_wl1;
    uint32_t cwnd;
    uint32_t ssthresh;
    uint16_t srtt;              /* ticks x 8 */
    uint16_t rttvar;            /* ticks x 4 */
    uint32_t ts_recent;
    uint32_t total_rt;
    uint8_t dup_ack_count;
    uint8_t snd_wnd_probe_count;
    uint8_t ka_probe_count;
    uint8_t rexmit_count;
    uint32_t dwnd;
} ChimneyTcpDelegatedState;

/*
 * Delegated values that exist only at the handover: clocks and timers
 * become NicDelta, TsRecent's stamp and running timers (rules 036, 041).
 */
typedef struct ChimneyTcpHandover {
    uint32_t ts_recent_age;
    uint32_t ts_time;
    uint32_t ka_timeout_delta;
    uint32_t rexmit_timeout_delta;
} ChimneyTcpHandover;

/* One send request the connection owns (SEND, or handed over at offload). */
typedef struct ChimneySendReq {
    uint64_t addr;
    uint64_t cookie;
    uint32_t len;
    uint32_t acked;
    uint32_t start;             /* sequence number of its first byte */
    uint32_t flags;             /* CHIMNEY_SREQ_* (chimney_io.h) */
} ChimneySendReq;

typedef struct ChimneyTcpIo ChimneyTcpIo;

/* Per-connection timers (one deadline each, in NIC ticks). */
enum ChimneyTcpTimer {
    CHIMNEY_TCP_TMR_REXMIT,
    CHIMNEY_TCP_TMR_PERSIST,
    CHIMNEY_TCP_TMR_KEEPALIVE,
    CHIMNEY_TCP_TMR_DELACK,
    CHIMNEY_TCP_TMR_PUSH,
    CHIMNEY_TCP_TMR_FIN_WAIT_2,
    CHIMNEY_TCP_TMR_TIME_WAIT,
    CHIMNEY_TCP_TMR_COUNT,
};

/*
 * Deadline slots: timers that never run together share one (retransmit
 * and persist exclude each other, TIME_WAIT is the end of everything);
 * arming one stops the others of its slot.
 */
enum {
    CHIMNEY_TCP_SLOT_RTX,
    CHIMNEY_TCP_SLOT_KEEPALIVE,
    CHIMNEY_TCP_SLOT_DELACK,
    CHIMNEY_TCP_SLOT_PUSH,
    CHIMNEY_TCP_SLOT_FIN_WAIT_2,
    CHIMNEY_TCP_SLOT_COUNT,
};

typedef struct ChimneyTcpObj {
    uint32_t gen;
    bool in_use;
    bool invalid;               /* depends on invalidated state */
    bool retrieve_pending;      /* TCP_RETRIEVE queued for the driver */
    bool evt_queued_out;        /* ... and already handed to the core */
    uint8_t retrieve_reason;
    uint8_t tmr_armed;          /* bit per ChimneyTcpTimer running */
    uint32_t idx;               /* its own table index */
    uint32_t path;              /* index of its path */
    uint32_t path_prev;         /* the path's list of connections */
    uint32_t path_next;
    uint32_t hash_next;         /* demux chain; free list when unused */
    uint32_t demux_bucket;      /* where it is chained (CHIMNEY_NO_INDEX) */
    uint32_t evt_next;          /* pending-upload FIFO, doubly linked */
    uint32_t evt_prev;
    uint64_t host_handle;
    int32_t ts_delta;           /* NicDelta: TsTime - NicTime (rule 036) */
    uint32_t ts_recent_stamp;   /* NIC ticks when TsRecent was taken */
    uint16_t ip_id;             /* next IPv4 id, 0x8000..0xffff (rule 075) */
    uint32_t oow_tick;          /* last rate-limited ACK (chimney_tcp_in.c) */
    ChimneyTcpConstState c;
    ChimneyTcpCachedState k;
    ChimneyTcpDelegatedState d;
    ChimneyTimerEntry tmr;      /* the engine's timer heap */
    uint32_t deadline[CHIMNEY_TCP_SLOT_COUNT];
    /* Data path state (chimney_io.h), from the engine's budget. */
    ChimneyTcpIo *io;
} ChimneyTcpObj;

/* Tables grow in chunks so an idle device does not pay for 64k slots. */
#define CHIMNEY_TABLE_CHUNK     1024u

/* A data request accepted by the last command, run after its CMD_DONE. */
typedef struct ChimneyIoAfter {
    uint16_t opcode;            /* 0: nothing to do */
    uint16_t flags;
    uint32_t idx;
    uint64_t cookie;
    uint8_t *seg;               /* FORWARD: the segment */
    uint32_t seg_len;
} ChimneyIoAfter;

typedef struct ChimneyTable {
    void **chunks;              /* entry i: chunks[i / CHUNK][i % CHUNK] */
    uint32_t capacity;          /* slots that may ever exist */
    uint32_t allocated;         /* slots backed by chunks */
    uint32_t used;
    uint32_t free_head;         /* free slots, threaded through them */
    uint32_t gen_floor;         /* generations issued stay above this */
    uint32_t gen_max;           /* highest generation issued */
    size_t entry_size;
    size_t link_off;            /* offset of the uint32_t free-list link */
} ChimneyTable;

struct ChimneyEngine {
    const ChimneyEngineServices *svc;
    void *opaque;
    ChimneyEngineConfig cfg;
    uint8_t mac[6];             /* interface MAC */
    bool enabled;               /* CTRL.OFFLOAD_EN */
    bool link_up;

    ChimneyTable neigh;
    ChimneyTable path;
    ChimneyTable tcp;
    uint32_t *demux;            /* 4-tuple hash buckets of TCP indices */
    uint32_t demux_mask;
    uint32_t evt_head;          /* TCP objects with a queued RETRIEVE */
    uint32_t evt_tail;
    ChimneyOffloadParams params;    /* host order */
    bool params_set;
    uint16_t vlans[CHIMNEY_MAX_IFACE_VLANS];    /* interface VLAN ids */
    uint32_t nvlans;

    ChimneyTimerHeap timers;    /* one entry per connection with a timer */
    uint64_t mem_used;          /* bytes of data buffers charged */

    /* data path (chimney_io.h) */
    uint32_t io_reqs;           /* requests queued, all connections */
    uint32_t ind_head;          /* connections waiting for IND buffers */
    uint32_t ind_tail;
    uint32_t defer_head;        /* connections with deferred events */
    uint32_t defer_tail;
    uint32_t kick_head;         /* connections with more to send */
    uint32_t kick_tail;
    ChimneyIoAfter io_after;
    ChimneyOffloadStats stats;  /* host order; currently_established live */
    /* one frame, or one super-segment for the wire to cut (TSO) */
    uint8_t txbuf[CHIMNEY_TSO_MAX_FRAME + 64];
};

ChimneyNeighObj *chimney_neigh_at(ChimneyEngine *eng, uint32_t idx);
ChimneyPathObj *chimney_path_at(ChimneyEngine *eng, uint32_t idx);
ChimneyTcpObj *chimney_tcp_at(ChimneyEngine *eng, uint32_t idx);

/* Resolve a handle; NULL if malformed, stale or of another kind. */
void *chimney_offload_lookup(ChimneyEngine *eng, uint64_t handle,
                             unsigned kind, uint32_t *idx);
uint64_t chimney_offload_handle(ChimneyEngine *eng, unsigned kind,
                                uint32_t idx);

/* Allocate a zeroed slot; CHIMNEY_NO_INDEX when the table is full. */
uint32_t chimney_table_alloc(ChimneyTable *t);
void chimney_table_release(ChimneyTable *t, uint32_t idx);
void *chimney_table_at(ChimneyTable *t, uint32_t idx);
ChimneyTable *chimney_table_of(ChimneyEngine *eng, unsigned kind);

/* Dependents lists: paths of a neighbor, connections of a path. */
void chimney_path_link(ChimneyEngine *eng, uint32_t path, uint32_t neigh);
void chimney_path_unlink(ChimneyEngine *eng, uint32_t path);
void chimney_tcp_link(ChimneyEngine *eng, uint32_t tcp, uint32_t path);
void chimney_tcp_unlink(ChimneyEngine *eng, uint32_t tcp);

/* 4-tuple demux (chimney_state.c); lookup finds only live objects. */
void chimney_demux_insert(ChimneyEngine *eng, uint32_t tcp);
void chimney_demux_remove(ChimneyEngine *eng, uint32_t tcp);
uint32_t chimney_demux_lookup(ChimneyEngine *eng, bool ipv6,
                              const uint8_t *local_ip,
                              const uint8_t *remote_ip,
                              uint16_t local_port, uint16_t remote_port);

/* Run one state-manipulation command (chimney_tree.c). */
uint32_t chimney_offload_cmd(ChimneyEngine *eng, const ChimneyCmdDesc *cmd,
                             uint32_t *info, uint32_t *work);

/* Queue a TCP_RETRIEVE for a connection (at most one pending each). */
void chimney_offload_request_upload(ChimneyEngine *eng, uint32_t tcp,
                                    uint8_t reason);
/* Next connection with a pending RETRIEVE, or CHIMNEY_NO_INDEX. */
uint32_t chimney_offload_pop_retrieve(ChimneyEngine *eng);
void chimney_offload_cancel_retrieve(ChimneyEngine *eng, uint32_t tcp);

/* Release a connection's data buffers and timers (terminate, reset). */
void chimney_tcp_release_data(ChimneyEngine *eng, uint32_t idx);

/* Services, for the engine's files. */
void chimney_eng_guest_error(ChimneyEngine *eng, uint32_t code,
                             const char *fmt, ...) G_GNUC_PRINTF(3, 4);
int chimney_eng_dma_read(ChimneyEngine *eng, uint64_t addr, void *buf,
                         size_t len);
int chimney_eng_dma_write(ChimneyEngine *eng, uint64_t addr,
                          const void *buf, size_t len);
void chimney_eng_post_event(ChimneyEngine *eng, const ChimneyEvent *ev);

#endif /* CHIMNEY_OFFLOAD_H */
