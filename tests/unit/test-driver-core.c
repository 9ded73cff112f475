/*
 * End-to-end unit tests of the portable guest driver core
 * (guest-driver/core/chimney_drv.c) against the standalone device core
 * (hw/net/chimney/chimney_*.c) on the fake host.
 *
 * The OS shim of these tests maps registers to chimney_core_read/write and
 * DMA buffers to the fake host's guest RAM.  Like QEMU, the fake host runs
 * command processing only after a CMD TAIL write has returned (it records
 * cmd_scheduled); pump() plays the bottom half and the EVT interrupt:
 * chimney_core_cmd_process(), then chimney_drv_process_events(), until
 * nothing moves.
 *
 * The data I/O, statistics and IND ring tests (fx_setup_script) run the
 * core against a scripted device instead: the shim keeps the CMD and IND
 * TAIL writes from the device core, the test reads the descriptors the
 * core queued, answers them with events posted through the device core's
 * EVT ring and fills IND descriptors itself, so those tests do not depend
 * on the device's data path.
 *
 * The shim also checks the core's contract: no DMA access outside a live
 * buffer, freed buffers are poisoned, the lock is never taken recursively
 * and is not held across callbacks, dma_alloc/free, and every buffer is
 * freed by the end of each test.
 *
 * Test names carry the conformance-rule numbers of
 * reference/chimney-spec.md section 8 where they check one.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdarg.h>

#include "chimney-tree-builder.h"
#include "chimney-test-hblk.h"
#include "chimney-fake-os.h"
#include "chimney_offload.h"
#include "chimney_drv.h"
#include "chimney_ring.h"

/* ---------------------------------------------------------------------
 * The OS shim over the fake host
 * ------------------------------------------------------------------ */

/* Same without the optional members. */
static const struct chimney_os_ops test_os_ops_nolock = {
    .reg_read = t_reg_read,
    .reg_write = t_reg_write,
    .dma_alloc = t_dma_alloc,
    .dma_free = t_dma_free,
    .dma_read = t_dma_read,
    .dma_write = t_dma_write,
};

/* ---------------------------------------------------------------------
 * Host side: callbacks and NDIS-shaped blocks
 * ------------------------------------------------------------------ */

typedef struct Rec {
    int kind;                   /* 'T'cp, 'N'eigh, 'S'tatus, 'L'ink, 'I'o */
    uint64_t cookie;
    uint64_t handle;
    uint32_t type;
    uint32_t a;
    uint32_t b;
} Rec;

typedef struct Done {
    unsigned calls;
    uint32_t status;
    struct chimney_offload_block *root;
} Done;

/* Host blocks: the shared builder of tests/support/chimney-test-hblk.h. */
typedef ChimneyTestHBlk HBlk;

typedef struct Fx {
    FakeHost *h;
    TestOs os;
    struct chimney_drv drv;
    bool inited;
    GArray *events;             /* Rec */
    ChimneyTestHBlocks hb;
    uint16_t next_port;         /* build_npt(): 1000, 1100, ... */

    /*
     * The scripted device (fx_setup_script): the shim keeps the CMD TAIL
     * and the IND TAIL from the device core, so the test plays the device
     * for commands and indications; events still go through the device
     * core's EVT ring (post()).
     */
    bool script;
    uint32_t scr_cmd_head;      /* the scripted device's CMD HEAD */
    uint32_t scr_cmd_tail;      /* last CMD TAIL the core wrote */
    uint32_t scr_ind_tail;      /* last IND TAIL the core wrote */
    unsigned scr_ind_tail_writes;
    uint32_t dev_ind_head;      /* next IND descriptor the device fills */

    /* on_indicate: calls, the last call's arguments, its return value */
    unsigned ind_calls;
    uint64_t ind_cookie;
    uint64_t ind_handle;
    uint32_t ind_nfrags;
    uint32_t ind_total;
    uint32_t ind_lens[CHIMNEY_DRV_IND_RING_MAX];
    uint32_t ind_seqs[CHIMNEY_DRV_IND_RING_MAX];
    uint8_t ind_data[8192];     /* the fragments' bytes, concatenated */
    uint32_t ind_ret;           /* what on_indicate returns */
    bool ind_ret_all;           /* ... or the total */
    /* on_indicate then calls this (chimney_drv_ind_swap tests) */
    void (*ind_hook)(struct Fx *f, const struct chimney_drv_ind_frag *frags,
                     uint32_t nfrags);

    /* the rxbuf_alloc/rxbuf_free shim members (fx_setup_script_rxbuf) */
    unsigned rxbuf_nalloc;
    unsigned rxbuf_nfree;
    unsigned rxbuf_fail_after;  /* allocations that succeed; 0: all */
} Fx;

static Fx *cur_fx;              /* for the lock checks in callbacks */

static void assert_unlocked(void)
{
    g_assert_cmpint(cur_fx->os.lock_depth, ==, 0);
}

static void rec_add(int kind, uint64_t cookie, uint64_t handle,
                    uint32_t type, uint32_t a, uint32_t b)
{
    Rec r = { kind, cookie, handle, type, a, b };

    assert_unlocked();
    g_array_append_val(cur_fx->events, r);
}

static void ev_tcp(void *ctx, uint64_t ndis, uint64_t handle, uint16_t type,
                   uint32_t info)
{
    g_assert_true(ctx == cur_fx);
    rec_add('T', ndis, handle, type, info, 0);
}

static void ev_neigh(void *ctx, uint64_t ndis, uint64_t handle, uint32_t nrd)
{
    g_assert_true(ctx == cur_fx);
    rec_add('N', ndis, handle, 0, nrd, 0);
}

static void ev_status(void *ctx, uint16_t code)
{
    g_assert_true(ctx == cur_fx);
    rec_add('S', 0, 0, 0, code, 0);
}

static void ev_link(void *ctx, int up)
{
    g_assert_true(ctx == cur_fx);
    rec_add('L', 0, 0, 0, up, 0);
}

static void ev_io(void *ctx, uint64_t cookie, uint64_t handle, uint16_t type,
                  uint32_t status, uint32_t info)
{
    g_assert_true(ctx == cur_fx);
    rec_add('I', cookie, handle, type, status, info);
}

/* Records the indication, reads its bytes through the core. */
static uint32_t ev_ind(void *ctx, uint64_t ndis, uint64_t handle,
                       const struct chimney_drv_ind_frag *frags,
                       uint32_t nfrags, uint32_t total)
{
    Fx *f = ctx;
    uint32_t i, off = 0, got;

    g_assert_true(ctx == cur_fx);
    assert_unlocked();
    g_assert_cmpuint(nfrags, >=, 1);
    g_assert_cmpuint(nfrags, <, f->drv.ind_size);
    f->ind_calls++;
    f->ind_cookie = ndis;
    f->ind_handle = handle;
    f->ind_nfrags = nfrags;
    f->ind_total = total;
    for (i = 0; i < nfrags; i++) {
        f->ind_lens[i] = frags[i].len;
        f->ind_seqs[i] = frags[i].seq;
        g_assert_cmpuint(off + frags[i].len, <=, sizeof(f->ind_data));
        got = chimney_drv_ind_read(&f->drv, &frags[i], 0, f->ind_data + off,
                                   frags[i].len);
        g_assert_cmpuint(got, ==, frags[i].len);
        off += got;
    }
    g_assert_cmpuint(off, ==, total);
    if (f->ind_hook) {
        f->ind_hook(f, frags, nfrags);
    }
    return f->ind_ret_all ? total : f->ind_ret;
}

static const struct chimney_drv_event_ops test_evt_ops = {
    .on_tcp_event = ev_tcp,
    .on_neigh_query = ev_neigh,
    .on_status = ev_status,
    .on_link = ev_link,
    .on_io_done = ev_io,
    .on_indicate = ev_ind,
};

static unsigned count_events(Fx *f, int kind)
{
    unsigned i, n = 0;

    for (i = 0; i < f->events->len; i++) {
        n += g_array_index(f->events, Rec, i).kind == kind;
    }
    return n;
}

static const Rec *last_rec(Fx *f)
{
    g_assert_cmpuint(f->events->len, >, 0);
    return &g_array_index(f->events, Rec, f->events->len - 1);
}

static void tree_done(void *ctx, struct chimney_offload_block *root,
                      uint32_t status)
{
    Done *d = ctx;

    assert_unlocked();
    d->calls++;
    d->status = status;
    d->root = root;
}

static void cmd_done(void *ctx, uint32_t status)
{
    Done *d = ctx;

    assert_unlocked();
    d->calls++;
    d->status = status;
}

/* N{P{T1..Tn}} of new blocks; ports 1000+i -> 80, then 1100+i, ... */
static HBlk *build_npt(Fx *f, HBlk **p_out, HBlk **t, unsigned ntcp)
{
    HBlk *n = hb_neigh(&f->hb, TB_MAC(1), 0);
    HBlk *p = hb_path4(&f->hb, 1, 2, 1500);
    unsigned i;

    hb_dep(n, p);
    for (i = 0; i < ntcp; i++) {
        t[i] = hb_tcp(&f->hb, 1000 + f->next_port + i, 80);
        if (i) {
            hb_next(t[i - 1], t[i]);
        }
    }
    if (ntcp) {
        hb_dep(p, t[0]);
    }
    f->next_port += 100;
    if (p_out) {
        *p_out = p;
    }
    return n;
}

/* ---------------------------------------------------------------------
 * Fixture and the device "bottom half"
 * ------------------------------------------------------------------ */

static unsigned pump(Fx *f)
{
    unsigned total = 0, i;

    for (i = 0; i < 10000; i++) {
        bool ran = f->h->cmd_scheduled;
        uint32_t n;

        if (ran) {
            f->h->cmd_scheduled = false;
            chimney_core_cmd_process(&f->h->core);
        }
        n = chimney_drv_process_events(&f->drv);
        g_assert_cmpuint(n, <=, f->drv.evt_size);
        total += n;
        if (!ran && !n) {
            return total;
        }
    }
    g_assert_not_reached();
    return total;
}

static void os_init(Fx *f)
{
    f->h = fake_host_new();
    f->os.h = f->h;
    f->os.allocs = g_ptr_array_new_with_free_func(g_free);
    f->os.logs = g_ptr_array_new_with_free_func(g_free);
    f->events = g_array_new(FALSE, TRUE, sizeof(Rec));
    hb_set_init(&f->hb);
    cur_fx = f;
}

static int drv_start(Fx *f, const struct chimney_os_ops *ops, uint32_t cmd,
                     uint32_t evt)
{
    int ret = chimney_drv_init(&f->drv, ops, &f->os, cmd, evt);

    if (!ret) {
        f->inited = true;
        chimney_drv_set_event_ops(&f->drv, &test_evt_ops, f);
        wr(f->h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    }
    return ret;
}

static void set_params(Fx *f, uint32_t tps, uint32_t expect)
{
    ChimneyOffloadParams p = {
        .ticks_per_second = GUINT32_TO_LE(tps),
        .ack_frequency = 2,
        .delayed_ack_ticks = 20,
        .max_retransmissions = 5,
        .dup_ack_threshold = GUINT32_TO_LE(3),
        .nce_stale_ticks = GUINT32_TO_LE(3000),
    };
    Done d = { 0 };

    g_assert_cmpint(chimney_drv_set_params(&f->drv, &p, cmd_done, &d), ==, 0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, expect);
}

static void fx_setup(Fx *f, gconstpointer data)
{
    (void)data;
    os_init(f);
    g_assert_cmpint(drv_start(f, &test_os_ops, 64, 256), ==, 0);
    set_params(f, 1000, CHIMNEY_ST_SUCCESS);
}

/* Only the host: the test brings the core up itself. */
static void fx_setup_bare(Fx *f, gconstpointer data)
{
    (void)data;
    os_init(f);
}

static void fx_teardown(Fx *f, gconstpointer data)
{
    (void)data;
    if (f->inited) {
        chimney_drv_fini(&f->drv);
    }
    g_assert_cmpint(f->os.lock_depth, ==, 0);
    /* every DMA buffer the core took was given back */
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc);
    g_ptr_array_unref(f->os.allocs);
    g_ptr_array_unref(f->os.logs);
    g_array_free(f->events, TRUE);
    hb_set_free(&f->hb);
    fake_host_free(f->h);
    cur_fx = NULL;
}

static uint32_t ring_reg(Fx *f, unsigned ring, uint32_t off)
{
    return rd(f->h, CHIMNEY_RING_REG(ring, off));
}

/* Run one tree operation to completion. */
static uint32_t run_tree(Fx *f,
                         int (*op)(struct chimney_drv *,
                                   struct chimney_offload_block *,
                                   chimney_drv_tree_done_fn, void *),
                         HBlk *root)
{
    Done d = { 0 };
    unsigned frees = f->os.nfree;

    g_assert_cmpint(op(&f->drv, &root->b, tree_done, &d), ==, 0);
    g_assert_cmpuint(d.calls, ==, 0);           /* asynchronous */
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_true(d.root == &root->b);          /* the same root back */
    g_assert_cmpuint(f->os.nfree, ==, frees + 1);   /* tree buffer freed */
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    return d.status;
}

static ChimneyEngine *ofl(Fx *f)
{
    return f->h->core.engine;
}

/* The device tree of the command last queued, in guest RAM. */
static ChimneyBlock *last_tree(Fx *f)
{
    uint32_t idx = (f->drv.cmd_tail - 1) & (f->drv.cmd_size - 1);
    ChimneyCmdDesc *c = fake_ptr(f->h, f->drv.cmd_ring.dma + idx * 32);

    return fake_ptr(f->h, GUINT64_FROM_LE(c->addr));
}

static ChimneyBlock *dev_blk(Fx *f, uint64_t le_addr)
{
    g_assert_cmphex(le_addr, !=, 0);
    return fake_ptr(f->h, GUINT64_FROM_LE(le_addr));
}

/* ---------------------------------------------------------------------
 * Bring-up
 * ------------------------------------------------------------------ */

static void test_init(Fx *f, gconstpointer data)
{
    uint32_t st;

    (void)data;
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 32), ==, 0);
    st = ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_STATUS);
    g_assert_cmphex(st, ==, CHIMNEY_RING_ST_ENABLED);
    st = ring_reg(f, CHIMNEY_RING_EVT, CHIMNEY_RING_STATUS);
    g_assert_cmphex(st, ==, CHIMNEY_RING_ST_ENABLED);
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_SIZE), ==, 16);
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_EVT, CHIMNEY_RING_SIZE), ==, 32);
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL), ==, 31);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_ADDR_LO) %
                    CHIMNEY_RING_ALIGN, ==, 0);
    g_assert_cmphex(f->drv.cmd_ring.dma, ==,
                    ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_ADDR_LO) |
                    (uint64_t)ring_reg(f, CHIMNEY_RING_CMD,
                                       CHIMNEY_RING_ADDR_HI) << 32);
    g_assert_cmphex(rd(f->h, CHIMNEY_REG_CTRL) & CHIMNEY_CTRL_OFFLOAD_EN, ==,
                    CHIMNEY_CTRL_OFFLOAD_EN);
    g_assert_cmpuint(f->drv.cap_tree_blocks, ==, CHIMNEY_TREE_MAX_BLOCKS);
    g_assert_cmpuint(f->drv.max_pending, ==, 15);
    g_assert_cmpuint(f->h->guest_errors, ==, 0);
    g_assert_cmpuint(f->os.nalloc, ==, 2);

    /* fini undoes it all; init again on the same device works */
    chimney_drv_fini(&f->drv);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_STATUS) &
                    CHIMNEY_RING_ST_ENABLED, ==, 0);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_EVT, CHIMNEY_RING_STATUS) &
                    CHIMNEY_RING_ST_ENABLED, ==, 0);
    g_assert_cmphex(rd(f->h, CHIMNEY_REG_CTRL) & CHIMNEY_CTRL_OFFLOAD_EN, ==,
                    0);
    g_assert_cmpuint(f->os.nfree, ==, 2);
    g_assert_cmpuint(chimney_drv_process_events(&f->drv), ==, 0);
    g_assert_cmpint(chimney_drv_nop(&f->drv, NULL, NULL), ==,
                    CHIMNEY_DRV_ESHUTDOWN);
    g_assert_cmpint(drv_start(f, &test_os_ops, 8, 8), ==, 0);
    g_assert_cmpuint(f->h->guest_errors, ==, 0);
}

static void test_init_bad_device(Fx *f, gconstpointer data)
{
    (void)data;
    os_override(&f->os, CHIMNEY_REG_ID, 0x12345678);
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==,
                    CHIMNEY_DRV_ENODEV);
    f->os.novr = 0;
    os_override(&f->os, CHIMNEY_REG_VERSION, (CHIMNEY_ABI_MAJOR + 1) << 16);
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==,
                    CHIMNEY_DRV_ENODEV);
    g_assert_true(log_contains(&f->os, "not a chimney-nic"));
    /* a newer minor version is fine */
    f->os.novr = 0;
    os_override(&f->os, CHIMNEY_REG_VERSION, CHIMNEY_ABI_VERSION + 7);
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==, 0);
}

static void test_init_bad_sizes(Fx *f, gconstpointer data)
{
    static const uint32_t bad[] = { 0, 1, 4, 7, 12, 100, 65536 };
    struct chimney_os_ops half_lock = test_os_ops;
    unsigned i;

    (void)data;
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_cmpint(drv_start(f, &test_os_ops, bad[i], 16), ==,
                        CHIMNEY_DRV_EINVAL);
        g_assert_cmpint(drv_start(f, &test_os_ops, 16, bad[i]), ==,
                        CHIMNEY_DRV_EINVAL);
    }
    /* the device's CAP_RING_MAX bounds the sizes */
    os_override(&f->os, CHIMNEY_REG_CAP_RING_MAX, 64);
    g_assert_cmpint(drv_start(f, &test_os_ops, 128, 16), ==,
                    CHIMNEY_DRV_EINVAL);
    half_lock.unlock = NULL;
    g_assert_cmpint(drv_start(f, &half_lock, 16, 16), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_init(&f->drv, NULL, &f->os, 16, 16), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpuint(f->os.nalloc, ==, 0);
    g_assert_cmpint(drv_start(f, &test_os_ops, 64, 16), ==, 0);
}

static void test_init_misaligned(Fx *f, gconstpointer data)
{
    (void)data;
    f->os.misalign = true;
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpuint(f->os.nalloc, ==, 1);
    g_assert_cmpuint(f->os.nfree, ==, 1);
    f->os.misalign = false;
    f->os.fail_alloc = true;
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==,
                    CHIMNEY_DRV_ENOMEM);
}

/* Garbage in fresh DMA memory: the EVT ring is cleared by the core, and
 * tree padding is never read by the device. */
