/*
 * chimney-nic portable driver core: the offload command/event path.
 * See chimney_drv.h for the interface and guest-driver/core/README.md for
 * how a port uses it.
 *
 * Plain C: no libc or kernel header beyond <stdint.h>; memory copies use
 * compiler builtins, DMA memory is reached only through the shim.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_drv.h"

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------ */

#define CMD_ENTRY       ((uint32_t)sizeof(ChimneyCmdDesc))
#define EVT_ENTRY       ((uint32_t)sizeof(ChimneyEvent))
#define BLOCK_SIZE      ((uint32_t)sizeof(ChimneyBlock))

/* Offsets inside the ABI structures (no <stddef.h> for offsetof). */
#define EVT_FLAGS_OFF   28u     /* ChimneyEvent.flags */
#define BLK_RESULT_OFF  24u     /* ChimneyBlock.status, flags, handle */

/* Pending-command slot states. */
enum { PEND_FREE = 0, PEND_RESERVED = 1, PEND_SUBMITTED = 2 };

/* Cookie = sequence number << 16 | pending slot index. */
#define COOKIE_INDEX_BITS   16u
#define COOKIE_INDEX_MASK   ((1u << COOKIE_INDEX_BITS) - 1)

/* Start value of the tree-walk generation: unlikely in stale memory. */
#define WALK_GEN_SALT       0x43484d5744525600ull

/* Trees bigger than this many bytes of DMA memory are refused. */
#define MAX_TREE_BYTES      (256u << 20)

_Static_assert(CHIMNEY_DRV_MAX_PENDING <= (1u << COOKIE_INDEX_BITS),
               "pending index must fit the cookie");
_Static_assert(sizeof(ChimneyBlock) == 64 && sizeof(ChimneyEvent) == 32 &&
               sizeof(ChimneyCmdDesc) == 32, "ABI sizes");

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
static inline uint16_t le16(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t le32(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t le64(uint64_t v) { return __builtin_bswap64(v); }
#else
static inline uint16_t le16(uint16_t v) { return v; }
static inline uint32_t le32(uint32_t v) { return v; }
static inline uint64_t le64(uint64_t v) { return v; }
#endif

static inline void mem_zero(void *p, uint32_t len)
{
    __builtin_memset(p, 0, len);
}

static inline uint32_t align8(uint32_t v)
{
    return (v + 7u) & ~7u;
}

#define drv_log(drv, level, ...)                                    \
    do {                                                            \
        if ((drv)->ops->log) {                                      \
            (drv)->ops->log((drv)->os, (level), __VA_ARGS__);       \
        }                                                           \
    } while (0)

static inline void drv_lock(ChimneyDrv *drv)
{
    if (drv->ops->lock) {
        drv->ops->lock(drv->os);
    }
}

static inline void drv_unlock(ChimneyDrv *drv)
{
    if (drv->ops->unlock) {
        drv->ops->unlock(drv->os);
    }
}

static inline uint32_t rd(ChimneyDrv *drv, uint32_t off)
{
    return drv->ops->reg_read(drv->os, off);
}

static inline void wr(ChimneyDrv *drv, uint32_t off, uint32_t val)
{
    drv->ops->reg_write(drv->os, off, val);
}

static int status_ok(uint32_t st)
{
    return st == CHIMNEY_ST_SUCCESS || st == CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS;
}

/* ---------------------------------------------------------------------
 * Bring-up and teardown
 * ------------------------------------------------------------------ */

static int ring_size_ok(uint32_t size, uint32_t ring_max)
{
    return size >= CHIMNEY_RING_MIN && size <= ring_max &&
           (size & (size - 1)) == 0;
}

static int ring_alloc(ChimneyDrv *drv, ChimneyDmaBuf *buf, uint32_t len)
{
    mem_zero(buf, sizeof(*buf));
    if (drv->ops->dma_alloc(drv->os, len, buf) < 0) {
        mem_zero(buf, sizeof(*buf));
        drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: no DMA memory for a "
                "ring of %u bytes", len);
        return CHIMNEY_DRV_ENOMEM;
    }
    if ((buf->dma & (CHIMNEY_RING_ALIGN - 1)) || buf->len < len) {
        drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: DMA buffer 0x%llx "
                "(%u bytes) not %u-byte aligned or too short",
                (unsigned long long)buf->dma, buf->len, CHIMNEY_RING_ALIGN);
        drv->ops->dma_free(drv->os, buf);
        mem_zero(buf, sizeof(*buf));
        return CHIMNEY_DRV_EINVAL;
    }
    return 0;
}

