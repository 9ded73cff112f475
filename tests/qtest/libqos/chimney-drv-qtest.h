/*
 * qtest OS shim for the portable chimney-nic driver core
 * (guest-driver/core/chimney_drv.c, copied into the QEMU tree as
 * tests/qtest/libqos/chimney-drv/ by scripts/build-qemu.sh).
 *
 * The driver core reaches the device only through its OS shim, struct
 * chimney_os_ops (guest-driver/core/chimney_os.h), the same mechanism the
 * Linux module and the unit tests implement.  Here:
 *
 *   reg_read/reg_write   qpci_io_readl/writel on BAR0 of the libqos node;
 *   dma_alloc            guest_alloc (64-byte aligned, zeroed with one
 *                        qtest "memset") plus a host-side shadow copy;
 *   dma_write            into the shadow, recording the dirty byte range;
 *   dma_read             from the shadow, refreshed from guest memory first
 *                        when QEMU may have run since the last refresh.
 *
 * Dirty shadows are written to guest memory before every register write
 * (a doorbell must find its descriptors and trees in memory: the contract
 * of reg_write in chimney_os.h) with qtest_bufwrite, one call per dirty
 * range; contiguous writes (a whole serialised tree) coalesce into one
 * range.  Refreshes use qtest_bufread of the whole buffer.  Both are cut
 * into QCHIMNEY_XFER_CHUNK pieces: QEMU's qtest server and libqtest find
 * the end of a command line by rescanning the whole input buffer for '\n'
 * after every 1 KiB read, so a transfer in one line costs quadratic time:
 * the 17 MB tree of 65,536 connections took 3.7 s to write and 4 s to
 * read back that way, against 0.4 s and 0.2 s in 32 KiB pieces.
 *
 * "QEMU may have run" is tracked with an epoch counter: every register
 * access, clock step and qchimney_os_touch() starts a new epoch, and a
 * buffer read in an older epoch is refreshed (its own dirty ranges are
 * flushed first, so pending writes are never lost).  Within one epoch
 * the core sees one consistent snapshot per buffer; one qtest b64read is
 * atomic with respect to the device's bottom half, and the device writes
 * an event's VALID flag last, so a snapshot never shows half an event.
 *
 * Every event entry the core reads is also appended to a log (the
 * "event tap"), so tests see CMD_DONE fields the core does not pass on
 * (info = blocks walked) and the completions of raw commands a test
 * submits through the core with qchimney_raw_submit()
 * (chimney_drv_raw_cmd(): the core stays the only writer of the CMD ring).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QOS_CHIMNEY_DRV_QTEST_H
#define QOS_CHIMNEY_DRV_QTEST_H

#include "chimney-nic.h"
#include "chimney-drv/chimney_drv.h"

/*
 * QEMU-style names for the core's types (the core is kernel-style code
 * with struct tags; the qtests use these).
 */
typedef struct chimney_dma_buf ChimneyDmaBuf;
typedef struct chimney_os_ops ChimneyOsOps;
typedef struct chimney_drv ChimneyDrv;
typedef struct chimney_offload_block ChimneyOffloadBlock;
typedef struct chimney_drv_event_ops ChimneyDrvEventOps;
typedef chimney_drv_tree_done_fn ChimneyDrvTreeDoneFn;
typedef chimney_drv_cmd_done_fn ChimneyDrvCmdDoneFn;

/* Bytes per qtest b64read/b64write command (see above). */
#define QCHIMNEY_XFER_CHUNK         (32u * 1024u)
/* Default bound of the polling loops (iterations). */
#define QCHIMNEY_WAIT_ITERS         2000
/* Default virtual time per idle polling iteration: 1 us (ticks are 1 ms). */
#define QCHIMNEY_POLL_STEP_NS       1000

/* One DMA buffer handed to the core (ChimneyDmaBuf.handle points here). */
typedef struct QChimneyDmaBuf {
    uint64_t alloc;             /* guest_alloc() result */
    uint64_t dma;               /* 64-byte aligned address in it */
    uint32_t len;
    uint8_t *shadow;
    GArray *dirty;              /* QChimneyRange, sorted, disjoint */
    bool pristine;              /* never flushed: the device cannot know it */
    bool on_dirty_list;
    bool freed;
    uint64_t snap_epoch;        /* epoch of the last refresh (0: never) */
    uint8_t *submitted;         /* capture mode: bytes of the first flush */
} QChimneyDmaBuf;

typedef struct QChimneyRange {
    uint32_t off;
    uint32_t len;
} QChimneyRange;

/* A buffer the core freed while capture mode was on (still allocated). */
typedef struct QChimneyCapture {
    uint64_t dma;
    uint32_t len;
    uint8_t *submitted;         /* as first written to guest memory */
    uint8_t *final;             /* guest memory when the core freed it */
    uint64_t alloc;
} QChimneyCapture;