static void test_init_dirty_memory(Fx *f, gconstpointer data)
{
    HBlk *n, *t[2];
    Done d = { 0 };

    (void)data;
    f->os.dirty_alloc = true;
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==, 0);
    g_assert_cmpuint(chimney_drv_process_events(&f->drv), ==, 0);
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==, 0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    set_params(f, 10, CHIMNEY_ST_SUCCESS);
    n = build_npt(f, NULL, t, 2);
    /*
     * A longer (future) delegated structure: 204 bytes of state, so 4
     * bytes of padding follow in the DMA buffer.  On the last block only:
     * the device snapshots all states back to back, and a block after an
     * odd-sized one would make it read misaligned structures (reported).
     */
    ((TbTcpState *)t[1]->st)->d.hdr.length =
        GUINT32_TO_LE(sizeof(ChimneyTcpDelegated) + 4);
    t[1]->b.state_len += 4;
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(f->drv.n_unknown_event, ==, 0);
}

static void test_init_ring_refused(Fx *f, gconstpointer data)
{
    (void)data;
    os_override(&f->os, CHIMNEY_RING_REG(CHIMNEY_RING_EVT,
                                         CHIMNEY_RING_STATUS),
                CHIMNEY_RING_ST_ERROR | CHIMNEY_ERR_DMA << 8);
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==, CHIMNEY_DRV_EIO);
    g_assert_cmpuint(f->os.nfree, ==, 2);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_STATUS) &
                    CHIMNEY_RING_ST_ENABLED, ==, 0);
}

/* ---------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------ */

static void test_nop(Fx *f, gconstpointer data)
{
    Done d[3] = { { 0 } };
    unsigned i;

    (void)data;
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d[i]), ==, 0);
    }
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 3);
    g_assert_true(f->h->cmd_scheduled);
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL), ==,
                     f->drv.cmd_tail);
    pump(f);
    for (i = 0; i < 3; i++) {
        g_assert_cmpuint(d[i].calls, ==, 1);
        g_assert_cmphex(d[i].status, ==, CHIMNEY_ST_SUCCESS);
    }
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    /* a NULL callback is allowed */
    g_assert_cmpint(chimney_drv_nop(&f->drv, NULL, NULL), ==, 0);
    pump(f);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);
    g_assert_cmpuint(f->h->guest_errors, ==, 0);
    g_assert_cmpuint(f->os.nlocks, >, 0);
}

static void test_nop_nolock(Fx *f, gconstpointer data)
{
    HBlk *t[2], *n;
    Done d = { 0 };

    (void)data;
    g_assert_cmpint(drv_start(f, &test_os_ops_nolock, 8, 8), ==, 0);
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==, 0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    set_params(f, 100, CHIMNEY_ST_SUCCESS);
    n = build_npt(f, NULL, t, 2);
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(f->os.nlocks, ==, 0);
}

static void test_config_commands(Fx *f, gconstpointer data)
{
    static const uint16_t vids[] = { 5, 7 };
    uint16_t many[CHIMNEY_MAX_IFACE_VLANS + 1] = { 1 };
    Done d = { 0 };
    HBlk *n;

    (void)data;
    /* rule 005: TicksPerSecond must be 10, 100 or 1000 */
    set_params(f, 50, CHIMNEY_ST_INVALID_PARAMETER);
    set_params(f, 100, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(ofl(f)->params.ticks_per_second, ==, 100);
    g_assert_cmpuint(ofl(f)->params.nce_stale_ticks, ==, 3000);
    g_assert_cmpint(chimney_drv_set_params(&f->drv, NULL, NULL, NULL), ==,
                    CHIMNEY_DRV_EINVAL);

    g_assert_cmpint(chimney_drv_set_vlans(&f->drv, many, G_N_ELEMENTS(many),
                                          cmd_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_set_vlans(&f->drv, vids, 2, cmd_done, &d), ==,
                    0);
    pump(f);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(ofl(f)->nvlans, ==, 2);
    g_assert_cmpuint(ofl(f)->vlans[1], ==, 7);
    /* rule 032: a neighbor VLAN not among the interface's is refused */
    n = hb_neigh(&f->hb, TB_MAC(9), 6);
    run_tree(f, chimney_drv_initiate_offload, n);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_OFFLOAD_VLAN_MISMATCH);
    g_assert_cmphex(n->slot, ==, 0);
    n = hb_neigh(&f->hb, TB_MAC(9), 7);
    run_tree(f, chimney_drv_initiate_offload, n);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_SUCCESS);
    /* count 0 clears the table */
    d.calls = 0;
    g_assert_cmpint(chimney_drv_set_vlans(&f->drv, NULL, 0, cmd_done, &d), ==,
                    0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(ofl(f)->nvlans, ==, 0);

    /* NEIGH_REPLY: the HRD reaches the neighbor */
    d.calls = 0;
    g_assert_cmpint(chimney_drv_neigh_reply(&f->drv, n->slot, 1234, cmd_done,
                                            &d), ==, 0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(chimney_neigh_at(ofl(f),
                                      CHIMNEY_HANDLE_INDEX(n->slot))->hrd, ==,
                     1234);
    g_assert_cmpint(chimney_drv_neigh_reply(&f->drv, n->slot + (1ull << 32),
                                            0, cmd_done, &d), ==, 0);
    pump(f);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_BAD_HANDLE);
}

/* ---------------------------------------------------------------------
 * Initiate
 * ------------------------------------------------------------------ */

/* rule 011: handles of offloaded objects land in the host's slots */
static void test_handle_written(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[2];
    ChimneyTcpObj *o;

    (void)data;
    n = build_npt(f, &p, t, 2);
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(p->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(n->slot), ==, CHIMNEY_KIND_NEIGH);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(p->slot), ==, CHIMNEY_KIND_PATH);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(t[0]->slot), ==, CHIMNEY_KIND_TCP);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(t[1]->slot), ==, CHIMNEY_KIND_TCP);
    g_assert_cmphex(t[0]->slot, !=, t[1]->slot);
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 2);
    /* rule 016: the object keeps the host's NdisOffloadHandle */
    o = chimney_offload_lookup(ofl(f), t[1]->slot, CHIMNEY_KIND_TCP, NULL);
    g_assert_nonnull(o);
    g_assert_cmphex(o->host_handle, ==, t[1]->b.ndis_offload_handle);
    g_assert_cmpuint(o->c.local_port, ==, 1001);
    g_assert_cmpuint(f->h->guest_errors, ==, 0);
    g_assert_cmpuint(f->events->len, ==, 0);
}

/* rule 007: the DMA tree is depth-first, dependents before next */
static void test_serialised_depth_first(Fx *f, gconstpointer data)
{
    HBlk *n1 = hb_neigh(&f->hb, TB_MAC(1), 0), *n2 = hb_neigh(&f->hb, TB_MAC(2), 0);
    HBlk *p1 = hb_path4(&f->hb, 1, 2, 1500);
    HBlk *p2 = hb_path4(&f->hb, 1, 3, 1500);
    HBlk *t1 = hb_tcp(&f->hb, 1, 80), *t2 = hb_tcp(&f->hb, 2, 80);
    HBlk *t3 = hb_tcp(&f->hb, 3, 80);
    HBlk *order[] = { n1, p1, t1, t2, p2, t3, n2 };
    ChimneyBlock *b;
    uint64_t prev = 0;
    Done d = { 0 };
    unsigned i;

    (void)data;
    /* N1{P1{T1,T2},P2{T3}}, N2 */
    hb_dep(n1, p1);
    hb_dep(p1, t1);
    hb_next(t1, t2);
    hb_next(p1, p2);
    hb_dep(p2, t3);
    hb_next(n1, n2);
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n1->b, tree_done,
                                                 &d), ==, 0);
    b = last_tree(f);
    for (i = 0; i < G_N_ELEMENTS(order); i++) {
        g_assert_cmphex(order[i]->b.status, ==, CHIMNEY_ST_PENDING);
        /* blocks are laid out in traversal order */
        g_assert_cmpuint(order[i]->b.drv_offset, >=, prev);
        prev = order[i]->b.drv_offset + 1;
    }
    g_assert_cmpuint(GUINT16_FROM_LE(b->type), ==, CHIMNEY_TYPE_NEIGH);
    g_assert_cmpuint(GUINT32_FROM_LE(b->size), ==, 64 + n1->b.state_len);
    g_assert_cmphex(GUINT64_FROM_LE(b->host_handle), ==,
                    n1->b.ndis_offload_handle);
    g_assert_cmpmem((uint8_t *)b + 64, n1->b.state_len, n1->st,
                    n1->b.state_len);
    /* links are DMA addresses of the right blocks */
    b = dev_blk(f, b->dependent);                       /* P1 */
    g_assert_cmpuint(GUINT16_FROM_LE(b->type), ==, CHIMNEY_TYPE_IP4);
    g_assert_cmpmem((uint8_t *)b + 64, p1->b.state_len, p1->st,
                    p1->b.state_len);
    g_assert_cmphex(GUINT64_FROM_LE(dev_blk(f, b->next)->host_handle), ==,
                    p2->b.ndis_offload_handle);
    b = dev_blk(f, b->dependent);                       /* T1 */
    g_assert_cmphex(GUINT64_FROM_LE(b->host_handle), ==,
                    t1->b.ndis_offload_handle);
    g_assert_cmphex(b->dependent, ==, 0);
    b = dev_blk(f, b->next);                            /* T2 */
    g_assert_cmphex(GUINT64_FROM_LE(b->host_handle), ==,
                    t2->b.ndis_offload_handle);
    g_assert_cmphex(b->next, ==, 0);
    g_assert_cmpuint(GUINT64_FROM_LE(b->dependent), ==, 0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    for (i = 0; i < G_N_ELEMENTS(order); i++) {
        g_assert_cmphex(order[i]->b.status, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(order[i]->slot, !=, 0);
    }
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 3);
    g_assert_cmpuint(ofl(f)->neigh.used, ==, 2);
}

/* Roles follow the slots: NULL placeholder, 0 new, handle linker/ref */
static void test_roles_from_slots(Fx *f, gconstpointer data)
{
    static const uint16_t ops[] = {
        CHIMNEY_CMD_TERMINATE, CHIMNEY_CMD_UPDATE, CHIMNEY_CMD_QUERY,
        CHIMNEY_CMD_INVALIDATE,
    };
    HBlk *n, *p, *t[1], *ph, *lk, *t2;
    ChimneyBlock *b;
    Done d = { 0 };
    unsigned i;

    (void)data;
    n = build_npt(f, &p, t, 1);
    run_tree(f, chimney_drv_initiate_offload, n);
    g_assert_cmphex(p->slot, !=, 0);

    /* a new connection on an existing path: placeholder N, linker P */
    ph = hb_placeholder(&f->hb, CHIMNEY_TYPE_NEIGH);
    lk = hb_new(&f->hb, CHIMNEY_TYPE_IP4, true, p->slot, NULL, 0);
    t2 = hb_tcp(&f->hb, 2000, 80);
    hb_dep(ph, lk);
    hb_dep(lk, t2);
    g_assert_cmpuint(chimney_drv_block_role(&ph->b, CHIMNEY_CMD_INITIATE), ==,
                     CHIMNEY_ROLE_PLACEHOLDER);
    g_assert_cmpuint(chimney_drv_block_role(&lk->b, CHIMNEY_CMD_INITIATE), ==,
                     CHIMNEY_ROLE_LINKER);
    g_assert_cmpuint(chimney_drv_block_role(&t2->b, CHIMNEY_CMD_INITIATE), ==,
                     CHIMNEY_ROLE_NEW);
    for (i = 0; i < G_N_ELEMENTS(ops); i++) {
        g_assert_cmpuint(chimney_drv_block_role(&ph->b, ops[i]), ==,
                         CHIMNEY_ROLE_PLACEHOLDER);
        g_assert_cmpuint(chimney_drv_block_role(&lk->b, ops[i]), ==,
                         CHIMNEY_ROLE_REF);
        g_assert_cmpuint(chimney_drv_block_role(&t2->b, ops[i]), ==,
                         CHIMNEY_ROLE_REF);
    }

    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &ph->b, tree_done,
                                                 &d), ==, 0);
    b = last_tree(f);
    g_assert_cmpuint(GUINT16_FROM_LE(b->role), ==, CHIMNEY_ROLE_PLACEHOLDER);
    g_assert_cmpuint(GUINT32_FROM_LE(b->size), ==, 64);
    g_assert_cmphex(b->handle, ==, 0);
    b = dev_blk(f, b->dependent);
    g_assert_cmpuint(GUINT16_FROM_LE(b->role), ==, CHIMNEY_ROLE_LINKER);
    g_assert_cmphex(GUINT64_FROM_LE(b->handle), ==, p->slot);
    g_assert_cmpuint(GUINT32_FROM_LE(b->size), ==, 64);
    b = dev_blk(f, b->dependent);
    g_assert_cmpuint(GUINT16_FROM_LE(b->role), ==, CHIMNEY_ROLE_NEW);
    g_assert_cmphex(b->handle, ==, 0);
    g_assert_cmpuint(GUINT32_FROM_LE(b->size), ==, 64 + sizeof(TbTcpState));
    pump(f);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    /* rule 009 placeholder SUCCESS; rule 010 linker SUCCESS */
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t2->b.status, ==, CHIMNEY_ST_SUCCESS);
    /* only the new block's slot is written */
    g_assert_cmphex(lk->slot, ==, p->slot);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(t2->slot), ==, CHIMNEY_KIND_TCP);
    g_assert_cmpuint(chimney_path_at(ofl(f),
                                     CHIMNEY_HANDLE_INDEX(p->slot))->ntcp, ==,
                     2);

    /* a REF tree: handles from the slots, NULL slot a placeholder */
    ph = hb_placeholder(&f->hb, CHIMNEY_TYPE_IP4);
    lk = hb_new(&f->hb, CHIMNEY_TYPE_TCP, true, t2->slot, NULL, 0);
    hb_dep(ph, lk);
    d.calls = 0;
    g_assert_cmpint(chimney_drv_invalidate_offload(&f->drv, &ph->b,
                                                   tree_done, &d), ==, 0);
    b = last_tree(f);
    g_assert_cmpuint(GUINT16_FROM_LE(b->role), ==, CHIMNEY_ROLE_PLACEHOLDER);
    b = dev_blk(f, b->dependent);
    g_assert_cmpuint(GUINT16_FROM_LE(b->role), ==, CHIMNEY_ROLE_REF);
    g_assert_cmphex(GUINT64_FROM_LE(b->handle), ==, t2->slot);
    pump(f);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(count_events(f, 'T'), ==, 1);
}

/* rules 012, 013, 014: a failed block keeps its slot 0 */
static void test_failed_slot_untouched(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[3];
    TbTcpState s;

    (void)data;
    n = build_npt(f, &p, t, 2);
    /* a third connection with an invalid window scale */
    tb_tcp_defaults(&s, 3000, 80);
    s.c.snd_wind_scale = 15;
    t[2] = hb_tcp_state(&f->hb, &s);
    hb_next(t[1], t[2]);
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[2]->b.status, ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(t[2]->slot, ==, 0);
    /* partial success still offloads the path: its handle is written */
    g_assert_cmphex(p->b.status, ==, CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(p->slot), ==, CHIMNEY_KIND_PATH);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[0]->slot, !=, 0);

    /* the same 4-tuple again under a linker: DUPLICATE, slot stays 0 */
    {
        HBlk *lk = hb_new(&f->hb, CHIMNEY_TYPE_IP4, true, p->slot, NULL, 0);
        HBlk *dup = hb_tcp(&f->hb, 1000, 80);

        hb_dep(lk, dup);
        run_tree(f, chimney_drv_initiate_offload, lk);
        g_assert_cmphex(dup->b.status, ==, CHIMNEY_ST_DUPLICATE);
        g_assert_cmphex(dup->slot, ==, 0);
        /* rule 010: a linker none of whose dependents succeeded */
        g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_FAILURE);
        g_assert_cmphex(lk->slot, ==, p->slot);
    }
    /* a linker with a stale handle: BAD_HANDLE, dependents FAILURE */
    {
        HBlk *lk = hb_new(&f->hb, CHIMNEY_TYPE_IP4, true, p->slot + (1ull << 32),
                          NULL, 0);
        HBlk *nt = hb_tcp(&f->hb, 4000, 80);

        hb_dep(lk, nt);
        run_tree(f, chimney_drv_initiate_offload, lk);
        g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
        g_assert_cmphex(nt->b.status, ==, CHIMNEY_ST_FAILURE);
        g_assert_cmphex(nt->slot, ==, 0);
        g_assert_cmphex(lk->slot, ==, p->slot + (1ull << 32));
    }
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 2);
}

