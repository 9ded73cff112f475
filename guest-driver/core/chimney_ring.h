/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chimney-nic portable driver core: the L2 ring helper.
 *
 * Bookkeeping, programming and descriptor access of the TX and RX rings.
 * The CMD, EVT and IND rings are not handled here: they belong to the
 * command/event path (chimney_drv.h), their only owner.
 *
 * Everything OS-specific comes through the same shim as the rest of the
 * core (struct chimney_os, chimney_os.h): ring memory is a shim DMA
 * buffer, descriptors are written and read with dma_write/dma_read,
 * registers with reg_read/reg_write.
 *
 * The helper knows the ring register block and the producer/consumer index
 * rules of include/hw/net/chimney_hw.h: a ring holds SIZE entries (a power
 * of two), HEAD is the device index, TAIL the driver index, HEAD == TAIL
 * means empty, and the driver gives at most SIZE - 1 entries.  Locking is
 * the caller's business: a function touches only the ring passed in.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#ifndef CHIMNEY_RING_H
#define CHIMNEY_RING_H

#include "chimney_os.h"
#include "hw/net/chimney_hw.h"

struct chimney_ring {
	struct chimney_dma_buf mem;	/* the entries; len 0: none */
	u32 id;				/* CHIMNEY_RING_TX or _RX */
	u32 size;			/* entries, power of two */
	u32 esize;			/* bytes per entry */
	u32 ntu;			/* next to use: the driver's TAIL */
	u32 ntc;			/* next to clean: first not reclaimed */
};

static inline u32 chimney_ring_next(const struct chimney_ring *r, u32 i)
{
	return (i + 1) & (r->size - 1);
}

/* Entries in [from, to) on a ring of @size entries. */
static inline u32 chimney_ring_dist(u32 size, u32 from, u32 to)
{
	return (to - from) & (size - 1);
}

/* Entries the driver may still fill when @ntc..@ntu are outstanding. */
static inline u32 chimney_ring_space(u32 size, u32 ntc, u32 ntu)
{
	return size - 1 - chimney_ring_dist(size, ntc, ntu);
}

static inline u32 chimney_ring_bytes(const struct chimney_ring *r)
{
	return r->size * r->esize;
}

/* The error code of a completed descriptor's status (0: none). */
static inline u32 chimney_desc_err(u16 status)
{
	return (status & CHIMNEY_DESC_ERR_MASK) >> CHIMNEY_DESC_ERR_SHIFT;
}

/*
 * Set up @r for ring @id (CHIMNEY_RING_TX or CHIMNEY_RING_RX) of @size
 * entries of @esize bytes; no memory yet.
 */
void chimney_ring_init(struct chimney_ring *r, u32 id, u32 size, u32 esize);

/* Allocate the ring memory (shim dma_alloc): 0 or CHIMNEY_DRV_ENOMEM. */
int chimney_ring_alloc(const struct chimney_os *os, struct chimney_ring *r);

/* Free the ring memory, if any.  The ring must be stopped. */
void chimney_ring_free(const struct chimney_os *os, struct chimney_ring *r);

/*
 * Clear the entries, program base and size, enable; ntu = ntc = 0.
 * Returns 0, CHIMNEY_DRV_EINVAL (not a TX/RX ring, no memory, bad size or
 * alignment) or CHIMNEY_DRV_EIO (the device refused the ring; logged).
 */
int chimney_ring_start(const struct chimney_os *os, struct chimney_ring *r);

void chimney_ring_stop(const struct chimney_os *os,
		       const struct chimney_ring *r);

/* Publish every entry before @tail (TAIL doorbell). */
void chimney_ring_kick(const struct chimney_os *os,
		       const struct chimney_ring *r, u32 tail);

u32 chimney_ring_hw_head(const struct chimney_os *os,
			 const struct chimney_ring *r);
u32 chimney_ring_hw_status(const struct chimney_os *os,
			   const struct chimney_ring *r);

/* TX entry @idx: buffer @addr of @len bytes, CHIMNEY_TXF_* @flags. */
void chimney_tx_desc_write(const struct chimney_os *os,
			   const struct chimney_ring *r, u32 idx, u64 addr,
			   u16 len, u16 flags);
/* Rewrite only the flags of TX entry @idx (e.g. EOP on the last one). */
void chimney_tx_desc_set_flags(const struct chimney_os *os,
			       const struct chimney_ring *r, u32 idx,
			       u16 flags);
/* RX entry @idx: empty buffer @addr of @buf_len bytes. */
void chimney_rx_desc_write(const struct chimney_os *os,
			   const struct chimney_ring *r, u32 idx, u64 addr,
			   u16 buf_len);

/*
 * The completion status (DONE | EOP | error << 8) of TX entry @idx, or 0
 * while the device still owns it.
 */
u16 chimney_tx_desc_done(const struct chimney_os *os,
			 const struct chimney_ring *r, u32 idx);
/*
 * Likewise for RX entry @idx; when done, *@len is the number of bytes the
 * device wrote into the buffer (read after the status).
 */
u16 chimney_rx_desc_done(const struct chimney_os *os,
			 const struct chimney_ring *r, u32 idx, u16 *len);

#endif /* CHIMNEY_RING_H */