/*
 * dma_alloc promises zeroed memory; the EVT ring is cleared once more all
 * the same, since a stale VALID flag there would pass for an event.
 */
static void ring_zero(ChimneyDrv *drv, const ChimneyDmaBuf *buf)
{
    static const uint8_t zero[256];
    uint32_t off, n;

    for (off = 0; off < buf->len; off += n) {
        n = buf->len - off < sizeof(zero) ? buf->len - off :
                                            (uint32_t)sizeof(zero);
        drv->ops->dma_write(drv->os, buf, off, zero, n);
    }
}

static void ring_free(ChimneyDrv *drv, ChimneyDmaBuf *buf)
{
    if (buf->len) {
        drv->ops->dma_free(drv->os, buf);
        mem_zero(buf, sizeof(*buf));
    }
}

static int ring_program(ChimneyDrv *drv, unsigned ring,
                        const ChimneyDmaBuf *buf, uint32_t size)
{
    uint32_t st;

    wr(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_ADDR_LO), (uint32_t)buf->dma);
    wr(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_ADDR_HI),
       (uint32_t)(buf->dma >> 32));
    wr(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_SIZE), size);
    wr(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_CTRL),
       CHIMNEY_RING_CTRL_ENABLE);
    st = rd(drv, CHIMNEY_RING_REG(ring, CHIMNEY_RING_STATUS));
    if (!(st & CHIMNEY_RING_ST_ENABLED) || (st & CHIMNEY_RING_ST_ERROR)) {
        drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: ring %u refused "
                "(RING_STATUS 0x%x, error %u)", ring, st,
                (st & CHIMNEY_RING_ST_ERR_MASK) >> CHIMNEY_RING_ST_ERR_SHIFT);
        return CHIMNEY_DRV_EIO;
    }
    return 0;
}

static void rings_disable(ChimneyDrv *drv)
{
    wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_CTRL), 0);
    wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_CTRL), 0);
}

int chimney_drv_init(ChimneyDrv *drv, const ChimneyOsOps *ops, void *os,
                     uint32_t cmd_ring_size, uint32_t evt_ring_size)
{
    uint32_t id, ring_max, ctrl;
    int ret;

    if (!drv || !ops || !ops->reg_read || !ops->reg_write ||
        !ops->dma_alloc || !ops->dma_free || !ops->dma_read ||
        !ops->dma_write || !ops->lock != !ops->unlock) {
        return CHIMNEY_DRV_EINVAL;
    }
    mem_zero(drv, sizeof(*drv));
    drv->ops = ops;
    drv->os = os;
    drv->walk_gen = WALK_GEN_SALT;

    id = rd(drv, CHIMNEY_REG_ID);
    drv->version = rd(drv, CHIMNEY_REG_VERSION);
    if (id != CHIMNEY_ID_MAGIC || (drv->version >> 16) != CHIMNEY_ABI_MAJOR) {
        drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: not a chimney-nic of ABI "
                "%u.x (ID 0x%x, VERSION 0x%x)", CHIMNEY_ABI_MAJOR, id,
                drv->version);
        return CHIMNEY_DRV_ENODEV;
    }
    ring_max = rd(drv, CHIMNEY_REG_CAP_RING_MAX);
    if (ring_max < CHIMNEY_RING_MIN || ring_max > CHIMNEY_RING_MAX) {
        ring_max = CHIMNEY_RING_MAX;
    }
    if (!ring_size_ok(cmd_ring_size, ring_max) ||
        !ring_size_ok(evt_ring_size, ring_max)) {
        drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: ring sizes %u/%u: need "
                "powers of two in [%u, %u]", cmd_ring_size, evt_ring_size,
                CHIMNEY_RING_MIN, ring_max);
        return CHIMNEY_DRV_EINVAL;
    }
    drv->cap_tree_blocks = rd(drv, CHIMNEY_REG_CAP_TREE_BLOCKS);
    if (!drv->cap_tree_blocks) {
        drv_log(drv, CHIMNEY_LOG_WARN, "chimney-drv: CAP_TREE_BLOCKS is 0, "
                "using %u", CHIMNEY_TREE_MAX_BLOCKS);
        drv->cap_tree_blocks = CHIMNEY_TREE_MAX_BLOCKS;
    }

    /* ADDR/SIZE are writable only while a ring is disabled. */
    rings_disable(drv);
    ret = ring_alloc(drv, &drv->cmd_ring, cmd_ring_size * CMD_ENTRY);
    if (ret) {
        return ret;
    }
    ret = ring_alloc(drv, &drv->evt_ring, evt_ring_size * EVT_ENTRY);
    if (ret) {
        goto fail;
    }
    ring_zero(drv, &drv->evt_ring);
    drv->cmd_size = cmd_ring_size;
    drv->evt_size = evt_ring_size;
    ret = ring_program(drv, CHIMNEY_RING_CMD, &drv->cmd_ring, cmd_ring_size);
    if (!ret) {
        ret = ring_program(drv, CHIMNEY_RING_EVT, &drv->evt_ring,
                           evt_ring_size);
    }
    if (ret) {
        goto fail;
    }
    /* Every EVT slot but one belongs to the device (HEAD == TAIL: none). */
    wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL),
       evt_ring_size - 1);
    ctrl = rd(drv, CHIMNEY_REG_CTRL) & ~CHIMNEY_CTRL_RESET;
    wr(drv, CHIMNEY_REG_CTRL, ctrl | CHIMNEY_CTRL_OFFLOAD_EN);

    drv->max_pending = cmd_ring_size - 1;
    if (drv->max_pending > CHIMNEY_DRV_MAX_PENDING) {
        drv->max_pending = CHIMNEY_DRV_MAX_PENDING;
    }
    drv->ready = 1;
    return 0;

