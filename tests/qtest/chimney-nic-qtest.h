/*
 * QTest helpers for the chimney-nic PCI NIC tests: the plain L2 NIC
 * (chimney-nic-test.c: PCI, registers, interrupts, link, reset, command
 * ring, introspection; chimney-rings-test.c: the TX/RX rings and their
 * error handling).  Everything here is static inline: each test file is
 * its own translation unit of qos-test.
 *
 *
 * Behaviour under test: docs/design/l2-semantics.md and the ABI in
 * include/hw/net/chimney_hw.h; where the notes are silent or loose,
 * docs/specs/chimney-nic.rst (which the notes name as normative) decides:
 * TX_ERRORS counts descriptors, TX_BYTES includes padding, an RX ring that
 * owns no descriptor is no RX_NOBUF stall.
 *
 * Every test runs in a fresh QEMU whose netdev "hs0" is one end of a
 * socketpair; the other end is the wire: frames travel on it as a 4-byte
 * big-endian length followed by the frame.
 *
 * Time: the virtual clock only moves when a test steps it
 * (qtest_clock_step), and every wait below is a bounded loop of such steps;
 * nothing sleeps on the wall clock.  MSI-X messages are observed as writes
 * of a per-vector data word to a per-vector word of guest RAM (see
 * libqos/chimney-nic.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_NIC_QTEST_H
#define CHIMNEY_NIC_QTEST_H

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/sockets.h"
#include "qemu/iov.h"
#include "qemu/module.h"
#include "qemu/bswap.h"
#include "hw/pci/pci_regs.h"
#include "libqos/qgraph.h"
#include "libqos/pci.h"
#include "libqos/chimney-nic.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "hw/net/chimney_hw.h"


#define ETH_MIN_WIRE    60
/* An address outside guest RAM (and outside any device) for DMA faults. */
#define BAD_GPA         0xfff0000000ull

