// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * chimney-nic portable driver core: the command/event path.
 * See chimney_drv.h for the interface and guest-driver/core/README.md for
 * how a port uses it.
 *
 * Plain C: no libc or kernel header beyond the fixed-width types; memory
 * is cleared with a compiler builtin, DMA memory is reached only through
 * the shim.
 *
 * Copyright (c) 2026 chimney-nic authors
 */

#include "chimney_drv.h"

/* ---- Small helpers ----------------------------------------------------- */

#define CMD_ENTRY	((u32)sizeof(ChimneyCmdDesc))
#define EVT_ENTRY	((u32)sizeof(ChimneyEvent))
#define IND_ENTRY	((u32)sizeof(ChimneyIndDesc))
#define BLOCK_SIZE	((u32)sizeof(ChimneyBlock))

/* Offsets inside the ABI structures (no <stddef.h> for offsetof). */
#define EVT_FLAGS_OFF	((u32)__builtin_offsetof(ChimneyEvent, flags))
#define BLK_RESULT_OFF	((u32)__builtin_offsetof(ChimneyBlock, status))
#define IND_STATUS_OFF	((u32)__builtin_offsetof(ChimneyIndDesc, status))

/* Pending-command slot states. */
enum { PEND_FREE = 0, PEND_RESERVED = 1, PEND_SUBMITTED = 2 };

/*
 * Core cookie = CHIMNEY_DRV_COOKIE_CORE | sequence number << 16 | pending
 * slot index.  Data requests carry the caller's cookie (bit 63 clear).
 */
#define COOKIE_INDEX_BITS	16u
#define COOKIE_INDEX_MASK	((1u << COOKIE_INDEX_BITS) - 1)

/* Start value of the tree-walk generation: unlikely in stale memory. */
#define WALK_GEN_SALT		0x43484d5744525600ull

/* Trees bigger than this many bytes of DMA memory are refused. */
#define MAX_TREE_BYTES		(256u << 20)

static void mem_zero(void *p, u32 len)
{
	__builtin_memset(p, 0, len);
}

static u32 align8(u32 v)
{
	return (v + 7u) & ~7u;
}

#define drv_log(drv, level, ...)					\
	do {								\
		const struct chimney_os *os__ = &(drv)->os;		\
									\
		if (os__->ops->log)					\
			os__->ops->log(os__->ctx, (level), __VA_ARGS__); \
	} while (0)

static void drv_lock(struct chimney_drv *drv)
{
	if (drv->os.ops->lock)
		drv->os.ops->lock(drv->os.ctx);
}

static void drv_unlock(struct chimney_drv *drv)
{
	if (drv->os.ops->unlock)
		drv->os.ops->unlock(drv->os.ctx);
}

static u32 rd(struct chimney_drv *drv, u32 off)
{
	return drv->os.ops->reg_read(drv->os.ctx, off);
}

static void wr(struct chimney_drv *drv, u32 off, u32 val)
{
	drv->os.ops->reg_write(drv->os.ctx, off, val);
}

static void dma_rd(struct chimney_drv *drv, const struct chimney_dma_buf *buf,
		   u32 off, void *dst, u32 len)
{
	drv->os.ops->dma_read(drv->os.ctx, buf, off, dst, len);
}

static void dma_wr(struct chimney_drv *drv, const struct chimney_dma_buf *buf,
		   u32 off, const void *src, u32 len)
{
	drv->os.ops->dma_write(drv->os.ctx, buf, off, src, len);
}

static int dma_get(struct chimney_drv *drv, u32 len,
		   struct chimney_dma_buf *buf)
{
	mem_zero(buf, sizeof(*buf));
	if (drv->os.ops->dma_alloc(drv->os.ctx, len, buf) < 0) {
		mem_zero(buf, sizeof(*buf));
		return CHIMNEY_DRV_ENOMEM;
	}
	return 0;
}

static void dma_put(struct chimney_drv *drv, struct chimney_dma_buf *buf)
{
	drv->os.ops->dma_free(drv->os.ctx, buf);
	mem_zero(buf, sizeof(*buf));
}

static int status_ok(u32 st)
{
	return st == CHIMNEY_ST_SUCCESS ||
	       st == CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS;
}

/* ---- Bring-up and teardown --------------------------------------------- */

static int ring_size_ok(u32 size, u32 ring_max)
{
	return size >= CHIMNEY_RING_MIN && size <= ring_max &&
	       (size & (size - 1)) == 0;
}

static int ring_alloc(struct chimney_drv *drv, struct chimney_dma_buf *buf,
		      u32 len)
{
	if (dma_get(drv, len, buf)) {
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: no DMA memory for a ring of %u bytes",
			len);
		return CHIMNEY_DRV_ENOMEM;
	}
	if ((buf->dma & (CHIMNEY_RING_ALIGN - 1)) || buf->len < len) {
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: DMA buffer 0x%llx (%u bytes) not %u-byte aligned or too short",
			(unsigned long long)buf->dma, buf->len,
			CHIMNEY_RING_ALIGN);
		dma_put(drv, buf);
		return CHIMNEY_DRV_EINVAL;
	}
	return 0;
}

/*
 * dma_alloc promises zeroed memory; the EVT ring is cleared once more all
 * the same, since a stale VALID flag there would pass for an event.
 */
static void ring_zero(struct chimney_drv *drv,
		      const struct chimney_dma_buf *buf)
{
	static const u8 zero[256];
	u32 off, n;

	for (off = 0; off < buf->len; off += n) {
		n = buf->len - off;
		if (n > sizeof(zero))
			n = sizeof(zero);
		dma_wr(drv, buf, off, zero, n);
	}
}

static void ring_free(struct chimney_drv *drv, struct chimney_dma_buf *buf)
{
	if (buf->len)
		dma_put(drv, buf);
}

static int ring_program(struct chimney_drv *drv, unsigned int ring,
			const struct chimney_dma_buf *buf, u32 size)
{
	u32 st;

	wr(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_ADDR_LO), (u32)buf->dma);
	wr(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_ADDR_HI),
	   (u32)(buf->dma >> 32));
	wr(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_SIZE), size);
	wr(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_CTRL),
	   CHIMNEY_RING_CTRL_ENABLE);
	st = rd(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_STATUS));
	if (!(st & CHIMNEY_RING_ST_ENABLED) || (st & CHIMNEY_RING_ST_ERROR)) {
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: ring %u refused (RING_STATUS 0x%x, error %u)",
			ring, st,
			(st & CHIMNEY_RING_ST_ERR_MASK) >>
			CHIMNEY_RING_ST_ERR_SHIFT);
		return CHIMNEY_DRV_EIO;
	}
	return 0;
}

/* The core's rings: CMD, EVT and IND. */
static void rings_disable(struct chimney_drv *drv)
{
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_CTRL), 0);
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_CTRL), 0);
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_CTRL), 0);
}

static int ops_ok(const struct chimney_os_ops *ops)
{
	return ops && ops->reg_read && ops->reg_write && ops->dma_alloc &&
	       ops->dma_free && ops->dma_read && ops->dma_write &&
	       !ops->lock == !ops->unlock;
}

