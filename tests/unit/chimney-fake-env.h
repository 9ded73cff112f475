/*
 * The scenario environment (tests/support/chimney-test-env.h) over the
 * fake host: the driver core on the fake-host OS shim
 * (chimney-fake-os.h), the wire is the core's receive entry point and the
 * frames it sent, the clock is the fake host's.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_FAKE_ENV_H
#define CHIMNEY_FAKE_ENV_H

#include "chimney-fake-os.h"
#include "chimney-tree-builder.h"
#include "chimney-test-env.h"

typedef struct FakeEnv {
    ChimneyTestEnv env;         /* first: the callbacks cast back */
    FakeHost *h;
    TestOs os;
    struct chimney_drv drv;
    unsigned frame_next;        /* next of h->frames the peer takes */
    uint64_t rx_ring;           /* the L2 RX ring */
    uint32_t rx_next;
    GPtrArray *l2;              /* GByteArray *: frames it delivered */
} FakeEnv;

#define FAKE_ENV_RX_RING    64
#define FAKE_ENV_RX_BUF     2048

static inline FakeEnv *fake_env_of(ChimneyTestEnv *env)
{
    return (FakeEnv *)env;
}

/* L2 frames the device delivered: their buffers go back to the ring. */
static inline void fake_env_rx_recycle(FakeEnv *fe)
{
    ChimneyRxDesc *ring = fake_ptr(fe->h, fe->rx_ring);

    while (GUINT16_FROM_LE(ring[fe->rx_next].status) & CHIMNEY_DESC_DONE) {
        ChimneyRxDesc *d = &ring[fe->rx_next];
        GByteArray *f = g_byte_array_new();

        /* one buffer per frame (FAKE_ENV_RX_BUF >= any test frame) */
        g_assert_cmphex(GUINT16_FROM_LE(d->status) & CHIMNEY_DESC_EOP, ==,
                        CHIMNEY_DESC_EOP);
        g_byte_array_append(f, fake_ptr(fe->h, GUINT64_FROM_LE(d->addr)),
                            GUINT16_FROM_LE(d->len));
        g_ptr_array_add(fe->l2, f);
        d->status = 0;
        d->len = 0;
        wr(fe->h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL),
           fe->rx_next);
        fe->rx_next = (fe->rx_next + 1) % FAKE_ENV_RX_RING;
    }
}

/* The device runs: queued commands, then the driver core's events. */
static inline unsigned fake_env_poll(ChimneyTestEnv *env)
{
    FakeEnv *fe = fake_env_of(env);
    unsigned n;

    fake_env_rx_recycle(fe);
    if (fe->h->cmd_scheduled) {
        fe->h->cmd_scheduled = false;
        chimney_core_cmd_process(&fe->h->core);
    }
    n = chimney_drv_process_events(&fe->drv);
    g_assert_cmpuint(n, <=, fe->drv.evt_size);
    return n;
}

static inline int64_t fake_env_clock_step(ChimneyTestEnv *env, int64_t ns)
{
    fake_clock_step(fake_env_of(env)->h, ns);
    return fake_env_of(env)->h->now;
}

static inline uint32_t fake_env_reg_read(ChimneyTestEnv *env, uint32_t off)
{
    return rd(fake_env_of(env)->h, off);
}

static inline void fake_env_wire_inject(ChimneyTestEnv *env,
                                        const uint8_t *frame, size_t len)
{
    FakeEnv *fe = fake_env_of(env);

    /* QEMU's netdev holds a frame the device cannot take yet */
    g_assert_true(chimney_core_can_receive(&fe->h->core));
    chimney_core_receive(&fe->h->core, frame, len);
}

static inline size_t fake_env_wire_take(ChimneyTestEnv *env, uint8_t *buf,
                                        size_t cap)
{
    FakeEnv *fe = fake_env_of(env);
    int i;

    for (i = 0; i < CHIMNEY_TEST_WAIT_ITERS; i++) {
        if (fe->frame_next < fe->h->frames->len) {
            GByteArray *f = g_ptr_array_index(fe->h->frames,
                                              fe->frame_next++);

            g_assert_cmpuint(f->len, <=, cap);
            memcpy(buf, f->data, f->len);
            return f->len;
        }
        if (!fake_env_poll(env)) {
            fake_env_clock_step(env, env->poll_step_ns);
        }
    }
    return 0;
}

/*
 * As the qtest environment (marker frame): every frame the L2 RX ring got
 * was taken, and a while of virtual time sends nothing on the wire.
 */
static inline bool fake_env_wire_quiet(ChimneyTestEnv *env)
{
    FakeEnv *fe = fake_env_of(env);
    int i;

    for (i = 0; i < 50; i++) {
        fake_env_poll(env);
        if (fe->frame_next != fe->h->frames->len) {
            return false;
        }
        fake_env_clock_step(env, env->poll_step_ns);
    }
    /* as the qtest marker frame: nothing went up L2 unexpected */
    if (fe->l2->len) {
        g_error("wire_quiet: %u frame(s) in the L2 RX ring nobody expected",
                fe->l2->len);
    }
    return true;
}

static inline void fake_env_dma_sync(ChimneyTestEnv *env)
{
    /* the fake RAM is the guest memory */
}