static const uint8_t our_mac[6] = CHIMNEY_QOS_MAC;
static const uint8_t other_mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x99 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mcast_mac[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* Everything a test works with. */
typedef struct Ctx {
    QChimneyNic *d;
    QTestState *qts;
    int fd;             /* our end of the wire */
} Ctx;

static inline Ctx ctx_get(void *obj, void *data)
{
    Ctx c = {
        .d = obj,
        .qts = chimney_qts(obj),
        .fd = ((int *)data)[0],
    };
    return c;
}

/*
 * Frames and the wire
 */

/* @dst, peer_mac as source, @type, then a pattern that depends on @seed. */
static inline void make_frame(uint8_t *f, size_t len, const uint8_t *dst,
                       uint16_t type, uint32_t seed)
{
    uint8_t hdr[14];
    size_t i;

    memcpy(hdr, dst, 6);
    memcpy(hdr + 6, peer_mac, 6);
    hdr[12] = type >> 8;
    hdr[13] = type;
    for (i = 0; i < len; i++) {
        f[i] = i < sizeof(hdr) ? hdr[i] :
               (uint8_t)(seed * 131 + i * 7 + (i >> 8) + 1);
    }
}

static inline void wire_send(Ctx *c, const uint8_t *frame, size_t len)
{
    uint32_t be = htonl(len);
    struct iovec iov[] = {
        { .iov_base = &be, .iov_len = sizeof(be) },
        { .iov_base = (void *)frame, .iov_len = len },
    };
    ssize_t ret = iov_send(c->fd, iov, 2, 0, sizeof(be) + len);

    g_assert_cmpint(ret, ==, sizeof(be) + len);
}

/* Bounded: read exactly @len bytes, stepping QEMU while none are there. */
static inline bool wire_read_exact(Ctx *c, void *buf, size_t len, int iters)
{
    size_t got = 0;
    int i = 0;

    while (got < len) {
        ssize_t n = recv(c->fd, (char *)buf + got, len - got, MSG_DONTWAIT);

        if (n > 0) {
            got += n;
            continue;
        }
        g_assert_cmpint(n, !=, 0);     /* QEMU closed the wire */
        g_assert(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        if (i++ >= iters) {
            return false;
        }
        chimney_step(c->d);
    }
    return true;
}

/* Receive one frame from the wire (fails the test if none comes). */
static inline size_t wire_recv(Ctx *c, uint8_t *buf, size_t cap)
{
    uint32_t be;
    size_t len;

    g_assert_true(wire_read_exact(c, &be, sizeof(be),
                                  CHIMNEY_QOS_WAIT_ITERS));
    len = ntohl(be);
    g_assert_cmpuint(len, <=, cap);
    g_assert_true(wire_read_exact(c, buf, len, CHIMNEY_QOS_WAIT_ITERS));
    return len;
}

/* Nothing arrives on the wire within the quiet bound. */
static inline void wire_expect_nothing(Ctx *c)
{
    int i;

    for (i = 0; i < CHIMNEY_QOS_QUIET_ITERS; i++) {
        char b;
        ssize_t n = recv(c->fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);

        g_assert_cmpint(n, <, 0);
        g_assert(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        chimney_step(c->d);
    }
}

static inline void quiet(Ctx *c)
{
    int i;

    for (i = 0; i < CHIMNEY_QOS_QUIET_ITERS; i++) {
        chimney_step(c->d);
    }
}

/*
 * Device helpers
 */

static inline uint32_t rd(Ctx *c, uint32_t off)
{
    return chimney_readl(c->d, off);
}

static inline void wr(Ctx *c, uint32_t off, uint32_t val)
{
    chimney_writel(c->d, off, val);
}

static inline uint32_t ring_rd(Ctx *c, int ring, uint32_t reg)
{
    return chimney_ring_readl(c->d, ring, reg);
}

static inline uint32_t st_rd(Ctx *c, int s)
{
    return chimney_stat(c->d, s);
}

static inline uint32_t mac_lo(const uint8_t *m)
{
    return m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
}

static inline uint32_t mac_hi(const uint8_t *m)
{
    return m[4] | m[5] << 8;
}

static inline void set_link(Ctx *c, bool up)
{
    qtest_qmp_assert_success(c->qts,
                             "{'execute': 'set_link', 'arguments': "
                             "{'name': %s, 'up': %i}}",
                             CHIMNEY_QOS_NETDEV, up);
}

static inline void msix_set_enable(Ctx *c, bool on)
{
    uint8_t cap = qpci_find_capability(&c->d->pci_dev, PCI_CAP_ID_MSIX, 0);
    uint16_t flags = qpci_config_readw(&c->d->pci_dev, cap + PCI_MSIX_FLAGS);

    if (on) {
        flags |= PCI_MSIX_FLAGS_ENABLE;
    } else {
        flags &= ~PCI_MSIX_FLAGS_ENABLE;
    }
    qpci_config_writew(&c->d->pci_dev, cap + PCI_MSIX_FLAGS, flags);
}

/*
 * Read the virtual clock.  qtest refuses "clock_step 0", so this moves it by
 * 1 ns, which no test here can notice.
 */
static inline int64_t vclock(Ctx *c)
{
    return qtest_clock_step(c->qts, 1);
}

/* The vector's message is there right now (no time passes). */
static inline bool vec_now(Ctx *c, int vec)
{
    return chimney_msix_poll(c->d, vec);
}

/* No message on any vector but those in @allowed since the last poll. */
static inline void expect_no_other_vec(Ctx *c, uint32_t allowed)
{
    int v;

    for (v = 0; v < CHIMNEY_MSIX_VECTORS; v++) {
        if (!(allowed & (1u << v))) {
            g_assert_false(vec_now(c, v));
        }
    }
}

static inline void wait_done(Ctx *c, int ring, uint32_t idx)
{
    g_assert_true(chimney_wait_desc_done(c->d, ring, idx));
}

/* Bounded wait until statistics counter @s reads @val. */
static inline void wait_stat(Ctx *c, int s, uint32_t val)
{
    int i;

    for (i = 0; i < CHIMNEY_QOS_WAIT_ITERS && st_rd(c, s) != val; i++) {
        chimney_step(c->d);
    }
    g_assert_cmpuint(st_rd(c, s), ==, val);
}

static inline void check_ring_status(Ctx *c, int ring, uint32_t st)
{
    g_assert_cmphex(ring_rd(c, ring, CHIMNEY_RING_STATUS), ==, st);
}

static inline uint32_t ring_err_status(uint32_t code)
{
    return CHIMNEY_RING_ST_ERROR | code << CHIMNEY_RING_ST_ERR_SHIFT;
}

static inline uint16_t desc_err(uint32_t code)
{
    return CHIMNEY_DESC_DONE | code << CHIMNEY_DESC_ERR_SHIFT;
}

/*
 * Every register at its reset value (l2-semantics.md "Registers"), the
 * STATUS register as @status (it reflects link, bus mastering and MSI-X).
 */
static inline void check_reset_values(Ctx *c, uint32_t status)
{
    int ring, s;
    uint32_t off;

    g_assert_cmphex(rd(c, CHIMNEY_REG_ID), ==, 0x4d494843);
    g_assert_cmphex(rd(c, CHIMNEY_REG_VERSION), ==, 0x00010003);
    g_assert_cmphex(rd(c, CHIMNEY_REG_CTRL), ==, 0);
    g_assert_cmphex(rd(c, CHIMNEY_REG_STATUS), ==, status);
    g_assert_cmphex(rd(c, CHIMNEY_REG_MAC_LO), ==, mac_lo(our_mac));
    g_assert_cmphex(rd(c, CHIMNEY_REG_MAC_HI), ==, mac_hi(our_mac));
    g_assert_cmphex(rd(c, CHIMNEY_REG_RX_FILTER), ==,
                    CHIMNEY_RXF_UNICAST | CHIMNEY_RXF_BROADCAST);
    g_assert_cmphex(rd(c, CHIMNEY_REG_ERR_COUNT), ==, 0);
    g_assert_cmphex(rd(c, CHIMNEY_REG_INT_CAUSE), ==, 0);
    g_assert_cmphex(rd(c, CHIMNEY_REG_INT_MASK), ==, 0);
    g_assert_cmphex(rd(c, CHIMNEY_REG_INT_THROTTLE), ==, 0);
    g_assert_cmphex(rd(c, CHIMNEY_REG_LAST_ERR), ==, 0);

    g_assert_cmphex(rd(c, CHIMNEY_REG_CAP_FLAGS), ==,
                    CHIMNEY_CAP_L2 | CHIMNEY_CAP_OFFLOAD_IPV4 |
                    CHIMNEY_CAP_OFFLOAD_IPV6 | CHIMNEY_CAP_VLAN |
                    CHIMNEY_CAP_8021P | CHIMNEY_CAP_TIMESTAMPS |
                    CHIMNEY_CAP_WSCALE | CHIMNEY_CAP_SACK |
                    CHIMNEY_CAP_RECV_SGL | CHIMNEY_CAP_RECV_HOLD |
                    CHIMNEY_CAP_DISC_RCV_CLOSED);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_MAX_CONN), ==, 65536);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_MAX_PATH), ==, 65536);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_MAX_NEIGH), ==, 4096);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_TREE_BLOCKS), ==, 65536 + 8192);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_MAX_FRAME), ==, 9018);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_RING_MAX), ==, 32768);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_MSIX_VECTORS), ==, 5);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_RCV_BUF), ==, 256 * 1024);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_MAX_RCV_WND), ==, 1u << 30);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_MAX_PATH_MTU), ==, 9000);
    /* the mem-budget property's default, 64 MiB */
    g_assert_cmpuint(rd(c, CHIMNEY_REG_CAP_MEM_BUDGET_KB), ==, 64 * 1024);

    for (ring = 0; ring < CHIMNEY_RING_COUNT; ring++) {
        for (off = 0; off < CHIMNEY_REG_RING_STRIDE; off += 4) {
            g_assert_cmphex(ring_rd(c, ring, off), ==, 0);
        }
    }
    for (s = 0; s < CHIMNEY_STAT_COUNT; s++) {
        g_assert_cmphex(st_rd(c, s), ==, 0);
    }
    /* all of the above were valid accesses */
    g_assert_cmphex(rd(c, CHIMNEY_REG_ERR_COUNT), ==, 0);
}