int chimney_drv_init(struct chimney_drv *drv, const struct chimney_os_ops *ops,
		     void *os, u32 cmd_ring_size, u32 evt_ring_size)
{
	u32 id, ring_max, ctrl;
	int ret;

	if (!drv || !ops_ok(ops))
		return CHIMNEY_DRV_EINVAL;
	mem_zero(drv, sizeof(*drv));
	drv->os.ops = ops;
	drv->os.ctx = os;
	drv->walk_gen = WALK_GEN_SALT;

	id = rd(drv, CHIMNEY_REG_ID);
	drv->version = rd(drv, CHIMNEY_REG_VERSION);
	if (id != CHIMNEY_ID_MAGIC ||
	    (drv->version >> 16) != CHIMNEY_ABI_MAJOR) {
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: not a chimney-nic of ABI %u.x (ID 0x%x, VERSION 0x%x)",
			CHIMNEY_ABI_MAJOR, id, drv->version);
		return CHIMNEY_DRV_ENODEV;
	}
	ring_max = rd(drv, CHIMNEY_REG_CAP_RING_MAX);
	if (ring_max < CHIMNEY_RING_MIN || ring_max > CHIMNEY_RING_MAX)
		ring_max = CHIMNEY_RING_MAX;
	if (!ring_size_ok(cmd_ring_size, ring_max) ||
	    !ring_size_ok(evt_ring_size, ring_max)) {
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: ring sizes %u/%u: need powers of two in [%u, %u]",
			cmd_ring_size, evt_ring_size, CHIMNEY_RING_MIN,
			ring_max);
		return CHIMNEY_DRV_EINVAL;
	}
	drv->ring_max = ring_max;
	drv->cap_tree_blocks = rd(drv, CHIMNEY_REG_CAP_TREE_BLOCKS);
	if (!drv->cap_tree_blocks) {
		drv_log(drv, CHIMNEY_LOG_WARN,
			"chimney-drv: CAP_TREE_BLOCKS is 0, using %u",
			CHIMNEY_TREE_MAX_BLOCKS);
		drv->cap_tree_blocks = CHIMNEY_TREE_MAX_BLOCKS;
	}

	/* ADDR/SIZE are writable only while a ring is disabled. */
	rings_disable(drv);
	ret = ring_alloc(drv, &drv->cmd_ring, cmd_ring_size * CMD_ENTRY);
	if (ret)
		return ret;
	ret = ring_alloc(drv, &drv->evt_ring, evt_ring_size * EVT_ENTRY);
	if (ret)
		goto fail;
	ring_zero(drv, &drv->evt_ring);
	drv->cmd_size = cmd_ring_size;
	drv->evt_size = evt_ring_size;
	ret = ring_program(drv, CHIMNEY_RING_CMD, &drv->cmd_ring,
			   cmd_ring_size);
	if (!ret)
		ret = ring_program(drv, CHIMNEY_RING_EVT, &drv->evt_ring,
				   evt_ring_size);
	if (ret)
		goto fail;
	/* Every EVT slot but one belongs to the device (HEAD == TAIL: none). */
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL),
	   evt_ring_size - 1);
	ctrl = rd(drv, CHIMNEY_REG_CTRL) & ~CHIMNEY_CTRL_RESET;
	wr(drv, CHIMNEY_REG_CTRL, ctrl | CHIMNEY_CTRL_OFFLOAD_EN);

	drv->max_pending = cmd_ring_size - 1;
	if (drv->max_pending > CHIMNEY_DRV_MAX_PENDING)
		drv->max_pending = CHIMNEY_DRV_MAX_PENDING;
	drv->ready = 1;
	return 0;

fail:
	rings_disable(drv);
	ring_free(drv, &drv->evt_ring);
	ring_free(drv, &drv->cmd_ring);
	return ret;
}

void chimney_drv_set_event_ops(struct chimney_drv *drv,
			       const struct chimney_drv_event_ops *ops,
			       void *ctx)
{
	if (!drv->os.ops)
		return;			/* before chimney_drv_init() */
	drv_lock(drv);
	drv->evt_ops = ops;
	drv->evt_ctx = ctx;
	drv_unlock(drv);
}

/* ---- Offload block trees ----------------------------------------------- */

/*
 * Depth-first, dependents before next (the device's traversal order, spec
 * "Processing"): N1, P1, T1, T2, P2, T3, N2, ...  No recursion; the stack
 * holds the blocks whose dependent lists are being walked.
 */
struct tree_iter {
	struct chimney_offload_block *stack[CHIMNEY_DRV_TREE_MAX_DEPTH];
	unsigned int depth;
	struct chimney_offload_block *cur;
	int err;
};

static void tree_iter_init(struct tree_iter *it,
			   struct chimney_offload_block *root)
{
	mem_zero(it, sizeof(*it));
	it->cur = root;
}

static struct chimney_offload_block *tree_iter_next(struct tree_iter *it)
{
	struct chimney_offload_block *visit = it->cur, *b = visit;

	if (!visit)
		return NULL;
	if (visit->dependent_block_list) {
		if (it->depth + 1 >= CHIMNEY_DRV_TREE_MAX_DEPTH) {
			/* four or more levels */
			it->err = CHIMNEY_DRV_EINVAL;
			it->cur = NULL;
			return visit;
		}
		it->stack[it->depth++] = visit;
		it->cur = visit->dependent_block_list;
		return visit;
	}
	/* Last of its list: climb to the first ancestor with a next block. */
	while (!b->next_block && it->depth > 0)
		b = it->stack[--it->depth];
	it->cur = b->next_block;
	return visit;
}

u16 chimney_drv_block_role(const struct chimney_offload_block *blk,
			   u16 opcode)
{
	if (!blk->miniport_offload_context)
		return CHIMNEY_ROLE_PLACEHOLDER;
	if (opcode == CHIMNEY_CMD_INITIATE)
		return *blk->miniport_offload_context ? CHIMNEY_ROLE_LINKER :
							CHIMNEY_ROLE_NEW;
	return CHIMNEY_ROLE_REF;
}

/*
 * Check the host tree before anything is queued and lay it out: every
 * block gets its offset in the DMA buffer (drv_offset).  A block reached
 * twice (a cycle through next or dependent links, or one block in two
 * lists) is found through drv_walk, stamped with a generation number
 * unique to this walk, so the walk needs no memory and always ends:
 * every step visits a block not visited before, and at most
 * CAP_TREE_BLOCKS of them.
 */
static int tree_prepare(struct chimney_drv *drv,
			struct chimney_offload_block *root, u32 *nblocks,
			u32 *bytes)
{
	struct chimney_offload_block *b;
	struct tree_iter it;
	u64 gen, off = 0;
	u32 n = 0;

	drv_lock(drv);
	gen = ++drv->walk_gen;
	drv_unlock(drv);

	tree_iter_init(&it, root);
	while ((b = tree_iter_next(&it)) != NULL) {
		if (b->drv_walk == gen) {
			drv_log(drv, CHIMNEY_LOG_ERR,
				"chimney-drv: tree block %u reached twice (cycle or shared block), not submitted",
				n);
			return CHIMNEY_DRV_ELOOP;
		}
		b->drv_walk = gen;
		if (++n > drv->cap_tree_blocks) {
			drv_log(drv, CHIMNEY_LOG_ERR,
				"chimney-drv: tree has more than %u blocks (CAP_TREE_BLOCKS), not submitted",
				drv->cap_tree_blocks);
			return CHIMNEY_DRV_E2BIG;
		}
		if (b->state_len > CHIMNEY_DRV_MAX_STATE ||
		    (b->state_len && !b->state)) {
			drv_log(drv, CHIMNEY_LOG_ERR,
				"chimney-drv: tree block %u: bad state (%u bytes)",
				n - 1, b->state_len);
			return CHIMNEY_DRV_EINVAL;
		}
		if (off + BLOCK_SIZE + align8(b->state_len) > MAX_TREE_BYTES)
			return CHIMNEY_DRV_E2BIG;
		b->drv_offset = (u32)off;
		off += BLOCK_SIZE + align8(b->state_len);
	}
	if (it.err) {
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: tree deeper than %u levels, not submitted",
			CHIMNEY_DRV_TREE_MAX_DEPTH);
		return it.err;
	}
	if (!n)
		return CHIMNEY_DRV_EINVAL;
	*nblocks = n;
	*bytes = (u32)off;
	return 0;
}