fail:
    rings_disable(drv);
    ring_free(drv, &drv->evt_ring);
    ring_free(drv, &drv->cmd_ring);
    return ret;
}

void chimney_drv_set_event_ops(ChimneyDrv *drv, const ChimneyDrvEventOps *ops,
                               void *ctx)
{
    if (!drv->ops) {
        return;                         /* before chimney_drv_init() */
    }
    drv_lock(drv);
    drv->evt_ops = ops;
    drv->evt_ctx = ctx;
    drv_unlock(drv);
}

/* ---------------------------------------------------------------------
 * Offload block trees
 * ------------------------------------------------------------------ */

/*
 * Depth-first, dependents before next (the device's traversal order, spec
 * "Processing"): N1, P1, T1, T2, P2, T3, N2, ...  No recursion; the stack
 * holds the blocks whose dependent lists are being walked.
 */
typedef struct TreeIter {
    ChimneyOffloadBlock *stack[CHIMNEY_DRV_TREE_MAX_DEPTH];
    unsigned depth;
    ChimneyOffloadBlock *cur;
    int err;
} TreeIter;

static void tree_iter_init(TreeIter *it, ChimneyOffloadBlock *root)
{
    mem_zero(it, sizeof(*it));
    it->cur = root;
}

static ChimneyOffloadBlock *tree_iter_next(TreeIter *it)
{
    ChimneyOffloadBlock *visit = it->cur, *b = visit;

    if (!visit) {
        return NULL;
    }
    if (visit->dependent_block_list) {
        if (it->depth + 1 >= CHIMNEY_DRV_TREE_MAX_DEPTH) {
            it->err = CHIMNEY_DRV_EINVAL;       /* four or more levels */
            it->cur = NULL;
            return visit;
        }
        it->stack[it->depth++] = visit;
        it->cur = visit->dependent_block_list;
        return visit;
    }
    /* Last of its list: climb to the first ancestor with a next block. */
    while (!b->next_block && it->depth > 0) {
        b = it->stack[--it->depth];
    }
    it->cur = b->next_block;
    return visit;
}