#define STATUS_ALL_ON (CHIMNEY_STATUS_LINK_UP | CHIMNEY_STATUS_BUS_MASTER | \
                       CHIMNEY_STATUS_MSIX)

/*
 * Post @frame on the TX ring as @nfrags fragments (sizes @frag_len or even
 * split), ring the doorbell once, and check: the frame arrives on the wire
 * byte for byte (zero-padded to 60 bytes), every descriptor is written back
 * with status DONE and nothing else changed, HEAD moved past them.
 */
static inline void tx_frame_ok(Ctx *c, const uint8_t *frame, size_t len,
                        int nfrags, const uint16_t *frag_len)
{
    static uint8_t wire[CHIMNEY_MAX_FRAME + 64];
    ChimneyTxDesc before[CHIMNEY_TX_MAX_FRAGS], after;
    uint32_t first, idx, size = c->d->ring[CHIMNEY_RING_TX].size;
    size_t got, exp_len = MAX(len, ETH_MIN_WIRE);
    int i;

    g_assert_cmpint(nfrags, <=, CHIMNEY_TX_MAX_FRAGS);
    first = chimney_tx_post_frame(c->d, frame, len, nfrags, frag_len);
    for (i = 0, idx = first; i < nfrags; i++, idx = (idx + 1) % size) {
        chimney_tx_read(c->d, idx, &before[i]);
    }
    chimney_ring_kick(c->d, CHIMNEY_RING_TX);

    got = wire_recv(c, wire, sizeof(wire));
    g_assert_cmpuint(got, ==, exp_len);
    g_assert_cmpmem(wire, len, frame, len);
    for (i = len; i < exp_len; i++) {
        g_assert_cmphex(wire[i], ==, 0);
    }
    for (i = 0, idx = first; i < nfrags; i++, idx = (idx + 1) % size) {
        chimney_tx_read(c->d, idx, &after);
        g_assert_cmphex(after.status, ==, CHIMNEY_DESC_DONE);
        g_assert_cmphex(after.addr, ==, before[i].addr);
        g_assert_cmpuint(after.len, ==, before[i].len);
        g_assert_cmphex(after.flags, ==, before[i].flags);
    }
    g_assert_cmpuint(chimney_ring_head(c->d, CHIMNEY_RING_TX), ==,
                     c->d->ring[CHIMNEY_RING_TX].tail);
}