/* A command that does not walk the tree: every block gets its status */
static void test_command_failure(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[2], *n0;
    Rec *r;

    (void)data;
    n0 = build_npt(f, &p, t, 2);
    run_tree(f, chimney_drv_initiate_offload, n0);
    /* clearing OFFLOAD_EN: PAUSE, then UPLOAD_ALL (objects offloaded) */
    wr(f->h, CHIMNEY_REG_CTRL, 0);
    pump(f);
    g_assert_cmpuint(f->events->len, ==, 2);
    r = &g_array_index(f->events, Rec, 0);
    g_assert_cmpint(r->kind, ==, 'S');
    g_assert_cmpuint(r->a, ==, CHIMNEY_STATUS_IND_PAUSE);
    r = &g_array_index(f->events, Rec, 1);
    g_assert_cmpuint(r->a, ==, CHIMNEY_STATUS_IND_UPLOAD_ALL);

    n = build_npt(f, &p, t, 2);
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(p->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(n->slot | p->slot | t[0]->slot | t[1]->slot, ==, 0);
    /* objects offloaded before stay manageable while paused */
    {
        HBlk *q = hb_ref(&f->hb, CHIMNEY_TYPE_NEIGH, n0->slot, 0, NULL);

        g_assert_cmphex(q->slot, !=, 0);
        g_assert_cmphex(run_tree(f, chimney_drv_invalidate_offload, q), ==,
                        CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(q->b.status, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(count_events(f, 'T'), ==, 2);
    }

    /* back on: RESUME */
    wr(f->h, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);
    pump(f);
    r = &g_array_index(f->events, Rec, f->events->len - 1);
    g_assert_cmpuint(r->a, ==, CHIMNEY_STATUS_IND_RESUME);
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
}

/* ---------------------------------------------------------------------
 * Query, update, invalidate, terminate
 * ------------------------------------------------------------------ */

#define neigh_sizes     chimney_test_neigh_sizes
#define path_sizes      chimney_test_path_sizes
#define tcp_sizes       chimney_test_tcp_sizes

/* rule 060: QUERY fills the host's structures */
static void test_query(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[2], *qn, *qp, *qt, *qd, *qbad;
    ChimneyNeighCached *nk;
    ChimneyPathConst *pc;
    ChimneyPathCached *pk;
    TbTcpState *ts;
    ChimneyTcpDelegated *td;

    (void)data;
    n = build_npt(f, &p, t, 2);
    run_tree(f, chimney_drv_initiate_offload, n);

    qn = hb_ref(&f->hb, CHIMNEY_TYPE_NEIGH, n->slot, 3, neigh_sizes);
    qp = hb_ref(&f->hb, CHIMNEY_TYPE_IP4, p->slot, 3, path_sizes);
    qt = hb_ref(&f->hb, CHIMNEY_TYPE_TCP, t[1]->slot, 3, tcp_sizes);
    qd = hb_ref(&f->hb, CHIMNEY_TYPE_TCP_DELEGATED, t[0]->slot, 1, &tcp_sizes[2]);
    qbad = hb_ref(&f->hb, CHIMNEY_TYPE_TCP_CONST, t[0]->slot + (1ull << 32), 1,
                  tcp_sizes);
    hb_dep(qn, qp);
    hb_dep(qp, qt);
    hb_next(qt, qd);
    hb_next(qd, qbad);
    g_assert_cmphex(run_tree(f, chimney_drv_query_offload, qn), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qt->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qd->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qbad->b.status, ==, CHIMNEY_ST_BAD_HANDLE);

    nk = (ChimneyNeighCached *)(qn->st + sizeof(ChimneyNeighConst));
    g_assert_cmpuint(nk->dl_dst_addr[5], ==, 1);
    g_assert_cmpuint(GUINT32_FROM_LE(nk->hdr.length), ==, sizeof(*nk));
    pc = (ChimneyPathConst *)qp->st;
    g_assert_cmpuint(pc->dst_addr[0], ==, 10);
    g_assert_cmpuint(pc->dst_addr[3], ==, 2);
    pk = (ChimneyPathCached *)(qp->st + sizeof(ChimneyPathConst));
    g_assert_cmpuint(GUINT32_FROM_LE(pk->path_mtu), ==, 1500);
    ts = (TbTcpState *)qt->st;
    g_assert_cmpuint(GUINT16_FROM_LE(ts->c.local_port), ==, 1001);
    g_assert_cmpuint(GUINT16_FROM_LE(ts->c.remote_mss), ==, 1460);
    g_assert_cmpuint(GUINT32_FROM_LE(ts->k.initial_rcv_wnd), ==, 65535);
    g_assert_cmpuint(GUINT32_FROM_LE(ts->d.state), ==,
                     CHIMNEY_TCPS_ESTABLISHED);
    g_assert_cmpuint(GUINT32_FROM_LE(ts->d.snd_una), ==, 5000);
    g_assert_cmpuint(GUINT32_FROM_LE(ts->d.rcv_nxt), ==, 1000);
    /* rule 061: SendBacklogSize 0xffffffff when not supported */
    g_assert_cmpuint(GUINT32_FROM_LE(ts->d.send_backlog_size), ==, 65535);
    td = (ChimneyTcpDelegated *)qd->st;
    g_assert_cmpuint(GUINT32_FROM_LE(td->cwnd), ==, 14600);
    g_assert_cmpuint(GUINT32_FROM_LE(td->hdr.length), ==, sizeof(*td));
    /* query never writes slots */
    g_assert_cmphex(qbad->slot, ==, t[0]->slot + (1ull << 32));
}

/* rule 053: UPDATE copies cached state (checked by a QUERY) */
static void test_update(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[2], *ph, *up, *ut, *qt, *qp;
    ChimneyPathCached pk = { .hdr = HDR(ChimneyPathCached),
                             .path_mtu = GUINT32_TO_LE(1400) };
    ChimneyTcpCached tk = { .hdr = HDR(ChimneyTcpCached),
                            .initial_rcv_wnd = GUINT32_TO_LE(32768),
                            .ttl_hop_limit = 32 };
    TbTcpState *ts;

    (void)data;
    n = build_npt(f, &p, t, 2);
    run_tree(f, chimney_drv_initiate_offload, n);

    ph = hb_placeholder(&f->hb, CHIMNEY_TYPE_NEIGH);
    up = hb_new(&f->hb, CHIMNEY_TYPE_IP4_CACHED, true, p->slot, &pk, sizeof(pk));
    ut = hb_new(&f->hb, CHIMNEY_TYPE_TCP_CACHED, true, t[0]->slot, &tk,
                sizeof(tk));
    hb_dep(ph, up);
    hb_dep(up, ut);
    g_assert_cmphex(run_tree(f, chimney_drv_update_offload, ph), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(up->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(ut->b.status, ==, CHIMNEY_ST_SUCCESS);
    /* update input is not copied back */
    g_assert_cmpuint(GUINT32_FROM_LE(((ChimneyTcpCached *)ut->st)->
                                     initial_rcv_wnd), ==, 32768);

    qp = hb_ref(&f->hb, CHIMNEY_TYPE_IP4_CACHED, p->slot, 1, &path_sizes[1]);
    qt = hb_ref(&f->hb, CHIMNEY_TYPE_TCP, t[0]->slot, 3, tcp_sizes);
    hb_next(qp, hb_placeholder(&f->hb, CHIMNEY_TYPE_IP4));
    hb_dep(qp, qt);
    run_tree(f, chimney_drv_query_offload, qp);
    g_assert_cmpuint(GUINT32_FROM_LE(((ChimneyPathCached *)qp->st)->path_mtu),
                     ==, 1400);
    ts = (TbTcpState *)qt->st;
    g_assert_cmpuint(GUINT32_FROM_LE(ts->k.initial_rcv_wnd), ==, 32768);
    g_assert_cmpuint(ts->k.ttl_hop_limit, ==, 32);
    /* the other connection kept its values */
    qt = hb_ref(&f->hb, CHIMNEY_TYPE_TCP_CACHED, t[1]->slot, 1, &tcp_sizes[1]);
    run_tree(f, chimney_drv_query_offload, qt);
    g_assert_cmpuint(GUINT32_FROM_LE(((ChimneyTcpCached *)qt->st)->
                                     initial_rcv_wnd), ==, 65535);
    /* a bad handle fails its block only */
    ut = hb_new(&f->hb, CHIMNEY_TYPE_TCP_CACHED, true, 0x77, &tk, sizeof(tk));
    run_tree(f, chimney_drv_update_offload, ut);
    g_assert_cmphex(ut->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
}

/* rule 064: INVALIDATE -> TCP_RETRIEVE(INVALID_STATE) per connection */
static void test_invalidate(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[2], *in, *ut;
    ChimneyTcpCached tk = { .hdr = HDR(ChimneyTcpCached),
                            .initial_rcv_wnd = GUINT32_TO_LE(1000) };
    unsigned i, j;

    (void)data;
    n = build_npt(f, &p, t, 2);
    run_tree(f, chimney_drv_initiate_offload, n);
    in = hb_new(&f->hb, CHIMNEY_TYPE_NEIGH, true, n->slot, NULL, 0);
    g_assert_cmphex(run_tree(f, chimney_drv_invalidate_offload, in), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(in->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(f->events->len, ==, 2);
    for (i = 0; i < 2; i++) {
        bool found = false;

        for (j = 0; j < f->events->len; j++) {
            Rec *r = &g_array_index(f->events, Rec, j);

            g_assert_cmpint(r->kind, ==, 'T');
            g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_TCP_RETRIEVE);
            g_assert_cmpuint(r->a, ==, CHIMNEY_UPLOAD_INVALID_STATE);
            if (r->cookie == t[i]->b.ndis_offload_handle) {
                g_assert_cmphex(r->handle, ==, t[i]->slot);
                found = true;
            }
        }
        g_assert_true(found);
    }
    /* invalidated objects stay until terminated (rule 065) ... */
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 2);
    /* ... and are not updated (spec: INVALID_STATE) */
    ut = hb_new(&f->hb, CHIMNEY_TYPE_TCP_CACHED, true, t[0]->slot, &tk,
                sizeof(tk));
    run_tree(f, chimney_drv_update_offload, ut);
    g_assert_cmphex(ut->b.status, !=, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(f->events->len, ==, 2);
}

/* TERMINATE: delegated state and data come back, objects are freed */
static void test_terminate(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[2], *rn, *rp, *rt[2], *q;
    TbTcpState s;
    struct chimney_dma_buf sl_in, rcv_in, sl_out, rcv_out;
    ChimneySendBuf sb[2] = {
        { .addr = GUINT64_TO_LE(0x1000), .len = GUINT32_TO_LE(100),
          .cookie = GUINT64_TO_LE(0xc0c0a) },
        { .addr = GUINT64_TO_LE(0x2000), .len = GUINT32_TO_LE(50),
          .cookie = GUINT64_TO_LE(0xc0c0b) },
    };
    static const uint8_t rcv[16] = "buffered-bytes!";
    ChimneyTcpDelegated td, *out;
    ChimneySendBuf ret[4];
    uint8_t got[16];
    unsigned i;

    (void)data;
    /* T0 hands over 150 bytes of send data and 16 of receive data */
    g_assert_cmpint(t_dma_alloc(&f->os, sizeof(sb), &sl_in), ==, 0);
    t_dma_write(&f->os, &sl_in, 0, sb, sizeof(sb));
    g_assert_cmpint(t_dma_alloc(&f->os, sizeof(rcv), &rcv_in), ==, 0);
    t_dma_write(&f->os, &rcv_in, 0, rcv, sizeof(rcv));
    n = build_npt(f, &p, t, 1);
    tb_tcp_defaults(&s, 1001, 80);
    s.d.snd_max = GUINT32_TO_LE(5000 + 150);    /* all sent before */
    s.d.send_list_addr = GUINT64_TO_LE(sl_in.dma);
    s.d.send_list_count = GUINT32_TO_LE(2);
    s.d.rcv_data_addr = GUINT64_TO_LE(rcv_in.dma);
    s.d.rcv_data_len = GUINT32_TO_LE(sizeof(rcv));
    t[1] = hb_tcp_state(&f->hb, &s);
    hb_next(t[0], t[1]);
    run_tree(f, chimney_drv_initiate_offload, n);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    t_dma_free(&f->os, &sl_in);         /* copied by the device */
    t_dma_free(&f->os, &rcv_in);

    /* return buffers allocated through the shim, passed through */
    g_assert_cmpint(t_dma_alloc(&f->os, sizeof(ret), &sl_out), ==, 0);
    g_assert_cmpint(t_dma_alloc(&f->os, 64, &rcv_out), ==, 0);
    rn = hb_new(&f->hb, CHIMNEY_TYPE_NEIGH_DELEGATED, true, n->slot, NULL, 0);
    rp = hb_new(&f->hb, CHIMNEY_TYPE_IP4, true, p->slot, NULL, 0);
    memset(&td, 0, sizeof(td));
    td.hdr.length = GUINT32_TO_LE(sizeof(td));
    td.send_list_addr = GUINT64_TO_LE(sl_out.dma);
    td.send_list_cap = GUINT32_TO_LE(G_N_ELEMENTS(ret));
    td.rcv_data_addr = GUINT64_TO_LE(rcv_out.dma);
    td.rcv_data_cap = GUINT32_TO_LE(64);
    for (i = 0; i < 2; i++) {
        rt[i] = hb_new(&f->hb, CHIMNEY_TYPE_TCP_DELEGATED, true, t[i]->slot, &td,
                       sizeof(td));
    }
    rn->b.state = rn->st;               /* neighbor: NRD comes back */
    rn->b.state_len = sizeof(ChimneyNeighDelegated);
    ((ChimneyStateHdr *)rn->st)->length =
        GUINT32_TO_LE(sizeof(ChimneyNeighDelegated));
    hb_dep(rn, rp);
    hb_dep(rp, rt[0]);
    hb_next(rt[0], rt[1]);
    g_assert_cmphex(run_tree(f, chimney_drv_terminate_offload, rn), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt[1]->b.status, ==, CHIMNEY_ST_SUCCESS);

    out = (ChimneyTcpDelegated *)rt[0]->st;
    g_assert_cmpuint(GUINT32_FROM_LE(out->state), ==,
                     CHIMNEY_TCPS_ESTABLISHED);
    g_assert_cmpuint(GUINT32_FROM_LE(out->snd_una), ==, 5000);
    g_assert_cmpuint(GUINT32_FROM_LE(out->rcv_nxt), ==, 1000);
    g_assert_cmpuint(GUINT32_FROM_LE(out->send_list_count), ==, 0);
    g_assert_cmpuint(GUINT32_FROM_LE(out->rcv_data_len), ==, 0);
    /* the "T in" fields are passed through and left as given */
    g_assert_cmphex(GUINT64_FROM_LE(out->send_list_addr), ==, sl_out.dma);
    g_assert_cmpuint(GUINT32_FROM_LE(out->rcv_data_cap), ==, 64);

    out = (ChimneyTcpDelegated *)rt[1]->st;
    g_assert_cmpuint(GUINT32_FROM_LE(out->snd_max), ==, 5150);
    g_assert_cmpuint(GUINT32_FROM_LE(out->send_list_count), ==, 2);
    g_assert_cmpuint(GUINT32_FROM_LE(out->rcv_data_len), ==, sizeof(rcv));
    t_dma_read(&f->os, &sl_out, 0, ret, sizeof(ret));
    g_assert_cmphex(GUINT64_FROM_LE(ret[0].cookie), ==, 0xc0c0a);
    g_assert_cmpuint(GUINT32_FROM_LE(ret[0].len), ==, 100);
    g_assert_cmphex(GUINT64_FROM_LE(ret[1].addr), ==, 0x2000);
    t_dma_read(&f->os, &rcv_out, 0, got, sizeof(got));
    g_assert_cmpmem(got, sizeof(got), rcv, sizeof(rcv));
    g_assert_cmpuint(GUINT32_FROM_LE(((ChimneyStateHdr *)rn->st)->length), ==,
                     sizeof(ChimneyNeighDelegated));

    /* everything was released: the handles are stale now */
    g_assert_cmpuint(ofl(f)->tcp.used, ==, 0);
    g_assert_cmpuint(ofl(f)->path.used, ==, 0);
    g_assert_cmpuint(ofl(f)->neigh.used, ==, 0);
    q = hb_ref(&f->hb, CHIMNEY_TYPE_TCP, t[0]->slot, 3, tcp_sizes);
    run_tree(f, chimney_drv_query_offload, q);
    g_assert_cmphex(q->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    t_dma_free(&f->os, &sl_out);
    t_dma_free(&f->os, &rcv_out);
    g_assert_cmpuint(count_events(f, 'I'), ==, 0);
}

/*
 * RECV_POST buffer lists and RECV_FLUSH end to end, against the device
 * core (spec RECV_POST "Buffer lists", RECV_FLUSH): a connection
 * offloaded with 16 bytes of receive data the device holds; a list of
 * three pieces takes them in list order and completes full; a list entry
 * of 0 bytes is the device's INVALID_PARAMETER (the core checks only the
 * count); an empty posted list comes back through RECV_FLUSH with 0
 * bytes and SUCCESS, after the flush's own CMD_DONE; a flush of a handle
 * that is not a connection is BAD_HANDLE.
 */
static void test_recv_sgl_device(Fx *f, gconstpointer data)
{
    static const uint8_t rcv[16] = "buffered-bytes!";
    static const uint32_t piece[3] = { 5, 4, 7 };
    struct chimney_dma_buf rcv_in, list, buf[3];
    ChimneyRecvSge sge[3];
    Done dp = { 0 }, dz = { 0 }, de = { 0 }, df = { 0 }, dbad = { 0 };
    uint8_t got[16];
    HBlk *n, *p, *t[1];
    TbTcpState st;
    uint64_t h;
    const Rec *r;
    unsigned i, off;

    (void)data;
    g_assert_true(rd(f->h, CHIMNEY_REG_CAP_FLAGS) & CHIMNEY_CAP_RECV_SGL);
    g_assert_true(rd(f->h, CHIMNEY_REG_CAP_FLAGS) & CHIMNEY_CAP_RECV_HOLD);
    g_assert_true(rd(f->h, CHIMNEY_REG_CAP_FLAGS) &
                  CHIMNEY_CAP_DISC_RCV_CLOSED);
    g_assert_cmpint(t_dma_alloc(&f->os, sizeof(rcv), &rcv_in), ==, 0);
    t_dma_write(&f->os, &rcv_in, 0, rcv, sizeof(rcv));
    n = build_npt(f, &p, t, 0);
    tb_tcp_defaults(&st, 1001, 80);
    st.d.rcv_data_addr = GUINT64_TO_LE(rcv_in.dma);
    st.d.rcv_data_len = GUINT32_TO_LE(sizeof(rcv));
    t[0] = hb_tcp_state(&f->hb, &st);
    hb_dep(p, t[0]);
    run_tree(f, chimney_drv_initiate_offload, n);
    g_assert_cmphex(t[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    t_dma_free(&f->os, &rcv_in);        /* copied by the device */
    h = t[0]->slot;

    /* three pieces, 16 bytes: the held data fills them in list order */
    g_assert_cmpint(t_dma_alloc(&f->os, sizeof(sge), &list), ==, 0);
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(t_dma_alloc(&f->os, 64, &buf[i]), ==, 0);
        sge[i].addr = GUINT64_TO_LE(buf[i].dma);
        sge[i].len = GUINT32_TO_LE(piece[i]);
        sge[i].reserved = 0;
    }
    t_dma_write(&f->os, &list, 0, sge, sizeof(sge));
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, h, list.dma, 3,
                                          CHIMNEY_RECVF_SGL, 0x51, cmd_done,
                                          &dp), ==, 0);
    pump(f);
    g_assert_cmpuint(dp.calls, ==, 1);
    g_assert_cmphex(dp.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(count_events(f, 'I'), ==, 1);
    r = last_rec(f);
    g_assert_cmphex(r->cookie, ==, 0x51);
    g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_RECV_DONE);
    g_assert_cmphex(r->a, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(r->b, ==, sizeof(rcv));
    for (i = 0, off = 0; i < 3; off += piece[i], i++) {
        t_dma_read(&f->os, &buf[i], 0, got + off, piece[i]);
    }
    g_assert_cmpmem(got, sizeof(got), rcv, sizeof(rcv));

    /* an entry of 0 bytes: refused by the device, nothing queued */
    sge[1].len = 0;
    t_dma_write(&f->os, &list, 0, sge, sizeof(sge));
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, h, list.dma, 3,
                                          CHIMNEY_RECVF_SGL, 0x52, cmd_done,
                                          &dz), ==, 0);
    pump(f);
    g_assert_cmpuint(dz.calls, ==, 1);
    g_assert_cmphex(dz.status, ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmpuint(count_events(f, 'I'), ==, 1);

    /* nothing to place: the request stays posted until RECV_FLUSH */
    sge[1].len = GUINT32_TO_LE(piece[1]);
    t_dma_write(&f->os, &list, 0, sge, sizeof(sge));
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, h, list.dma, 2,
                                          CHIMNEY_RECVF_SGL, 0x53, cmd_done,
                                          &de), ==, 0);
    pump(f);
    g_assert_cmphex(de.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(count_events(f, 'I'), ==, 1);
    g_assert_cmpint(chimney_drv_recv_flush(&f->drv, h, cmd_done, &df), ==, 0);
    pump(f);
    g_assert_cmpuint(df.calls, ==, 1);
    g_assert_cmphex(df.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(count_events(f, 'I'), ==, 2);
    r = last_rec(f);
    g_assert_cmphex(r->cookie, ==, 0x53);
    g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_RECV_DONE);
    g_assert_cmphex(r->a, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(r->b, ==, 0);

    /* a flush with nothing posted completes alone; a bad handle */
    g_assert_cmpint(chimney_drv_recv_flush(&f->drv, h, cmd_done, &df), ==, 0);
    g_assert_cmpint(chimney_drv_recv_flush(&f->drv, h ^ 0x5a5a00, cmd_done,
                                           &dbad), ==, 0);
    pump(f);
    g_assert_cmpuint(df.calls, ==, 2);
    g_assert_cmphex(df.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(dbad.calls, ==, 1);
    g_assert_cmphex(dbad.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmpuint(count_events(f, 'I'), ==, 2);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);

    t_dma_free(&f->os, &list);
    for (i = 0; i < 3; i++) {
        t_dma_free(&f->os, &buf[i]);
    }
}

/* ---------------------------------------------------------------------
 * Trees refused before submission
 * ------------------------------------------------------------------ */

/* Nothing reached the device and the host tree keeps its values. */
static void assert_not_submitted(Fx *f, unsigned allocs, uint32_t tail)
{
    g_assert_cmpuint(f->os.nalloc, ==, allocs);
    g_assert_false(f->h->cmd_scheduled);
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL), ==,
                     tail);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(pump(f), ==, 0);
}

static void test_tree_cycle(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[2];
    Done d = { 0 };
    unsigned allocs = f->os.nalloc;
    uint32_t tail = ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL);

    (void)data;
    n = build_npt(f, &p, t, 2);
    hb_next(t[1], t[0]);                    /* T1 -> T2 -> T1 */
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &d), ==, CHIMNEY_DRV_ELOOP);
    assert_not_submitted(f, allocs, tail);
    g_assert_cmpuint(d.calls, ==, 0);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_TEST_STATUS_POISON);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_TEST_STATUS_POISON);
    g_assert_true(log_contains(&f->os, "reached twice"));

    /* a block that is its own next */
    t[1]->b.next_block = NULL;
    hb_next(t[0], t[0]);
    g_assert_cmpint(chimney_drv_query_offload(&f->drv, &n->b, tree_done, &d),
                    ==, CHIMNEY_DRV_ELOOP);
    /* a path whose dependent list is itself */
    t[0]->b.next_block = NULL;
    hb_dep(p, p);
    g_assert_cmpint(chimney_drv_terminate_offload(&f->drv, &n->b, tree_done,
                                                  &d), ==, CHIMNEY_DRV_ELOOP);
    /* a root chain that loops back to the root */
    hb_dep(p, t[0]);
    hb_next(n, n);
    g_assert_cmpint(chimney_drv_update_offload(&f->drv, &n->b, tree_done,
                                               &d), ==, CHIMNEY_DRV_ELOOP);
    assert_not_submitted(f, allocs, tail);

    /* fixed, the same tree goes through */
    n->b.next_block = NULL;
    hb_next(t[0], t[1]);
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
}

static void test_tree_shared_block(Fx *f, gconstpointer data)
{
    HBlk *n = hb_neigh(&f->hb, TB_MAC(1), 0);
    HBlk *p1 = hb_path4(&f->hb, 1, 2, 1500);
    HBlk *p2 = hb_path4(&f->hb, 1, 3, 1500);
    HBlk *t = hb_tcp(&f->hb, 1, 80);
    unsigned allocs = f->os.nalloc;
    uint32_t tail = ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL);
    Done d = { 0 };

    (void)data;
    hb_dep(n, p1);
    hb_next(p1, p2);
    hb_dep(p1, t);
    hb_dep(p2, t);                          /* T in two lists */
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &d), ==, CHIMNEY_DRV_ELOOP);
    assert_not_submitted(f, allocs, tail);
    g_assert_cmphex(t->slot, ==, 0);
}