/* Write the device's ChimneyBlock tree (links are DMA addresses). */
static void tree_write(struct chimney_drv *drv,
		       struct chimney_offload_block *root, u16 opcode,
		       const struct chimney_dma_buf *buf, u32 nblocks)
{
	struct chimney_offload_block *b;
	struct tree_iter it;
	u32 n = 0;

	tree_iter_init(&it, root);
	while (n < nblocks && (b = tree_iter_next(&it)) != NULL) {
		u16 role = chimney_drv_block_role(b, opcode);
		ChimneyBlock blk;

		mem_zero(&blk, sizeof(blk));
		blk.type = chimney_le16(b->type);
		blk.role = chimney_le16(role);
		blk.size = chimney_le32(BLOCK_SIZE + b->state_len);
		if (b->next_block)
			blk.next = chimney_le64(buf->dma +
						b->next_block->drv_offset);
		if (b->dependent_block_list)
			blk.dependent = chimney_le64(buf->dma +
				b->dependent_block_list->drv_offset);
		blk.status = chimney_le32(CHIMNEY_ST_PENDING);
		if (role == CHIMNEY_ROLE_LINKER || role == CHIMNEY_ROLE_REF)
			blk.handle = chimney_le64(*b->miniport_offload_context);
		blk.host_handle = chimney_le64(b->ndis_offload_handle);
		dma_wr(drv, buf, b->drv_offset, &blk, BLOCK_SIZE);
		if (b->state_len)
			dma_wr(drv, buf, b->drv_offset + BLOCK_SIZE, b->state,
			       b->state_len);
		b->status = CHIMNEY_ST_PENDING;
		n++;
	}
}

/* ChimneyBlock.status, flags, handle: what the device writes back. */
struct blk_result {
	u32 status;
	u32 flags;
	u64 handle;
};

/* One block's result: status, and a handle for a NEW block it offloaded. */
static void block_copy_back(struct chimney_drv *drv,
			    const struct chimney_drv_pending *p,
			    struct chimney_offload_block *b, u32 n)
{
	struct blk_result res;
	u32 st, flags;
	u64 handle;

	dma_rd(drv, &p->buf, b->drv_offset + BLK_RESULT_OFF, &res,
	       sizeof(res));
	st = chimney_le32(res.status);
	flags = chimney_le32(res.flags);
	handle = chimney_le64(res.handle);
	b->status = st;
	if (!(flags & CHIMNEY_BLKF_HANDLE_VALID))
		return;
	if (p->opcode == CHIMNEY_CMD_INITIATE && status_ok(st) && handle &&
	    chimney_drv_block_role(b, p->opcode) == CHIMNEY_ROLE_NEW) {
		*b->miniport_offload_context = handle;
		return;
	}
	drv_log(drv, CHIMNEY_LOG_WARN,
		"chimney-drv: block %u: handle 0x%llx with status 0x%x not taken (opcode 0x%x)",
		n, (unsigned long long)handle, st, p->opcode);
}

/*
 * After CMD_DONE: results into the host tree.  Statuses always; a handle
 * only into the slot of a NEW block the device offloaded and marked
 * HANDLE_VALID (rules 011/012: a failed block's slot stays 0); the state
 * the device filled (QUERY, TERMINATE).  A command that did not walk the
 * tree gives its status to every block.
 */
static void tree_copy_back(struct chimney_drv *drv,
			   const struct chimney_drv_pending *p, u32 cmd_status)
{
	struct chimney_offload_block *b;
	struct tree_iter it;
	u32 n = 0;
	int fill = p->opcode == CHIMNEY_CMD_QUERY ||
		   p->opcode == CHIMNEY_CMD_TERMINATE;

	tree_iter_init(&it, p->root);
	while (n < p->nblocks && (b = tree_iter_next(&it)) != NULL) {
		n++;
		if (cmd_status != CHIMNEY_ST_SUCCESS) {
			b->status = cmd_status;
			continue;
		}
		if ((u64)b->drv_offset + BLOCK_SIZE + b->state_len >
		    p->buf.len) {
			/* the host changed the tree in flight: stay inside */
			drv_log(drv, CHIMNEY_LOG_ERR,
				"chimney-drv: tree changed while in flight, results dropped");
			b->status = CHIMNEY_ST_FAILURE;
			continue;
		}
		block_copy_back(drv, p, b, n - 1);
		if (fill && b->state_len)
			dma_rd(drv, &p->buf, b->drv_offset + BLOCK_SIZE,
			       b->state, b->state_len);
	}
}

/* ---- Command submission ------------------------------------------------ */

static struct chimney_drv_pending *pending_reserve(struct chimney_drv *drv)
{
	struct chimney_drv_pending *p = NULL;
	u32 i;

	drv_lock(drv);
	if (drv->ready && drv->npending < drv->max_pending) {
		for (i = 0; i < CHIMNEY_DRV_MAX_PENDING; i++) {
			if (drv->pending[i].state != PEND_FREE)
				continue;
			p = &drv->pending[i];
			mem_zero(p, sizeof(*p));
			p->state = PEND_RESERVED;
			drv->npending++;
			break;
		}
	}
	drv_unlock(drv);
	return p;
}

static void pending_release(struct chimney_drv *drv,
			    struct chimney_drv_pending *p)
{
	drv_lock(drv);
	mem_zero(p, sizeof(*p));
	drv->npending--;
	drv_unlock(drv);
}

static u32 cmd_space(const struct chimney_drv *drv)
{
	return drv->cmd_size - 1 -
	       ((drv->cmd_tail - drv->cmd_head) & (drv->cmd_size - 1));
}

/* The command's descriptor fields (CPU order). */
struct cmd_args {
	u16 flags;
	u32 len;
	u64 addr;
	u64 handle;
};

/*
 * Queue the command of a reserved slot: descriptor, then TAIL.  The
 * cookie goes to *@cookie (may be NULL) under the lock: once the lock is
 * dropped the command may complete and the slot be reused.
 */
static int pending_commit(struct chimney_drv *drv,
			  struct chimney_drv_pending *p,
			  const struct cmd_args *a, u64 *cookie)
{
	ChimneyCmdDesc d;

	drv_lock(drv);
	if (!drv->ready) {
		drv_unlock(drv);
		return CHIMNEY_DRV_ESHUTDOWN;
	}
	if (!cmd_space(drv)) {
		/*
		 * The table keeps fewer commands in flight than the ring
		 * holds, so this is only a stale HEAD copy (or a broken
		 * device).
		 */
		drv->cmd_head = rd(drv, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
							 CHIMNEY_RING_HEAD)) &
				(drv->cmd_size - 1);
		if (!cmd_space(drv)) {
			drv_unlock(drv);
			drv_log(drv, CHIMNEY_LOG_WARN,
				"chimney-drv: CMD ring full");
			return CHIMNEY_DRV_EBUSY;
		}
	}
	drv->seq++;
	p->order = drv->seq;
	p->handle = a->handle;
	if (!p->caller_cookie)
		p->cookie = CHIMNEY_DRV_COOKIE_CORE |
			    ((drv->seq << COOKIE_INDEX_BITS) &
			     ~CHIMNEY_DRV_COOKIE_CORE) |
			    (u64)(p - drv->pending);
	mem_zero(&d, sizeof(d));
	d.opcode = chimney_le16(p->opcode);
	d.flags = chimney_le16(a->flags);
	d.len = chimney_le32(a->len);
	d.addr = chimney_le64(a->addr);
	d.handle = chimney_le64(a->handle);
	d.cookie = chimney_le64(p->cookie);
	if (cookie)
		*cookie = p->cookie;
	dma_wr(drv, &drv->cmd_ring, drv->cmd_tail * CMD_ENTRY, &d, CMD_ENTRY);
	p->state = PEND_SUBMITTED;
	drv->cmd_tail = (drv->cmd_tail + 1) & (drv->cmd_size - 1);
	drv->n_commands++;
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL),
	   drv->cmd_tail);
	drv_unlock(drv);
	return 0;
}