static inline size_t fake_env_l2_take(ChimneyTestEnv *env, uint8_t *buf,
                                      size_t cap)
{
    FakeEnv *fe = fake_env_of(env);
    int i;

    for (i = 0; i < CHIMNEY_TEST_WAIT_ITERS; i++) {
        fake_env_poll(env);
        if (fe->l2->len) {
            GByteArray *f = g_ptr_array_steal_index(fe->l2, 0);
            size_t len = f->len;

            g_assert_cmpuint(len, <=, cap);
            memcpy(buf, f->data, len);
            g_byte_array_unref(f);
            return len;
        }
        fake_env_clock_step(env, env->poll_step_ns);
    }
    return 0;
}

static inline void fake_env_reg_write(ChimneyTestEnv *env, uint32_t off,
                                      uint32_t val)
{
    wr(fake_env_of(env)->h, off, val);
}

static inline uint64_t fake_env_mem_alloc(ChimneyTestEnv *env, uint32_t len)
{
    return fake_alloc(fake_env_of(env)->h, len);
}

typedef struct FakeEnvRaw {
    unsigned calls;
    uint32_t status;
} FakeEnvRaw;

static inline void fake_env_raw_done(void *ctx, uint32_t status)
{
    FakeEnvRaw *d = ctx;

    d->calls++;
    d->status = status;
}

/* The driver core reports only the status: no info word here. */
static inline uint32_t fake_env_raw_cmd(ChimneyTestEnv *env, uint16_t opcode,
                                        uint64_t addr, uint32_t len,
                                        uint64_t handle, uint32_t *info)
{
    FakeEnvRaw d = { 0 };

    g_assert_cmpint(chimney_drv_raw_cmd(env->drv, opcode, 0, addr, len,
                                        handle, fake_env_raw_done, &d, NULL),
                    ==, 0);
    env_wait(env, &d.calls, 1);
    if (info) {
        *info = CHIMNEY_TEST_INFO_UNKNOWN;
    }
    return d.status;
}

static inline bool fake_env_locked(ChimneyTestEnv *env)
{
    return fake_env_of(env)->os.lock_depth > 0;
}

/* Fake host, OS shim, driver core up (64/256 entries), env_init(). */
static inline FakeEnv *fake_env_new(void)
{
    FakeEnv *fe = g_new0(FakeEnv, 1);
    ChimneyTestEnv *env = &fe->env;

    fe->h = fake_host_new();
    fe->l2 = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    fe->os.h = fe->h;
    fe->os.allocs = g_ptr_array_new_with_free_func(g_free);
    fe->os.logs = g_ptr_array_new_with_free_func(g_free);
    g_assert_cmpint(chimney_drv_init(&fe->drv, &test_os_ops, &fe->os, 64,
                                     256), ==, 0);
    wr(fe->h, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    /* the L2 RX ring, as a driver has it: every buffer but one posted */
    fe->rx_ring = fake_ring_setup(fe->h, CHIMNEY_RING_RX, FAKE_ENV_RX_RING,
                                  sizeof(ChimneyRxDesc));
    {
        ChimneyRxDesc *d = fake_ptr(fe->h, fe->rx_ring);
        uint64_t bufs = fake_alloc(fe->h, FAKE_ENV_RX_RING * FAKE_ENV_RX_BUF);
        unsigned i;

        for (i = 0; i < FAKE_ENV_RX_RING; i++) {
            d[i].addr = GUINT64_TO_LE(bufs + i * FAKE_ENV_RX_BUF);
            d[i].buf_len = GUINT16_TO_LE(FAKE_ENV_RX_BUF);
        }
        wr(fe->h, CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_TAIL),
           FAKE_ENV_RX_RING - 1);
    }
    /* the device MAC of the qtests (the fake host's is the peer's) */
    wr(fe->h, CHIMNEY_REG_MAC_LO, 0xc1361b02);
    wr(fe->h, CHIMNEY_REG_MAC_HI, 0xa55a);
    env->name = "unit";
    env->drv = &fe->drv;
    memcpy(env->dev_mac, fe->h->core.mac, 6);
    env->poll_step_ns = 1000;
    env->wire_inject = fake_env_wire_inject;
    env->wire_take = fake_env_wire_take;
    env->wire_quiet = fake_env_wire_quiet;
    env->clock_step = fake_env_clock_step;
    env->reg_read = fake_env_reg_read;
    env->reg_write = fake_env_reg_write;
    env->l2_take = fake_env_l2_take;
    env->poll = fake_env_poll;
    env->locked = fake_env_locked;
    env->dma_sync = fake_env_dma_sync;
    env->mem = tb_mem(fe->h);
    env->mem_alloc = fake_env_mem_alloc;
    env->raw_cmd = fake_env_raw_cmd;
    env_init(env);
    return fe;
}

static inline void fake_env_free(FakeEnv *fe)
{
    env_fini(&fe->env);
    chimney_drv_fini(&fe->drv);
    g_assert_cmpint(fe->os.lock_depth, ==, 0);
    /* every DMA buffer the core took was given back */
    g_assert_cmpuint(fe->os.nfree, ==, fe->os.nalloc);
    g_ptr_array_unref(fe->os.allocs);
    g_ptr_array_unref(fe->os.logs);
    fake_host_free(fe->h);
    g_ptr_array_unref(fe->l2);
    g_free(fe);
}

#endif /* CHIMNEY_FAKE_ENV_H */