uint16_t chimney_drv_block_role(const ChimneyOffloadBlock *blk,
                                uint16_t opcode)
{
    if (!blk->miniport_offload_context) {
        return CHIMNEY_ROLE_PLACEHOLDER;
    }
    if (opcode == CHIMNEY_CMD_INITIATE) {
        return *blk->miniport_offload_context ? CHIMNEY_ROLE_LINKER :
                                                CHIMNEY_ROLE_NEW;
    }
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
static int tree_prepare(ChimneyDrv *drv, ChimneyOffloadBlock *root,
                        uint32_t *nblocks, uint32_t *bytes)
{
    ChimneyOffloadBlock *b;
    TreeIter it;
    uint64_t gen, off = 0;
    uint32_t n = 0;

    drv_lock(drv);
    gen = ++drv->walk_gen;
    drv_unlock(drv);

    tree_iter_init(&it, root);
    while ((b = tree_iter_next(&it)) != NULL) {
        if (b->drv_walk == gen) {
            drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: tree block %u "
                    "reached twice (cycle or shared block), not submitted",
                    n);
            return CHIMNEY_DRV_ELOOP;
        }
        b->drv_walk = gen;
        if (++n > drv->cap_tree_blocks) {
            drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: tree has more than "
                    "%u blocks (CAP_TREE_BLOCKS), not submitted",
                    drv->cap_tree_blocks);
            return CHIMNEY_DRV_E2BIG;
        }
        if (b->state_len > CHIMNEY_DRV_MAX_STATE ||
            (b->state_len && !b->state)) {
            drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: tree block %u: bad "
                    "state (%u bytes)", n - 1, b->state_len);
            return CHIMNEY_DRV_EINVAL;
        }
        if (off + BLOCK_SIZE + align8(b->state_len) > MAX_TREE_BYTES) {
            return CHIMNEY_DRV_E2BIG;
        }
        b->drv_offset = (uint32_t)off;
        off += BLOCK_SIZE + align8(b->state_len);
    }
    if (it.err) {
        drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: tree deeper than %u "
                "levels, not submitted", CHIMNEY_DRV_TREE_MAX_DEPTH);
        return it.err;
    }
    if (!n) {
        return CHIMNEY_DRV_EINVAL;
    }
    *nblocks = n;
    *bytes = (uint32_t)off;
    return 0;
}

/* Write the device's ChimneyBlock tree (links are DMA addresses). */
static void tree_write(ChimneyDrv *drv, ChimneyOffloadBlock *root,
                       uint16_t opcode, const ChimneyDmaBuf *buf,
                       uint32_t nblocks)
{
    ChimneyOffloadBlock *b;
    TreeIter it;
    uint32_t n = 0;

    tree_iter_init(&it, root);
    while (n < nblocks && (b = tree_iter_next(&it)) != NULL) {
        ChimneyBlock blk;
        uint16_t role = chimney_drv_block_role(b, opcode);

        mem_zero(&blk, sizeof(blk));
        blk.type = le16(b->type);
        blk.role = le16(role);
        blk.size = le32(BLOCK_SIZE + b->state_len);
        if (b->next_block) {
            blk.next = le64(buf->dma + b->next_block->drv_offset);
        }
        if (b->dependent_block_list) {
            blk.dependent =
                le64(buf->dma + b->dependent_block_list->drv_offset);
        }
        blk.status = le32(CHIMNEY_ST_PENDING);
        if (role == CHIMNEY_ROLE_LINKER || role == CHIMNEY_ROLE_REF) {
            blk.handle = le64(*b->miniport_offload_context);
        }
        blk.host_handle = le64(b->ndis_offload_handle);
        drv->ops->dma_write(drv->os, buf, b->drv_offset, &blk, BLOCK_SIZE);
        if (b->state_len) {
            drv->ops->dma_write(drv->os, buf, b->drv_offset + BLOCK_SIZE,
                                b->state, b->state_len);
        }
        b->status = CHIMNEY_ST_PENDING;
        n++;
    }
}

/*
 * After CMD_DONE: results into the host tree.  Statuses always; a handle
 * only into the slot of a NEW block the device offloaded and marked
 * HANDLE_VALID (rules 011/012: a failed block's slot stays 0); the state
 * the device filled (QUERY, TERMINATE).  A command that did not walk the
 * tree gives its status to every block.
 */
