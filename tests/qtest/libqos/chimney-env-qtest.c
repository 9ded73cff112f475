/*
 * The scenario environment over QEMU: see chimney-env-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "qemu/bswap.h"
#include "libqos-malloc.h"
#include "chimney-nic.h"
#include "chimney-env-qtest.h"

static QChimneyEnv *qe_of(ChimneyTestEnv *env)
{
    return (QChimneyEnv *)env;
}

static void step(QChimneyEnv *qe)
{
    qchimney_os_clock_step(&qe->os, qe->os.poll_step_ns);
}

void qchimney_env_wire_send(QChimneyEnv *qe, const uint8_t *frame,
                            size_t len)
{
    uint32_t be = cpu_to_be32(len);
    size_t off = 0;

    while (off < sizeof(be) + len) {
        const uint8_t *p = off < sizeof(be) ? (const uint8_t *)&be + off :
                           frame + (off - sizeof(be));
        size_t n = off < sizeof(be) ? sizeof(be) - off :
                   len - (off - sizeof(be));
        ssize_t ret = send(qe->fd, p, n, 0);

        if (ret < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(ret, >, 0);
        off += ret;
    }
}

static bool wire_read_exact(QChimneyEnv *qe, void *buf, size_t len,
                            int iters)
{
    size_t got = 0;
    int i = 0;

    while (got < len) {
        ssize_t n = recv(qe->fd, (char *)buf + got, len - got, MSG_DONTWAIT);

        if (n > 0) {
            got += n;
            continue;
        }
        g_assert_cmpint(n, !=, 0);      /* QEMU closed the wire */
        g_assert(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        if (i++ >= iters) {
            return false;
        }
        step(qe);
    }
    return true;
}

size_t qchimney_env_wire_try_recv(QChimneyEnv *qe, uint8_t *buf, size_t cap,
                                  int iters)
{
    uint32_t be;
    size_t len;

    if (!wire_read_exact(qe, &be, sizeof(be), iters)) {
        return 0;
    }
    len = be32_to_cpu(be);
    g_assert_cmpuint(len, <=, cap);
    g_assert_true(wire_read_exact(qe, buf, len, QCHIMNEY_WAIT_ITERS));
    return len;
}