static void test_tree_too_deep(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[1];
    Done d = { 0 };
    unsigned allocs = f->os.nalloc;
    uint32_t tail = ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL);

    (void)data;
    n = build_npt(f, &p, t, 1);
    hb_dep(t[0], hb_tcp(&f->hb, 9, 9));          /* a fourth level */
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &d), ==, CHIMNEY_DRV_EINVAL);
    /* a TCP block depending back on the root: also too deep */
    hb_dep(t[0], n);
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &d), ==, CHIMNEY_DRV_EINVAL);
    t[0]->b.dependent_block_list = NULL;
    /* bad arguments */
    t[0]->b.state = NULL;
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &d), ==, CHIMNEY_DRV_EINVAL);
    t[0]->b.state = t[0]->st;
    t[0]->b.state_len = CHIMNEY_DRV_MAX_STATE + 8;
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &d), ==, CHIMNEY_DRV_EINVAL);
    t[0]->b.state_len = sizeof(TbTcpState);
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, NULL, tree_done,
                                                 &d), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, NULL, &d),
                    ==, CHIMNEY_DRV_EINVAL);
    assert_not_submitted(f, allocs, tail);
    g_assert_cmpuint(d.calls, ==, 0);
}

/* The limit is the device's CAP_TREE_BLOCKS, read at init. */
static void test_tree_cap_blocks(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[4];
    Done d = { 0 };
    unsigned allocs;
    uint32_t tail;

    (void)data;
    os_override(&f->os, CHIMNEY_REG_CAP_TREE_BLOCKS, 5);
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==, 0);
    g_assert_cmpuint(f->drv.cap_tree_blocks, ==, 5);
    set_params(f, 100, CHIMNEY_ST_SUCCESS);
    allocs = f->os.nalloc;
    tail = ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL);
    n = build_npt(f, &p, t, 4);             /* 6 blocks */
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &d), ==, CHIMNEY_DRV_E2BIG);
    assert_not_submitted(f, allocs, tail);
    t[2]->b.next_block = NULL;              /* 5 blocks */
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t[2]->b.status, ==, CHIMNEY_ST_SUCCESS);
}

/* The real limit: the device accepts CAP_TREE_BLOCKS, not one more. */
static void test_tree_max_blocks(Fx *f, gconstpointer data)
{
    uint32_t cap = f->drv.cap_tree_blocks, i;
    struct chimney_offload_block *blk =
        g_new0(struct chimney_offload_block, cap + 1);
    Done d = { 0 };
    unsigned allocs = f->os.nalloc;
    uint32_t tail = ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL);

    (void)data;
    g_assert_cmpuint(cap, ==, CHIMNEY_TREE_MAX_BLOCKS);
    for (i = 0; i <= cap; i++) {
        blk[i].type = CHIMNEY_TYPE_TCP;     /* placeholders */
        blk[i].next_block = i < cap ? &blk[i + 1] : NULL;
    }
    g_assert_cmpint(chimney_drv_query_offload(&f->drv, &blk[0], tree_done,
                                              &d), ==, CHIMNEY_DRV_E2BIG);
    assert_not_submitted(f, allocs, tail);
    blk[cap - 1].next_block = NULL;
    g_assert_cmpint(chimney_drv_query_offload(&f->drv, &blk[0], tree_done,
                                              &d), ==, 0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(blk[0].status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(blk[cap - 1].status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(blk[cap].status, ==, 0);
    g_free(blk);
}

/* ---------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------ */

static void post(Fx *f, uint16_t type, uint16_t code, uint32_t status,
                 uint64_t cookie, uint64_t handle, uint32_t info)
{
    ChimneyEvent ev = {
        .type = GUINT16_TO_LE(type),
        .code = GUINT16_TO_LE(code),
        .status = GUINT32_TO_LE(status),
        .cookie = GUINT64_TO_LE(cookie),
        .handle = GUINT64_TO_LE(handle),
        .info = GUINT32_TO_LE(info),
    };

    chimney_core_post_event(&f->h->core, &ev);
}

static void test_event_dispatch(Fx *f, gconstpointer data)
{
    Rec *r;

    (void)data;
    chimney_core_set_link(&f->h->core, false);
    post(f, CHIMNEY_EVT_NEIGH_QUERY, 0, 0, 0xaa, 0x1000001, 77);
    post(f, CHIMNEY_EVT_TCP_ABORT, 0, 0, 0xbb, 0x3000002, 0);
    post(f, CHIMNEY_EVT_TCP_RETRIEVE, CHIMNEY_UPLOAD_LOW_ACTIVITY, 0, 0xcc,
         0x3000003, 0);
    post(f, CHIMNEY_EVT_TCP_BACKLOG, 0, 0, 0xdd, 0x3000004, 8192);
    post(f, CHIMNEY_EVT_SEND_DONE, CHIMNEY_CMD_SEND,
         CHIMNEY_ST_UPLOAD_IN_PROGRESS, 0xee, 0x3000005, 10);
    post(f, 0x7f, 0, 0, 0, 0, 0);           /* unknown type */
    chimney_core_set_link(&f->h->core, true);
    pump(f);
    g_assert_cmpuint(f->events->len, ==, 7);
    r = &g_array_index(f->events, Rec, 0);
    g_assert_cmpint(r->kind, ==, 'L');
    g_assert_cmpuint(r->a, ==, 0);
    r++;
    g_assert_cmpint(r->kind, ==, 'N');
    g_assert_cmphex(r->cookie, ==, 0xaa);
    g_assert_cmphex(r->handle, ==, 0x1000001);
    g_assert_cmpuint(r->a, ==, 77);
    r++;
    g_assert_cmpint(r->kind, ==, 'T');
    g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_TCP_ABORT);
    g_assert_cmphex(r->cookie, ==, 0xbb);
    r++;
    g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_TCP_RETRIEVE);
    g_assert_cmpuint(r->a, ==, CHIMNEY_UPLOAD_LOW_ACTIVITY);  /* the reason */
    r++;
    g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_TCP_BACKLOG);
    g_assert_cmpuint(r->a, ==, 8192);
    r++;
    g_assert_cmpint(r->kind, ==, 'I');
    g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_SEND_DONE);
    g_assert_cmphex(r->cookie, ==, 0xee);
    g_assert_cmphex(r->a, ==, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmpuint(r->b, ==, 10);
    r++;
    g_assert_cmpint(r->kind, ==, 'L');
    g_assert_cmpuint(r->a, ==, 1);
    g_assert_cmpuint(f->drv.n_unknown_event, ==, 1);
    g_assert_true(log_contains(&f->os, "unknown event type 0x7f"));
    /* entries handed back: VALID cleared, TAIL one behind the reader */
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_EVT, CHIMNEY_RING_TAIL), ==,
                     (f->drv.evt_next - 1) & (f->drv.evt_size - 1));
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_EVT, CHIMNEY_RING_HEAD), ==,
                     f->drv.evt_next);
    g_assert_cmphex(((ChimneyEvent *)fake_ptr(f->h, f->drv.evt_ring.dma))
                    ->flags, ==, 0);
    /* no callbacks registered: events are dropped quietly */
    chimney_drv_set_event_ops(&f->drv, NULL, NULL);
    post(f, CHIMNEY_EVT_LINK, 0, 0, 0, 0, 1);
    g_assert_cmpuint(pump(f), ==, 1);
    g_assert_cmpuint(f->events->len, ==, 7);
}

static void test_event_bounded(Fx *f, gconstpointer data)
{
    ChimneyEvent *ring;
    uint32_t n, total = 0, i, calls = 0;

    (void)data;
    g_assert_cmpint(drv_start(f, &test_os_ops, 8, 8), ==, 0);
    /* 20 events for 7 slots: each call takes what is valid, in order */
    for (i = 0; i < 20; i++) {
        post(f, CHIMNEY_EVT_TCP_BACKLOG, 0, 0, 0x100 + i, 0x3000000, i);
    }
    while ((n = chimney_drv_process_events(&f->drv)) != 0) {
        g_assert_cmpuint(n, <=, 8);
        total += n;
        g_assert_cmpuint(++calls, <, 10);
    }
    g_assert_cmpuint(total, ==, 20);
    g_assert_cmpuint(calls, >=, 3);
    for (i = 0; i < 20; i++) {
        g_assert_cmpuint(g_array_index(f->events, Rec, i).a, ==, i);
    }

    /* a ring that only ever shows VALID entries (stale memory, a broken
     * device) is walked at most once around per call */
    ring = fake_ptr(f->h, f->drv.evt_ring.dma);
    for (i = 0; i < 8; i++) {
        memset(&ring[i], 0, sizeof(ring[i]));
        ring[i].type = GUINT16_TO_LE(0x55);
        ring[i].flags = GUINT32_TO_LE(CHIMNEY_EVTF_VALID);
    }
    g_assert_cmpuint(chimney_drv_process_events(&f->drv), ==, 8);
    g_assert_cmpuint(f->drv.n_unknown_event, ==, 8);
    g_assert_cmpuint(chimney_drv_process_events(&f->drv), ==, 0);
    /* the command path still works afterwards */
    {
        Done d = { 0 };

        g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==, 0);
        pump(f);
        g_assert_cmpuint(d.calls, ==, 1);
    }
}

static void test_unknown_cookie(Fx *f, gconstpointer data)
{
    Done d = { 0 };
    uint64_t cookie;

    (void)data;
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==, 0);
    cookie = f->drv.pending[0].cookie;
    /* completions nobody asked for, before the real one */
    post(f, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP, 0, 0xdead0000, 0, 0);
    post(f, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP, 0, cookie + (1 << 16), 0,
         0);
    post(f, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP, 0, 63, 0, 0);
    g_assert_cmpuint(chimney_drv_process_events(&f->drv), ==, 3);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 3);
    g_assert_cmpuint(d.calls, ==, 0);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 1);
    g_assert_true(log_contains(&f->os, "unknown cookie 0xdead0000"));
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    /* a second completion of the same cookie is unknown too */
    post(f, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP, 0, cookie, 0, 0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 4);
}

/* ---------------------------------------------------------------------
 * Raw commands, event polling, the L2 ring helper
 * ------------------------------------------------------------------ */

/*
 * chimney_drv_raw_cmd(): the descriptor exactly as given, queued by the
 * core (the only writer of the CMD ring) with a cookie it returns.
 */
static void test_raw_cmd(Fx *f, gconstpointer data)
{
    uint32_t idx;
    ChimneyCmdDesc *c;
    uint64_t cookie = 0, cookie2 = 0;
    Done d = { 0 }, d2 = { 0 };

    (void)data;
    g_assert_cmpint(chimney_drv_raw_cmd(&f->drv, CHIMNEY_CMD_NOP, 0x5a, 0, 0,
                                        0x1234, cmd_done, &d, &cookie), ==, 0);
    idx = (f->drv.cmd_tail - 1) & (f->drv.cmd_size - 1);
    c = fake_ptr(f->h, f->drv.cmd_ring.dma + idx * sizeof(*c));
    g_assert_cmphex(GUINT16_FROM_LE(c->opcode), ==, CHIMNEY_CMD_NOP);
    g_assert_cmphex(GUINT16_FROM_LE(c->flags), ==, 0x5a);
    g_assert_cmphex(GUINT64_FROM_LE(c->handle), ==, 0x1234);
    g_assert_cmphex(GUINT64_FROM_LE(c->cookie), ==, cookie);
    g_assert_cmphex(cookie, !=, 0);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 1);

    /* an opcode the device does not know: its status comes back */
    g_assert_cmpint(chimney_drv_raw_cmd(&f->drv, 0x7f, 0, 0, 0, 0, cmd_done,
                                        &d2, &cookie2), ==, 0);
    g_assert_cmphex(cookie2, !=, cookie);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(d2.calls, ==, 1);
    g_assert_cmphex(d2.status, !=, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);

    /* NULL callback and cookie pointer are allowed */
    g_assert_cmpint(chimney_drv_raw_cmd(&f->drv, CHIMNEY_CMD_NOP, 0, 0, 0, 0,
                                        NULL, NULL, NULL), ==, 0);
    pump(f);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    chimney_drv_fini(&f->drv);
    f->inited = false;
    g_assert_cmpint(chimney_drv_raw_cmd(&f->drv, CHIMNEY_CMD_NOP, 0, 0, 0, 0,
                                        NULL, NULL, &cookie),
                    ==, CHIMNEY_DRV_ESHUTDOWN);
}

/* chimney_drv_event_pending(): the NAPI poll's final re-check. */
static void test_event_pending(Fx *f, gconstpointer data)
{
    Done d = { 0 };

    (void)data;
    g_assert_false(chimney_drv_event_pending(&f->drv));     /* before init */
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 16), ==, 0);
    g_assert_false(chimney_drv_event_pending(&f->drv));
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==, 0);
    g_assert_false(chimney_drv_event_pending(&f->drv));
    /* the device's bottom half posts the completion */
    f->h->cmd_scheduled = false;
    chimney_core_cmd_process(&f->h->core);
    g_assert_true(chimney_drv_event_pending(&f->drv));
    g_assert_cmpint(f->os.lock_depth, ==, 0);
    g_assert_cmpuint(d.calls, ==, 0);
    g_assert_cmpuint(chimney_drv_process_events(&f->drv), ==, 1);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_false(chimney_drv_event_pending(&f->drv));
    /* a link event */
    chimney_core_set_link(&f->h->core, false);
    g_assert_true(chimney_drv_event_pending(&f->drv));
    pump(f);
    g_assert_false(chimney_drv_event_pending(&f->drv));
    g_assert_cmpuint(count_events(f, 'L'), ==, 1);
    chimney_drv_fini(&f->drv);
    f->inited = false;
    g_assert_false(chimney_drv_event_pending(&f->drv));
}

/*
 * The L2 ring helper (chimney_ring.c) over the same shim: TX and RX
 * through the device core; the CMD/EVT rings are refused.
 */
