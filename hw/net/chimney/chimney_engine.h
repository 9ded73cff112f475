/*
 * chimney-nic offload engine: the boundary between the device core and
 * the offload engine (object tables, state trees, TCP).  C + GLib only.
 *
 * The engine sees the device only through ChimneyEngineServices, which
 * the core implements (the way rocker's worlds see rocker through
 * rocker_world.h).  Service callbacks only record or perform I/O; they
 * never call back into the engine.  The core calls the engine through the
 * functions below and writes queued events to the event ring only at the
 * end of its own entry points, so one received segment or one command is
 * finished before any event reaches the guest.
 *
 * Data flows one way: ring -> command -> state table -> engine -> wire.
 *
 * A frame goes to the host (L2) path when chimney_engine_rx() returns
 * false; received data reaches the host through request completions or
 * through the IND ring (the indicate service).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_ENGINE_H
#define CHIMNEY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hw/net/chimney_hw.h"

typedef struct ChimneyEngine ChimneyEngine;

/*
 * Largest frame of transmit segmentation offload: an IP datagram of
 * 65535 bytes behind an Ethernet header and an 802.1Q tag.
 */
#define CHIMNEY_TSO_MAX_FRAME   (65535u + 14u + 4u)

typedef struct ChimneyEngineServices {
    /* Guest memory through the bus-master address space; 0 or -1. */
    int (*dma_read)(void *opaque, uint64_t addr, void *buf, size_t len);
    int (*dma_write)(void *opaque, uint64_t addr, const void *buf,
                     size_t len);
    /* Put one frame the engine built on the wire. */
    void (*emit_frame)(void *opaque, const uint8_t *buf, size_t len);
    /*
     * Transmit segmentation offload of the wire (spec "Segmentation
     * offload"); both optional.  tso_max: the largest frame
     * (headers included) emit_tso() takes, 0 when the wire cuts none.
     * emit_tso: one TCP frame of more than mss payload bytes, which the
     * wire cuts into segments of mss bytes (headers repeated, sequence
     * numbers, IPv4 ids, lengths and checksums adjusted, PSH and FIN on
     * the last segment only).  l4_off: offset of the TCP header; hdr_len:
     * all headers.  The TCP checksum field holds the pseudo-header sum
     * (chimney_tcp_pseudo_sum()).
     */
    uint32_t (*tso_max)(void *opaque);
    void (*emit_tso)(void *opaque, const uint8_t *buf, size_t len,
                     uint16_t l4_off, uint16_t hdr_len, uint16_t mss,
                     bool ipv6);
    /*
     * Queue an event for the event ring.  Only queues: the core writes it
     * once the engine call returns.  False if the queue is full (the
     * core counts and logs the loss).
     */
    bool (*queue_event)(void *opaque, const ChimneyEvent *ev);
    /* Virtual-clock nanoseconds. */
    int64_t (*clock_ns)(void *opaque);
    /*
     * The engine's one timer: call chimney_engine_timer_expired() at
     * deadline_ns (virtual clock); a new deadline replaces the old one,
     * INT64_MAX cancels it.
     */
    void (*timer_set)(void *opaque, int64_t deadline_ns);
    /* A guest programming error: count it, log it (LOG_GUEST_ERROR). */
    void (*guest_error)(void *opaque, uint32_t code, const char *msg);
    /*
     * The event FIFO holds fewer than CHIMNEY_EVT_QUEUE_MAX events, so an
     * object event may be queued now (else the engine defers it and the
     * core calls chimney_engine_event_room() once there is room).
     * Request completions are queued whatever this says.
     */
    bool (*event_room)(void *opaque);
    /*
     * Write one receive indication of at most len bytes of data (the
     * first at sequence number seq) into the IND buffers the device owns,
     * for TCP object handle (spec "Receive indications").  Returns the
     * bytes indicated (>= 1), 0 when the IND ring is disabled or has no
     * buffer, -1 when a buffer could not be written (the core completed
     * the descriptors with ERR_DMA; nothing was indicated).
     */
    int64_t (*indicate)(void *opaque, uint64_t handle, uint32_t seq,
                        const uint8_t *data, uint32_t len);
} ChimneyEngineServices;

/* Limits fixed when the device is created (properties). */
typedef struct ChimneyEngineConfig {
    uint32_t max_conn;          /* TCP objects, <= CHIMNEY_MAX_CONN_LIMIT */
    uint64_t mem_budget;        /* bytes for all per-connection data */
} ChimneyEngineConfig;