static void tree_copy_back(ChimneyDrv *drv, const ChimneyDrvPending *p,
                           uint32_t cmd_status)
{
    ChimneyOffloadBlock *b;
    TreeIter it;
    uint32_t n = 0;
    int fill = p->opcode == CHIMNEY_CMD_QUERY ||
               p->opcode == CHIMNEY_CMD_TERMINATE;

    tree_iter_init(&it, p->root);
    while (n < p->nblocks && (b = tree_iter_next(&it)) != NULL) {
        struct {
            uint32_t status;
            uint32_t flags;
            uint64_t handle;
        } res;
        uint32_t st, flags;
        uint64_t handle;

        n++;
        if (cmd_status != CHIMNEY_ST_SUCCESS) {
            b->status = cmd_status;
            continue;
        }
        if ((uint64_t)b->drv_offset + BLOCK_SIZE + b->state_len >
            p->buf.len) {
            /* the host changed the tree in flight: stay inside the buffer */
            drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: tree changed while "
                    "in flight, results dropped");
            b->status = CHIMNEY_ST_FAILURE;
            continue;
        }
        drv->ops->dma_read(drv->os, &p->buf, b->drv_offset + BLK_RESULT_OFF,
                           &res, sizeof(res));
        st = le32(res.status);
        flags = le32(res.flags);
        handle = le64(res.handle);
        b->status = st;
        if (flags & CHIMNEY_BLKF_HANDLE_VALID) {
            if (p->opcode == CHIMNEY_CMD_INITIATE && status_ok(st) && handle &&
                chimney_drv_block_role(b, p->opcode) == CHIMNEY_ROLE_NEW) {
                *b->miniport_offload_context = handle;
            } else {
                drv_log(drv, CHIMNEY_LOG_WARN, "chimney-drv: block %u: "
                        "handle 0x%llx with status 0x%x not taken (opcode "
                        "0x%x)", n - 1, (unsigned long long)handle, st,
                        p->opcode);
            }
        }
        if (fill && b->state_len) {
            drv->ops->dma_read(drv->os, &p->buf, b->drv_offset + BLOCK_SIZE,
                               b->state, b->state_len);
        }
    }
}

/* ---------------------------------------------------------------------
 * Command submission
 * ------------------------------------------------------------------ */

static ChimneyDrvPending *pending_reserve(ChimneyDrv *drv)
{
    ChimneyDrvPending *p = NULL;
    uint32_t i;

    drv_lock(drv);
    if (drv->ready && drv->npending < drv->max_pending) {
        for (i = 0; i < CHIMNEY_DRV_MAX_PENDING; i++) {
            if (drv->pending[i].state == PEND_FREE) {
                p = &drv->pending[i];
                mem_zero(p, sizeof(*p));
                p->state = PEND_RESERVED;
                drv->npending++;
                break;
            }
        }
    }
    drv_unlock(drv);
    return p;
}

static void pending_release(ChimneyDrv *drv, ChimneyDrvPending *p)
{
    drv_lock(drv);
    mem_zero(p, sizeof(*p));
    drv->npending--;
    drv_unlock(drv);
}

static uint32_t cmd_space(const ChimneyDrv *drv)
{
    return drv->cmd_size - 1 -
           ((drv->cmd_tail - drv->cmd_head) & (drv->cmd_size - 1));
}

/* Queue the command of a reserved slot: descriptor, then TAIL. */
static int pending_commit(ChimneyDrv *drv, ChimneyDrvPending *p,
                          uint16_t flags, uint64_t addr, uint32_t len,
                          uint64_t handle)
{
    ChimneyCmdDesc d;

    drv_lock(drv);
    if (!drv->ready) {
        drv_unlock(drv);
        return CHIMNEY_DRV_ESHUTDOWN;
    }
    if (!cmd_space(drv)) {
        /* The table keeps fewer commands in flight than the ring holds,
         * so this is only a stale HEAD copy (or a broken device). */
        drv->cmd_head = rd(drv, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                                 CHIMNEY_RING_HEAD)) &
                        (drv->cmd_size - 1);
        if (!cmd_space(drv)) {
            drv_unlock(drv);
            drv_log(drv, CHIMNEY_LOG_WARN, "chimney-drv: CMD ring full");
            return CHIMNEY_DRV_EBUSY;
        }
    }
    drv->seq++;
    p->cookie = (drv->seq << COOKIE_INDEX_BITS) |
                (uint64_t)(p - drv->pending);
    mem_zero(&d, sizeof(d));
    d.opcode = le16(p->opcode);
    d.flags = le16(flags);
    d.len = le32(len);
    d.addr = le64(addr);
    d.handle = le64(handle);
    d.cookie = le64(p->cookie);
    drv->ops->dma_write(drv->os, &drv->cmd_ring, drv->cmd_tail * CMD_ENTRY,
                        &d, CMD_ENTRY);
    p->state = PEND_SUBMITTED;
    drv->cmd_tail = (drv->cmd_tail + 1) & (drv->cmd_size - 1);
    drv->n_commands++;
    wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL),
       drv->cmd_tail);
    drv_unlock(drv);
    return 0;
}