static void test_ring_helper(Fx *f, gconstpointer data)
{
    static const uint8_t own_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    struct chimney_os os = { &test_os_ops, &f->os };
    struct chimney_ring tx, rx, cmd, evt;
    struct chimney_dma_buf tbuf, rbuf;
    uint8_t frame[1500], got[1500];
    uint16_t st, len = 0;
    GByteArray *w;
    unsigned i;

    (void)data;
    wr(f->h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_init(&cmd, CHIMNEY_RING_CMD, 16, sizeof(ChimneyCmdDesc));
    chimney_ring_init(&evt, CHIMNEY_RING_EVT, 16, sizeof(ChimneyEvent));
    g_assert_cmpint(chimney_ring_alloc(&os, &cmd), ==, 0);
    g_assert_cmpint(chimney_ring_alloc(&os, &evt), ==, 0);
    g_assert_cmpint(chimney_ring_start(&os, &cmd), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_ring_start(&os, &evt), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_CTRL), ==, 0);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_EVT, CHIMNEY_RING_CTRL), ==, 0);
    chimney_ring_free(&os, &cmd);
    chimney_ring_free(&os, &evt);
    chimney_ring_free(&os, &evt);                   /* twice is harmless */

    for (i = 0; i < sizeof(frame); i++) {
        frame[i] = (uint8_t)(i * 7 + 1);
    }
    memcpy(frame, own_mac, 6);
    memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6);

    /* TX: one frame in two descriptors, EOP set afterwards */
    chimney_ring_init(&tx, CHIMNEY_RING_TX, 16, sizeof(ChimneyTxDesc));
    g_assert_cmpint(chimney_ring_alloc(&os, &tx), ==, 0);
    g_assert_cmpint(chimney_ring_start(&os, &tx), ==, 0);
    g_assert_true(ring_reg(f, CHIMNEY_RING_TX, CHIMNEY_RING_STATUS) &
                  CHIMNEY_RING_ST_ENABLED);
    g_assert_cmpint(test_os_ops.dma_alloc(&f->os, 2048, &tbuf), ==, 0);
    test_os_ops.dma_write(&f->os, &tbuf, 0, frame, 514);
    chimney_tx_desc_write(&os, &tx, 0, tbuf.dma, 100, 0);
    chimney_tx_desc_write(&os, &tx, 1, tbuf.dma + 100, 414, 0);
    chimney_tx_desc_set_flags(&os, &tx, 1, CHIMNEY_TXF_EOP);
    g_assert_cmpuint(chimney_tx_desc_done(&os, &tx, 0), ==, 0);
    chimney_ring_kick(&os, &tx, 2);
    g_assert_cmpuint(f->h->frames->len, ==, 1);
    w = g_ptr_array_index(f->h->frames, 0);
    g_assert_cmpmem(w->data, w->len, frame, 514);
    g_assert_cmphex(chimney_tx_desc_done(&os, &tx, 0), ==, CHIMNEY_DESC_DONE);
    st = chimney_tx_desc_done(&os, &tx, 1);
    g_assert_true(st & CHIMNEY_DESC_DONE);
    g_assert_cmpuint(chimney_desc_err(st), ==, 0);
    g_assert_cmpuint(chimney_tx_desc_done(&os, &tx, 2), ==, 0);
    g_assert_cmpuint(chimney_ring_hw_head(&os, &tx), ==, 2);

    /* RX: a 1500-byte frame over two 1024-byte buffers */
    chimney_ring_init(&rx, CHIMNEY_RING_RX, 8, sizeof(ChimneyRxDesc));
    g_assert_cmpint(chimney_ring_alloc(&os, &rx), ==, 0);
    g_assert_cmpint(chimney_ring_start(&os, &rx), ==, 0);
    g_assert_cmpint(test_os_ops.dma_alloc(&f->os, 4096, &rbuf), ==, 0);
    for (i = 0; i < 4; i++) {
        chimney_rx_desc_write(&os, &rx, i, rbuf.dma + i * 1024, 1024);
    }
    chimney_ring_kick(&os, &rx, 4);
    g_assert_cmpuint(chimney_rx_desc_done(&os, &rx, 0, &len), ==, 0);
    g_assert_cmpint(chimney_core_receive(&f->h->core, frame, sizeof(frame)),
                    ==, sizeof(frame));
    g_assert_cmphex(chimney_rx_desc_done(&os, &rx, 0, &len), ==,
                    CHIMNEY_DESC_DONE);
    g_assert_cmpuint(len, ==, 1024);
    g_assert_cmphex(chimney_rx_desc_done(&os, &rx, 1, &len), ==,
                    CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    g_assert_cmpuint(len, ==, sizeof(frame) - 1024);
    g_assert_cmpuint(chimney_rx_desc_done(&os, &rx, 2, &len), ==, 0);
    test_os_ops.dma_read(&f->os, &rbuf, 0, got, sizeof(got));
    g_assert_cmpmem(got, sizeof(got), frame, sizeof(frame));
    g_assert_cmpuint(chimney_ring_hw_head(&os, &rx), ==, 2);

    /* a restart clears the entries: no stale DONE */
    chimney_ring_stop(&os, &tx);
    g_assert_false(chimney_ring_hw_status(&os, &tx) &
                   CHIMNEY_RING_ST_ENABLED);
    g_assert_cmpint(chimney_ring_start(&os, &tx), ==, 0);
    g_assert_cmpuint(chimney_tx_desc_done(&os, &tx, 0), ==, 0);
    g_assert_cmpuint(tx.ntu, ==, 0);
    g_assert_cmpuint(chimney_ring_space(tx.size, tx.ntc, tx.ntu), ==, 15);

    chimney_ring_stop(&os, &tx);
    chimney_ring_stop(&os, &rx);
    chimney_ring_free(&os, &tx);
    chimney_ring_free(&os, &rx);
    test_os_ops.dma_free(&f->os, &tbuf);
    test_os_ops.dma_free(&f->os, &rbuf);
    g_assert_cmpuint(f->h->guest_errors, ==, 0);
}

/* ---------------------------------------------------------------------
 * Flow control, failures, teardown
 * ------------------------------------------------------------------ */

static void test_cmd_ring_full(Fx *f, gconstpointer data)
{
    Done d[8] = { { 0 } }, t = { 0 };
    HBlk *n, *tt[1];
    unsigned i, allocs;

    (void)data;
    g_assert_cmpint(drv_start(f, &test_os_ops, 8, 64), ==, 0);
    set_params(f, 100, CHIMNEY_ST_SUCCESS);
    /* the device is not run: the ring fills up */
    for (i = 0; i < 7; i++) {
        g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d[i]), ==, 0);
    }
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d[7]), ==,
                    CHIMNEY_DRV_EBUSY);
    n = build_npt(f, NULL, tt, 1);
    allocs = f->os.nalloc;
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &t), ==, CHIMNEY_DRV_EBUSY);
    g_assert_cmpuint(f->os.nalloc, ==, allocs);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_TEST_STATUS_POISON);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 7);
    /* the device took all 7 and no more */
    g_assert_cmpuint((ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL) -
                      ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_HEAD)) & 7,
                     ==, 7);
    g_assert_cmpuint(f->h->guest_errors, ==, 0);
    pump(f);
    for (i = 0; i < 7; i++) {
        g_assert_cmpuint(d[i].calls, ==, 1);
    }
    g_assert_cmpuint(d[7].calls, ==, 0);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    /* room again; the ring wraps */
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
    for (i = 0; i < 20; i++) {
        g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d[0]), ==, 0);
        pump(f);
    }
    g_assert_cmpuint(d[0].calls, ==, 21);
}

/* The EVT ring is full: the device stops taking commands (flow control) */
static void test_evt_ring_full(Fx *f, gconstpointer data)
{
    Done d[8] = { { 0 } };
    unsigned i;

    (void)data;
    g_assert_cmpint(drv_start(f, &test_os_ops, 16, 8), ==, 0);
    for (i = 0; i < 7; i++) {
        post(f, CHIMNEY_EVT_STATUS, CHIMNEY_STATUS_IND_RESUME, 0, 0, 0, 0);
    }
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d[i]), ==, 0);
    }
    chimney_core_cmd_process(&f->h->core);
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_CMD, CHIMNEY_RING_HEAD), ==, 0);
    pump(f);
    for (i = 0; i < 8; i++) {
        g_assert_cmpuint(d[i].calls, ==, 1);
    }
    g_assert_cmpuint(count_events(f, 'S'), ==, 7);
}

static void test_pending_full(Fx *f, gconstpointer data)
{
    Done d = { 0 };
    unsigned i;

    (void)data;
    g_assert_cmpuint(f->drv.max_pending, ==, 63);
    chimney_drv_fini(&f->drv);
    g_assert_cmpint(drv_start(f, &test_os_ops, 256, 256), ==, 0);
    g_assert_cmpuint(f->drv.max_pending, ==, CHIMNEY_DRV_MAX_PENDING);
    for (i = 0; i < CHIMNEY_DRV_MAX_PENDING; i++) {
        g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==, 0);
    }
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==,
                    CHIMNEY_DRV_EBUSY);
    pump(f);
    g_assert_cmpuint(d.calls, ==, CHIMNEY_DRV_MAX_PENDING);
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==, 0);
    pump(f);
    g_assert_cmpuint(d.calls, ==, CHIMNEY_DRV_MAX_PENDING + 1);
}

static void test_enomem(Fx *f, gconstpointer data)
{
    HBlk *n, *t[1];
    Done d = { 0 };
    static const uint16_t vids[] = { 3 };

    (void)data;
    n = build_npt(f, NULL, t, 1);
    f->os.fail_alloc = true;
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &d), ==, CHIMNEY_DRV_ENOMEM);
    g_assert_cmpint(chimney_drv_set_vlans(&f->drv, vids, 1, cmd_done, &d), ==,
                    CHIMNEY_DRV_ENOMEM);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    /* a NOP needs no memory */
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &d), ==, 0);
    f->os.fail_alloc = false;
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(run_tree(f, chimney_drv_initiate_offload, n), ==,
                    CHIMNEY_ST_SUCCESS);
}

static void test_fini_aborts(Fx *f, gconstpointer data)
{
    HBlk *n, *p, *t[2];
    Done dn = { 0 }, dt = { 0 };

    (void)data;
    n = build_npt(f, &p, t, 2);
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &dn), ==, 0);
    g_assert_cmpint(chimney_drv_initiate_offload(&f->drv, &n->b, tree_done,
                                                 &dt), ==, 0);
    chimney_drv_fini(&f->drv);
    g_assert_cmpuint(dn.calls, ==, 1);
    g_assert_cmphex(dn.status, ==, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmpuint(dt.calls, ==, 1);
    g_assert_cmphex(dt.status, ==, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_true(dt.root == &n->b);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(t[1]->b.status, ==, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(n->slot | p->slot | t[0]->slot | t[1]->slot, ==, 0);
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc);
    /* the device never ran the commands; it is quiet now */
    chimney_core_cmd_process(&f->h->core);
    g_assert_cmpuint(ofl(f)->neigh.used, ==, 0);
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &dn), ==,
                    CHIMNEY_DRV_ESHUTDOWN);
    chimney_drv_fini(&f->drv);              /* twice is harmless */
}

/* ---------------------------------------------------------------------
 * Data I/O, statistics and the IND ring, against a scripted device
 *
 * The device side of these commands is not the device core's business
 * here: the shim keeps the CMD and IND TAIL writes for the test, which
 * reads the descriptors the core wrote, answers them with post() and
 * fills IND descriptors itself, as the spec says a device does.  So
 * these tests depend only on the driver core and the EVT ring.
 * ------------------------------------------------------------------ */

#define CMD_TAIL_REG    CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL)
#define CMD_HEAD_REG    CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_HEAD)
#define CMD_CTRL_REG    CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_CTRL)
#define IND_TAIL_REG    CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_TAIL)
#define IND_CTRL_REG    CHIMNEY_RING_REG(CHIMNEY_RING_IND, CHIMNEY_RING_CTRL)

#define H_TCP1          0x3000011ull    /* device handles */
#define H_TCP2          0x3000022ull
#define HOST1           0xabc0001ull    /* their host values */
#define HOST2           0xabc0002ull

static uint32_t s_reg_read(void *os, uint32_t off)
{
    if (cur_fx->script && off == CMD_HEAD_REG) {
        return cur_fx->scr_cmd_head;
    }
    return t_reg_read(os, off);
}

static void s_reg_write(void *os, uint32_t off, uint32_t val)
{
    Fx *f = cur_fx;

    if (f->script) {
        switch (off) {
        case CMD_TAIL_REG:
            g_assert_cmpuint(val, <, f->drv.cmd_size);
            f->scr_cmd_tail = val;
            return;
        case IND_TAIL_REG:
            g_assert_cmpuint(val, <, f->drv.ind_size);
            f->scr_ind_tail = val;
            f->scr_ind_tail_writes++;
            return;
        case CMD_CTRL_REG:
            f->scr_cmd_head = f->scr_cmd_tail = 0;
            break;
        case IND_CTRL_REG:
            f->dev_ind_head = f->scr_ind_tail = 0;
            break;
        }
    }
    t_reg_write(os, off, val);
}

static const struct chimney_os_ops script_os_ops = {
    .reg_read = s_reg_read,
    .reg_write = s_reg_write,
    .dma_alloc = t_dma_alloc,
    .dma_free = t_dma_free,
    .dma_read = t_dma_read,
    .dma_write = t_dma_write,
    .log = t_log,
    .lock = t_lock,
    .unlock = t_unlock,
};

/* The core over the scripted device: CMD 8, EVT 64 (7 commands at most). */
static void fx_setup_script(Fx *f, gconstpointer data)
{
    (void)data;
    os_init(f);
    f->script = true;
    g_assert_cmpint(drv_start(f, &script_os_ops, 8, 64), ==, 0);
    g_assert_cmpuint(f->drv.max_pending, ==, 7);
}

/*
 * The port's own IND buffers (rxbuf_alloc/rxbuf_free): the fake RAM's
 * buffers, counted apart and left dirty (the contract does not promise
 * zero-filled receive buffers).
 */
static int s_rxbuf_alloc(void *os, uint32_t len, struct chimney_dma_buf *buf)
{
    TestOs *t = os;
    bool dirty = t->dirty_alloc;
    int ret;

    if (cur_fx->rxbuf_fail_after &&
        cur_fx->rxbuf_nalloc >= cur_fx->rxbuf_fail_after) {
        return -1;
    }
    t->dirty_alloc = true;
    ret = t_dma_alloc(os, len, buf);
    t->dirty_alloc = dirty;
    if (!ret) {
        cur_fx->rxbuf_nalloc++;
    }
    return ret;
}

static void s_rxbuf_free(void *os, struct chimney_dma_buf *buf)
{
    cur_fx->rxbuf_nfree++;
    t_dma_free(os, buf);
}

static const struct chimney_os_ops script_rxbuf_os_ops = {
    .reg_read = s_reg_read,
    .reg_write = s_reg_write,
    .dma_alloc = t_dma_alloc,
    .dma_free = t_dma_free,
    .dma_read = t_dma_read,
    .dma_write = t_dma_write,
    .log = t_log,
    .rxbuf_alloc = s_rxbuf_alloc,
    .rxbuf_free = s_rxbuf_free,
    .lock = t_lock,
    .unlock = t_unlock,
};

/* The scripted device, with a shim that has its own IND buffers. */
static void fx_setup_script_rxbuf(Fx *f, gconstpointer data)
{
    (void)data;
    os_init(f);
    f->script = true;
    g_assert_cmpint(drv_start(f, &script_rxbuf_os_ops, 8, 64), ==, 0);
}

/* Commands the core queued and the scripted device has not taken. */
static uint32_t scr_queued(Fx *f)
{
    return (f->scr_cmd_tail - f->scr_cmd_head) & (f->drv.cmd_size - 1);
}

/* The scripted device takes the next command (CPU order). */
static ChimneyCmdDesc scr_take(Fx *f)
{
    ChimneyCmdDesc c, *r;

    g_assert_cmpuint(scr_queued(f), >, 0);
    r = fake_ptr(f->h, f->drv.cmd_ring.dma + f->scr_cmd_head * sizeof(*r));
    c.opcode = GUINT16_FROM_LE(r->opcode);
    c.flags = GUINT16_FROM_LE(r->flags);
    c.len = GUINT32_FROM_LE(r->len);
    c.addr = GUINT64_FROM_LE(r->addr);
    c.handle = GUINT64_FROM_LE(r->handle);
    c.cookie = GUINT64_FROM_LE(r->cookie);
    f->scr_cmd_head = (f->scr_cmd_head + 1) & (f->drv.cmd_size - 1);
    return c;
}

/* Its CMD_DONE, as the device builds it (code, cookie, handle echoed). */
static void scr_done(Fx *f, const ChimneyCmdDesc *c, uint32_t status)
{
    post(f, CHIMNEY_EVT_CMD_DONE, c->opcode, status, c->cookie, c->handle, 0);
}

static void check_desc(const ChimneyCmdDesc *c, uint16_t opcode,
                       uint16_t flags, uint64_t addr, uint32_t len,
                       uint64_t handle, uint64_t cookie)
{
    g_assert_cmphex(c->opcode, ==, opcode);
    g_assert_cmphex(c->flags, ==, flags);
    g_assert_cmphex(c->addr, ==, addr);
    g_assert_cmpuint(c->len, ==, len);
    g_assert_cmphex(c->handle, ==, handle);
    g_assert_cmphex(c->cookie, ==, cookie);
}

/*
 * The four data requests: the descriptor carries the caller's buffer,
 * flags, handle and cookie unchanged; CMD_DONE reports acceptance to
 * done(); the completion event reaches on_io_done with the cookie.
 */
static void test_data_requests(Fx *f, gconstpointer data)
{
    static const struct {
        uint16_t opcode, flags, evt;
        uint64_t addr;
        uint32_t len, info;
        uint64_t cookie;
    } rq[] = {
        { CHIMNEY_CMD_SEND, CHIMNEY_SENDF_PUSH, CHIMNEY_EVT_SEND_DONE,
          0x12345000, 1460, 1460, 0x1111 },
        { CHIMNEY_CMD_SEND, 0, CHIMNEY_EVT_SEND_DONE,
          0x12346000, 1, 1, 0x7fffffffffffffffull },
        { CHIMNEY_CMD_RECV_POST, CHIMNEY_RECVF_NO_PUSH,
          CHIMNEY_EVT_RECV_DONE, 0x20000000, 65536, 300, 0x2222 },
        { CHIMNEY_CMD_RECV_POST, 0, CHIMNEY_EVT_RECV_DONE, 0, 0, 0, 0 },
        { CHIMNEY_CMD_DISCONNECT, CHIMNEY_DISC_GRACEFUL,
          CHIMNEY_EVT_DISC_DONE, 0x30000000, 10, 10, 0x3333 },
        { CHIMNEY_CMD_DISCONNECT, CHIMNEY_DISC_ABORTIVE,
          CHIMNEY_EVT_DISC_DONE, 0, 0, 0, 0x3334 },
        { CHIMNEY_CMD_FORWARD, 0, CHIMNEY_EVT_FORWARD_DONE,
          0x40000000, 20, 0, 0x4444 },
    };
    Done d[G_N_ELEMENTS(rq)] = { { 0 } };
    ChimneyCmdDesc c;
    const Rec *r;
    unsigned i;
    int ret;

    (void)data;
    for (i = 0; i < G_N_ELEMENTS(rq); i++) {
        uint64_t h = H_TCP1 + i;

        switch (rq[i].opcode) {
        case CHIMNEY_CMD_SEND:
            ret = chimney_drv_send(&f->drv, h, rq[i].addr, rq[i].len,
                                   rq[i].flags, rq[i].cookie, cmd_done,
                                   &d[i]);
            break;
        case CHIMNEY_CMD_RECV_POST:
            ret = chimney_drv_recv_post(&f->drv, h, rq[i].addr, rq[i].len,
                                        rq[i].flags, rq[i].cookie, cmd_done,
                                        &d[i]);
            break;
        case CHIMNEY_CMD_DISCONNECT:
            ret = chimney_drv_disconnect(&f->drv, h, rq[i].addr, rq[i].len,
                                         rq[i].flags, rq[i].cookie, cmd_done,
                                         &d[i]);
            break;
        default:
            ret = chimney_drv_forward(&f->drv, h, rq[i].addr, rq[i].len,
                                      rq[i].cookie, cmd_done, &d[i]);
            break;
        }
        g_assert_cmpint(ret, ==, 0);
        g_assert_cmpuint(scr_queued(f), ==, 1);
        c = scr_take(f);
        check_desc(&c, rq[i].opcode, rq[i].flags, rq[i].addr, rq[i].len, h,
                   rq[i].cookie);
        g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 1);

        /* accepted: done() gets the CMD_DONE status ... */
        scr_done(f, &c, CHIMNEY_ST_SUCCESS);
        pump(f);
        g_assert_cmpuint(d[i].calls, ==, 1);
        g_assert_cmphex(d[i].status, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
        g_assert_cmpuint(count_events(f, 'I'), ==, i);

        /* ... and the completion event carries the request's cookie */
        post(f, rq[i].evt, rq[i].opcode, CHIMNEY_ST_SUCCESS, rq[i].cookie, h,
             rq[i].info);
        pump(f);
        g_assert_cmpuint(count_events(f, 'I'), ==, i + 1);
        r = last_rec(f);
        g_assert_cmpint(r->kind, ==, 'I');
        g_assert_cmphex(r->cookie, ==, rq[i].cookie);
        g_assert_cmphex(r->handle, ==, h);
        g_assert_cmpuint(r->type, ==, rq[i].evt);
        g_assert_cmphex(r->a, ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(r->b, ==, rq[i].info);
        g_assert_cmpuint(d[i].calls, ==, 1);        /* not called again */
    }
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);

    /* refused at acceptance: the status is final, done() has it */
    d[0].calls = 0;
    g_assert_cmpint(chimney_drv_send(&f->drv, H_TCP1, 0x1000, 5, 0, 0x55,
                                     cmd_done, &d[0]), ==, 0);
    c = scr_take(f);
    scr_done(f, &c, CHIMNEY_ST_BAD_HANDLE);
    pump(f);
    g_assert_cmpuint(d[0].calls, ==, 1);
    g_assert_cmphex(d[0].status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);

    /* done may be NULL */
    g_assert_cmpint(chimney_drv_send(&f->drv, H_TCP1, 0x1000, 5, 0, 0x56,
                                     NULL, NULL), ==, 0);
    c = scr_take(f);
    scr_done(f, &c, CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);
}

