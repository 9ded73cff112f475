// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic portable driver core: the L2 ring helper.
 * See chimney_ring.h; every device and DMA access goes through the shim
 * (chimney_os.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#include "chimney_ring.h"

#define TX_FLAGS_OFF	((u32)__builtin_offsetof(ChimneyTxDesc, flags))
#define TX_STATUS_OFF	((u32)__builtin_offsetof(ChimneyTxDesc, status))
#define RX_LEN_OFF	((u32)__builtin_offsetof(ChimneyRxDesc, len))
#define RX_STATUS_OFF	((u32)__builtin_offsetof(ChimneyRxDesc, status))

static u32 ring_reg(const struct chimney_ring *r, u32 off)
{
	return CHIMNEY_RING_REG(r->id, off);
}

static void ring_wr(const struct chimney_os *os, const struct chimney_ring *r,
		    u32 off, u32 val)
{
	os->ops->reg_write(os->ctx, ring_reg(r, off), val);
}

static u32 ring_rd(const struct chimney_os *os, const struct chimney_ring *r,
		   u32 off)
{
	return os->ops->reg_read(os->ctx, ring_reg(r, off));
}

static void entry_write(const struct chimney_os *os,
			const struct chimney_ring *r, u32 idx, u32 off,
			const void *src, u32 len)
{
	os->ops->dma_write(os->ctx, &r->mem, idx * r->esize + off, src, len);
}

static u16 entry_read16(const struct chimney_os *os,
			const struct chimney_ring *r, u32 idx, u32 off)
{
	u16 v;

	os->ops->dma_read(os->ctx, &r->mem, idx * r->esize + off, &v,
			  sizeof(v));
	return chimney_le16(v);
}

void chimney_ring_init(struct chimney_ring *r, u32 id, u32 size, u32 esize)
{
	__builtin_memset(r, 0, sizeof(*r));
	r->id = id;
	r->size = size;
	r->esize = esize;
}

int chimney_ring_alloc(const struct chimney_os *os, struct chimney_ring *r)
{
	__builtin_memset(&r->mem, 0, sizeof(r->mem));
	if (os->ops->dma_alloc(os->ctx, chimney_ring_bytes(r), &r->mem) < 0) {
		__builtin_memset(&r->mem, 0, sizeof(r->mem));
		return CHIMNEY_DRV_ENOMEM;
	}
	return 0;
}

void chimney_ring_free(const struct chimney_os *os, struct chimney_ring *r)
{
	if (!r->mem.len)
		return;
	os->ops->dma_free(os->ctx, &r->mem);
	__builtin_memset(&r->mem, 0, sizeof(r->mem));
}

/* No stale DONE bits from an earlier run. */
static void ring_clear(const struct chimney_os *os,
		       const struct chimney_ring *r)
{
	static const u8 zero[256];
	u32 off, n;

	for (off = 0; off < r->mem.len; off += n) {
		n = r->mem.len - off;
		if (n > sizeof(zero))
			n = sizeof(zero);
		os->ops->dma_write(os->ctx, &r->mem, off, zero, n);
	}
}

static void ring_log_err(const struct chimney_os *os,
			 const struct chimney_ring *r, const char *what,
			 u32 st)
{
	if (os->ops->log)
		os->ops->log(os->ctx, CHIMNEY_LOG_ERR,
			     "chimney-ring: ring %u %s: status 0x%x", r->id,
			     what, st);
}

int chimney_ring_start(const struct chimney_os *os, struct chimney_ring *r)
{
	u32 st;

	if ((r->id != CHIMNEY_RING_TX && r->id != CHIMNEY_RING_RX) ||
	    r->size < CHIMNEY_RING_MIN || r->size > CHIMNEY_RING_MAX ||
	    (r->size & (r->size - 1)) || r->mem.len < chimney_ring_bytes(r) ||
	    (r->mem.dma & (CHIMNEY_RING_ALIGN - 1)))
		return CHIMNEY_DRV_EINVAL;
	/* ADDR/SIZE are writable only while the ring is disabled. */
	ring_wr(os, r, CHIMNEY_RING_CTRL, 0);
	ring_clear(os, r);
	ring_wr(os, r, CHIMNEY_RING_ADDR_LO, (u32)r->mem.dma);
	ring_wr(os, r, CHIMNEY_RING_ADDR_HI, (u32)(r->mem.dma >> 32));
	ring_wr(os, r, CHIMNEY_RING_SIZE, r->size);
	ring_wr(os, r, CHIMNEY_RING_CTRL, CHIMNEY_RING_CTRL_ENABLE);
	st = ring_rd(os, r, CHIMNEY_RING_STATUS);
	r->ntu = 0;
	r->ntc = 0;
	if (st & CHIMNEY_RING_ST_ERROR) {
		ring_log_err(os, r, "refused", st);
		return CHIMNEY_DRV_EIO;
	}
	if (!(st & CHIMNEY_RING_ST_ENABLED)) {
		ring_log_err(os, r, "not enabled", st);
		return CHIMNEY_DRV_EIO;
	}
	return 0;
}

void chimney_ring_stop(const struct chimney_os *os,
		       const struct chimney_ring *r)
{
	ring_wr(os, r, CHIMNEY_RING_CTRL, 0);
}

void chimney_ring_kick(const struct chimney_os *os,
		       const struct chimney_ring *r, u32 tail)
{
	ring_wr(os, r, CHIMNEY_RING_TAIL, tail);
}

u32 chimney_ring_hw_head(const struct chimney_os *os,
			 const struct chimney_ring *r)
{
	return ring_rd(os, r, CHIMNEY_RING_HEAD);
}

u32 chimney_ring_hw_status(const struct chimney_os *os,
			   const struct chimney_ring *r)
{
	return ring_rd(os, r, CHIMNEY_RING_STATUS);
}

void chimney_tx_desc_write(const struct chimney_os *os,
			   const struct chimney_ring *r, u32 idx, u64 addr,
			   u16 len, u16 flags)
{
	ChimneyTxDesc d;

	__builtin_memset(&d, 0, sizeof(d));
	d.addr = chimney_le64(addr);
	d.len = chimney_le16(len);
	d.flags = chimney_le16(flags);
	entry_write(os, r, idx, 0, &d, sizeof(d));
}

void chimney_tx_desc_set_flags(const struct chimney_os *os,
			       const struct chimney_ring *r, u32 idx,
			       u16 flags)
{
	u16 v = chimney_le16(flags);

	entry_write(os, r, idx, TX_FLAGS_OFF, &v, sizeof(v));
}

void chimney_rx_desc_write(const struct chimney_os *os,
			   const struct chimney_ring *r, u32 idx, u64 addr,
			   u16 buf_len)
{
	ChimneyRxDesc d;

	__builtin_memset(&d, 0, sizeof(d));
	d.addr = chimney_le64(addr);
	d.buf_len = chimney_le16(buf_len);
	entry_write(os, r, idx, 0, &d, sizeof(d));
}

u16 chimney_tx_desc_done(const struct chimney_os *os,
			 const struct chimney_ring *r, u32 idx)
{
	u16 st = entry_read16(os, r, idx, TX_STATUS_OFF);

	return (st & CHIMNEY_DESC_DONE) ? st : 0;
}

u16 chimney_rx_desc_done(const struct chimney_os *os,
			 const struct chimney_ring *r, u32 idx, u16 *len)
{
	u16 st = entry_read16(os, r, idx, RX_STATUS_OFF);

	if (!(st & CHIMNEY_DESC_DONE))
		return 0;
	/* dma_read is an acquire: len is read after the status */
	*len = entry_read16(os, r, idx, RX_LEN_OFF);
	return st;
}