static int reserve_error(struct chimney_drv *drv)
{
	return drv->ready ? CHIMNEY_DRV_EBUSY : CHIMNEY_DRV_ESHUTDOWN;
}

static int submit_tree(struct chimney_drv *drv, u16 opcode,
		       struct chimney_offload_block *root,
		       chimney_drv_tree_done_fn done, void *ctx)
{
	struct chimney_drv_pending *p;
	struct chimney_dma_buf buf;
	struct cmd_args a;
	u32 nblocks = 0, bytes = 0;
	int ret;

	if (!drv || !drv->ready)
		return CHIMNEY_DRV_ESHUTDOWN;
	if (!root || !done)
		return CHIMNEY_DRV_EINVAL;
	ret = tree_prepare(drv, root, &nblocks, &bytes);
	if (ret)
		return ret;
	p = pending_reserve(drv);
	if (!p)
		return reserve_error(drv);
	if (dma_get(drv, bytes, &buf)) {
		pending_release(drv, p);
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: no DMA memory for a tree of %u bytes",
			bytes);
		return CHIMNEY_DRV_ENOMEM;
	}
	tree_write(drv, root, opcode, &buf, nblocks);
	p->opcode = opcode;
	p->nblocks = nblocks;
	p->buf = buf;
	p->root = root;
	p->tree_cb = done;
	p->cb_ctx = ctx;
	mem_zero(&a, sizeof(a));
	a.addr = buf.dma;
	a.len = bytes;
	ret = pending_commit(drv, p, &a, NULL);
	if (ret) {
		dma_put(drv, &buf);
		pending_release(drv, p);
	}
	return ret;
}

int chimney_drv_initiate_offload(struct chimney_drv *drv,
				 struct chimney_offload_block *root,
				 chimney_drv_tree_done_fn done, void *ctx)
{
	return submit_tree(drv, CHIMNEY_CMD_INITIATE, root, done, ctx);
}

int chimney_drv_terminate_offload(struct chimney_drv *drv,
				  struct chimney_offload_block *root,
				  chimney_drv_tree_done_fn done, void *ctx)
{
	return submit_tree(drv, CHIMNEY_CMD_TERMINATE, root, done, ctx);
}

int chimney_drv_update_offload(struct chimney_drv *drv,
			       struct chimney_offload_block *root,
			       chimney_drv_tree_done_fn done, void *ctx)
{
	return submit_tree(drv, CHIMNEY_CMD_UPDATE, root, done, ctx);
}

int chimney_drv_query_offload(struct chimney_drv *drv,
			      struct chimney_offload_block *root,
			      chimney_drv_tree_done_fn done, void *ctx)
{
	return submit_tree(drv, CHIMNEY_CMD_QUERY, root, done, ctx);
}

int chimney_drv_invalidate_offload(struct chimney_drv *drv,
				   struct chimney_offload_block *root,
				   chimney_drv_tree_done_fn done, void *ctx)
{
	return submit_tree(drv, CHIMNEY_CMD_INVALIDATE, root, done, ctx);
}

/*
 * A command with an optional payload copied into a DMA buffer the core
 * owns (a->addr, a->len are filled in), or, with no payload, exactly the
 * descriptor fields in @a.  With @out, the buffer is copied there when the
 * command succeeds (an output buffer: QUERY_STATS).
 */
static int submit_simple(struct chimney_drv *drv, u16 opcode,
			 const void *payload, u32 len, struct cmd_args *a,
			 void *out, chimney_drv_cmd_done_fn done, void *ctx)
{
	struct chimney_drv_pending *p;
	struct chimney_dma_buf buf;
	int ret;

	if (!drv || !drv->ready)
		return CHIMNEY_DRV_ESHUTDOWN;
	p = pending_reserve(drv);
	if (!p)
		return reserve_error(drv);
	mem_zero(&buf, sizeof(buf));
	if (len) {
		if (dma_get(drv, len, &buf)) {
			pending_release(drv, p);
			return CHIMNEY_DRV_ENOMEM;
		}
		dma_wr(drv, &buf, 0, payload, len);
		a->addr = buf.dma;
		a->len = len;
	}
	p->opcode = opcode;
	p->buf = buf;
	if (out && len) {
		p->out = out;
		p->out_len = len;
	}
	p->cmd_cb = done;
	p->cb_ctx = ctx;
	ret = pending_commit(drv, p, a, NULL);
	if (ret) {
		if (len)
			dma_put(drv, &buf);
		pending_release(drv, p);
	}
	return ret;
}

int chimney_drv_nop(struct chimney_drv *drv, chimney_drv_cmd_done_fn done,
		    void *ctx)
{
	struct cmd_args a;

	mem_zero(&a, sizeof(a));
	return submit_simple(drv, CHIMNEY_CMD_NOP, NULL, 0, &a, NULL, done, ctx);
}

int chimney_drv_set_params(struct chimney_drv *drv,
			   const ChimneyOffloadParams *params,
			   chimney_drv_cmd_done_fn done, void *ctx)
{
	ChimneyOffloadParams p;
	struct cmd_args a;

	if (!params)
		return CHIMNEY_DRV_EINVAL;
	p = *params;
	p.hdr.length = chimney_le32(sizeof(p));
	p.hdr.recognized_options = 0;
	mem_zero(&a, sizeof(a));
	return submit_simple(drv, CHIMNEY_CMD_SET_PARAMS, &p, sizeof(p), &a,
			     NULL, done, ctx);
}

int chimney_drv_set_vlans(struct chimney_drv *drv, const u16 *vlan_ids,
			  u32 count, chimney_drv_cmd_done_fn done, void *ctx)
{
	u16 ids[CHIMNEY_MAX_IFACE_VLANS];
	struct cmd_args a;
	u32 i;

	if (count > CHIMNEY_MAX_IFACE_VLANS || (count && !vlan_ids))
		return CHIMNEY_DRV_EINVAL;
	for (i = 0; i < count; i++)
		ids[i] = chimney_le16(vlan_ids[i]);
	mem_zero(&a, sizeof(a));
	return submit_simple(drv, CHIMNEY_CMD_SET_VLANS, ids,
			     count * (u32)sizeof(ids[0]), &a, NULL, done, ctx);
}

int chimney_drv_neigh_reply(struct chimney_drv *drv, u64 handle, u32 hrd,
			    chimney_drv_cmd_done_fn done, void *ctx)
{
	ChimneyNeighCached k;
	struct cmd_args a;

	mem_zero(&k, sizeof(k));
	k.hdr.length = chimney_le32(sizeof(k));
	k.host_reachability_delta = chimney_le32(hrd);
	mem_zero(&a, sizeof(a));
	a.handle = handle;
	return submit_simple(drv, CHIMNEY_CMD_NEIGH_REPLY, &k, sizeof(k), &a,
			     NULL, done, ctx);
}