/*
 * The cookie scheme: core cookies have bit 63, request cookies must not;
 * CMD_DONE matching stays exact when a request's cookie equals a core
 * cookie's low bits, and a completion event never completes a command.
 */
static void test_data_cookies(Fx *f, gconstpointer data)
{
    Done dn = { 0 }, ds = { 0 }, ds2 = { 0 }, dr = { 0 };
    ChimneyCmdDesc nop, snd, snd2, rcv;
    uint64_t core, raw = 0, low;

    (void)data;
    /* bit 63 is the core's: refused, nothing queued */
    g_assert_cmpint(chimney_drv_send(&f->drv, H_TCP1, 0x1000, 10, 0,
                                     CHIMNEY_DRV_COOKIE_CORE | 5, cmd_done,
                                     &ds), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, H_TCP1, 0x1000, 10, 0,
                                          ~0ull, cmd_done, &ds), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_disconnect(&f->drv, H_TCP1, 0, 0,
                                           CHIMNEY_DISC_ABORTIVE,
                                           CHIMNEY_DRV_COOKIE_CORE, cmd_done,
                                           &ds), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_forward(&f->drv, H_TCP1, 0x1000, 20,
                                        CHIMNEY_DRV_COOKIE_CORE | 1, cmd_done,
                                        &ds), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpuint(scr_queued(f), ==, 0);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_true(log_contains(&f->os, "has bit 63 set"));

    /* the core's own cookies have bit 63 */
    g_assert_cmpint(chimney_drv_nop(&f->drv, cmd_done, &dn), ==, 0);
    nop = scr_take(f);
    core = nop.cookie;
    g_assert_cmphex(core & CHIMNEY_DRV_COOKIE_CORE, ==,
                    CHIMNEY_DRV_COOKIE_CORE);
    g_assert_cmpint(chimney_drv_raw_cmd(&f->drv, 0x7e, 0, 0, 0, 0, NULL, NULL,
                                        &raw), ==, 0);
    g_assert_cmphex(raw & CHIMNEY_DRV_COOKIE_CORE, ==,
                    CHIMNEY_DRV_COOKIE_CORE);
    g_assert_cmphex(scr_take(f).cookie, ==, raw);

    /* a SEND whose cookie is the NOP's without bit 63, on handle 0 too */
    low = core & ~CHIMNEY_DRV_COOKIE_CORE;
    g_assert_cmpint(chimney_drv_send(&f->drv, 0, 0x1000, 10, 0, low,
                                     cmd_done, &ds), ==, 0);
    snd = scr_take(f);
    g_assert_cmphex(snd.cookie, ==, low);
    /* the raw command completes: its table slot, below the SEND's, is
     * free for the next request (so table order is not age order) */
    post(f, CHIMNEY_EVT_CMD_DONE, 0x7e, CHIMNEY_ST_NOT_SUPPORTED, raw, 0, 0);
    pump(f);
    /* a second SEND with the same cookie and handle, and a RECV_POST */
    g_assert_cmpint(chimney_drv_send(&f->drv, 0, 0x2000, 20, 0, low,
                                     cmd_done, &ds2), ==, 0);
    snd2 = scr_take(f);
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, 0, 0x3000, 30, 0, low,
                                          cmd_done, &dr), ==, 0);
    rcv = scr_take(f);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 4);

    /* completion events are not CMD_DONEs: nothing completes */
    post(f, CHIMNEY_EVT_SEND_DONE, CHIMNEY_CMD_SEND, CHIMNEY_ST_SUCCESS, core,
         0, 10);
    post(f, CHIMNEY_EVT_SEND_DONE, CHIMNEY_CMD_SEND, CHIMNEY_ST_SUCCESS, low,
         0, 10);
    /* CMD_DONEs that match no command: the request cookie with another
     * opcode or handle, the core cookie without bit 63 for a NOP */
    post(f, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_FORWARD, 0, low, 0, 0);
    post(f, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_SEND, 0, low, H_TCP1, 0);
    post(f, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP, 0, low, 0, 0);
    pump(f);
    g_assert_cmpuint(dn.calls + ds.calls + ds2.calls + dr.calls, ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 3);
    g_assert_cmpuint(count_events(f, 'I'), ==, 2);
    g_assert_cmphex(g_array_index(f->events, Rec, 0).cookie, ==, core);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 4);

    /* the RECV_POST's CMD_DONE completes the RECV_POST only */
    scr_done(f, &rcv, CHIMNEY_ST_INVALID_STATE);
    pump(f);
    g_assert_cmpuint(dr.calls, ==, 1);
    g_assert_cmphex(dr.status, ==, CHIMNEY_ST_INVALID_STATE);
    g_assert_cmpuint(dn.calls + ds.calls + ds2.calls, ==, 0);
    /* same cookie, opcode and handle twice: the older request first */
    scr_done(f, &snd2, CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(ds.calls, ==, 1);
    g_assert_cmphex(ds.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(ds2.calls, ==, 0);
    scr_done(f, &snd, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    pump(f);
    g_assert_cmpuint(ds2.calls, ==, 1);
    g_assert_cmphex(ds2.status, ==, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmpuint(dn.calls, ==, 0);
    /* the NOP's own CMD_DONE */
    scr_done(f, &nop, CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(dn.calls, ==, 1);
    g_assert_cmphex(dn.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 3);
    /* the same CMD_DONE again is unknown now */
    scr_done(f, &snd, CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 4);
    g_assert_cmpuint(ds.calls + ds2.calls, ==, 2);
}

/*
 * RECV_POST with CHIMNEY_RECVF_SGL (spec RECV_POST): the descriptor
 * carries the list's address and its entry count unchanged (and
 * CHIMNEY_RECVF_HOLD with them); a count outside 1..CHIMNEY_RECV_SGL_MAX,
 * which the device would refuse with BAD_LENGTH, or an unknown flag, is
 * refused before anything is queued.
 */
static void test_recv_post_sgl(Fx *f, gconstpointer data)
{
    static const uint32_t bad[] = { 0, CHIMNEY_RECV_SGL_MAX + 1, ~0u };
    static const uint32_t good[] = { 1, 17, CHIMNEY_RECV_SGL_MAX };
    const uint16_t sgl = CHIMNEY_RECVF_SGL;
    Done d[G_N_ELEMENTS(good)] = { { 0 } };
    ChimneyCmdDesc c;
    const Rec *r;
    unsigned i;

    (void)data;
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_cmpint(chimney_drv_recv_post(&f->drv, H_TCP1, 0x5000,
                                              bad[i], sgl, 0x77, cmd_done,
                                              &d[0]), ==, CHIMNEY_DRV_EINVAL);
        g_assert_cmpint(chimney_drv_recv_post(&f->drv, H_TCP1, 0x5000,
                                              bad[i],
                                              sgl | CHIMNEY_RECVF_NO_PUSH,
                                              0x77, cmd_done, &d[0]), ==,
                        CHIMNEY_DRV_EINVAL);
    }
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, H_TCP1, 0x5000, 1,
                                          sgl | (1u << 3), 0x77, cmd_done,
                                          &d[0]), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpuint(scr_queued(f), ==, 0);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(d[0].calls, ==, 0);

    for (i = 0; i < G_N_ELEMENTS(good); i++) {
        uint16_t flags = i == 1 ? sgl | CHIMNEY_RECVF_NO_PUSH :
                         i == 2 ? sgl | CHIMNEY_RECVF_HOLD : sgl;

        g_assert_cmpint(chimney_drv_recv_post(&f->drv, H_TCP1 + i,
                                              0x6000 + i * 0x1000, good[i],
                                              flags, 0x100 + i, cmd_done,
                                              &d[i]), ==, 0);
        c = scr_take(f);
        check_desc(&c, CHIMNEY_CMD_RECV_POST, flags, 0x6000 + i * 0x1000,
                   good[i], H_TCP1 + i, 0x100 + i);
        scr_done(f, &c, CHIMNEY_ST_SUCCESS);
        pump(f);
        g_assert_cmpuint(d[i].calls, ==, 1);
        g_assert_cmphex(d[i].status, ==, CHIMNEY_ST_SUCCESS);
        /* RECV_DONE info: bytes placed over all pieces */
        post(f, CHIMNEY_EVT_RECV_DONE, CHIMNEY_CMD_RECV_POST,
             CHIMNEY_ST_SUCCESS, 0x100 + i, H_TCP1 + i, 70000 + i);
        pump(f);
        r = last_rec(f);
        g_assert_cmpint(r->kind, ==, 'I');
        g_assert_cmphex(r->cookie, ==, 0x100 + i);
        g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_RECV_DONE);
        g_assert_cmpuint(r->b, ==, 70000 + i);
    }
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);
}

/*
 * RECV_FLUSH (spec RECV_FLUSH): a core-cookie command on the connection
 * handle with flags 0, len 0, addr 0; done() gets its CMD_DONE status
 * (BAD_HANDLE included); the RECV_DONEs it causes reach on_io_done with
 * the requests' cookies, not done().
 */
static void test_recv_flush(Fx *f, gconstpointer data)
{
    Done dr = { 0 }, df = { 0 }, dbad = { 0 };
    ChimneyCmdDesc rcv, fl;
    const Rec *r;

    (void)data;
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, H_TCP1, 0x7000, 2,
                                          CHIMNEY_RECVF_SGL, 0x42, cmd_done,
                                          &dr), ==, 0);
    rcv = scr_take(f);
    scr_done(f, &rcv, CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(dr.calls, ==, 1);

    g_assert_cmpint(chimney_drv_recv_flush(&f->drv, H_TCP1, cmd_done, &df),
                    ==, 0);
    fl = scr_take(f);
    g_assert_cmpuint(fl.opcode, ==, CHIMNEY_CMD_RECV_FLUSH);
    g_assert_cmpuint(fl.flags, ==, 0);
    g_assert_cmpuint(fl.len, ==, 0);
    g_assert_cmphex(fl.addr, ==, 0);
    g_assert_cmphex(fl.handle, ==, H_TCP1);
    g_assert_cmphex(fl.cookie & CHIMNEY_DRV_COOKIE_CORE, ==,
                    CHIMNEY_DRV_COOKIE_CORE);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 1);
    /* CMD_DONE first, then the flushed request's RECV_DONE */
    scr_done(f, &fl, CHIMNEY_ST_SUCCESS);
    post(f, CHIMNEY_EVT_RECV_DONE, CHIMNEY_CMD_RECV_POST, CHIMNEY_ST_SUCCESS,
         0x42, H_TCP1, 1234);
    pump(f);
    g_assert_cmpuint(df.calls, ==, 1);
    g_assert_cmphex(df.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(dr.calls, ==, 1);
    r = last_rec(f);
    g_assert_cmpint(r->kind, ==, 'I');
    g_assert_cmphex(r->cookie, ==, 0x42);
    g_assert_cmpuint(r->b, ==, 1234);

    /* a bad handle: the status is done()'s, nothing else follows */
    g_assert_cmpint(chimney_drv_recv_flush(&f->drv, H_TCP2, cmd_done, &dbad),
                    ==, 0);
    fl = scr_take(f);
    scr_done(f, &fl, CHIMNEY_ST_BAD_HANDLE);
    pump(f);
    g_assert_cmpuint(dbad.calls, ==, 1);
    g_assert_cmphex(dbad.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmpuint(count_events(f, 'I'), ==, 1);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);

    /* after fini: refused */
    chimney_drv_fini(&f->drv);
    f->inited = false;
    g_assert_cmpint(chimney_drv_recv_flush(&f->drv, H_TCP1, cmd_done, &df),
                    ==, CHIMNEY_DRV_ESHUTDOWN);
    g_assert_cmpuint(df.calls, ==, 1);
}

