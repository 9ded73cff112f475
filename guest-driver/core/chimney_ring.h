/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chimney-nic portable ring helper.
 *
 * Plain C with no OS dependency: everything OS-specific (register access,
 * DMA memory barriers, byte order, volatile loads, logging) comes from
 * "chimney_ring_os.h", which each OS port provides on its include path
 * (guest-driver/linux/ has the Linux one; see guest-driver/core/README.md,
 * "Ring helper shim", for the contract).  It is not core/chimney_os.h,
 * the function-pointer shim of the offload core.
 *
 * The helper knows the ring register block and the producer/consumer index
 * rules of include/hw/net/chimney_hw.h: a ring holds SIZE entries (a power
 * of two), HEAD is the device index, TAIL the driver index, HEAD == TAIL
 * means empty, and the driver gives at most SIZE - 1 entries.  The event
 * ring is the one the device produces into: the driver hands slots back by
 * advancing TAIL and TAIL always trails the driver's read index by one.
 *
 * Ring memory is owned by the caller (allocated with the OS's coherent DMA
 * allocator, CHIMNEY_RING_ALIGN aligned, zeroed).
 */
#ifndef CHIMNEY_RING_H
#define CHIMNEY_RING_H

#include "chimney_ring_os.h"
#include "hw/net/chimney_hw.h"

struct chimney_ring {
	void *va;		/* entry 0, CPU view */
	uint64_t dma;		/* entry 0, device view */
	uint32_t id;		/* enum ChimneyRingId */
	uint32_t size;		/* entries, power of two */
	uint32_t esize;		/* bytes per entry */
	uint32_t ntu;		/* next to use: the driver's TAIL */
	uint32_t ntc;		/* next to clean: first entry not reclaimed */
};

static inline uint32_t chimney_ring_next(const struct chimney_ring *r,
					 uint32_t i)
{
	return (i + 1) & (r->size - 1);
}

/* Entries in [from, to) on a ring of @size entries. */
static inline uint32_t chimney_ring_dist(uint32_t size, uint32_t from,
					 uint32_t to)
{
	return (to - from) & (size - 1);
}

/* Entries the driver may still fill when @ntc..@ntu are outstanding. */
static inline uint32_t chimney_ring_space(uint32_t size, uint32_t ntc,
					  uint32_t ntu)
{
	return size - 1 - chimney_ring_dist(size, ntc, ntu);
}

static inline void *chimney_ring_entry(const struct chimney_ring *r,
				       uint32_t i)
{
	return (char *)r->va + (uintptr_t)i * r->esize;
}

static inline uint32_t chimney_ring_bytes(const struct chimney_ring *r)
{
	return r->size * r->esize;
}

static inline uint32_t chimney_ring_reg(const struct chimney_ring *r,
					uint32_t off)
{
	return CHIMNEY_RING_REG(r->id, off);
}

static inline void chimney_ring_init(struct chimney_ring *r, uint32_t id,
				     uint32_t size, uint32_t esize)
{
	r->va = 0;
	r->dma = 0;
	r->id = id;
	r->size = size;
	r->esize = esize;
	r->ntu = 0;
	r->ntc = 0;
}

/*
 * Program base and size, then enable.  Returns 0, or the device's error
 * code (enum ChimneyErr, > 0) when the device refused the ring, or -1 when
 * the ring did not come up for another reason.
 */
static inline int chimney_ring_start(struct chimney_os_dev *os,
				     struct chimney_ring *r)
{
	uint32_t st;

	if (r->size < CHIMNEY_RING_MIN || r->size > CHIMNEY_RING_MAX ||
	    (r->size & (r->size - 1)))
		return CHIMNEY_ERR_BAD_SIZE;
	if (r->dma & (CHIMNEY_RING_ALIGN - 1))
		return CHIMNEY_ERR_BAD_ALIGN;
	chimney_os_wr32(os, chimney_ring_reg(r, CHIMNEY_RING_CTRL), 0);
	chimney_os_wr32(os, chimney_ring_reg(r, CHIMNEY_RING_ADDR_LO),
			(uint32_t)r->dma);
	chimney_os_wr32(os, chimney_ring_reg(r, CHIMNEY_RING_ADDR_HI),
			(uint32_t)(r->dma >> 32));
	chimney_os_wr32(os, chimney_ring_reg(r, CHIMNEY_RING_SIZE), r->size);
	chimney_os_wr32(os, chimney_ring_reg(r, CHIMNEY_RING_CTRL),
			CHIMNEY_RING_CTRL_ENABLE);
	st = chimney_os_rd32(os, chimney_ring_reg(r, CHIMNEY_RING_STATUS));
	r->ntu = 0;
	r->ntc = 0;
	if (st & CHIMNEY_RING_ST_ERROR) {
		chimney_os_log_err(os, "ring %u refused: status 0x%x\n",
				   r->id, st);
		return (st & CHIMNEY_RING_ST_ERR_MASK) >>
			CHIMNEY_RING_ST_ERR_SHIFT;
	}
	if (!(st & CHIMNEY_RING_ST_ENABLED)) {
		chimney_os_log_err(os, "ring %u not enabled: status 0x%x\n",
				   r->id, st);
		return -1;
	}
	return 0;
}

static inline void chimney_ring_stop(struct chimney_os_dev *os,
				     struct chimney_ring *r)
{
	chimney_os_wr32(os, chimney_ring_reg(r, CHIMNEY_RING_CTRL), 0);
}