int chimney_drv_raw_cmd(struct chimney_drv *drv, u16 opcode, u16 flags,
			u64 addr, u32 len, u64 handle,
			chimney_drv_cmd_done_fn done, void *ctx, u64 *cookie)
{
	struct chimney_drv_pending *p;
	struct cmd_args a;
	int ret;

	if (!drv || !drv->ready)
		return CHIMNEY_DRV_ESHUTDOWN;
	p = pending_reserve(drv);
	if (!p)
		return reserve_error(drv);
	p->opcode = opcode;
	p->cmd_cb = done;
	p->cb_ctx = ctx;
	a.flags = flags;
	a.addr = addr;
	a.len = len;
	a.handle = handle;
	ret = pending_commit(drv, p, &a, cookie);
	if (ret)
		pending_release(drv, p);
	return ret;
}

/* ---- Data requests and statistics -------------------------------------- */

/*
 * A data request: the descriptor carries the caller's cookie (bit 63
 * clear), so the CMD_DONE is matched by (cookie, opcode, handle) and the
 * completion event reports the caller's value.
 */
static int submit_data(struct chimney_drv *drv, u16 opcode,
		       const struct cmd_args *a, u64 cookie,
		       chimney_drv_cmd_done_fn done, void *ctx)
{
	struct chimney_drv_pending *p;
	int ret;

	if (!drv || !drv->ready)
		return CHIMNEY_DRV_ESHUTDOWN;
	if (cookie & CHIMNEY_DRV_COOKIE_CORE) {
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: request cookie 0x%llx has bit 63 set (the core's), not submitted",
			(unsigned long long)cookie);
		return CHIMNEY_DRV_EINVAL;
	}
	p = pending_reserve(drv);
	if (!p)
		return reserve_error(drv);
	p->opcode = opcode;
	p->caller_cookie = 1;
	p->cookie = cookie;
	p->cmd_cb = done;
	p->cb_ctx = ctx;
	ret = pending_commit(drv, p, a, NULL);
	if (ret)
		pending_release(drv, p);
	return ret;
}

static void data_args(struct cmd_args *a, u64 handle, u64 addr, u32 len,
		      u16 flags)
{
	a->flags = flags;
	a->len = len;
	a->addr = addr;
	a->handle = handle;
}

int chimney_drv_send(struct chimney_drv *drv, u64 handle, u64 addr, u32 len,
		     u16 flags, u64 cookie, chimney_drv_cmd_done_fn done,
		     void *ctx)
{
	struct cmd_args a;

	if (!len || (flags & ~CHIMNEY_SENDF_PUSH))
		return CHIMNEY_DRV_EINVAL;
	data_args(&a, handle, addr, len, flags);
	return submit_data(drv, CHIMNEY_CMD_SEND, &a, cookie, done, ctx);
}

int chimney_drv_recv_post(struct chimney_drv *drv, u64 handle, u64 addr,
			  u32 len, u16 flags, u64 cookie,
			  chimney_drv_cmd_done_fn done, void *ctx)
{
	struct cmd_args a;

	if (flags & ~(CHIMNEY_RECVF_NO_PUSH | CHIMNEY_RECVF_SGL |
		      CHIMNEY_RECVF_HOLD))
		return CHIMNEY_DRV_EINVAL;
	/* spec RECV_POST: an SGL request has 1..CHIMNEY_RECV_SGL_MAX pieces */
	if ((flags & CHIMNEY_RECVF_SGL) &&
	    (!len || len > CHIMNEY_RECV_SGL_MAX))
		return CHIMNEY_DRV_EINVAL;
	data_args(&a, handle, addr, len, flags);
	return submit_data(drv, CHIMNEY_CMD_RECV_POST, &a, cookie, done, ctx);
}

int chimney_drv_disconnect(struct chimney_drv *drv, u64 handle, u64 addr,
			   u32 len, u16 flags, u64 cookie,
			   chimney_drv_cmd_done_fn done, void *ctx)
{
	struct cmd_args a;

	/* spec DISCONNECT: RCV_CLOSED alone or with GRACEFUL */
	if (flags != CHIMNEY_DISC_GRACEFUL && flags != CHIMNEY_DISC_ABORTIVE &&
	    flags != (CHIMNEY_DISC_GRACEFUL | CHIMNEY_DISC_RCV_CLOSED) &&
	    flags != CHIMNEY_DISC_RCV_CLOSED)
		return CHIMNEY_DRV_EINVAL;
	data_args(&a, handle, addr, len, flags);
	return submit_data(drv, CHIMNEY_CMD_DISCONNECT, &a, cookie, done, ctx);
}

int chimney_drv_forward(struct chimney_drv *drv, u64 handle, u64 addr,
			u32 len, u64 cookie, chimney_drv_cmd_done_fn done,
			void *ctx)
{
	struct cmd_args a;

	if (len < 20)			/* a TCP header at least */
		return CHIMNEY_DRV_EINVAL;
	data_args(&a, handle, addr, len, 0);
	return submit_data(drv, CHIMNEY_CMD_FORWARD, &a, cookie, done, ctx);
}

int chimney_drv_ind_done(struct chimney_drv *drv, u64 handle, u32 len,
			 chimney_drv_cmd_done_fn done, void *ctx)
{
	struct cmd_args a;

	mem_zero(&a, sizeof(a));
	a.handle = handle;
	a.len = len;
	return submit_simple(drv, CHIMNEY_CMD_IND_DONE, NULL, 0, &a, NULL,
			     done, ctx);
}

int chimney_drv_recv_flush(struct chimney_drv *drv, u64 handle,
			   chimney_drv_cmd_done_fn done, void *ctx)
{
	struct cmd_args a;

	/* spec RECV_FLUSH: flags 0, len 0; addr is ignored */
	mem_zero(&a, sizeof(a));
	a.handle = handle;
	return submit_simple(drv, CHIMNEY_CMD_RECV_FLUSH, NULL, 0, &a, NULL,
			     done, ctx);
}

int chimney_drv_query_stats(struct chimney_drv *drv, ChimneyOffloadStats *out,
			    chimney_drv_cmd_done_fn done, void *ctx)
{
	ChimneyOffloadStats zero;
	struct cmd_args a;

	if (!out)
		return CHIMNEY_DRV_EINVAL;
	mem_zero(&zero, sizeof(zero));
	mem_zero(&a, sizeof(a));
	return submit_simple(drv, CHIMNEY_CMD_QUERY_STATS, &zero, sizeof(zero),
			     &a, out, done, ctx);
}

int chimney_drv_clear_stats(struct chimney_drv *drv, u16 flags,
			    chimney_drv_cmd_done_fn done, void *ctx)
{
	struct cmd_args a;

	if (flags & ~(CHIMNEY_STATS_TCP4 | CHIMNEY_STATS_TCP6 |
		      CHIMNEY_STATS_IP4 | CHIMNEY_STATS_IP6))
		return CHIMNEY_DRV_EINVAL;
	mem_zero(&a, sizeof(a));
	a.flags = flags;
	return submit_simple(drv, CHIMNEY_CMD_CLEAR_STATS, NULL, 0, &a, NULL,
			     done, ctx);
}

u32 chimney_drv_pending(struct chimney_drv *drv)
{
	u32 n;

	if (!drv->os.ops)
		return 0;
	drv_lock(drv);
	n = drv->npending;
	drv_unlock(drv);
	return n;
}

