/*
 * chimney-nic device core: ring geometry and descriptor DMA (spec
 * "Rings", "DMA errors").  C + GLib only.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>

#include "chimney_core_int.h"

bool chimney_ring_enabled(const ChimneyRing *r)
{
    return r->status & CHIMNEY_RING_ST_ENABLED;
}

uint32_t chimney_ring_entry_size(unsigned ring)
{
    switch (ring) {
    case CHIMNEY_RING_TX:
        return sizeof(ChimneyTxDesc);
    case CHIMNEY_RING_RX:
        return sizeof(ChimneyRxDesc);
    case CHIMNEY_RING_CMD:
        return sizeof(ChimneyCmdDesc);
    case CHIMNEY_RING_EVT:
        return sizeof(ChimneyEvent);
    default:
        return sizeof(ChimneyIndDesc);
    }
}

uint64_t chimney_ring_entry_addr(const ChimneyRing *r, unsigned ring,
                                        uint32_t idx)
{
    return r->base + (uint64_t)idx * chimney_ring_entry_size(ring);
}

uint32_t chimney_ring_next(const ChimneyRing *r, uint32_t idx)
{
    return (idx + 1) & (r->size - 1);
}

/* Entries the driver has handed to the device: [head, tail). */
uint32_t chimney_ring_avail(const ChimneyRing *r)
{
    return (r->tail - r->head) & (r->size - 1);
}

/* Stop a ring after a fault it cannot continue from (spec "Errors"). */
void chimney_ring_fault(ChimneyCore *core, unsigned ring,
                               uint32_t code)
{
    ChimneyRing *r = &core->ring[ring];

    r->status = CHIMNEY_RING_ST_ERROR | (code << CHIMNEY_RING_ST_ERR_SHIFT);
    r->ctrl &= ~CHIMNEY_RING_CTRL_ENABLE;
    trace_chimney_ring_error(ring, code);
    chimney_raise(core, CHIMNEY_INT_ERR);
}

int chimney_ring_dma_read(ChimneyCore *core, unsigned ring,
                                 uint32_t idx, void *buf)
{
    ChimneyRing *r = &core->ring[ring];
    uint64_t addr = chimney_ring_entry_addr(r, ring, idx);

    if (core->ops->dma_read(core->opaque, addr, buf,
                            chimney_ring_entry_size(ring)) < 0) {
        chimney_core_guest_error(core, CHIMNEY_ERR_DMA,
                                 "chimney-nic: ring %u entry %u at 0x%"
                                 G_GINT64_MODIFIER "x not readable, ring "
                                 "stopped", ring, idx, addr);
        chimney_ring_fault(core, ring, CHIMNEY_ERR_DMA);
        return -1;
    }
    return 0;
}

int chimney_ring_dma_write(ChimneyCore *core, unsigned ring,
                                  uint32_t idx, size_t off, const void *buf,
                                  size_t len)
{
    ChimneyRing *r = &core->ring[ring];
    uint64_t addr = chimney_ring_entry_addr(r, ring, idx) + off;

    if (core->ops->dma_write(core->opaque, addr, buf, len) < 0) {
        chimney_core_guest_error(core, CHIMNEY_ERR_DMA,
                                 "chimney-nic: ring %u entry %u at 0x%"
                                 G_GINT64_MODIFIER "x not writable, ring "
                                 "stopped", ring, idx, addr);
        chimney_ring_fault(core, ring, CHIMNEY_ERR_DMA);
        return -1;
    }
    return 0;
}