/* Driver-produced rings: publish everything up to ntu. */
static inline void chimney_ring_kick(struct chimney_os_dev *os,
				     struct chimney_ring *r, uint32_t ntu)
{
	chimney_os_wr32(os, chimney_ring_reg(r, CHIMNEY_RING_TAIL), ntu);
}

static inline uint32_t chimney_ring_hw_head(struct chimney_os_dev *os,
					    const struct chimney_ring *r)
{
	return chimney_os_rd32(os, chimney_ring_reg(r, CHIMNEY_RING_HEAD));
}

static inline uint32_t chimney_ring_hw_status(struct chimney_os_dev *os,
					      const struct chimney_ring *r)
{
	return chimney_os_rd32(os, chimney_ring_reg(r, CHIMNEY_RING_STATUS));
}

/* ---- descriptors ---------------------------------------------------- */

static inline void chimney_tx_desc_fill(ChimneyTxDesc *d, uint64_t addr,
					uint16_t len, uint16_t flags)
{
	d->addr = chimney_os_cpu_to_le64(addr);
	d->len = chimney_os_cpu_to_le16(len);
	d->flags = chimney_os_cpu_to_le16(flags);
	d->status = 0;
	d->rsvd = 0;
}

static inline void chimney_rx_desc_fill(ChimneyRxDesc *d, uint64_t addr,
					uint16_t buf_len)
{
	d->addr = chimney_os_cpu_to_le64(addr);
	d->buf_len = chimney_os_cpu_to_le16(buf_len);
	d->len = 0;
	d->flags = 0;
	d->status = 0;
}

/*
 * Completion status of a TX/RX descriptor, 0 while the device still owns
 * it.  A non-zero return is followed by a read barrier, so the caller may
 * read the other fields the device wrote before the status.
 */
static inline uint16_t chimney_desc_done(const uint16_t *status)
{
	uint16_t st = chimney_os_le16_to_cpu(chimney_os_read_once16(status));

	if (!(st & CHIMNEY_DESC_DONE))
		return 0;
	chimney_os_dma_rmb();
	return st;
}

static inline uint32_t chimney_desc_err(uint16_t status)
{
	return (status & CHIMNEY_DESC_ERR_MASK) >> CHIMNEY_DESC_ERR_SHIFT;
}

/* ---- command ring --------------------------------------------------- */

/*
 * Queue one command at ntu (the caller checked space and serialises);
 * does not kick.  Returns the slot used.
 */
static inline uint32_t chimney_cmd_queue(struct chimney_ring *r,
					 uint16_t opcode, uint16_t flags,
					 uint64_t addr, uint32_t len,
					 uint64_t handle, uint64_t cookie)
{
	uint32_t slot = r->ntu;
	ChimneyCmdDesc *c = (ChimneyCmdDesc *)chimney_ring_entry(r, slot);

	c->opcode = chimney_os_cpu_to_le16(opcode);
	c->flags = chimney_os_cpu_to_le16(flags);
	c->len = chimney_os_cpu_to_le32(len);
	c->addr = chimney_os_cpu_to_le64(addr);
	c->handle = chimney_os_cpu_to_le64(handle);
	c->cookie = chimney_os_cpu_to_le64(cookie);
	r->ntu = chimney_ring_next(r, slot);
	return slot;
}

/* Commands the device has consumed, from its HEAD register. */
static inline void chimney_cmd_reclaim(struct chimney_os_dev *os,
				       struct chimney_ring *r)
{
	uint32_t head = chimney_ring_hw_head(os, r);

	if (head < r->size)
		r->ntc = head;
}

/* ---- event ring ----------------------------------------------------- */

/* After enable: hand the device all SIZE - 1 slots. */
static inline void chimney_evt_arm(struct chimney_os_dev *os,
				   struct chimney_ring *r)
{
	r->ntc = 0;
	chimney_ring_kick(os, r, r->size - 1);
}

/*
 * The next valid event, converted to CPU byte order into @ev, or 0 when
 * there is none.  Call chimney_evt_consume() once it has been handled.
 */
static inline int chimney_evt_peek(const struct chimney_ring *r,
				   ChimneyEvent *ev)
{
	const ChimneyEvent *e =
		(const ChimneyEvent *)chimney_ring_entry(r, r->ntc);
	uint32_t flags = chimney_os_le32_to_cpu(chimney_os_read_once32(&e->flags));

	if (!(flags & CHIMNEY_EVTF_VALID))
		return 0;
	chimney_os_dma_rmb();
	ev->type = chimney_os_le16_to_cpu(e->type);
	ev->code = chimney_os_le16_to_cpu(e->code);
	ev->status = chimney_os_le32_to_cpu(e->status);
	ev->cookie = chimney_os_le64_to_cpu(e->cookie);
	ev->handle = chimney_os_le64_to_cpu(e->handle);
	ev->info = chimney_os_le32_to_cpu(e->info);
	ev->flags = flags;
	return 1;
}

/* Clear VALID of the current event and move on (slot not yet returned). */
static inline void chimney_evt_consume(struct chimney_ring *r)
{
	ChimneyEvent *e = (ChimneyEvent *)chimney_ring_entry(r, r->ntc);

	e->flags = 0;
	r->ntc = chimney_ring_next(r, r->ntc);
}

/* Return every consumed slot to the device: TAIL = ntc - 1. */
static inline void chimney_evt_release(struct chimney_os_dev *os,
				       struct chimney_ring *r)
{
	chimney_ring_kick(os, r, (r->ntc + r->size - 1) & (r->size - 1));
}

#endif /* CHIMNEY_RING_H */