bool qchimney_env_wire_pending(QChimneyEnv *qe)
{
    char b;
    ssize_t n = recv(qe->fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);

    if (n < 0) {
        g_assert(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
    return n > 0;
}

void qchimney_env_rx_setup(QChimneyEnv *qe)
{
    int i;

    chimney_ring_start(qe->d, CHIMNEY_RING_RX, QCHIMNEY_RX_RING_SIZE);
    for (i = 0; i < QCHIMNEY_RX_RING_SIZE - 1; i++) {
        chimney_rx_post(qe->d, chimney_alloc(qe->d, QCHIMNEY_RX_BUF_LEN),
                        QCHIMNEY_RX_BUF_LEN);
    }
    chimney_ring_kick(qe->d, CHIMNEY_RING_RX);
    qe->rx_on = true;
    qe->rx_next = 0;
}

bool qchimney_env_rx_ready(QChimneyEnv *qe)
{
    return chimney_desc_status(qe->d, CHIMNEY_RING_RX, qe->rx_next) &
           CHIMNEY_DESC_DONE;
}

size_t qchimney_env_rx_take(QChimneyEnv *qe, uint8_t *buf, size_t cap)
{
    ChimneyRxDesc desc;

    chimney_rx_read(qe->d, qe->rx_next, &desc);
    g_assert_cmphex(desc.status & (CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP), ==,
                    CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP);
    g_assert_cmphex(desc.status & CHIMNEY_DESC_ERR_MASK, ==, 0);
    g_assert_cmpuint(desc.len, <=, cap);
    qtest_memread(qe->qts, desc.addr, buf, desc.len);
    /* recycle: a fresh descriptor at the driver tail */
    chimney_rx_post(qe->d, desc.addr, QCHIMNEY_RX_BUF_LEN);
    chimney_ring_kick(qe->d, CHIMNEY_RING_RX);
    qe->rx_next = (qe->rx_next + 1) % QCHIMNEY_RX_RING_SIZE;
    return desc.len;
}

size_t qchimney_env_rx_wait(QChimneyEnv *qe, uint8_t *buf, size_t cap)
{
    int i;

    for (i = 0; i < QCHIMNEY_WAIT_ITERS && !qchimney_env_rx_ready(qe); i++) {
        step(qe);
    }
    if (!qchimney_env_rx_ready(qe)) {
        g_error("no frame in the L2 RX ring (descriptor %u)", qe->rx_next);
    }
    return qchimney_env_rx_take(qe, buf, cap);
}

void qchimney_env_wire_sync(QChimneyEnv *qe)
{
    static const uint8_t src[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    uint8_t f[64] = { 0 }, got[QCHIMNEY_RX_BUF_LEN];
    size_t len;

    g_assert_true(qe->rx_on);
    memcpy(f, qe->env.dev_mac, 6);
    memcpy(f + 6, src, 6);
    f[12] = QCHIMNEY_ETH_P_MARK >> 8;
    f[13] = QCHIMNEY_ETH_P_MARK & 0xff;
    qe->mark_seq++;
    memcpy(f + 14, &qe->mark_seq, sizeof(qe->mark_seq));
    qchimney_env_wire_send(qe, f, sizeof(f));
    len = qchimney_env_rx_wait(qe, got, sizeof(got));
    if (len != sizeof(f) || memcmp(got, f, sizeof(f))) {
        g_error("wire_sync: the L2 RX ring got an unexpected frame "
                "(%zu bytes, ethertype 0x%02x%02x) before the marker", len,
                got[12], got[13]);
    }
}

void qchimney_env_wire_expect_nothing(QChimneyEnv *qe)
{
    int i;

    for (i = 0; i < CHIMNEY_QOS_QUIET_ITERS; i++) {
        if (qchimney_env_wire_pending(qe)) {
            uint8_t f[CHIMNEY_MAX_FRAME];
            size_t len = qchimney_env_wire_try_recv(qe, f, sizeof(f),
                                                    QCHIMNEY_WAIT_ITERS);

            g_error("unexpected %zu-byte frame on the wire (ethertype "
                    "0x%02x%02x)", len, f[12], f[13]);
        }
        step(qe);
    }
}

/*
 * ChimneyTestEnv callbacks
 */

static void env_wire_inject(ChimneyTestEnv *env, const uint8_t *frame,
                            size_t len)
{
    qchimney_env_wire_send(qe_of(env), frame, len);
}

static size_t env_wire_take(ChimneyTestEnv *env, uint8_t *buf, size_t cap)
{
    return qchimney_env_wire_try_recv(qe_of(env), buf, cap,
                                      QCHIMNEY_WAIT_ITERS);
}

static bool env_wire_quiet(ChimneyTestEnv *env)
{
    QChimneyEnv *qe = qe_of(env);
    int i;

    if (!qe->rx_on) {
        qchimney_env_rx_setup(qe);
    }
    qchimney_env_wire_sync(qe);
    for (i = 0; i < CHIMNEY_QOS_QUIET_ITERS; i++) {
        if (qchimney_env_wire_pending(qe)) {
            return false;
        }
        step(qe);
    }
    return true;
}

static size_t env_l2_take(ChimneyTestEnv *env, uint8_t *buf, size_t cap)
{
    QChimneyEnv *qe = qe_of(env);
    int i;

    if (!qe->rx_on) {
        qchimney_env_rx_setup(qe);
    }
    for (i = 0; i < QCHIMNEY_WAIT_ITERS && !qchimney_env_rx_ready(qe); i++) {
        step(qe);
    }
    if (!qchimney_env_rx_ready(qe)) {
        return 0;
    }
    return qchimney_env_rx_take(qe, buf, cap);
}

static void env_reg_write(ChimneyTestEnv *env, uint32_t off, uint32_t val)
{
    QChimneyEnv *qe = qe_of(env);

    qchimney_os_flush(&qe->os);
    qchimney_os_touch(&qe->os);
    chimney_writel(qe->d, off, val);
}

static int64_t env_clock_step(ChimneyTestEnv *env, int64_t ns)
{
    return qchimney_os_clock_step(&qe_of(env)->os, ns);
}

static uint32_t env_reg_read(ChimneyTestEnv *env, uint32_t off)
{
    return chimney_readl(qe_of(env)->d, off);
}

static unsigned env_poll(ChimneyTestEnv *env)
{
    return qchimney_poll(&qe_of(env)->os);
}

static void env_dma_sync(ChimneyTestEnv *env)
{
    qchimney_os_flush(&qe_of(env)->os);
    qchimney_os_touch(&qe_of(env)->os);
}

static void env_mem_write(void *opaque, uint64_t addr, const void *buf,
                          size_t len)
{
    qchimney_mem_write(opaque, addr, buf, len);
}

static void env_mem_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    qchimney_mem_read(opaque, addr, buf, len);
}

static uint64_t env_mem_alloc(ChimneyTestEnv *env, uint32_t len)
{
    return guest_alloc(qe_of(env)->os.alloc, len);
}

static uint32_t env_raw_cmd(ChimneyTestEnv *env, uint16_t opcode,
                            uint64_t addr, uint32_t len, uint64_t handle,
                            uint32_t *info)
{
    return qchimney_raw_cmd(&qe_of(env)->os, opcode, addr, len, handle, info);
}

static bool env_locked(ChimneyTestEnv *env)
{
    return qe_of(env)->os.lock_depth > 0;
}

void qchimney_env_init(QChimneyEnv *qe, QChimneyNic *d,
                       QGuestAllocator *alloc, int fd)
{
    static const uint8_t mac[6] = CHIMNEY_QOS_MAC;
    ChimneyTestEnv *env = &qe->env;

    memset(qe, 0, sizeof(*qe));
    qe->d = d;
    qe->qts = chimney_qts(d);
    qe->fd = fd;
    qchimney_os_init(&qe->os, d, alloc);
    g_assert_cmpint(qchimney_drv_start(&qe->os, 64, 256), ==, 0);
    env->name = "qtest";
    env->drv = &qe->os.drv;
    memcpy(env->dev_mac, mac, 6);
    env->poll_step_ns = qe->os.poll_step_ns;
    env->wire_inject = env_wire_inject;
    env->wire_take = env_wire_take;
    env->wire_quiet = env_wire_quiet;
    env->clock_step = env_clock_step;
    env->reg_read = env_reg_read;
    env->reg_write = env_reg_write;
    env->l2_take = env_l2_take;
    env->poll = env_poll;
    env->locked = env_locked;
    env->dma_sync = env_dma_sync;
    env->mem.write = env_mem_write;
    env->mem.read = env_mem_read;
    env->mem.opaque = qe->qts;
    env->mem_alloc = env_mem_alloc;
    env->raw_cmd = env_raw_cmd;
    env_init(env);
}

void qchimney_env_fini(QChimneyEnv *qe)
{
    env_fini(&qe->env);
    qchimney_os_cleanup(&qe->os);
}