static int submit_tree(ChimneyDrv *drv, uint16_t opcode,
                       ChimneyOffloadBlock *root, ChimneyDrvTreeDoneFn done,
                       void *ctx)
{
    ChimneyDrvPending *p;
    ChimneyDmaBuf buf;
    uint32_t nblocks = 0, bytes = 0;
    int ret;

    if (!drv || !drv->ready) {
        return CHIMNEY_DRV_ESHUTDOWN;
    }
    if (!root || !done) {
        return CHIMNEY_DRV_EINVAL;
    }
    ret = tree_prepare(drv, root, &nblocks, &bytes);
    if (ret) {
        return ret;
    }
    p = pending_reserve(drv);
    if (!p) {
        return drv->ready ? CHIMNEY_DRV_EBUSY : CHIMNEY_DRV_ESHUTDOWN;
    }
    mem_zero(&buf, sizeof(buf));
    if (drv->ops->dma_alloc(drv->os, bytes, &buf) < 0) {
        pending_release(drv, p);
        drv_log(drv, CHIMNEY_LOG_ERR, "chimney-drv: no DMA memory for a "
                "tree of %u bytes", bytes);
        return CHIMNEY_DRV_ENOMEM;
    }
    tree_write(drv, root, opcode, &buf, nblocks);
    p->opcode = opcode;
    p->nblocks = nblocks;
    p->buf = buf;
    p->root = root;
    p->tree_cb = done;
    p->cb_ctx = ctx;
    ret = pending_commit(drv, p, 0, buf.dma, bytes, 0);
    if (ret) {
        drv->ops->dma_free(drv->os, &buf);
        pending_release(drv, p);
    }
    return ret;
}

int chimney_drv_initiate_offload(ChimneyDrv *drv, ChimneyOffloadBlock *root,
                                 ChimneyDrvTreeDoneFn done, void *ctx)
{
    return submit_tree(drv, CHIMNEY_CMD_INITIATE, root, done, ctx);
}

int chimney_drv_terminate_offload(ChimneyDrv *drv, ChimneyOffloadBlock *root,
                                  ChimneyDrvTreeDoneFn done, void *ctx)
{
    return submit_tree(drv, CHIMNEY_CMD_TERMINATE, root, done, ctx);
}

int chimney_drv_update_offload(ChimneyDrv *drv, ChimneyOffloadBlock *root,
                               ChimneyDrvTreeDoneFn done, void *ctx)
{
    return submit_tree(drv, CHIMNEY_CMD_UPDATE, root, done, ctx);
}

int chimney_drv_query_offload(ChimneyDrv *drv, ChimneyOffloadBlock *root,
                              ChimneyDrvTreeDoneFn done, void *ctx)
{
    return submit_tree(drv, CHIMNEY_CMD_QUERY, root, done, ctx);
}

int chimney_drv_invalidate_offload(ChimneyDrv *drv, ChimneyOffloadBlock *root,
                                   ChimneyDrvTreeDoneFn done, void *ctx)
{
    return submit_tree(drv, CHIMNEY_CMD_INVALIDATE, root, done, ctx);
}

/* A command with an optional payload copied into a DMA buffer. */
static int submit_simple(ChimneyDrv *drv, uint16_t opcode,
                         const void *payload, uint32_t len, uint64_t handle,
                         ChimneyDrvCmdDoneFn done, void *ctx)
{
    ChimneyDrvPending *p;
    ChimneyDmaBuf buf;
    int ret;

    if (!drv || !drv->ready) {
        return CHIMNEY_DRV_ESHUTDOWN;
    }
    p = pending_reserve(drv);
    if (!p) {
        return drv->ready ? CHIMNEY_DRV_EBUSY : CHIMNEY_DRV_ESHUTDOWN;
    }
    mem_zero(&buf, sizeof(buf));
    if (len) {
        if (drv->ops->dma_alloc(drv->os, len, &buf) < 0) {
            pending_release(drv, p);
            return CHIMNEY_DRV_ENOMEM;
        }
        drv->ops->dma_write(drv->os, &buf, 0, payload, len);
    }
    p->opcode = opcode;
    p->buf = buf;
    p->cmd_cb = done;
    p->cb_ctx = ctx;
    ret = pending_commit(drv, p, 0, len ? buf.dma : 0, len, handle);
    if (ret) {
        if (len) {
            drv->ops->dma_free(drv->os, &buf);
        }
        pending_release(drv, p);
    }
    return ret;
}

int chimney_drv_nop(ChimneyDrv *drv, ChimneyDrvCmdDoneFn done, void *ctx)
{
    return submit_simple(drv, CHIMNEY_CMD_NOP, NULL, 0, 0, done, ctx);
}