/* Post one TX frame whose descriptors must all fail with @err. */
static inline void tx_frame_err(Ctx *c, const uint16_t *frag_len, int nfrags,
                         uint32_t err)
{
    static uint8_t frame[70000];
    uint32_t first, idx, size = c->d->ring[CHIMNEY_RING_TX].size;
    size_t len = 0;
    int i;

    for (i = 0; i < nfrags; i++) {
        len += frag_len[i];
    }
    g_assert_cmpuint(len, <=, sizeof(frame));
    make_frame(frame, len, peer_mac, 0x0800, 77);
    first = chimney_tx_post_frame(c->d, frame, len, nfrags, frag_len);
    chimney_ring_kick(c->d, CHIMNEY_RING_TX);
    for (i = 0, idx = first; i < nfrags; i++, idx = (idx + 1) % size) {
        g_assert_cmphex(chimney_desc_status(c->d, CHIMNEY_RING_TX, idx), ==,
                        desc_err(err));
    }
    g_assert_cmpuint(chimney_ring_head(c->d, CHIMNEY_RING_TX), ==,
                     c->d->ring[CHIMNEY_RING_TX].tail);
    g_assert_cmphex(rd(c, CHIMNEY_REG_LAST_ERR), ==, err);
    wire_expect_nothing(c);
}

