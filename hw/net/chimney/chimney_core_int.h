/*
 * chimney-nic device core, internal: what the core's files share (ring
 * access, interrupts, the event FIFO, the engine's services).  C + GLib
 * only.  Only chimney_core*.c include this file.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_CORE_INT_H
#define CHIMNEY_CORE_INT_H

#include "chimney_core.h"

/* chimney_core_ring.c: ring geometry and descriptor DMA */
bool chimney_ring_enabled(const ChimneyRing *r);
uint32_t chimney_ring_entry_size(unsigned ring);
uint64_t chimney_ring_entry_addr(const ChimneyRing *r, unsigned ring,
                                 uint32_t idx);
uint32_t chimney_ring_next(const ChimneyRing *r, uint32_t idx);
/* Entries the driver has handed to the device: [head, tail). */
uint32_t chimney_ring_avail(const ChimneyRing *r);
/* Stop a ring after a fault it cannot continue from (spec "Errors"). */
void chimney_ring_fault(ChimneyCore *core, unsigned ring, uint32_t code);
int chimney_ring_dma_read(ChimneyCore *core, unsigned ring, uint32_t idx,
                          void *buf);
int chimney_ring_dma_write(ChimneyCore *core, unsigned ring, uint32_t idx,
                           size_t off, const void *buf, size_t len);

/* chimney_core.c */
bool chimney_dma_enabled(ChimneyCore *core);
/* Causes raised while irq_hold is set are signalled when it drops. */
void chimney_raise(ChimneyCore *core, uint32_t causes);

/* chimney_core_evtq.c: the event FIFO */
/* Append to the event FIFO (no ring write yet); false if dropped. */
bool chimney_evtq_push(ChimneyCore *core, const ChimneyEvent *ev);
/* Events in the FIFO, the overflow of request completions included. */
uint32_t chimney_evtq_count(const ChimneyCore *core);
void chimney_evtq_clear_overflow(ChimneyCore *core);
/* Move overflow entries into the fixed FIFO while it has room, in order. */
void chimney_evtq_refill(ChimneyCore *core);

/* chimney_core_ind.c: one receive indication into the IND ring */
int64_t chimney_core_indicate(ChimneyCore *core, uint64_t handle,
                              uint32_t seq, const uint8_t *data,
                              uint32_t len);

/* chimney_core.c: a frame for the host (L2) path, into the RX ring */
ssize_t chimney_l2_receive_frame(ChimneyCore *core, const uint8_t *buf,
                                 size_t len);
/*
 * chimney_core_rxoff.c: a frame with a checksum to complete or a
 * super-segment (chimney_core_receive_offloaded())
 */
ssize_t chimney_rxoff_frame(ChimneyCore *core, const uint8_t *buf,
                            size_t len, const ChimneyRxOffload *ro);

/* chimney_core_svc.c: the engine's host services */
extern const ChimneyEngineServices chimney_engine_services;

#endif /* CHIMNEY_CORE_INT_H */