int chimney_drv_set_params(ChimneyDrv *drv,
                           const ChimneyOffloadParams *params,
                           ChimneyDrvCmdDoneFn done, void *ctx)
{
    ChimneyOffloadParams p;

    if (!params) {
        return CHIMNEY_DRV_EINVAL;
    }
    p = *params;
    p.hdr.length = le32(sizeof(p));
    p.hdr.recognized_options = 0;
    return submit_simple(drv, CHIMNEY_CMD_SET_PARAMS, &p, sizeof(p), 0, done,
                         ctx);
}

int chimney_drv_set_vlans(ChimneyDrv *drv, const uint16_t *vlan_ids,
                          uint32_t count, ChimneyDrvCmdDoneFn done, void *ctx)
{
    uint16_t ids[CHIMNEY_MAX_IFACE_VLANS];
    uint32_t i;

    if (count > CHIMNEY_MAX_IFACE_VLANS || (count && !vlan_ids)) {
        return CHIMNEY_DRV_EINVAL;
    }
    for (i = 0; i < count; i++) {
        ids[i] = le16(vlan_ids[i]);
    }
    return submit_simple(drv, CHIMNEY_CMD_SET_VLANS, ids,
                         count * (uint32_t)sizeof(ids[0]), 0, done, ctx);
}

int chimney_drv_neigh_reply(ChimneyDrv *drv, uint64_t handle, uint32_t hrd,
                            ChimneyDrvCmdDoneFn done, void *ctx)
{
    ChimneyNeighCached k;

    mem_zero(&k, sizeof(k));
    k.hdr.length = le32(sizeof(k));
    k.host_reachability_delta = le32(hrd);
    return submit_simple(drv, CHIMNEY_CMD_NEIGH_REPLY, &k, sizeof(k), handle,
                         done, ctx);
}

uint32_t chimney_drv_pending(ChimneyDrv *drv)
{
    uint32_t n;

    if (!drv->ops) {
        return 0;
    }
    drv_lock(drv);
    n = drv->npending;
    drv_unlock(drv);
    return n;
}

/* ---------------------------------------------------------------------
 * Completion and events
 * ------------------------------------------------------------------ */

/* Finish a request taken out of the table (no lock held). */
static void request_complete(ChimneyDrv *drv, ChimneyDrvPending *p,
                             uint32_t status)
{
    if (p->root) {
        tree_copy_back(drv, p, status);
    }
    if (p->buf.len) {
        drv->ops->dma_free(drv->os, &p->buf);
    }
    if (p->tree_cb) {
        p->tree_cb(p->cb_ctx, p->root, status);
    } else if (p->cmd_cb) {
        p->cmd_cb(p->cb_ctx, status);
    }
}

/* Under the lock: remove the submitted command with this cookie. */
static int pending_take(ChimneyDrv *drv, uint64_t cookie,
                        ChimneyDrvPending *out)
{
    uint64_t idx = cookie & COOKIE_INDEX_MASK;
    ChimneyDrvPending *p;

    if (idx >= CHIMNEY_DRV_MAX_PENDING) {
        return 0;
    }
    p = &drv->pending[idx];
    if (p->state != PEND_SUBMITTED || p->cookie != cookie) {
        return 0;
    }
    *out = *p;
    mem_zero(p, sizeof(*p));
    drv->npending--;
    return 1;
}

static void event_dispatch(ChimneyDrv *drv, const ChimneyEvent *ev)
{
    const ChimneyDrvEventOps *ops = drv->evt_ops;
    void *ctx = drv->evt_ctx;

    switch (ev->type) {
    case CHIMNEY_EVT_TCP_DISCONNECT:
    case CHIMNEY_EVT_TCP_ABORT:
    case CHIMNEY_EVT_TCP_RETRIEVE:
    case CHIMNEY_EVT_TCP_BACKLOG:
    case CHIMNEY_EVT_RECV_INDICATE:
        if (ops && ops->on_tcp_event) {
            ops->on_tcp_event(ctx, ev->cookie, ev->handle, ev->type,
                              ev->type == CHIMNEY_EVT_TCP_RETRIEVE ?
                              ev->code : ev->info);
        }
        break;
    case CHIMNEY_EVT_NEIGH_QUERY:
        if (ops && ops->on_neigh_query) {
            ops->on_neigh_query(ctx, ev->cookie, ev->handle, ev->info);
        }
        break;
    case CHIMNEY_EVT_STATUS:
        if (ops && ops->on_status) {
            ops->on_status(ctx, ev->code);
        }
        break;
    case CHIMNEY_EVT_LINK:
        if (ops && ops->on_link) {
            ops->on_link(ctx, ev->info != 0);
        }
        break;
    case CHIMNEY_EVT_SEND_DONE:
    case CHIMNEY_EVT_RECV_DONE:
    case CHIMNEY_EVT_DISC_DONE:
    case CHIMNEY_EVT_FORWARD_DONE:
        if (ops && ops->on_io_done) {
            ops->on_io_done(ctx, ev->cookie, ev->handle, ev->type, ev->status,
                            ev->info);
        }
        break;
    default:
        drv->n_unknown_event++;
        drv_log(drv, CHIMNEY_LOG_WARN, "chimney-drv: unknown event type "
                "0x%x ignored", ev->type);
        break;
    }
}