/* ---- The IND ring ------------------------------------------------------ */

/*
 * Every slot keeps its own buffer.  The core posts all slots but one (the
 * reserve, just before ind_clean: TAIL = ind_clean - 1), examines
 * completed descriptors from ind_next, and re-posts consumed slots from
 * ind_clean on, in ring order, up to the first slot that still owes an
 * IND_DONE.  So at most SIZE - 1 descriptors can be waiting between
 * ind_next and the reserve, which bounds every walk.
 */

static u32 ind_mask(const struct chimney_drv *drv)
{
	return drv->ind_size - 1;
}

/* Descriptors the device may have completed from ind_next on. */
static u32 ind_avail(const struct chimney_drv *drv)
{
	return (drv->ind_clean - 1 - drv->ind_next) & ind_mask(drv);
}

/* Post the slot's buffer: addr, buf_len, everything else 0. */
static void ind_arm(struct chimney_drv *drv, u32 idx)
{
	ChimneyIndDesc d;

	mem_zero(&d, sizeof(d));
	d.addr = chimney_le64(drv->ind_slot[idx].buf.dma);
	d.buf_len = chimney_le32(drv->ind_buf_size);
	dma_wr(drv, &drv->ind_ring, idx * IND_ENTRY, &d, IND_ENTRY);
}

/* The status word, read first (acquire): the rest of the entry after it. */
static u32 ind_status(struct chimney_drv *drv, u32 idx)
{
	u16 st;

	dma_rd(drv, &drv->ind_ring, idx * IND_ENTRY + IND_STATUS_OFF, &st,
	       sizeof(st));
	return chimney_le16(st);
}

static u32 ind_err(u32 st)
{
	return (st & CHIMNEY_DESC_ERR_MASK) >> CHIMNEY_DESC_ERR_SHIFT;
}

/* IND buffers: the port's receive buffers if it has its own kind. */
static int rxbuf_get(struct chimney_drv *drv, u32 len,
		     struct chimney_dma_buf *buf)
{
	if (!drv->os.ops->rxbuf_alloc)
		return dma_get(drv, len, buf);
	if (drv->os.ops->rxbuf_alloc(drv->os.ctx, len, buf) < 0) {
		mem_zero(buf, sizeof(*buf));
		return CHIMNEY_DRV_ENOMEM;
	}
	return 0;
}

static void rxbuf_put(struct chimney_drv *drv, struct chimney_dma_buf *buf)
{
	if (!drv->os.ops->rxbuf_free) {
		dma_put(drv, buf);
		return;
	}
	drv->os.ops->rxbuf_free(drv->os.ctx, buf);
	mem_zero(buf, sizeof(*buf));
}

static void ind_free(struct chimney_drv *drv)
{
	u32 i;

	for (i = 0; i < CHIMNEY_DRV_IND_RING_MAX; i++) {
		if (drv->ind_slot[i].buf.len)
			rxbuf_put(drv, &drv->ind_slot[i].buf);
		mem_zero(&drv->ind_slot[i], sizeof(drv->ind_slot[i]));
	}
	ring_free(drv, &drv->ind_ring);
	drv->ind_size = 0;
	drv->ind_buf_size = 0;
	drv->ind_next = 0;
	drv->ind_clean = 0;
	drv->ind_owed = 0;
	drv->ind_shown = 0;
}

int chimney_drv_ind_start(struct chimney_drv *drv, u32 ring_size,
			  u32 buf_size)
{
	u32 i, max;
	int ret;

	if (!drv || !drv->ready)
		return CHIMNEY_DRV_ESHUTDOWN;
	if (drv->ind_running)
		return CHIMNEY_DRV_EBUSY;
	max = drv->ring_max < CHIMNEY_DRV_IND_RING_MAX ?
	      drv->ring_max : CHIMNEY_DRV_IND_RING_MAX;
	if (!ring_size_ok(ring_size, max) || !buf_size ||
	    buf_size > CHIMNEY_DRV_IND_BUF_MAX) {
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: IND ring of %u buffers of %u bytes: need a power of two in [%u, %u] and 1..%u bytes",
			ring_size, buf_size, CHIMNEY_RING_MIN, max,
			CHIMNEY_DRV_IND_BUF_MAX);
		return CHIMNEY_DRV_EINVAL;
	}
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_CTRL), 0);
	ret = ring_alloc(drv, &drv->ind_ring, ring_size * IND_ENTRY);
	if (ret)
		return ret;
	drv->ind_size = ring_size;
	drv->ind_buf_size = buf_size;
	for (i = 0; i < ring_size; i++) {
		if (rxbuf_get(drv, buf_size, &drv->ind_slot[i].buf)) {
			drv_log(drv, CHIMNEY_LOG_ERR,
				"chimney-drv: no DMA memory for IND buffer %u",
				i);
			ret = CHIMNEY_DRV_ENOMEM;
			goto fail;
		}
		ind_arm(drv, i);
	}
	ret = ring_program(drv, CHIMNEY_RING_IND, &drv->ind_ring, ring_size);
	if (ret)
		goto fail;
	drv->ind_next = 0;
	drv->ind_clean = 0;
	drv->ind_owed = 0;
	/* every slot but the last belongs to the device */
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_TAIL),
	   ring_size - 1);
	drv->ind_running = 1;
	return 0;

fail:
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_CTRL), 0);
	ind_free(drv);
	return ret;
}

void chimney_drv_ind_stop(struct chimney_drv *drv)
{
	if (!drv || !drv->ind_running)
		return;
	drv->ind_running = 0;
	wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_CTRL), 0);
	if (drv->ind_owed)
		drv_log(drv, CHIMNEY_LOG_WARN,
			"chimney-drv: IND ring stopped with %u IND_DONE not sent",
			drv->ind_owed);
	ind_free(drv);
}

u32 chimney_drv_ind_read(struct chimney_drv *drv,
			 const struct chimney_drv_ind_frag *frag, u32 off,
			 void *dst, u32 len)
{
	if (!frag || !frag->buf || off >= frag->len ||
	    frag->len > frag->buf->len)
		return 0;
	if (len > frag->len - off)
		len = frag->len - off;
	if (len)
		dma_rd(drv, frag->buf, off, dst, len);
	return len;
}

int chimney_drv_ind_swap(struct chimney_drv *drv,
			 const struct chimney_drv_ind_frag *frag,
			 const struct chimney_dma_buf *fresh,
			 struct chimney_dma_buf *taken)
{
	struct chimney_drv_ind_frag *f;
	struct chimney_drv_ind_slot *s;
	u32 i;

	if (!drv || !frag || !fresh || !taken)
		return CHIMNEY_DRV_EINVAL;
	/* one of the fragments on show, by address: the host's pointer */
	for (i = 0; i < drv->ind_shown; i++)
		if (&drv->ind_frags[i] == frag)
			break;
	if (i == drv->ind_shown || !frag->buf ||
	    fresh->len < drv->ind_buf_size ||
	    (fresh->dma & (CHIMNEY_RING_ALIGN - 1)))
		return CHIMNEY_DRV_EINVAL;
	f = &drv->ind_frags[i];
	/* the fragment's buffer is its slot's (ind_indicate) */
	s = (struct chimney_drv_ind_slot *)((char *)f->buf -
		__builtin_offsetof(struct chimney_drv_ind_slot, buf));
	*taken = s->buf;
	s->buf = *fresh;
	f->buf = NULL;
	drv->n_ind_swapped++;
	return 0;
}

