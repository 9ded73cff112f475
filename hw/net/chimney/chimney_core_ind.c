/*
 * chimney-nic device core: receive indications through the IND ring
 * (spec "Receive indications").  C + GLib only.
 *
 * The engine decides what to indicate and when; this file only moves one
 * indication's bytes into the buffers the driver posted, completes their
 * descriptors and raises INT_IND.  The engine then queues the
 * EVT_RECV_INDICATE (spec: after HEAD advanced and INT_IND).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_core_int.h"

/* Complete descriptor idx with no data and an error code. */
static int ind_complete_error(ChimneyCore *core, uint32_t idx, uint32_t err)
{
    ChimneyIndDesc d = { 0 };
    uint16_t st = GUINT16_TO_LE(CHIMNEY_DESC_DONE |
                                (err << CHIMNEY_DESC_ERR_SHIFT));

    if (chimney_ring_dma_write(core, CHIMNEY_RING_IND, idx,
                               offsetof(ChimneyIndDesc, len), &d.len,
                               sizeof(d.len)) < 0 ||
        chimney_ring_dma_write(core, CHIMNEY_RING_IND, idx,
                               offsetof(ChimneyIndDesc, status), &st,
                               sizeof(st)) < 0) {
        return -1;
    }
    return 0;
}

int64_t chimney_core_indicate(ChimneyCore *core, uint64_t handle,
                              uint32_t seq, const uint8_t *data,
                              uint32_t len)
{
    ChimneyRing *r = &core->ring[CHIMNEY_RING_IND];
    uint32_t idx, first, used = 0, done = 0, n, i;
    uint32_t lens[64];
    bool dma_failed = false;

    if (!chimney_ring_enabled(r) || !chimney_dma_enabled(core) || !len) {
        return 0;
    }
    /*
     * Pass 1: data into consecutive buffers from HEAD.  At most the
     * buffers the driver owns, and at most 64 per indication (a bounded
     * pass; the rest of the data is indicated later).
     */
    idx = r->head;
    first = idx;
    for (n = 0; idx != r->tail && done < len && used < G_N_ELEMENTS(lens);
         n++) {
        ChimneyIndDesc d;
        uint32_t take;

        if (chimney_ring_dma_read(core, CHIMNEY_RING_IND, idx, &d) < 0) {
            return -1;              /* ring stopped, nothing indicated */
        }
        if (!GUINT32_FROM_LE(d.buf_len)) {
            if (used) {
                break;              /* ends this indication here */
            }
            chimney_core_guest_error(core, CHIMNEY_ERR_ZERO_LEN,
                                     "chimney-nic: IND descriptor %u has "
                                     "buf_len 0", idx);
            if (ind_complete_error(core, idx, CHIMNEY_ERR_ZERO_LEN) < 0) {
                return -1;
            }
            idx = chimney_ring_next(r, idx);
            r->head = idx;
            first = idx;
            r->count++;
            chimney_raise(core, CHIMNEY_INT_IND);
            continue;
        }
        take = MIN(GUINT32_FROM_LE(d.buf_len), len - done);
        if (core->ops->dma_write(core->opaque, GUINT64_FROM_LE(d.addr),
                                 data + done, take) < 0) {
            dma_failed = true;
            used++;
            break;
        }
        lens[used++] = take;
        done += take;
        idx = chimney_ring_next(r, idx);
    }
    if (!used) {
        return 0;
    }
    if (dma_failed) {
        /* every descriptor of this indication: DMA error, no data */
        chimney_core_guest_error(core, CHIMNEY_ERR_DMA,
                                 "chimney-nic: IND buffer at descriptor %u "
                                 "not writable; nothing indicated",
                                 (first + used - 1) & (r->size - 1));
        for (i = 0, idx = first; i < used; i++) {
            if (ind_complete_error(core, idx, CHIMNEY_ERR_DMA) < 0) {
                return -1;
            }
            idx = chimney_ring_next(r, idx);
        }
        r->head = idx;
        r->count += used;
        chimney_raise(core, CHIMNEY_INT_IND);
        return -1;
    }
    /* Pass 2: len, handle, seq, then status (DONE, EOP on the last). */
    for (i = 0, idx = first; i < used; i++) {
        ChimneyIndDesc d = {
            .len = GUINT32_TO_LE(lens[i]),
            .handle = GUINT64_TO_LE(handle),
            .seq = GUINT32_TO_LE(seq),
        };
        uint16_t st = GUINT16_TO_LE(CHIMNEY_DESC_DONE |
                                    (i + 1 == used ? CHIMNEY_DESC_EOP : 0));
        const size_t off = offsetof(ChimneyIndDesc, len);

        if (chimney_ring_dma_write(core, CHIMNEY_RING_IND, idx, off,
                                   (uint8_t *)&d + off,
                                   offsetof(ChimneyIndDesc, rsvd) - off) < 0 ||
            chimney_ring_dma_write(core, CHIMNEY_RING_IND, idx,
                                   offsetof(ChimneyIndDesc, status), &st,
                                   sizeof(st)) < 0) {
            return -1;
        }
        seq += lens[i];
        idx = chimney_ring_next(r, idx);
    }
    r->head = idx;
    r->count += used;
    chimney_raise(core, CHIMNEY_INT_IND);
    return done;
}