/* A 60-byte frame through TX, checked on the wire. */
static inline void tx_small_ok(Ctx *c, uint32_t seed)
{
    uint8_t f[ETH_MIN_WIRE];

    make_frame(f, sizeof(f), peer_mac, 0x0800, seed);
    tx_frame_ok(c, f, sizeof(f), 1, NULL);
}

/* RX: check descriptor @idx holds @exp (@len bytes) with @status/@flags. */
static inline void rx_check(Ctx *c, uint32_t idx, const uint8_t *exp, size_t len,
                     uint16_t status, uint16_t flags)
{
    ChimneyRxDesc desc;
    g_autofree uint8_t *buf = g_malloc(MAX(len, 1));

    chimney_rx_read(c->d, idx, &desc);
    g_assert_cmphex(desc.status, ==, status);
    g_assert_cmpuint(desc.len, ==, len);
    g_assert_cmphex(desc.flags, ==, flags);
    if (len) {
        qtest_memread(c->qts, desc.addr, buf, len);
        g_assert_cmpmem(buf, len, exp, len);
    }
}

/* Post @n RX buffers of @buf_len bytes and ring the doorbell. */
static inline void rx_post_bufs(Ctx *c, int n, uint16_t buf_len)
{
    int i;

    for (i = 0; i < n; i++) {
        chimney_rx_post(c->d, chimney_alloc(c->d, MAX(buf_len, 1)), buf_len);
    }
    chimney_ring_kick(c->d, CHIMNEY_RING_RX);
}

/* Send @frame (@len) on the wire; it must land whole in RX descriptor @idx. */
static inline void rx_frame_ok(Ctx *c, const uint8_t *frame, size_t len,
                        uint32_t idx, uint16_t flags)
{
    wire_send(c, frame, len);
    wait_done(c, CHIMNEY_RING_RX, idx);
    rx_check(c, idx, frame, len, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, flags);
}

/* Command ring + event ring with @slots event slots given to the device. */
static inline void cmd_evt_start(Ctx *c, uint32_t slots)
{
    chimney_ring_start(c->d, CHIMNEY_RING_EVT, 8);
    chimney_ring_start(c->d, CHIMNEY_RING_CMD, 8);
    if (slots) {
        chimney_evt_give(c->d, slots);
    }
}

static inline void evt_check(Ctx *c, uint32_t idx, uint16_t type, uint16_t code,
                      uint32_t status, uint64_t cookie, uint32_t info)
{
    ChimneyEvent ev;

    g_assert_true(chimney_wait_evt_valid(c->d, idx));
    chimney_evt_read(c->d, idx, &ev);
    g_assert_cmphex(ev.type, ==, type);
    g_assert_cmphex(ev.code, ==, code);
    g_assert_cmphex(ev.status, ==, status);
    g_assert_cmphex(ev.cookie, ==, cookie);
    g_assert_cmphex(ev.info, ==, info);
    g_assert_cmphex(ev.flags, ==, CHIMNEY_EVTF_VALID);
}

static inline bool evt_valid_now(Ctx *c, uint32_t idx)
{
    ChimneyEvent ev;

    chimney_evt_read(c->d, idx, &ev);
    return ev.flags & CHIMNEY_EVTF_VALID;
}

#endif /* CHIMNEY_NIC_QTEST_H */