/* CMD_DONE of the core's own IND_DONE. */
static void ind_done_cb(void *ctx, u32 status)
{
	struct chimney_drv *drv = ctx;

	if (status == CHIMNEY_ST_SUCCESS)
		return;
	drv->n_ind_done_failed++;
	drv_log(drv, CHIMNEY_LOG_WARN,
		"chimney-drv: IND_DONE completed with status 0x%x", status);
}

static int ind_done_submit(struct chimney_drv *drv, u64 handle, u32 len)
{
	return chimney_drv_ind_done(drv, handle, len, ind_done_cb, drv);
}

/* Re-post consumed slots, in order, up to the first owing an IND_DONE. */
static void ind_repost(struct chimney_drv *drv)
{
	u32 n = 0;

	while (drv->ind_clean != drv->ind_next && n < drv->ind_size &&
	       !drv->ind_slot[drv->ind_clean].owed) {
		ind_arm(drv, drv->ind_clean);
		drv->ind_clean = (drv->ind_clean + 1) & ind_mask(drv);
		n++;
	}
	if (n)
		wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_TAIL),
		   (drv->ind_clean - 1) & ind_mask(drv));
}

/* Queue the IND_DONEs that did not fit before, oldest first; re-post. */
static void ind_flush_owed(struct chimney_drv *drv)
{
	u32 idx = drv->ind_clean, n;

	for (n = 0; drv->ind_owed && idx != drv->ind_next &&
	     n < drv->ind_size; n++) {
		struct chimney_drv_ind_slot *s = &drv->ind_slot[idx];

		idx = (idx + 1) & ind_mask(drv);
		if (!s->owed)
			continue;
		if (ind_done_submit(drv, s->owed_handle, s->owed_len))
			break;
		s->owed = 0;
		drv->ind_owed--;
	}
	ind_repost(drv);
}

/*
 * Descriptors completed with an error code at the consumer index carry no
 * data and belong to no indication (ZERO_LEN, or a failed indication):
 * take them back.
 */
static void ind_reclaim(struct chimney_drv *drv)
{
	u32 avail = ind_avail(drv), st;

	while (avail--) {
		st = ind_status(drv, drv->ind_next);
		if (!(st & CHIMNEY_DESC_DONE) || !ind_err(st))
			break;
		drv->n_ind_err_desc++;
		drv->ind_next = (drv->ind_next + 1) & ind_mask(drv);
	}
}

/*
 * EVT_RECV_INDICATE: gather the indication's buffers (skipping error
 * descriptors) up to DESC_EOP, let the host consume a prefix, answer
 * IND_DONE, re-post.  No lock held: the IND ring has one consumer.
 */
static void ind_indicate(struct chimney_drv *drv, const ChimneyEvent *ev)
{
	const struct chimney_drv_event_ops *ops = drv->evt_ops;
	u32 avail = ind_avail(drv), idx = drv->ind_next, last = idx;
	u32 nfrags = 0, total = 0, consumed = 0, n, st, len;
	int eop = 0, bad = 0, taken = 0;

	for (n = 0; n < avail && !eop; n++) {
		ChimneyIndDesc d;

		st = ind_status(drv, idx);
		if (!(st & CHIMNEY_DESC_DONE))
			break;		/* not completed: left in place */
		last = idx;
		taken = 1;
		idx = (idx + 1) & ind_mask(drv);
		if (ind_err(st)) {
			drv->n_ind_err_desc++;
			continue;
		}
		eop = !!(st & CHIMNEY_DESC_EOP);
		dma_rd(drv, &drv->ind_ring, last * IND_ENTRY, &d, IND_ENTRY);
		len = chimney_le32(d.len);
		if (chimney_le64(d.handle) != ev->handle ||
		    len > drv->ind_buf_size) {
			bad = 1;
			continue;
		}
		drv->ind_frags[nfrags].buf = &drv->ind_slot[last].buf;
		drv->ind_frags[nfrags].len = len;
		drv->ind_frags[nfrags].seq = chimney_le32(d.seq);
		nfrags++;
		total += len;
	}
	drv->ind_next = idx;

	if (!eop || bad || !nfrags || total != ev->info) {
		drv->n_ind_bad++;
		drv_log(drv, CHIMNEY_LOG_ERR,
			"chimney-drv: indication for handle 0x%llx (%u bytes) does not match the IND ring (%u bytes in %u buffers, eop %d, foreign %d): answered with 0 bytes",
			(unsigned long long)ev->handle, ev->info, total,
			nfrags, eop, bad);
	} else {
		drv->n_indications++;
		if (ops && ops->on_indicate) {
			drv->ind_shown = nfrags;	/* ind_swap() */
			consumed = ops->on_indicate(drv->evt_ctx, ev->cookie,
						    ev->handle, drv->ind_frags,
						    nfrags, total);
			drv->ind_shown = 0;
		}
		if (consumed == CHIMNEY_DRV_IND_DEFER) {
			ind_repost(drv);
			return;
		}
		if (consumed > total) {
			drv_log(drv, CHIMNEY_LOG_WARN,
				"chimney-drv: host consumed %u of %u indicated bytes, taken as %u",
				consumed, total, total);
			consumed = total;
		}
	}

	if (ind_done_submit(drv, ev->handle, consumed)) {
		if (taken) {
			/* owed: its buffers wait until it is queued */
			struct chimney_drv_ind_slot *s = &drv->ind_slot[last];

			s->owed = 1;
			s->owed_handle = ev->handle;
			s->owed_len = consumed;
			drv->ind_owed++;
		} else {
			drv->n_ind_done_failed++;
			drv_log(drv, CHIMNEY_LOG_ERR,
				"chimney-drv: IND_DONE for handle 0x%llx could not be queued",
				(unsigned long long)ev->handle);
		}
	}
	ind_repost(drv);
}

/* ---- Completion and events --------------------------------------------- */

/* Finish a request taken out of the table (no lock held). */
static void request_complete(struct chimney_drv *drv,
			     struct chimney_drv_pending *p, u32 status)
{
	if (p->root)
		tree_copy_back(drv, p, status);
	if (p->out && status == CHIMNEY_ST_SUCCESS &&
	    p->out_len <= p->buf.len)
		dma_rd(drv, &p->buf, 0, p->out, p->out_len);
	if (p->buf.len)
		dma_put(drv, &p->buf);
	if (p->tree_cb)
		p->tree_cb(p->cb_ctx, p->root, status);
	else if (p->cmd_cb)
		p->cmd_cb(p->cb_ctx, status);
}

/*
 * Under the lock: remove the submitted command this CMD_DONE completes.
 * A core cookie (bit 63) names its slot; a data request's cookie is the
 * caller's, matched with the opcode and handle the device echoes, the
 * oldest such request first (CMD_DONEs come in ring order).
 */
static int pending_take(struct chimney_drv *drv, const ChimneyEvent *ev,
			struct chimney_drv_pending *out)
{
	struct chimney_drv_pending *p = NULL, *q;
	u64 idx;
	u32 i;

	if (ev->cookie & CHIMNEY_DRV_COOKIE_CORE) {
		idx = ev->cookie & COOKIE_INDEX_MASK;
		if (idx >= CHIMNEY_DRV_MAX_PENDING)
			return 0;
		p = &drv->pending[idx];
		if (p->state != PEND_SUBMITTED || p->caller_cookie ||
		    p->cookie != ev->cookie)
			return 0;
	} else {
		for (i = 0; i < CHIMNEY_DRV_MAX_PENDING; i++) {
			q = &drv->pending[i];
			if (q->state != PEND_SUBMITTED || !q->caller_cookie ||
			    q->cookie != ev->cookie || q->opcode != ev->code ||
			    q->handle != ev->handle)
				continue;
			if (!p || q->order < p->order)
				p = q;
		}
		if (!p)
			return 0;
	}
	*out = *p;
	mem_zero(p, sizeof(*p));
	drv->npending--;
	return 1;
}