/* Arguments the device would refuse are refused before queueing. */
static void test_data_bad_args(Fx *f, gconstpointer data)
{
    ChimneyOffloadStats st;
    Done d = { 0 };

    (void)data;
    g_assert_cmpint(chimney_drv_send(&f->drv, H_TCP1, 0x1000, 0, 0, 1,
                                     cmd_done, &d), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_send(&f->drv, H_TCP1, 0x1000, 1, 2, 1,
                                     cmd_done, &d), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, H_TCP1, 0x1000, 1, 8, 1,
                                          cmd_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_disconnect(&f->drv, H_TCP1, 0, 0, 0, 1,
                                           cmd_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_disconnect(&f->drv, H_TCP1, 0, 0,
                                           CHIMNEY_DISC_GRACEFUL |
                                           CHIMNEY_DISC_ABORTIVE, 1,
                                           cmd_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    /* RCV_CLOSED alone or with GRACEFUL (spec DISCONNECT) */
    g_assert_cmpint(chimney_drv_disconnect(&f->drv, H_TCP1, 0, 0,
                                           CHIMNEY_DISC_ABORTIVE |
                                           CHIMNEY_DISC_RCV_CLOSED, 1,
                                           cmd_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_forward(&f->drv, H_TCP1, 0x1000, 19, 1,
                                        cmd_done, &d), ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_clear_stats(&f->drv, 0x10, cmd_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_query_stats(&f->drv, NULL, cmd_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpuint(scr_queued(f), ==, 0);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);

    /* the pending table is shared: full means EBUSY for data too */
    while (scr_queued(f) < 7) {
        g_assert_cmpint(chimney_drv_nop(&f->drv, NULL, NULL), ==, 0);
    }
    g_assert_cmpint(chimney_drv_send(&f->drv, H_TCP1, 0x1000, 1, 0, 1,
                                     cmd_done, &d), ==, CHIMNEY_DRV_EBUSY);

    /* after fini: requests in flight are aborted, new ones refused */
    chimney_drv_fini(&f->drv);
    f->inited = false;
    g_assert_cmpint(chimney_drv_send(&f->drv, H_TCP1, 0x1000, 1, 0, 1,
                                     cmd_done, &d), ==, CHIMNEY_DRV_ESHUTDOWN);
    g_assert_cmpint(chimney_drv_query_stats(&f->drv, &st, cmd_done, &d), ==,
                    CHIMNEY_DRV_ESHUTDOWN);
    g_assert_cmpint(chimney_drv_ind_done(&f->drv, H_TCP1, 0, cmd_done, &d),
                    ==, CHIMNEY_DRV_ESHUTDOWN);
    g_assert_cmpuint(d.calls, ==, 0);
}

static void test_data_fini_aborts(Fx *f, gconstpointer data)
{
    Done ds = { 0 }, dr = { 0 };

    (void)data;
    g_assert_cmpint(chimney_drv_send(&f->drv, H_TCP1, 0x1000, 10, 0, 9,
                                     cmd_done, &ds), ==, 0);
    g_assert_cmpint(chimney_drv_recv_post(&f->drv, H_TCP1, 0x1000, 10, 0, 9,
                                          cmd_done, &dr), ==, 0);
    chimney_drv_fini(&f->drv);
    f->inited = false;
    g_assert_cmpuint(ds.calls, ==, 1);
    g_assert_cmphex(ds.status, ==, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmpuint(dr.calls, ==, 1);
    g_assert_cmphex(dr.status, ==, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
}

/* QUERY_STATS: the device's 216 bytes reach the caller, as written. */
static void test_stats(Fx *f, gconstpointer data)
{
    ChimneyOffloadStats out, dev;
    Done d = { 0 };
    ChimneyCmdDesc c;
    unsigned frees;
    uint8_t *p;
    unsigned i;

    (void)data;
    memset(&out, 0x5a, sizeof(out));
    frees = f->os.nfree;
    g_assert_cmpint(chimney_drv_query_stats(&f->drv, &out, cmd_done, &d), ==,
                    0);
    c = scr_take(f);
    g_assert_cmphex(c.opcode, ==, CHIMNEY_CMD_QUERY_STATS);
    g_assert_cmpuint(c.len, ==, 216);
    g_assert_cmphex(c.addr, !=, 0);
    g_assert_cmphex(c.cookie & CHIMNEY_DRV_COOKIE_CORE, !=, 0);
    /* the device writes its structure into the buffer */
    for (i = 0, p = (uint8_t *)&dev; i < sizeof(dev); i++) {
        p[i] = (uint8_t)(i * 13 + 1);
    }
    dev.hdr.length = GUINT32_TO_LE(216);
    dev.hdr.recognized_options = 0;
    dev.tcp6.in_segments = GUINT64_TO_LE(0x1122334455667788ull);
    memcpy(fake_ptr(f->h, c.addr), &dev, sizeof(dev));
    g_assert_cmphex(out.tcp4.rsvd, ==, 0x5a5a5a5a);     /* not yet */
    scr_done(f, &c, CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(&out, sizeof(out), &dev, sizeof(dev));
    g_assert_cmpuint(GUINT64_FROM_LE(out.tcp6.in_segments), ==,
                     0x1122334455667788ull);
    g_assert_cmpuint(f->os.nfree, ==, frees + 1);       /* buffer freed */

    /* a failed query leaves *out alone */
    memset(&out, 0x5a, sizeof(out));
    g_assert_cmpint(chimney_drv_query_stats(&f->drv, &out, cmd_done, &d), ==,
                    0);
    c = scr_take(f);
    memcpy(fake_ptr(f->h, c.addr), &dev, sizeof(dev));
    scr_done(f, &c, CHIMNEY_ST_DMA_ERROR);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 2);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_DMA_ERROR);
    for (i = 0, p = (uint8_t *)&out; i < sizeof(out); i++) {
        g_assert_cmphex(p[i], ==, 0x5a);
    }

    /* CLEAR_STATS: the flags go into the descriptor */
    g_assert_cmpint(chimney_drv_clear_stats(&f->drv, CHIMNEY_STATS_TCP4 |
                                            CHIMNEY_STATS_IP6, cmd_done, &d),
                    ==, 0);
    c = scr_take(f);
    check_desc(&c, CHIMNEY_CMD_CLEAR_STATS,
               CHIMNEY_STATS_TCP4 | CHIMNEY_STATS_IP6, 0, 0, 0, c.cookie);
    scr_done(f, &c, CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 3);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);

    /* fini aborts a query in flight without touching *out */
    memset(&out, 0x5a, sizeof(out));
    g_assert_cmpint(chimney_drv_query_stats(&f->drv, &out, cmd_done, &d), ==,
                    0);
    c = scr_take(f);
    memcpy(fake_ptr(f->h, c.addr), &dev, sizeof(dev));
    chimney_drv_fini(&f->drv);
    f->inited = false;
    g_assert_cmpuint(d.calls, ==, 4);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(out.ip6.rsvd, ==, 0x5a5a5a5a);
}

/* ---- The IND ring ---- */

static ChimneyIndDesc *ind_desc(Fx *f, uint32_t idx)
{
    return fake_ptr(f->h, f->drv.ind_ring.dma + idx * sizeof(ChimneyIndDesc));
}

/* Posted by the core: its slot's buffer, buf_len, nothing else. */
static void check_armed(Fx *f, uint32_t idx)
{
    ChimneyIndDesc *d = ind_desc(f, idx);

    g_assert_cmphex(GUINT64_FROM_LE(d->addr), ==,
                    f->drv.ind_slot[idx].buf.dma);
    g_assert_cmpuint(GUINT32_FROM_LE(d->buf_len), ==, f->drv.ind_buf_size);
    g_assert_cmpuint(d->len, ==, 0);
    g_assert_cmphex(d->handle, ==, 0);
    g_assert_cmpuint(d->seq, ==, 0);
    g_assert_cmphex(d->status, ==, 0);
}

/* The IND descriptors the scripted device owns: [HEAD, TAIL). */
static uint32_t dev_ind_owned(Fx *f)
{
    return (f->scr_ind_tail - f->dev_ind_head) & (f->drv.ind_size - 1);
}

/*
 * The scripted device completes its next IND descriptor (data, then len,
 * handle, seq, then status), which it must own and find posted.
 */
static uint32_t dev_ind_put(Fx *f, const void *bytes, uint32_t len,
                            uint64_t handle, uint32_t seq, uint16_t status)
{
    uint32_t idx = f->dev_ind_head;
    ChimneyIndDesc *d = ind_desc(f, idx);

    g_assert_cmpuint(dev_ind_owned(f), >, 0);
    check_armed(f, idx);
    g_assert_cmpuint(len, <=, f->drv.ind_buf_size);
    if (len) {
        memcpy(fake_ptr(f->h, GUINT64_FROM_LE(d->addr)), bytes, len);
    }
    d->len = GUINT32_TO_LE(len);
    d->handle = GUINT64_TO_LE(handle);
    d->seq = GUINT32_TO_LE(seq);
    d->status = GUINT16_TO_LE(status);
    f->dev_ind_head = (idx + 1) & (f->drv.ind_size - 1);
    return idx;
}

/* An indication of @len bytes in buffers of @per bytes, and its event. */
static void dev_indicate(Fx *f, uint64_t host, uint64_t handle,
                         const uint8_t *bytes, uint32_t len, uint32_t per,
                         uint32_t seq)
{
    uint32_t off = 0, n;

    while (off < len) {
        n = MIN(per, len - off);
        dev_ind_put(f, bytes + off, n, handle, seq + off,
                    CHIMNEY_DESC_DONE |
                    (off + n == len ? CHIMNEY_DESC_EOP : 0));
        off += n;
    }
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, host, handle, len);
}

static void fill_pattern(uint8_t *p, uint32_t len, uint8_t salt)
{
    uint32_t i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 31 + salt);
    }
}

/* The core's IND_DONE, taken by the scripted device and acknowledged. */
static void expect_ind_done(Fx *f, uint64_t handle, uint32_t len)
{
    ChimneyCmdDesc c = scr_take(f);

    check_desc(&c, CHIMNEY_CMD_IND_DONE, 0, 0, len, handle, c.cookie);
    g_assert_cmphex(c.cookie & CHIMNEY_DRV_COOKIE_CORE, !=, 0);
    scr_done(f, &c, CHIMNEY_ST_SUCCESS);
}

/* Bring-up: registers, every slot posted with its own buffer, TAIL. */
static void test_ind_start(Fx *f, gconstpointer data)
{
    uint64_t base;
    unsigned allocs, i, j;

    (void)data;
    /* sizes */
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 12, 2048), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 4, 2048), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_ind_start(&f->drv,
                                          CHIMNEY_DRV_IND_RING_MAX * 2, 2048),
                    ==, CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 0), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8,
                                          CHIMNEY_DRV_IND_BUF_MAX + 1), ==,
                    CHIMNEY_DRV_EINVAL);
    /* no memory: nothing kept, nothing enabled */
    allocs = f->os.nalloc;
    f->os.fail_alloc = true;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 2048), ==,
                    CHIMNEY_DRV_ENOMEM);
    f->os.fail_alloc = false;
    g_assert_cmpuint(f->os.nalloc, ==, allocs);
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc - 2);
    g_assert_false(f->drv.ind_running);

    g_assert_cmpint(chimney_drv_ind_start(&f->drv, CHIMNEY_DRV_IND_RING_MAX,
                                          1500), ==, 0);
    g_assert_cmpuint(f->os.nalloc, ==, allocs + 1 + CHIMNEY_DRV_IND_RING_MAX);
    base = f->drv.ind_ring.dma;
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_IND, CHIMNEY_RING_ADDR_LO), ==,
                    (uint32_t)base);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_IND, CHIMNEY_RING_ADDR_HI), ==,
                    (uint32_t)(base >> 32));
    g_assert_cmpuint(ring_reg(f, CHIMNEY_RING_IND, CHIMNEY_RING_SIZE), ==,
                     CHIMNEY_DRV_IND_RING_MAX);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_IND, CHIMNEY_RING_STATUS), ==,
                    CHIMNEY_RING_ST_ENABLED);
    /* all slots but one given to the device, in one TAIL write */
    g_assert_cmpuint(f->scr_ind_tail, ==, CHIMNEY_DRV_IND_RING_MAX - 1);
    g_assert_cmpuint(f->scr_ind_tail_writes, ==, 1);
    for (i = 0; i < CHIMNEY_DRV_IND_RING_MAX; i++) {
        check_armed(f, i);
        for (j = 0; j < i; j += 37) {
            g_assert_cmphex(f->drv.ind_slot[i].buf.dma, !=,
                            f->drv.ind_slot[j].buf.dma);
        }
    }
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 2048), ==,
                    CHIMNEY_DRV_EBUSY);
    g_assert_cmpuint(f->h->guest_errors, ==, 0);

    /* stop: the ring is disabled and everything freed */
    chimney_drv_ind_stop(&f->drv);
    g_assert_false(f->drv.ind_running);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_IND, CHIMNEY_RING_STATUS) &
                    CHIMNEY_RING_ST_ENABLED, ==, 0);
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc - 2);
    chimney_drv_ind_stop(&f->drv);                  /* twice is harmless */

    /* the device refuses the ring: EIO, nothing kept */
    os_override(&f->os, CHIMNEY_RING_REG(CHIMNEY_RING_IND,
                                         CHIMNEY_RING_STATUS),
                CHIMNEY_RING_ST_ERROR | CHIMNEY_ERR_DMA << 8);
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 2048), ==,
                    CHIMNEY_DRV_EIO);
    f->os.novr = 0;
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc - 2);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_IND, CHIMNEY_RING_CTRL), ==, 0);

    /* again, then fini tears it down (the teardown checks the frees) */
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 2048), ==, 0);
    chimney_drv_fini(&f->drv);
    f->inited = false;
    g_assert_false(f->drv.ind_running);
    g_assert_cmphex(ring_reg(f, CHIMNEY_RING_IND, CHIMNEY_RING_CTRL), ==, 0);
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc);
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 2048), ==,
                    CHIMNEY_DRV_ESHUTDOWN);
}

/*
 * One indication over several buffers with error descriptors before and
 * inside it: the host sees the data buffers in order, the core answers
 * IND_DONE with what the host returned and re-posts every buffer.
 */
static void test_ind_gather(Fx *f, gconstpointer data)
{
    uint8_t bytes[114];
    uint32_t i;
    unsigned tails;

    (void)data;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 64), ==, 0);
    fill_pattern(bytes, sizeof(bytes), 3);
    tails = f->scr_ind_tail_writes;
    /* a zero-length buffer refused on its own, then the indication with
     * a buffer the device failed to use in the middle */
    dev_ind_put(f, NULL, 0, 0, 0,
                CHIMNEY_DESC_DONE | CHIMNEY_ERR_ZERO_LEN << 8);
    dev_ind_put(f, bytes, 40, H_TCP1, 1000, CHIMNEY_DESC_DONE);
    dev_ind_put(f, NULL, 0, 0, 0, CHIMNEY_DESC_DONE | CHIMNEY_ERR_DMA << 8);
    dev_ind_put(f, bytes + 40, 64, H_TCP1, 1040, CHIMNEY_DESC_DONE);
    dev_ind_put(f, bytes + 104, 10, H_TCP1, 1104,
                CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, HOST1, H_TCP1, 114);
    f->ind_ret = 50;
    pump(f);

    g_assert_cmpuint(f->ind_calls, ==, 1);
    g_assert_cmphex(f->ind_cookie, ==, HOST1);
    g_assert_cmphex(f->ind_handle, ==, H_TCP1);
    g_assert_cmpuint(f->ind_nfrags, ==, 3);
    g_assert_cmpuint(f->ind_total, ==, 114);
    g_assert_cmpuint(f->ind_lens[0], ==, 40);
    g_assert_cmpuint(f->ind_lens[1], ==, 64);
    g_assert_cmpuint(f->ind_lens[2], ==, 10);
    g_assert_cmpuint(f->ind_seqs[0], ==, 1000);
    g_assert_cmpuint(f->ind_seqs[1], ==, 1040);
    g_assert_cmpuint(f->ind_seqs[2], ==, 1104);
    g_assert_cmpmem(f->ind_data, 114, bytes, 114);
    g_assert_cmpuint(f->drv.n_indications, ==, 1);
    g_assert_cmpuint(f->drv.n_ind_err_desc, ==, 2);
    g_assert_cmpuint(f->drv.n_ind_bad, ==, 0);
    g_assert_cmpuint(count_events(f, 'T'), ==, 0);  /* not a TCP event */

    /* IND_DONE with the host's 50 bytes */
    g_assert_cmpuint(scr_queued(f), ==, 1);
    expect_ind_done(f, H_TCP1, 50);
    /* all five slots re-posted, TAIL one behind the next to examine */
    g_assert_cmpuint(f->drv.ind_next, ==, 5);
    g_assert_cmpuint(f->scr_ind_tail, ==, 4);
    g_assert_cmpuint(f->scr_ind_tail_writes, ==, tails + 1);
    for (i = 0; i < 8; i++) {
        check_armed(f, i);
    }
    pump(f);                                /* the IND_DONE's CMD_DONE */
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_ind_done_failed, ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);

    /* the device failing an IND_DONE is counted */
    dev_indicate(f, HOST2, H_TCP2, bytes, 7, 64, 5);
    f->ind_ret = 7;
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 2);
    g_assert_cmphex(f->ind_cookie, ==, HOST2);
    {
        ChimneyCmdDesc c = scr_take(f);

        check_desc(&c, CHIMNEY_CMD_IND_DONE, 0, 0, 7, H_TCP2, c.cookie);
        scr_done(f, &c, CHIMNEY_ST_INVALID_STATE);
    }
    pump(f);
    g_assert_cmpuint(f->drv.n_ind_done_failed, ==, 1);
    g_assert_true(log_contains(&f->os, "IND_DONE completed with status"));
    g_assert_cmpuint(f->h->guest_errors, ==, 0);
}

/*
 * Many indications around a small ring: the device only ever finds
 * posted buffers in the slots it owns (dev_ind_put checks), the host sees
 * each indication's bytes, IND_DONE follows each one.
 */
static void test_ind_wrap(Fx *f, gconstpointer data)
{
    uint8_t bytes[7 * 16];
    uint32_t round, len;

    (void)data;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 16), ==, 0);
    f->ind_ret_all = true;
    for (round = 0; round < 40; round++) {
        /* 1 to 7 buffers: up to all the device owns */
        len = 1 + (round * 37) % (7 * 16);
        g_assert_cmpuint(dev_ind_owned(f), ==, 7);
        fill_pattern(bytes, len, (uint8_t)round);
        dev_indicate(f, HOST1 + round, H_TCP1 + round, bytes, len, 16,
                     round * 1000);
        pump(f);
        g_assert_cmpuint(f->ind_calls, ==, round + 1);
        g_assert_cmpuint(f->ind_total, ==, len);
        g_assert_cmpuint(f->ind_nfrags, ==, (len + 15) / 16);
        g_assert_cmphex(f->ind_handle, ==, H_TCP1 + round);
        g_assert_cmpmem(f->ind_data, len, bytes, len);
        expect_ind_done(f, H_TCP1 + round, len);
        pump(f);
        g_assert_cmpuint(f->scr_ind_tail, ==,
                         (f->drv.ind_next - 1) & (f->drv.ind_size - 1));
    }
    /* the 40 IND_DONEs matched: no unknown cookie, no failures */
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);
    g_assert_cmpuint(f->drv.n_ind_done_failed, ==, 0);
    g_assert_cmpuint(f->drv.n_ind_bad, ==, 0);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
}

/* Descriptors completed in error without an event are reclaimed. */
static void test_ind_reclaim(Fx *f, gconstpointer data)
{
    uint32_t i;
    unsigned tails;

    (void)data;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 64), ==, 0);
    tails = f->scr_ind_tail_writes;
    /* a failed indication: every buffer it used in error, no event */
    for (i = 0; i < 3; i++) {
        dev_ind_put(f, NULL, 0, 0, 0,
                    CHIMNEY_DESC_DONE | CHIMNEY_ERR_DMA << 8);
    }
    /* an indication whose event has not come: left alone */
    dev_ind_put(f, "abc", 3, H_TCP1, 0, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    g_assert_cmpuint(chimney_drv_process_events(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_ind_err_desc, ==, 3);
    g_assert_cmpuint(f->drv.ind_next, ==, 3);
    g_assert_cmpuint(f->scr_ind_tail, ==, 2);
    g_assert_cmpuint(f->scr_ind_tail_writes, ==, tails + 1);
    for (i = 0; i < 3; i++) {
        check_armed(f, i);
    }
    g_assert_cmphex(GUINT16_FROM_LE(ind_desc(f, 3)->status), ==,
                    CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    g_assert_cmpuint(f->ind_calls, ==, 0);
    g_assert_cmpuint(scr_queued(f), ==, 0);
    /* nothing more to do: no TAIL write */
    g_assert_cmpuint(chimney_drv_process_events(&f->drv), ==, 0);
    g_assert_cmpuint(f->scr_ind_tail_writes, ==, tails + 1);
    /* then its event */
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, HOST1, H_TCP1, 3);
    f->ind_ret = 3;
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 1);
    g_assert_cmpmem(f->ind_data, 3, "abc", 3);
    expect_ind_done(f, H_TCP1, 3);
    g_assert_cmpuint(f->scr_ind_tail, ==, 3);
    pump(f);
}

/*
 * chimney_drv_ind_swap(): the host takes some of an indication's buffers
 * (every other one) and gives the slots new ones; it owns the taken
 * buffers, with the data in them; the core posts the new ones and the
 * device fills them next time round.
 */
static struct chimney_dma_buf swap_taken[CHIMNEY_DRV_IND_RING_MAX];
static uint64_t swap_fresh_dma[CHIMNEY_DRV_IND_RING_MAX];
static unsigned swap_ntaken;

static void ind_hook_swap(Fx *f, const struct chimney_drv_ind_frag *frags,
                          uint32_t nfrags)
{
    struct chimney_dma_buf fresh, small, taken, before;
    struct chimney_drv_ind_frag copy;
    uint8_t got[64];
    uint32_t i, off = 0;

    for (i = 0; i < nfrags; off += frags[i].len, i++) {
        if (i % 2) {
            continue;
        }
        before = *frags[i].buf;
        /* smaller than the ring's buffers: refused */
        g_assert_cmpint(f->drv.os.ops->dma_alloc(&f->os,
                                                 f->drv.ind_buf_size - 1,
                                                 &small), ==, 0);
        g_assert_cmpint(chimney_drv_ind_swap(&f->drv, &frags[i], &small,
                                             &taken), ==, CHIMNEY_DRV_EINVAL);
        f->drv.os.ops->dma_free(&f->os, &small);
        g_assert_nonnull(frags[i].buf);
        /* a copy of the fragment is not one on show */
        copy = frags[i];
        g_assert_cmpint(chimney_drv_ind_swap(&f->drv, &copy, &small,
                                             &taken), ==, CHIMNEY_DRV_EINVAL);

        g_assert_cmpint(f->drv.os.ops->rxbuf_alloc ?
                        f->drv.os.ops->rxbuf_alloc(&f->os,
                                                   f->drv.ind_buf_size,
                                                   &fresh) :
                        f->drv.os.ops->dma_alloc(&f->os, f->drv.ind_buf_size,
                                                 &fresh), ==, 0);
        g_assert_cmpint(chimney_drv_ind_swap(&f->drv, &frags[i], &fresh,
                                             &taken), ==, 0);
        g_assert_null(frags[i].buf);
        g_assert_cmphex(taken.dma, ==, before.dma);
        g_assert_true(taken.handle == before.handle);
        /* the data is in the taken buffer, the fragment reads nothing */
        f->drv.os.ops->dma_read(&f->os, &taken, 0, got, frags[i].len);
        g_assert_cmpmem(got, frags[i].len, f->ind_data + off, frags[i].len);
        g_assert_cmpuint(chimney_drv_ind_read(&f->drv, &frags[i], 0, got,
                                              1), ==, 0);
        /* once only */
        g_assert_cmpint(chimney_drv_ind_swap(&f->drv, &frags[i], &fresh,
                                             &small), ==, CHIMNEY_DRV_EINVAL);
        swap_fresh_dma[swap_ntaken] = fresh.dma;
        swap_taken[swap_ntaken++] = taken;
    }
}