typedef struct QChimneyOs {
    QChimneyNic *d;
    QTestState *qts;
    QGuestAllocator *alloc;
    ChimneyDrv drv;
    bool drv_up;

    uint64_t epoch;
    GPtrArray *live;            /* QChimneyDmaBuf * */
    GPtrArray *dirty_bufs;      /* QChimneyDmaBuf * with dirty ranges */
    int lock_depth;
    int64_t poll_step_ns;

    /* event tap: every entry the core read, host byte order */
    GArray *evlog;              /* ChimneyEvent */
    /* capture mode: freed buffers kept for inspection */
    bool capture;
    GPtrArray *captures;        /* QChimneyCapture * */
    /* raw commands submitted with qchimney_raw_submit() (count) */
    uint64_t raw_seq;

    /* statistics */
    unsigned nalloc, nfree;
    uint64_t reg_reads, reg_writes;
    uint64_t flush_calls, flush_bytes;
    uint64_t refresh_calls, refresh_bytes;
    uint64_t polls, clock_steps;
    GPtrArray *logs;            /* char *, the core's log lines */
} QChimneyOs;

extern const ChimneyOsOps qchimney_os_ops;

/* Shim over the node; no device access yet. */
void qchimney_os_init(QChimneyOs *os, QChimneyNic *d, QGuestAllocator *alloc);
/* chimney_drv_init() through the shim (rings of the given sizes). */
int qchimney_drv_start(QChimneyOs *os, uint32_t cmd_ring, uint32_t evt_ring);
/*
 * chimney_drv_fini() if started, then checks that every buffer the core
 * allocated was freed, releases captures and the shim's memory.
 */
void qchimney_os_cleanup(QChimneyOs *os);

/* Write every dirty shadow to guest memory now. */
void qchimney_os_flush(QChimneyOs *os);
/* QEMU may have run: the next read of any buffer refreshes it. */
void qchimney_os_touch(QChimneyOs *os);
/* Advance the virtual clock (flushes first, starts a new epoch). */
int64_t qchimney_os_clock_step(QChimneyOs *os, int64_t ns);

/* One pass of chimney_drv_process_events() (new epoch first). */
uint32_t qchimney_poll(QChimneyOs *os);
/*
 * Poll until *counter >= want, stepping the virtual clock by
 * poll_step_ns after each pass that processed no event; at most @iters
 * passes.  True if reached.
 */
bool qchimney_wait_count(QChimneyOs *os, const unsigned *counter,
                         unsigned want, int iters);
/* Poll until nothing happens for @quiet consecutive passes. */
void qchimney_settle(QChimneyOs *os, int quiet);

/*
 * Raw commands: a descriptor exactly as given (malformed trees, foreign
 * buffers, bad addresses), queued by the core (chimney_drv_raw_cmd()), the
 * only owner of the CMD ring.  Returns the cookie the core chose;
 * qchimney_raw_wait() finds the CMD_DONE in the event tap.
 */
uint64_t qchimney_raw_submit(QChimneyOs *os, uint16_t opcode, uint16_t flags,
                             uint64_t addr, uint32_t len, uint64_t handle);
/* Bounded wait for the CMD_DONE of a raw command; fails the test if none. */
ChimneyEvent qchimney_raw_wait(QChimneyOs *os, uint64_t cookie);
/* Submit + wait; returns the status, *info (may be NULL) the info word. */
uint32_t qchimney_raw_cmd(QChimneyOs *os, uint16_t opcode, uint64_t addr,
                          uint32_t len, uint64_t handle, uint32_t *info);

/* The last CMD_DONE in the event tap with this opcode (NULL if none). */
const ChimneyEvent *qchimney_last_cmd_done(QChimneyOs *os, uint16_t opcode);

/* Keep buffers the core frees (and their guest memory) for inspection. */
void qchimney_capture(QChimneyOs *os, bool on);
/* The most recent capture, NULL if none. */
QChimneyCapture *qchimney_last_capture(QChimneyOs *os);
void qchimney_release_captures(QChimneyOs *os);

/* Test-side use of shim buffers (the host's send lists, data, ...). */
int qchimney_dma_alloc(QChimneyOs *os, uint32_t len, ChimneyDmaBuf *buf);
void qchimney_dma_free(QChimneyOs *os, ChimneyDmaBuf *buf);
void qchimney_dma_read(QChimneyOs *os, const ChimneyDmaBuf *buf, uint32_t off,
                       void *dst, uint32_t len);
void qchimney_dma_write(QChimneyOs *os, const ChimneyDmaBuf *buf,
                        uint32_t off, const void *src, uint32_t len);

/* Raw guest-memory transfers in QCHIMNEY_XFER_CHUNK pieces. */
void qchimney_mem_write(QTestState *qts, uint64_t addr, const void *data,
                        size_t len);
void qchimney_mem_read(QTestState *qts, uint64_t addr, void *data,
                       size_t len);

#endif