static void event_dispatch(struct chimney_drv *drv, const ChimneyEvent *ev)
{
	const struct chimney_drv_event_ops *ops = drv->evt_ops;
	void *ctx = drv->evt_ctx;
	u32 info;

	if (ev->type == CHIMNEY_EVT_RECV_INDICATE && drv->ind_running) {
		ind_indicate(drv, ev);
		return;
	}
	switch (ev->type) {
	case CHIMNEY_EVT_TCP_DISCONNECT:
	case CHIMNEY_EVT_TCP_ABORT:
	case CHIMNEY_EVT_TCP_RETRIEVE:
	case CHIMNEY_EVT_TCP_BACKLOG:
	case CHIMNEY_EVT_RECV_INDICATE:
		info = ev->type == CHIMNEY_EVT_TCP_RETRIEVE ? ev->code :
							      ev->info;
		if (ops && ops->on_tcp_event)
			ops->on_tcp_event(ctx, ev->cookie, ev->handle,
					  ev->type, info);
		break;
	case CHIMNEY_EVT_NEIGH_QUERY:
		if (ops && ops->on_neigh_query)
			ops->on_neigh_query(ctx, ev->cookie, ev->handle,
					    ev->info);
		break;
	case CHIMNEY_EVT_STATUS:
		if (ops && ops->on_status)
			ops->on_status(ctx, ev->code);
		break;
	case CHIMNEY_EVT_LINK:
		if (ops && ops->on_link)
			ops->on_link(ctx, ev->info != 0);
		break;
	case CHIMNEY_EVT_SEND_DONE:
	case CHIMNEY_EVT_RECV_DONE:
	case CHIMNEY_EVT_DISC_DONE:
	case CHIMNEY_EVT_FORWARD_DONE:
		if (ops && ops->on_io_done)
			ops->on_io_done(ctx, ev->cookie, ev->handle, ev->type,
					ev->status, ev->info);
		break;
	default:
		drv->n_unknown_event++;
		drv_log(drv, CHIMNEY_LOG_WARN,
			"chimney-drv: unknown event type 0x%x ignored",
			ev->type);
		break;
	}
}

/* Under the lock: is the entry at evt_next valid? */
static int evt_valid(struct chimney_drv *drv, u32 off)
{
	u32 flags;

	/* VALID first; dma_read orders any later read of the body after it */
	dma_rd(drv, &drv->evt_ring, off + EVT_FLAGS_OFF, &flags,
	       sizeof(flags));
	return !!(chimney_le32(flags) & CHIMNEY_EVTF_VALID);
}

/* Under the lock: take the valid entry at @off, clear its VALID. */
static void evt_take(struct chimney_drv *drv, u32 off, ChimneyEvent *ev)
{
	ChimneyEvent raw;
	u32 zero = 0;

	dma_rd(drv, &drv->evt_ring, off, &raw, EVT_ENTRY);
	/* stale entries must not look new on the next lap */
	dma_wr(drv, &drv->evt_ring, off + EVT_FLAGS_OFF, &zero, sizeof(zero));
	drv->evt_next = (drv->evt_next + 1) & (drv->evt_size - 1);
	drv->n_events++;
	ev->type = chimney_le16(raw.type);
	ev->code = chimney_le16(raw.code);
	ev->status = chimney_le32(raw.status);
	ev->cookie = chimney_le64(raw.cookie);
	ev->handle = chimney_le64(raw.handle);
	ev->info = chimney_le32(raw.info);
	ev->flags = 0;
}

static void cmd_done(struct chimney_drv *drv, const ChimneyEvent *ev,
		     int have_req, struct chimney_drv_pending *req)
{
	if (!have_req) {
		drv_log(drv, CHIMNEY_LOG_WARN,
			"chimney-drv: CMD_DONE for unknown cookie 0x%llx (opcode 0x%x, status 0x%x) ignored",
			(unsigned long long)ev->cookie, ev->code, ev->status);
		return;
	}
	if (ev->code != req->opcode)
		drv_log(drv, CHIMNEY_LOG_WARN,
			"chimney-drv: CMD_DONE cookie 0x%llx: opcode 0x%x, submitted 0x%x",
			(unsigned long long)ev->cookie, ev->code, req->opcode);
	request_complete(drv, req, ev->status);
}

u32 chimney_drv_process_events(struct chimney_drv *drv)
{
	u32 n = 0;

	if (!drv->ready)
		return 0;
	while (n < drv->evt_size) {
		struct chimney_drv_pending req;
		ChimneyEvent ev;
		int have_req = 0;

		drv_lock(drv);
		if (!drv->ready ||
		    !evt_valid(drv, drv->evt_next * EVT_ENTRY)) {
			drv_unlock(drv);
			break;
		}
		evt_take(drv, drv->evt_next * EVT_ENTRY, &ev);
		n++;
		if (ev.type == CHIMNEY_EVT_CMD_DONE) {
			have_req = pending_take(drv, &ev, &req);
			if (!have_req)
				drv->n_unknown_cookie++;
		}
		drv_unlock(drv);

		if (ev.type == CHIMNEY_EVT_CMD_DONE) {
			/* owed IND_DONEs first: the slot just freed */
			if (have_req && drv->ind_owed)
				ind_flush_owed(drv);
			cmd_done(drv, &ev, have_req, &req);
		} else {
			event_dispatch(drv, &ev);
		}
	}
	if (drv->ind_running) {
		ind_reclaim(drv);
		ind_flush_owed(drv);
	}
	if (n) {
		/* Hand the consumed slots back: TAIL trails the read index. */
		drv_lock(drv);
		if (drv->ready)
			wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_EVT,
						 CHIMNEY_RING_TAIL),
			   (drv->evt_next - 1) & (drv->evt_size - 1));
		drv_unlock(drv);
	}
	return n;
}

int chimney_drv_event_pending(struct chimney_drv *drv)
{
	int ret;

	if (!drv->ready)
		return 0;
	drv_lock(drv);
	ret = drv->ready && evt_valid(drv, drv->evt_next * EVT_ENTRY);
	drv_unlock(drv);
	return ret;
}

void chimney_drv_fini(struct chimney_drv *drv)
{
	u32 i;

	if (!drv || !drv->ready)
		return;
	drv_lock(drv);
	drv->ready = 0;
	wr(drv, CHIMNEY_REG_CTRL, rd(drv, CHIMNEY_REG_CTRL) &
	   ~(CHIMNEY_CTRL_RESET | CHIMNEY_CTRL_OFFLOAD_EN));
	rings_disable(drv);
	drv_unlock(drv);

	for (i = 0; i < CHIMNEY_DRV_MAX_PENDING; i++) {
		struct chimney_drv_pending req;

		drv_lock(drv);
		if (drv->pending[i].state != PEND_SUBMITTED) {
			drv_unlock(drv);
			continue;
		}
		req = drv->pending[i];
		mem_zero(&drv->pending[i], sizeof(drv->pending[i]));
		drv->npending--;
		drv_unlock(drv);
		request_complete(drv, &req, CHIMNEY_ST_REQUEST_ABORTED);
	}
	if (drv->ind_running) {
		drv->ind_running = 0;
		ind_free(drv);
	}
	ring_free(drv, &drv->evt_ring);
	ring_free(drv, &drv->cmd_ring);
}