ChimneyEngine *chimney_engine_new(const ChimneyEngineServices *svc,
                                  void *opaque,
                                  const ChimneyEngineConfig *cfg);
void chimney_engine_free(ChimneyEngine *eng);
/* Device reset: every object goes; handle generations stay. */
void chimney_engine_reset(ChimneyEngine *eng);

/*
 * One offload command (SET_PARAMS, SET_VLANS, the five state operations,
 * NEIGH_REPLY): returns its completion status, *info its CMD_DONE info.
 * `work` is charged with the work done, in tree blocks (spec "Command
 * processing": the core yields the main loop after a bounded amount).
 */
uint32_t chimney_engine_command(ChimneyEngine *eng, const ChimneyCmdDesc *cmd,
                                uint32_t *info, uint32_t *work);
bool chimney_engine_handles_opcode(uint16_t opcode);
/*
 * Called once the core has queued the CMD_DONE of the command
 * chimney_engine_command() just ran: an accepted data request does its
 * work now, so its events follow its CMD_DONE.
 */
void chimney_engine_after_command(ChimneyEngine *eng);

/*
 * A frame from the wire, before the host path sees it.  True: it belonged
 * to an offloaded connection and the engine consumed it.  False: it goes
 * up the host (L2) path untouched.
 */
bool chimney_engine_rx(ChimneyEngine *eng, const uint8_t *frame, size_t len);
/*
 * The same for a frame whose TCP checksum the wire vouches for (receive
 * offload: the host kernel built it and left the checksum to be done,
 * spec "Segmentation offload"); it may carry more than one MSS.
 */
bool chimney_engine_rx_trusted(ChimneyEngine *eng, const uint8_t *frame,
                               size_t len);

/* The driver posted IND buffers (IND TAIL written): delivery may go on. */
void chimney_engine_ind_posted(ChimneyEngine *eng);
/* The event FIFO has room again for deferred object events. */
void chimney_engine_event_room(ChimneyEngine *eng);

/* The deadline passed to timer_set() has been reached. */
void chimney_engine_timer_expired(ChimneyEngine *eng);

/*
 * Next event the engine holds back for lack of event-ring space (upload
 * requests, one per connection, never lost).  False when none.
 */
bool chimney_engine_pop_event(ChimneyEngine *eng, ChimneyEvent *ev);

/* The interface MAC (MAC_LO/HI) changed. */
void chimney_engine_set_mac(ChimneyEngine *eng, const uint8_t mac[6]);
/* CTRL.OFFLOAD_EN: new offloads are allowed only while set. */
void chimney_engine_set_enabled(ChimneyEngine *eng, bool enabled);
/* Receive steering runs only while the link is up. */
void chimney_engine_set_link(ChimneyEngine *eng, bool up);

/* Introspection: offloaded objects of one kind (CHIMNEY_KIND_*). */
uint32_t chimney_engine_count(const ChimneyEngine *eng, unsigned kind);
/* Offloaded objects of every kind. */
uint32_t chimney_engine_objects(const ChimneyEngine *eng);
/* Bytes of the data-buffer budget in use (introspection, tests). */
uint64_t chimney_engine_mem_used(const ChimneyEngine *eng);

/*
 * Handle generations survive migration so that handles issued before it
 * stay stale after it: the floor is the highest generation issued per
 * kind (CHIMNEY_KIND_NEIGH..TCP, index kind - 1).
 */
void chimney_engine_gen_floor(const ChimneyEngine *eng, uint32_t floor[3]);
void chimney_engine_set_gen_floor(ChimneyEngine *eng, const uint32_t floor[3]);

/*
 * The offload configuration the driver set (SET_PARAMS, SET_VLANS), which
 * migrates with the registers: host order, params_set = 0 when none.
 */
typedef struct ChimneyEngineSetup {
    ChimneyOffloadParams params;
    uint8_t params_set;
    uint32_t nvlans;
    uint16_t vlans[CHIMNEY_MAX_IFACE_VLANS];
} ChimneyEngineSetup;

void chimney_engine_get_setup(const ChimneyEngine *eng, ChimneyEngineSetup *c);
/* Install a migrated setup; false (nothing changes) if it is invalid. */
bool chimney_engine_set_setup(ChimneyEngine *eng, const ChimneyEngineSetup *c,
                              const char **why);

#endif /* CHIMNEY_ENGINE_H */
