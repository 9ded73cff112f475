/*
 * chimney-nic device core: registers, interrupts, rings and the L2 path.
 *
 * This file and chimney_core.c use only C and GLib so that the core builds
 * outside QEMU for unit tests, fuzzers and benchmarks.  Everything the core
 * needs from its host (DMA, the wire, interrupts, clock, timers, logging)
 * comes through ChimneyCoreOps; hw/net/chimney/chimney_nic.c implements
 * them on top of QEMU.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_CORE_H
#define CHIMNEY_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>

#include "hw/net/chimney_hw.h"
#include "chimney_engine.h"

/* Work (tree blocks) one command batch may do before yielding. */
#define CHIMNEY_CMD_WORK_PER_BATCH  16384u
/* Default of the mem-budget property: all per-connection data buffers. */
#define CHIMNEY_MEM_BUDGET_DEFAULT  (64ull << 20)
/* Largest mem-budget (CAP_MEM_BUDGET_KB is 32 bits of KiB). */
#define CHIMNEY_MEM_BUDGET_MAX      (1ull << 40)

/* Timers the core asks its host for (one-shot, virtual clock). */
enum ChimneyTimerId {
    CHIMNEY_TIMER_VEC0 = 0,     /* moderation, one per MSI-X vector */
    CHIMNEY_TIMER_ENGINE = CHIMNEY_TIMER_VEC0 + CHIMNEY_MSIX_VECTORS,
    CHIMNEY_TIMER_COUNT,
};

typedef struct ChimneyCoreOps {
    /* Guest memory through the bus-master address space; 0 or -1. */
    int (*dma_read)(void *opaque, uint64_t addr, void *buf, size_t len);
    int (*dma_write)(void *opaque, uint64_t addr, const void *buf,
                     size_t len);
    /* PCI bus mastering enabled? Without it the device does no DMA. */
    bool (*dma_enabled)(void *opaque);
    /* Put one Ethernet frame (no FCS) on the wire. */
    void (*send_frame)(void *opaque, const uint8_t *buf, size_t len);
    /*
     * Optional: transmit segmentation offload of the wire, as the
     * engine's tso_max/emit_tso services (chimney_engine.h).  send_tso is
     * only called when tso_max returned non-zero.
     */
    uint32_t (*tso_max)(void *opaque);
    void (*send_tso)(void *opaque, const uint8_t *buf, size_t len,
                     uint16_t l4_off, uint16_t hdr_len, uint16_t mss,
                     bool ipv6);
    /* Frames the net layer queued may be retried now. */
    void (*rx_flush)(void *opaque);
    bool (*msix_enabled)(void *opaque);
    void (*msix_notify)(void *opaque, unsigned vector);
    void (*set_intx)(void *opaque, bool level);
    int64_t (*clock_ns)(void *opaque);
    void (*timer_arm)(void *opaque, unsigned timer, int64_t deadline_ns);
    void (*timer_cancel)(void *opaque, unsigned timer);
    /* Run chimney_core_cmd_process() soon, outside the current call. */
    void (*schedule_cmd)(void *opaque);
    /* A guest programming error: log it (LOG_GUEST_ERROR). */
    void (*guest_error)(void *opaque, const char *msg);
} ChimneyCoreOps;

typedef struct ChimneyRing {
    uint64_t base;
    uint32_t size;
    uint32_t head;
    uint32_t tail;
    uint32_t ctrl;
    uint32_t status;
    uint32_t count;
} ChimneyRing;

typedef struct ChimneyCore {
    const ChimneyCoreOps *ops;
    void *opaque;

    uint8_t perm_mac[6];            /* the mac property */
    uint8_t mac[6];                 /* MAC_LO/HI */
    uint32_t ctrl;
    uint32_t rx_filter;
    uint32_t err_count;
    uint32_t last_err;
    uint32_t int_cause;
    uint32_t int_mask;
    uint32_t int_throttle;
    bool link_up;
    bool offload_paused;            /* PAUSE sent, RESUME not yet */
    bool rx_stalled;                /* RX_NOBUF raised, waiting for TAIL */
    bool intx_level;
    unsigned irq_hold;              /* >0: batch raised causes */

    ChimneyRing ring[CHIMNEY_RING_COUNT];
    uint32_t stats[CHIMNEY_STAT_COUNT];

    /* Interrupt moderation per MSI-X vector (virtual-clock ns). */
    int64_t vec_last_ns[CHIMNEY_MSIX_VECTORS];
    int64_t vec_deadline_ns[CHIMNEY_MSIX_VECTORS];  /* 0 = not armed */

    /* Events waiting for event-ring slots, in wire (LE) format. */
    ChimneyEvent evtq[CHIMNEY_EVT_QUEUE_MAX];
    uint32_t evtq_head;
    uint32_t evtq_len;
    /*
     * Completions beyond CHIMNEY_EVT_QUEUE_MAX (never migrated: the
     * device blocks migration while any is queued here).
     */
    GQueue *evtq_more;

    /* Scratch for assembling one TX frame. */
    uint8_t tx_buf[CHIMNEY_MAX_FRAME];

    /* The offload engine (chimney_engine.h); its objects not migrated. */
    ChimneyEngine *engine;
    ChimneyEngineConfig engine_cfg;
    /* Migrated engine state (chimney_core_pre_save, _post_load). */
    uint32_t handle_gen_floor[3];   /* highest handle generations issued */
    ChimneyEngineSetup engine_setup;    /* SET_PARAMS, SET_VLANS */
} ChimneyCore;