static void run_ind_swap(Fx *f)
{
    uint8_t bytes[7 * 16];
    struct chimney_dma_buf taken;
    uint32_t round, i, len, frees;

    swap_ntaken = 0;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 16), ==, 0);
    /* outside on_indicate: nothing to take */
    g_assert_cmpint(chimney_drv_ind_swap(&f->drv, &f->drv.ind_frags[0],
                                         &f->drv.ind_slot[0].buf, &taken), ==,
                    CHIMNEY_DRV_EINVAL);
    f->ind_ret_all = true;
    f->ind_hook = ind_hook_swap;
    fill_pattern(bytes, 5 * 16, 1);
    dev_indicate(f, HOST1, H_TCP1, bytes, 5 * 16, 16, 100);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 1);
    g_assert_cmpuint(swap_ntaken, ==, 3);           /* buffers 0, 2, 4 */
    g_assert_cmpuint(f->drv.n_ind_swapped, ==, 3);
    g_assert_cmphex(f->drv.ind_slot[0].buf.dma, ==, swap_fresh_dma[0]);
    g_assert_cmphex(f->drv.ind_slot[2].buf.dma, ==, swap_fresh_dma[1]);
    g_assert_cmphex(f->drv.ind_slot[4].buf.dma, ==, swap_fresh_dma[2]);
    expect_ind_done(f, H_TCP1, 5 * 16);     /* taking is not consuming */
    pump(f);
    /* re-posted with the new buffers (check_armed: the slot's buffer) */
    for (i = 0; i < 8; i++) {
        check_armed(f, i);
    }
    /* the host frees what it took, whenever it likes */
    frees = f->os.nfree;
    for (i = 0; i < swap_ntaken; i++) {
        f->drv.os.ops->rxbuf_free ?
            f->drv.os.ops->rxbuf_free(&f->os, &swap_taken[i]) :
            f->drv.os.ops->dma_free(&f->os, &swap_taken[i]);
    }
    g_assert_cmpuint(f->os.nfree, ==, frees + swap_ntaken);

    /* around the ring: the device fills the new buffers, copies read them */
    f->ind_hook = NULL;
    for (round = 0; round < 6; round++) {
        len = 7 * 16 - round * 5;
        fill_pattern(bytes, len, (uint8_t)(round + 7));
        dev_indicate(f, HOST1, H_TCP1, bytes, len, 16, round * 1000);
        pump(f);
        g_assert_cmpmem(f->ind_data, len, bytes, len);
        expect_ind_done(f, H_TCP1, len);
        pump(f);
    }
    g_assert_cmpuint(f->drv.n_ind_bad, ==, 0);
    g_assert_cmpuint(f->h->guest_errors, ==, 0);
}

static void test_ind_swap(Fx *f, gconstpointer data)
{
    (void)data;
    run_ind_swap(f);
    /* stop frees the slots' buffers, the new ones among them */
    chimney_drv_ind_stop(&f->drv);
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc - 2);
}

/* The same with the shim's own IND buffers: allocated and freed apart. */
static void test_ind_swap_rxbuf(Fx *f, gconstpointer data)
{
    (void)data;
    run_ind_swap(f);
    /* 8 slots at start, 3 new ones from the host */
    g_assert_cmpuint(f->rxbuf_nalloc, ==, 8 + 3);
    g_assert_cmpuint(f->rxbuf_nfree, ==, 3);
    chimney_drv_ind_stop(&f->drv);
    g_assert_cmpuint(f->rxbuf_nfree, ==, 8 + 3);
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc - 2);
    /* start fails cleanly when the shim runs out of receive buffers */
    f->rxbuf_fail_after = f->rxbuf_nalloc + 5;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 16), ==,
                    CHIMNEY_DRV_ENOMEM);
    f->rxbuf_fail_after = 0;
    g_assert_cmpuint(f->rxbuf_nfree, ==, 8 + 3 + 5);
    g_assert_cmpuint(f->os.nfree, ==, f->os.nalloc - 2);
}

/*
 * Indications that do not match the ring are not shown to the host and
 * are answered with IND_DONE 0 (the data stays in the device); their
 * buffers come back all the same.
 */
static void test_ind_mismatch(Fx *f, gconstpointer data)
{
    uint8_t bytes[64];

    (void)data;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 32), ==, 0);
    fill_pattern(bytes, sizeof(bytes), 9);
    f->ind_ret_all = true;

    /* lengths add up to less than the event says */
    dev_ind_put(f, bytes, 32, H_TCP1, 0, CHIMNEY_DESC_DONE);
    dev_ind_put(f, bytes, 20, H_TCP1, 32,
                CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, HOST1, H_TCP1, 53);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 0);
    g_assert_cmpuint(f->drv.n_ind_bad, ==, 1);
    g_assert_true(log_contains(&f->os, "does not match the IND ring"));
    expect_ind_done(f, H_TCP1, 0);
    g_assert_cmpuint(f->scr_ind_tail, ==, 1);
    pump(f);

    /* a buffer of another connection */
    dev_ind_put(f, bytes, 32, H_TCP1, 0, CHIMNEY_DESC_DONE);
    dev_ind_put(f, bytes, 8, H_TCP2, 32, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, HOST1, H_TCP1, 40);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 0);
    g_assert_cmpuint(f->drv.n_ind_bad, ==, 2);
    expect_ind_done(f, H_TCP1, 0);
    g_assert_cmpuint(f->scr_ind_tail, ==, 3);
    pump(f);

    /* no EOP: the walk stops at the first descriptor not done */
    dev_ind_put(f, bytes, 32, H_TCP2, 0, CHIMNEY_DESC_DONE);
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, HOST2, H_TCP2, 32);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 0);
    g_assert_cmpuint(f->drv.n_ind_bad, ==, 3);
    expect_ind_done(f, H_TCP2, 0);
    g_assert_cmpuint(f->drv.ind_next, ==, 5);
    g_assert_cmpuint(f->scr_ind_tail, ==, 4);
    pump(f);

    /* an event with no buffers at all */
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, HOST2, H_TCP2, 10);
    pump(f);
    g_assert_cmpuint(f->drv.n_ind_bad, ==, 4);
    expect_ind_done(f, H_TCP2, 0);
    g_assert_cmpuint(f->drv.ind_next, ==, 5);
    pump(f);

    /* the ring still works */
    dev_indicate(f, HOST2, H_TCP2, bytes, 64, 32, 77);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 1);
    g_assert_cmpmem(f->ind_data, 64, bytes, 64);
    expect_ind_done(f, H_TCP2, 64);
    pump(f);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
}

/*
 * A broken device that completes the slot it does not own (the one
 * before TAIL) is not followed there: the walk covers the slots the
 * device can own, no more.
 */
static void test_ind_walk_bounded(Fx *f, gconstpointer data)
{
    uint8_t bytes[32];
    ChimneyIndDesc *rsv;
    uint32_t i;

    (void)data;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 32), ==, 0);
    fill_pattern(bytes, sizeof(bytes), 2);
    f->ind_ret_all = true;
    for (i = 0; i < 7; i++) {
        dev_ind_put(f, bytes, 32, H_TCP1, i * 32, CHIMNEY_DESC_DONE);
    }
    g_assert_cmpuint(dev_ind_owned(f), ==, 0);
    rsv = ind_desc(f, 7);
    rsv->len = GUINT32_TO_LE(32);
    rsv->handle = GUINT64_TO_LE(H_TCP1);
    rsv->status = GUINT16_TO_LE(CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, HOST1, H_TCP1, 8 * 32);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 0);
    g_assert_cmpuint(f->drv.n_ind_bad, ==, 1);
    g_assert_cmpuint(f->drv.ind_next, ==, 7);
    expect_ind_done(f, H_TCP1, 0);
    pump(f);
    g_assert_cmpuint(f->scr_ind_tail, ==, 6);
}

/*
 * What the host returns: more than the total is the total; DEFER sends
 * nothing (the host answers itself); no on_indicate: 0 bytes.  Without
 * the IND ring, RECV_INDICATE stays an on_tcp_event.
 */
static void test_ind_consumed(Fx *f, gconstpointer data)
{
    static const struct chimney_drv_event_ops no_ind = {
        .on_tcp_event = ev_tcp,
    };
    uint8_t bytes[40];
    Done d = { 0 };
    ChimneyCmdDesc c;
    const Rec *r;

    (void)data;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 64), ==, 0);
    fill_pattern(bytes, sizeof(bytes), 1);

    f->ind_ret = 41;
    dev_indicate(f, HOST1, H_TCP1, bytes, 40, 64, 0);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 1);
    g_assert_true(log_contains(&f->os, "host consumed 41 of 40"));
    expect_ind_done(f, H_TCP1, 40);
    pump(f);

    f->ind_ret = 0;
    dev_indicate(f, HOST1, H_TCP1, bytes, 40, 16, 40);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 2);
    expect_ind_done(f, H_TCP1, 0);
    pump(f);

    /* deferred: buffers back at once, no IND_DONE until the host's */
    f->ind_ret = CHIMNEY_DRV_IND_DEFER;
    dev_indicate(f, HOST2, H_TCP2, bytes, 40, 16, 0);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 3);
    g_assert_cmpuint(scr_queued(f), ==, 0);
    g_assert_cmpuint(f->scr_ind_tail, ==,
                     (f->drv.ind_next - 1) & (f->drv.ind_size - 1));
    g_assert_cmpint(chimney_drv_ind_done(&f->drv, H_TCP2, 25, cmd_done, &d),
                    ==, 0);
    c = scr_take(f);
    check_desc(&c, CHIMNEY_CMD_IND_DONE, 0, 0, 25, H_TCP2, c.cookie);
    scr_done(f, &c, CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_cmphex(d.status, ==, CHIMNEY_ST_SUCCESS);

    /* no on_indicate: IND_DONE 0, buffers re-posted */
    chimney_drv_set_event_ops(&f->drv, &no_ind, f);
    dev_indicate(f, HOST1, H_TCP1, bytes, 40, 64, 80);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 3);
    g_assert_cmpuint(count_events(f, 'T'), ==, 0);
    expect_ind_done(f, H_TCP1, 0);
    g_assert_cmpuint(f->scr_ind_tail, ==,
                     (f->drv.ind_next - 1) & (f->drv.ind_size - 1));
    pump(f);

    /* IND ring stopped: the event goes to on_tcp_event, nothing queued */
    chimney_drv_set_event_ops(&f->drv, &test_evt_ops, f);
    chimney_drv_ind_stop(&f->drv);
    post(f, CHIMNEY_EVT_RECV_INDICATE, 0, 0, HOST1, H_TCP1, 40);
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 3);
    g_assert_cmpuint(count_events(f, 'T'), ==, 1);
    r = last_rec(f);
    g_assert_cmpuint(r->type, ==, CHIMNEY_EVT_RECV_INDICATE);
    g_assert_cmphex(r->cookie, ==, HOST1);
    g_assert_cmphex(r->handle, ==, H_TCP1);
    g_assert_cmpuint(r->a, ==, 40);
    g_assert_cmpuint(scr_queued(f), ==, 0);
}

/* A completion callback that submits a NOP at once, and keeps the result */
static void resubmit_done(void *ctx, uint32_t status)
{
    int *ret = ctx;

    assert_unlocked();
    g_assert_cmphex(status, ==, CHIMNEY_ST_SUCCESS);
    *ret = chimney_drv_nop(&cur_fx->drv, NULL, NULL);
}

/*
 * IND_DONE with the CMD ring full: owed, retried when a completion frees
 * room (before that completion's callback runs, so a host resubmitting
 * from its callback cannot starve it), its buffers held back until then.
 */
static void test_ind_done_owed(Fx *f, gconstpointer data)
{
    uint8_t bytes[48];
    ChimneyCmdDesc nop[7];
    unsigned i;
    int resub = 1;

    (void)data;
    g_assert_cmpint(chimney_drv_ind_start(&f->drv, 8, 32), ==, 0);
    fill_pattern(bytes, sizeof(bytes), 5);
    f->ind_ret_all = true;
    g_assert_cmpint(chimney_drv_nop(&f->drv, resubmit_done, &resub), ==, 0);
    for (i = 1; i < 7; i++) {
        g_assert_cmpint(chimney_drv_nop(&f->drv, NULL, NULL), ==, 0);
    }
    for (i = 0; i < 7; i++) {
        nop[i] = scr_take(f);
    }
    /* two indications: the host sees both, no IND_DONE fits */
    dev_indicate(f, HOST1, H_TCP1, bytes, 10, 32, 0);      /* slot 0 */
    dev_indicate(f, HOST2, H_TCP2, bytes, 48, 32, 0);      /* slots 1, 2 */
    pump(f);
    g_assert_cmpuint(f->ind_calls, ==, 2);
    g_assert_cmpuint(f->drv.ind_owed, ==, 2);
    g_assert_cmpuint(scr_queued(f), ==, 0);
    g_assert_cmpuint(f->scr_ind_tail, ==, 7);               /* held */
    g_assert_cmpuint(f->drv.ind_next, ==, 3);

    /* one completion: the first IND_DONE goes out, its slot comes back
     * (and slot 1, which owes nothing); slot 2 waits */
    scr_done(f, &nop[0], CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpint(resub, ==, CHIMNEY_DRV_EBUSY);  /* IND_DONE was first */
    g_assert_cmpuint(f->drv.ind_owed, ==, 1);
    g_assert_cmpuint(scr_queued(f), ==, 1);
    g_assert_cmpuint(f->scr_ind_tail, ==, 1);
    check_armed(f, 0);
    check_armed(f, 1);
    g_assert_cmphex(GUINT16_FROM_LE(ind_desc(f, 2)->status), ==,
                    CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    /* another one: the second */
    scr_done(f, &nop[1], CHIMNEY_ST_SUCCESS);
    pump(f);
    g_assert_cmpuint(f->drv.ind_owed, ==, 0);
    g_assert_cmpuint(f->scr_ind_tail, ==, 2);
    check_armed(f, 2);
    expect_ind_done(f, H_TCP1, 10);
    expect_ind_done(f, H_TCP2, 48);
    for (i = 2; i < 7; i++) {
        scr_done(f, &nop[i], CHIMNEY_ST_SUCCESS);
    }
    pump(f);
    g_assert_cmpuint(chimney_drv_pending(&f->drv), ==, 0);
    g_assert_cmpuint(f->drv.n_unknown_cookie, ==, 0);

    /* stopping with an IND_DONE still owed drops it (logged) */
    for (i = 0; i < 7; i++) {
        g_assert_cmpint(chimney_drv_nop(&f->drv, NULL, NULL), ==, 0);
    }
    dev_indicate(f, HOST1, H_TCP1, bytes, 10, 32, 10);
    pump(f);
    g_assert_cmpuint(f->drv.ind_owed, ==, 1);
    chimney_drv_ind_stop(&f->drv);
    g_assert_true(log_contains(&f->os, "1 IND_DONE not sent"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(name, fn) \
    g_test_add("/chimney/drv/" name, Fx, NULL, fx_setup, fn, fx_teardown)
#define ADD_BARE(name, fn) \
    g_test_add("/chimney/drv/" name, Fx, NULL, fx_setup_bare, fn, \
               fx_teardown)

    ADD_BARE("init", test_init);
    ADD_BARE("init-refuses-other-device", test_init_bad_device);
    ADD_BARE("init-bad-ring-sizes", test_init_bad_sizes);
    ADD_BARE("init-misaligned-or-no-dma", test_init_misaligned);
    ADD_BARE("init-ring-refused", test_init_ring_refused);
    ADD_BARE("init-dirty-dma-memory", test_init_dirty_memory);
    ADD("nop", test_nop);
    ADD_BARE("nop-without-lock", test_nop_nolock);
    ADD("config-commands", test_config_commands);
    ADD("rule-011-handle-written", test_handle_written);
    ADD("rule-007-serialised-depth-first", test_serialised_depth_first);
    ADD("roles-from-slots", test_roles_from_slots);
    ADD("rule-012-failed-slot-untouched", test_failed_slot_untouched);
    ADD("command-failure-all-blocks", test_command_failure);
    ADD("rule-060-query-fills-host-state", test_query);
    ADD("rule-053-update", test_update);
    ADD("rule-064-invalidate-retrieve", test_invalidate);
    ADD("terminate-returns-delegated", test_terminate);
    ADD("recv-sgl-and-flush-device", test_recv_sgl_device);
    ADD("tree-cycle-rejected", test_tree_cycle);
    ADD("tree-shared-block-rejected", test_tree_shared_block);
    ADD("tree-too-deep-rejected", test_tree_too_deep);
    ADD_BARE("tree-cap-blocks", test_tree_cap_blocks);
    ADD("tree-max-blocks", test_tree_max_blocks);
    ADD("event-dispatch", test_event_dispatch);
    ADD_BARE("event-dispatch-bounded", test_event_bounded);
    ADD("unknown-cookie-ignored", test_unknown_cookie);
    ADD_BARE("cmd-ring-full-ebusy", test_cmd_ring_full);
    ADD_BARE("evt-ring-full-flow-control", test_evt_ring_full);
    ADD("pending-table-full-ebusy", test_pending_full);
    ADD("enomem", test_enomem);
    ADD("fini-aborts-pending", test_fini_aborts);
    ADD("raw-cmd", test_raw_cmd);
    ADD_BARE("event-pending", test_event_pending);
    ADD_BARE("ring-helper-tx-rx", test_ring_helper);

#define ADD_SCRIPT(name, fn) \
    g_test_add("/chimney/drv/" name, Fx, NULL, fx_setup_script, fn, \
               fx_teardown)

    ADD_SCRIPT("data-requests", test_data_requests);
    ADD_SCRIPT("data-cookies", test_data_cookies);
    ADD_SCRIPT("data-bad-args", test_data_bad_args);
    ADD_SCRIPT("recv-post-sgl", test_recv_post_sgl);
    ADD_SCRIPT("recv-flush", test_recv_flush);
    ADD_SCRIPT("data-fini-aborts", test_data_fini_aborts);
    ADD_SCRIPT("stats", test_stats);
    ADD_SCRIPT("ind-start", test_ind_start);
    ADD_SCRIPT("ind-gather", test_ind_gather);
    ADD_SCRIPT("ind-wrap", test_ind_wrap);
    ADD_SCRIPT("ind-reclaim-errors", test_ind_reclaim);
    ADD_SCRIPT("ind-mismatch", test_ind_mismatch);
    ADD_SCRIPT("ind-walk-bounded", test_ind_walk_bounded);
    ADD_SCRIPT("ind-consumed", test_ind_consumed);
    ADD_SCRIPT("ind-done-owed", test_ind_done_owed);
    ADD_SCRIPT("ind-swap", test_ind_swap);
    g_test_add("/chimney/drv/ind-swap-rxbuf", Fx, NULL, fx_setup_script_rxbuf,
               test_ind_swap_rxbuf, fx_teardown);
    return g_test_run();
}