uint32_t chimney_drv_process_events(ChimneyDrv *drv)
{
    const uint32_t mask = drv->evt_size - 1;
    uint32_t n = 0;

    if (!drv->ready) {
        return 0;
    }
    while (n < drv->evt_size) {
        ChimneyDrvPending req;
        ChimneyEvent raw, ev;
        uint32_t off, flags, zero = 0;
        int have_req = 0;

        drv_lock(drv);
        if (!drv->ready) {
            drv_unlock(drv);
            break;
        }
        off = drv->evt_next * EVT_ENTRY;
        /* VALID first; dma_read orders the body read after it. */
        drv->ops->dma_read(drv->os, &drv->evt_ring, off + EVT_FLAGS_OFF,
                           &flags, sizeof(flags));
        if (!(le32(flags) & CHIMNEY_EVTF_VALID)) {
            drv_unlock(drv);
            break;
        }
        drv->ops->dma_read(drv->os, &drv->evt_ring, off, &raw, EVT_ENTRY);
        /* stale entries must not look new on the next lap */
        drv->ops->dma_write(drv->os, &drv->evt_ring, off + EVT_FLAGS_OFF,
                            &zero, sizeof(zero));
        drv->evt_next = (drv->evt_next + 1) & mask;
        drv->n_events++;
        n++;
        ev.type = le16(raw.type);
        ev.code = le16(raw.code);
        ev.status = le32(raw.status);
        ev.cookie = le64(raw.cookie);
        ev.handle = le64(raw.handle);
        ev.info = le32(raw.info);
        ev.flags = 0;
        if (ev.type == CHIMNEY_EVT_CMD_DONE) {
            have_req = pending_take(drv, ev.cookie, &req);
            if (!have_req) {
                drv->n_unknown_cookie++;
            }
        }
        drv_unlock(drv);

        if (ev.type != CHIMNEY_EVT_CMD_DONE) {
            event_dispatch(drv, &ev);
        } else if (!have_req) {
            drv_log(drv, CHIMNEY_LOG_WARN, "chimney-drv: CMD_DONE for unknown "
                    "cookie 0x%llx (opcode 0x%x, status 0x%x) ignored",
                    (unsigned long long)ev.cookie, ev.code, ev.status);
        } else {
            if (ev.code != req.opcode) {
                drv_log(drv, CHIMNEY_LOG_WARN, "chimney-drv: CMD_DONE cookie "
                        "0x%llx: opcode 0x%x, submitted 0x%x",
                        (unsigned long long)ev.cookie, ev.code, req.opcode);
            }
            request_complete(drv, &req, ev.status);
        }
    }
    if (n) {
        /* Hand the consumed slots back: TAIL trails the read index. */
        drv_lock(drv);
        if (drv->ready) {
            wr(drv, CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL),
               (drv->evt_next - 1) & mask);
        }
        drv_unlock(drv);
    }
    return n;
}

void chimney_drv_fini(ChimneyDrv *drv)
{
    uint32_t i;

    if (!drv || !drv->ready) {
        return;
    }
    drv_lock(drv);
    drv->ready = 0;
    wr(drv, CHIMNEY_REG_CTRL, rd(drv, CHIMNEY_REG_CTRL) &
       ~(CHIMNEY_CTRL_RESET | CHIMNEY_CTRL_OFFLOAD_EN));
    rings_disable(drv);
    drv_unlock(drv);

    for (i = 0; i < CHIMNEY_DRV_MAX_PENDING; i++) {
        ChimneyDrvPending req;

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
    ring_free(drv, &drv->evt_ring);
    ring_free(drv, &drv->cmd_ring);
}