void chimney_core_init(ChimneyCore *core, const ChimneyCoreOps *ops,
                       void *opaque, const uint8_t mac[6], bool link_up);
/* Same, with the engine's limits (device properties). */
void chimney_core_init_config(ChimneyCore *core, const ChimneyCoreOps *ops,
                              void *opaque, const uint8_t mac[6],
                              bool link_up, const ChimneyEngineConfig *cfg);
void chimney_core_reset(ChimneyCore *core);
/* Number of offloaded state objects (neighbor + path + TCP). */
uint32_t chimney_core_offload_objects(ChimneyCore *core);
/* Free what chimney_core_init() allocated. */
void chimney_core_cleanup(ChimneyCore *core);

uint32_t chimney_core_read(ChimneyCore *core, uint64_t addr, unsigned size);
void chimney_core_write(ChimneyCore *core, uint64_t addr, uint32_t val,
                        unsigned size);

bool chimney_core_can_receive(ChimneyCore *core);
/*
 * Returns len when the frame was consumed (delivered or dropped), 0 when
 * the device cannot take it now and the caller must queue it.
 */
ssize_t chimney_core_receive(ChimneyCore *core, const uint8_t *buf,
                             size_t len);

/*
 * Receive offloads of the backend (spec "Segmentation offload"), from a
 * virtio-net header: the TCP checksum at csum_start + csum_offset holds
 * the pseudo-header sum only (needs_csum), and/or the frame is a TCP
 * super-segment (gso) to be cut into segments of gso_size payload bytes.
 */
typedef struct ChimneyRxOffload {
    bool needs_csum;
    uint16_t csum_start;
    uint16_t csum_offset;
    bool gso;
    uint16_t gso_size;
} ChimneyRxOffload;

/*
 * chimney_core_receive() for such a frame: an offloaded connection's
 * engine takes it whole; the host path gets complete checksums and
 * segments.  Same return values.
 */
ssize_t chimney_core_receive_offloaded(ChimneyCore *core, const uint8_t *buf,
                                       size_t len,
                                       const ChimneyRxOffload *ro);

void chimney_core_set_link(ChimneyCore *core, bool up);
/* The host's view of bus mastering or MSI-X enable changed. */
void chimney_core_pci_changed(ChimneyCore *core);
void chimney_core_timer_expired(ChimneyCore *core, unsigned timer);
void chimney_core_cmd_process(ChimneyCore *core);
/* Before migration: fill the migrated fields kept elsewhere. */
void chimney_core_pre_save(ChimneyCore *core);
/*
 * After migration (core state already checked by chimney_migrate.c):
 * hand the engine its migrated setup (false and *why if it is invalid;
 * then nothing was applied) and re-arm timers from the saved deadlines.
 */
bool chimney_core_post_load(ChimneyCore *core, const char **why);

/* Queue an event for the event ring and write what fits. */
void chimney_core_post_event(ChimneyCore *core, const ChimneyEvent *ev);

/* Guest memory, guest errors, tracing. */
int chimney_core_dma_read(ChimneyCore *core, uint64_t addr, void *buf,
                          size_t len);
int chimney_core_dma_write(ChimneyCore *core, uint64_t addr, const void *buf,
                           size_t len);
/*
 * Count and log a guest error; code (CHIMNEY_ERR_*) goes to LAST_ERR
 * unless it is CHIMNEY_ERR_NONE.
 */
void chimney_core_guest_error(ChimneyCore *core, uint32_t code,
                              const char *fmt, ...) G_GNUC_PRINTF(3, 4);

#endif /* CHIMNEY_CORE_H */
