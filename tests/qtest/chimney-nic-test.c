/*
 * QTest testcases for the chimney-nic PCI NIC: the plain L2 NIC
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

#ifndef _WIN32

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

static Ctx ctx_get(void *obj, void *data)
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
static void make_frame(uint8_t *f, size_t len, const uint8_t *dst,
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

static void wire_send(Ctx *c, const uint8_t *frame, size_t len)
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
static bool wire_read_exact(Ctx *c, void *buf, size_t len, int iters)
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
static size_t wire_recv(Ctx *c, uint8_t *buf, size_t cap)
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
static void wire_expect_nothing(Ctx *c)
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

static void quiet(Ctx *c)
{
    int i;

    for (i = 0; i < CHIMNEY_QOS_QUIET_ITERS; i++) {
        chimney_step(c->d);
    }
}

/*
 * Device helpers
 */

static uint32_t rd(Ctx *c, uint32_t off)
{
    return chimney_readl(c->d, off);
}

static void wr(Ctx *c, uint32_t off, uint32_t val)
{
    chimney_writel(c->d, off, val);
}

static uint32_t ring_rd(Ctx *c, int ring, uint32_t reg)
{
    return chimney_ring_readl(c->d, ring, reg);
}

static uint32_t st_rd(Ctx *c, int s)
{
    return chimney_stat(c->d, s);
}

static uint32_t mac_lo(const uint8_t *m)
{
    return m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
}

static uint32_t mac_hi(const uint8_t *m)
{
    return m[4] | m[5] << 8;
}

static void set_link(Ctx *c, bool up)
{
    qtest_qmp_assert_success(c->qts,
                             "{'execute': 'set_link', 'arguments': "
                             "{'name': %s, 'up': %i}}",
                             CHIMNEY_QOS_NETDEV, up);
}

static void msix_set_enable(Ctx *c, bool on)
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
static int64_t vclock(Ctx *c)
{
    return qtest_clock_step(c->qts, 1);
}

/* The vector's message is there right now (no time passes). */
static bool vec_now(Ctx *c, int vec)
{
    return chimney_msix_poll(c->d, vec);
}

/* No message on any vector but those in @allowed since the last poll. */
static void expect_no_other_vec(Ctx *c, uint32_t allowed)
{
    int v;

    for (v = 0; v < CHIMNEY_MSIX_VECTORS; v++) {
        if (!(allowed & (1u << v))) {
            g_assert_false(vec_now(c, v));
        }
    }
}

static void wait_done(Ctx *c, int ring, uint32_t idx)
{
    g_assert_true(chimney_wait_desc_done(c->d, ring, idx));
}

/* Bounded wait until statistics counter @s reads @val. */
static void wait_stat(Ctx *c, int s, uint32_t val)
{
    int i;

    for (i = 0; i < CHIMNEY_QOS_WAIT_ITERS && st_rd(c, s) != val; i++) {
        chimney_step(c->d);
    }
    g_assert_cmpuint(st_rd(c, s), ==, val);
}

static void check_ring_status(Ctx *c, int ring, uint32_t st)
{
    g_assert_cmphex(ring_rd(c, ring, CHIMNEY_RING_STATUS), ==, st);
}

static uint32_t ring_err_status(uint32_t code)
{
    return CHIMNEY_RING_ST_ERROR | code << CHIMNEY_RING_ST_ERR_SHIFT;
}

static uint16_t desc_err(uint32_t code)
{
    return CHIMNEY_DESC_DONE | code << CHIMNEY_DESC_ERR_SHIFT;
}

/*
 * Every register at its reset value (l2-semantics.md "Registers"), the
 * STATUS register as @status (it reflects link, bus mastering and MSI-X).
 */
static void check_reset_values(Ctx *c, uint32_t status)
{
    int ring, s;
    uint32_t off;

    g_assert_cmphex(rd(c, CHIMNEY_REG_ID), ==, 0x4d494843);
    g_assert_cmphex(rd(c, CHIMNEY_REG_VERSION), ==, 0x00010000);
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
                    CHIMNEY_CAP_WSCALE);
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
static void tx_frame_ok(Ctx *c, const uint8_t *frame, size_t len,
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
static void tx_frame_err(Ctx *c, const uint16_t *frag_len, int nfrags,
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
static void tx_small_ok(Ctx *c, uint32_t seed)
{
    uint8_t f[ETH_MIN_WIRE];

    make_frame(f, sizeof(f), peer_mac, 0x0800, seed);
    tx_frame_ok(c, f, sizeof(f), 1, NULL);
}

/* RX: check descriptor @idx holds @exp (@len bytes) with @status/@flags. */
static void rx_check(Ctx *c, uint32_t idx, const uint8_t *exp, size_t len,
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
static void rx_post_bufs(Ctx *c, int n, uint16_t buf_len)
{
    int i;

    for (i = 0; i < n; i++) {
        chimney_rx_post(c->d, chimney_alloc(c->d, MAX(buf_len, 1)), buf_len);
    }
    chimney_ring_kick(c->d, CHIMNEY_RING_RX);
}

/* Send @frame (@len) on the wire; it must land whole in RX descriptor @idx. */
static void rx_frame_ok(Ctx *c, const uint8_t *frame, size_t len,
                        uint32_t idx, uint16_t flags)
{
    wire_send(c, frame, len);
    wait_done(c, CHIMNEY_RING_RX, idx);
    rx_check(c, idx, frame, len, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, flags);
}

/* Command ring + event ring with @slots event slots given to the device. */
static void cmd_evt_start(Ctx *c, uint32_t slots)
{
    chimney_ring_start(c->d, CHIMNEY_RING_EVT, 8);
    chimney_ring_start(c->d, CHIMNEY_RING_CMD, 8);
    if (slots) {
        chimney_evt_give(c->d, slots);
    }
}

static void evt_check(Ctx *c, uint32_t idx, uint16_t type, uint16_t code,
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

static bool evt_valid_now(Ctx *c, uint32_t idx)
{
    ChimneyEvent ev;

    chimney_evt_read(c->d, idx, &ev);
    return ev.flags & CHIMNEY_EVTF_VALID;
}

/*
 * 1. PCI identity
 */

static void test_pci_probe(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QPCIDevice *dev = &c.d->pci_dev;
    uint8_t cap;
    uint32_t bar0;

    g_assert_cmphex(qpci_config_readw(dev, PCI_VENDOR_ID), ==, 0x1b36);
    g_assert_cmphex(qpci_config_readw(dev, PCI_DEVICE_ID), ==, 0x00c1);
    g_assert_cmphex(qpci_config_readb(dev, PCI_REVISION_ID), ==, 1);
    g_assert_cmphex(qpci_config_readw(dev, PCI_CLASS_DEVICE), ==, 0x0200);
    g_assert_cmphex(qpci_config_readb(dev, PCI_CLASS_PROG), ==, 0);
    g_assert_cmphex(qpci_config_readw(dev, PCI_SUBSYSTEM_VENDOR_ID), ==,
                    0x1af4);
    g_assert_cmphex(qpci_config_readw(dev, PCI_SUBSYSTEM_ID), ==, 0x1100);
    g_assert_cmphex(qpci_config_readb(dev, PCI_INTERRUPT_PIN), ==, 1);

    /* BAR0: 4 KiB, 64-bit, non-prefetchable memory */
    g_assert_cmphex(c.d->bar0_size, ==, 0x1000);
    bar0 = qpci_config_readl(dev, PCI_BASE_ADDRESS_0);
    g_assert_cmphex(bar0 & PCI_BASE_ADDRESS_SPACE, ==,
                    PCI_BASE_ADDRESS_SPACE_MEMORY);
    g_assert_cmphex(bar0 & PCI_BASE_ADDRESS_MEM_TYPE_MASK, ==,
                    PCI_BASE_ADDRESS_MEM_TYPE_64);
    g_assert_cmphex(bar0 & PCI_BASE_ADDRESS_MEM_PREFETCH, ==, 0);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_ID), ==, CHIMNEY_ID_MAGIC);

    /* MSI-X: 5 vectors, table (and PBA) in BAR2 */
    cap = qpci_find_capability(dev, PCI_CAP_ID_MSIX, 0);
    g_assert_cmphex(cap, !=, 0);
    g_assert_cmpuint(qpci_msix_table_size(dev), ==, 5);
    g_assert_cmpuint(qpci_config_readl(dev, cap + PCI_MSIX_TABLE) &
                     PCI_MSIX_FLAGS_BIRMASK, ==, CHIMNEY_BAR_MSIX);
    g_assert_cmpuint(qpci_config_readl(dev, cap + PCI_MSIX_PBA) &
                     PCI_MSIX_FLAGS_BIRMASK, ==, CHIMNEY_BAR_MSIX);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_CAP_MSIX_VECTORS), ==, 5);

    /* PCIe endpoint capability (present on pc too, unused there) */
    g_assert_cmphex(qpci_find_capability(dev, PCI_CAP_ID_EXP, 0), !=, 0);
}

/*
 * 2. Reset values
 */

static void test_reg_reset_values(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);

    /* The node enabled bus mastering and MSI-X; the netdev link is up. */
    check_reset_values(&c, STATUS_ALL_ON);

    /* STATUS follows the PCI state. */
    chimney_set_bus_master(c.d, false);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_LINK_UP | CHIMNEY_STATUS_MSIX);
    msix_set_enable(&c, false);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS), ==, CHIMNEY_STATUS_LINK_UP);
    chimney_set_bus_master(c.d, true);
    msix_set_enable(&c, true);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS), ==, STATUS_ALL_ON);
}

/*
 * 3. Register access rules
 */

/* The last access was a bad one: counted, LAST_ERR = BAD_REG. */
static void expect_bad_reg(Ctx *c, uint32_t *errs)
{
    (*errs)++;
    g_assert_cmpuint(rd(c, CHIMNEY_REG_ERR_COUNT), ==, *errs);
    g_assert_cmphex(rd(c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BAD_REG);
    /*
     * Make the next BAD_REG visible: LAST_ERR = BAD_SIZE in between (the
     * event ring has SIZE 0, so enabling it is refused).
     */
    chimney_ring_writel(c->d, CHIMNEY_RING_EVT, CHIMNEY_RING_CTRL,
                        CHIMNEY_RING_CTRL_ENABLE);
    (*errs)++;
    g_assert_cmphex(rd(c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BAD_SIZE);
}

static void test_reg_access_rules(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static const uint32_t ro_regs[] = {
        CHIMNEY_REG_ID, CHIMNEY_REG_VERSION, CHIMNEY_REG_STATUS,
        CHIMNEY_REG_ERR_COUNT, CHIMNEY_REG_LAST_ERR, CHIMNEY_REG_CAP_FLAGS,
        CHIMNEY_REG_CAP_MAX_CONN, CHIMNEY_REG_CAP_MAX_FRAME,
        CHIMNEY_REG_CAP_RING_MAX, CHIMNEY_REG_CAP_MSIX_VECTORS,
        CHIMNEY_REG_CAP_MAX_PATH_MTU, CHIMNEY_REG_CAP_MEM_BUDGET_KB,
        CHIMNEY_RING_REG(CHIMNEY_RING_TX, CHIMNEY_RING_HEAD),
        CHIMNEY_RING_REG(CHIMNEY_RING_RX, CHIMNEY_RING_STATUS),
        CHIMNEY_RING_REG(CHIMNEY_RING_EVT, CHIMNEY_RING_COUNT_REG),
        CHIMNEY_REG_STAT(CHIMNEY_STAT_TX_FRAMES),
        CHIMNEY_REG_STAT(CHIMNEY_STAT_EVT_OVERFLOW),
    };
    static const uint32_t unknown_regs[] = {
        0x060, 0x080, 0x0fc, 0x1a0, 0x1fc, 0x230, 0x2f8, 0x800, 0xffc,
    };
    uint32_t errs = 0, before, v;
    size_t i;

    /* RO registers ignore writes; each write is a counted guest error. */
    for (i = 0; i < G_N_ELEMENTS(ro_regs); i++) {
        before = rd(&c, ro_regs[i]);
        wr(&c, ro_regs[i], ~before);
        errs++;
        if (ro_regs[i] != CHIMNEY_REG_ERR_COUNT &&
            ro_regs[i] != CHIMNEY_REG_LAST_ERR) {
            g_assert_cmphex(rd(&c, ro_regs[i]), ==, before);
        }
        g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
        g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==,
                        CHIMNEY_ERR_BAD_REG);
    }

    /* RW registers keep what is written (within their fields). */
    wr(&c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_CTRL), ==, CHIMNEY_CTRL_OFFLOAD_EN);
    wr(&c, CHIMNEY_REG_CTRL, 0);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_CTRL), ==, 0);
    wr(&c, CHIMNEY_REG_MAC_LO, 0x44332211);
    wr(&c, CHIMNEY_REG_MAC_HI, 0xffff6655);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_MAC_LO), ==, 0x44332211);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_MAC_HI), ==, 0x6655);
    for (v = 0; v < 16; v++) {
        wr(&c, CHIMNEY_REG_RX_FILTER, v);
        g_assert_cmphex(rd(&c, CHIMNEY_REG_RX_FILTER), ==, v);
    }
    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_MASK), ==, CHIMNEY_INT_ALL);
    wr(&c, CHIMNEY_REG_INT_MASK, 0x5a);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_MASK), ==, 0x5a);
    wr(&c, CHIMNEY_REG_INT_MASK, 0);
    wr(&c, CHIMNEY_REG_INT_THROTTLE, 0x12345678);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_THROTTLE), ==, 0x5678);
    wr(&c, CHIMNEY_REG_INT_THROTTLE, 0);
    chimney_ring_writel(d, CHIMNEY_RING_IND, CHIMNEY_RING_ADDR_LO,
                        0x87654340);
    chimney_ring_writel(d, CHIMNEY_RING_IND, CHIMNEY_RING_ADDR_HI, 0x12);
    chimney_ring_writel(d, CHIMNEY_RING_IND, CHIMNEY_RING_SIZE, 1024);
    g_assert_cmphex(ring_rd(&c, CHIMNEY_RING_IND, CHIMNEY_RING_ADDR_LO), ==,
                    0x87654340);
    g_assert_cmphex(ring_rd(&c, CHIMNEY_RING_IND, CHIMNEY_RING_ADDR_HI), ==,
                    0x12);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_IND, CHIMNEY_RING_SIZE), ==,
                     1024);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);

    /* INT_CAUSE is write-1-to-clear: raise LINK and ERR (both masked). */
    set_link(&c, false);
    set_link(&c, true);
    chimney_ring_writel(d, CHIMNEY_RING_CMD, CHIMNEY_RING_SIZE, 3);
    chimney_ring_writel(d, CHIMNEY_RING_CMD, CHIMNEY_RING_CTRL, 1);
    errs++;
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BAD_SIZE);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==,
                    CHIMNEY_INT_LINK | CHIMNEY_INT_ERR);
    wr(&c, CHIMNEY_REG_INT_CAUSE, 0);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==,
                    CHIMNEY_INT_LINK | CHIMNEY_INT_ERR);
    wr(&c, CHIMNEY_REG_INT_CAUSE, CHIMNEY_INT_ERR | CHIMNEY_INT_TX);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, CHIMNEY_INT_LINK);
    wr(&c, CHIMNEY_REG_INT_CAUSE, 0xffffffff);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, 0);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);

    /*
     * Only aligned 32-bit accesses: 8/16/64-bit and unaligned ones are
     * ignored (reads return 0), counted, LAST_ERR = BAD_REG.
     */
    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_BROADCAST);
    qpci_io_writeb(&d->pci_dev, d->bar0, CHIMNEY_REG_RX_FILTER, 0xff);
    expect_bad_reg(&c, &errs);
    qpci_io_writew(&d->pci_dev, d->bar0, CHIMNEY_REG_RX_FILTER, 0xffff);
    expect_bad_reg(&c, &errs);
    qpci_io_writeq(&d->pci_dev, d->bar0, CHIMNEY_REG_RX_FILTER,
                   0xffffffffffffffffull);
    expect_bad_reg(&c, &errs);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_RX_FILTER), ==, CHIMNEY_RXF_BROADCAST);
    qpci_io_writel(&d->pci_dev, d->bar0, CHIMNEY_REG_MAC_LO + 2, 0xdeadbeef);
    expect_bad_reg(&c, &errs);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_MAC_LO), ==, 0x44332211);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_MAC_HI), ==, 0x6655);
    g_assert_cmphex(qpci_io_readb(&d->pci_dev, d->bar0, CHIMNEY_REG_ID), ==,
                    0);
    expect_bad_reg(&c, &errs);
    g_assert_cmphex(qpci_io_readw(&d->pci_dev, d->bar0, CHIMNEY_REG_ID), ==,
                    0);
    expect_bad_reg(&c, &errs);
    g_assert_cmphex(qpci_io_readq(&d->pci_dev, d->bar0, CHIMNEY_REG_ID), ==,
                    0);
    expect_bad_reg(&c, &errs);
    g_assert_cmphex(qpci_io_readl(&d->pci_dev, d->bar0, CHIMNEY_REG_ID + 1),
                    ==, 0);
    expect_bad_reg(&c, &errs);

    /* Unknown offsets: writes are counted errors, reads return 0. */
    for (i = 0; i < G_N_ELEMENTS(unknown_regs); i++) {
        wr(&c, unknown_regs[i], 0xa5a5a5a5);
        expect_bad_reg(&c, &errs);
    }
    for (i = 0; i < G_N_ELEMENTS(unknown_regs); i++) {
        g_assert_cmphex(rd(&c, unknown_regs[i]), ==, 0);
    }
    /* STATS_CLEAR is write-only: reads 0 */
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATS_CLEAR), ==, 0);

    /* STATS_CLEAR: write 1 zeroes every counter, writing 0 does nothing. */
    chimney_ring_start(d, CHIMNEY_RING_TX, 8);
    tx_small_ok(&c, 1);
    tx_small_ok(&c, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_BYTES), ==, 120);
    wr(&c, CHIMNEY_REG_STATS_CLEAR, 0);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 2);
    wr(&c, CHIMNEY_REG_STATS_CLEAR, 1);
    for (i = 0; i < CHIMNEY_STAT_COUNT; i++) {
        g_assert_cmpuint(st_rd(&c, i), ==, 0);
    }
    /* ... and only the counters: the ring and its COUNT are untouched */
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 2);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_COUNT_REG), ==,
                     2);

    /* CTRL.RESET brings every register back to its reset value. */
    wr(&c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);
    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_PROMISC);
    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ERR);
    wr(&c, CHIMNEY_REG_INT_THROTTLE, 100);
    tx_small_ok(&c, 3);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), !=, 0);
    wr(&c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET | CHIMNEY_CTRL_OFFLOAD_EN);
    check_reset_values(&c, STATUS_ALL_ON);
}

/*
 * 4. MSI-X vectors, masking, moderation
 */

#define GAP_NS (1000 * 1000)     /* INT_THROTTLE = 1000 us */

static void test_msix(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[ETH_MIN_WIRE];
    int64_t t0, t1, now;
    int i;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);

    /* LINK -> vector 0 (cause auto-cleared when the message goes out) */
    set_link(&c, false);
    chimney_wait_vec(d, CHIMNEY_VEC_MISC);
    set_link(&c, true);
    chimney_wait_vec(d, CHIMNEY_VEC_MISC);
    expect_no_other_vec(&c, 1u << CHIMNEY_VEC_MISC);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, 0);

    /* TX -> vector 1 */
    chimney_ring_start(d, CHIMNEY_RING_TX, 16);
    tx_small_ok(&c, 1);
    chimney_wait_vec(d, CHIMNEY_VEC_TX);
    expect_no_other_vec(&c, 1u << CHIMNEY_VEC_TX);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, 0);

    /* RX -> vector 2 */
    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(&c, 2, 2048);
    make_frame(f, sizeof(f), our_mac, 0x0800, 2);
    rx_frame_ok(&c, f, sizeof(f), 0, 0);
    chimney_wait_vec(d, CHIMNEY_VEC_RX);
    expect_no_other_vec(&c, 1u << CHIMNEY_VEC_RX);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, 0);

    /* CMD -> vector 3, EVT -> vector 4 (a NOP command) */
    cmd_evt_start(&c, 7);
    chimney_cmd_post(d, CHIMNEY_CMD_NOP, 0, 0x42);
    chimney_ring_kick(d, CHIMNEY_RING_CMD);
    chimney_wait_vec(d, CHIMNEY_VEC_CMD);
    chimney_wait_vec(d, CHIMNEY_VEC_EVT);
    expect_no_other_vec(&c, 0);
    evt_check(&c, 0, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP,
              CHIMNEY_ST_SUCCESS, 0x42, 0);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, 0);

    /* A masked cause sends nothing and stays pending in INT_CAUSE. */
    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL & ~CHIMNEY_INT_TX);
    tx_small_ok(&c, 3);
    chimney_expect_no_vec(d, CHIMNEY_VEC_TX, CHIMNEY_QOS_QUIET_ITERS,
                          CHIMNEY_QOS_STEP_NS);
    expect_no_other_vec(&c, 0);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, CHIMNEY_INT_TX);
    wr(&c, CHIMNEY_REG_INT_CAUSE, CHIMNEY_INT_TX);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, 0);
    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_expect_no_vec(d, CHIMNEY_VEC_TX, 0, 0);

    /*
     * Moderation: INT_THROTTLE = 1000 us.  After a quiet period longer
     * than the gap the first TX message goes out at once; the second TX
     * completion, right after, must wait until the gap has passed on the
     * virtual clock: not at gap - 10 us, but by gap + 10 us.
     */
    wr(&c, CHIMNEY_REG_INT_THROTTLE, 1000);
    qtest_clock_step(c.qts, 2 * GAP_NS);
    t0 = vclock(&c);
    tx_small_ok(&c, 4);
    g_assert_true(vec_now(&c, CHIMNEY_VEC_TX));
    tx_small_ok(&c, 5);
    t1 = vclock(&c);
    g_assert_false(vec_now(&c, CHIMNEY_VEC_TX));
    /* the first message went out in [t0, t1]: none before t0 + gap */
    qtest_clock_step(c.qts, GAP_NS / 2);
    g_assert_false(vec_now(&c, CHIMNEY_VEC_TX));
    /* other vectors are not held back by vector 1's gap */
    make_frame(f, sizeof(f), our_mac, 0x0800, 6);
    rx_frame_ok(&c, f, sizeof(f), 1, 0);
    g_assert_true(vec_now(&c, CHIMNEY_VEC_RX));
    now = vclock(&c);
    for (i = 0; now < t0 + GAP_NS - 10000 && i < 100; i++) {
        now = qtest_clock_step(c.qts, MIN(50000, t0 + GAP_NS - 10000 - now));
        g_assert_false(vec_now(&c, CHIMNEY_VEC_TX));
    }
    g_assert_cmpint(now, ==, t0 + GAP_NS - 10000);
    /* held back, not lost: the cause is still pending */
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, CHIMNEY_INT_TX);
    /* due by t1 + gap */
    qtest_clock_step(c.qts, t1 + GAP_NS + 10000 - now);
    g_assert_true(vec_now(&c, CHIMNEY_VEC_TX));
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, 0);
    expect_no_other_vec(&c, 0);
}

/*
 * 5. TX
 */

static void test_tx(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static uint8_t f[CHIMNEY_MAX_FRAME], g[CHIMNEY_MAX_FRAME];
    static uint8_t wire[CHIMNEY_MAX_FRAME + 64];
    static const uint16_t odd_frags[16] = {
        1, 13, 1, 100, 7, 1, 1, 64, 255, 2, 3, 500, 1, 1, 9, 44,
    };
    uint32_t frames = 0, bytes = 0, descs = 0, first, i, odd_len = 0;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(d, CHIMNEY_RING_TX, 64);

    /* 60 bytes, one descriptor */
    make_frame(f, 60, peer_mac, 0x0800, 1);
    tx_frame_ok(&c, f, 60, 1, NULL);
    frames++, bytes += 60, descs += 1;
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_BYTES), ==, 60);
    chimney_wait_vec(d, CHIMNEY_VEC_TX);

    /* 1514 bytes, one descriptor */
    make_frame(f, 1514, peer_mac, 0x86dd, 2);
    tx_frame_ok(&c, f, 1514, 1, NULL);
    frames++, bytes += 1514, descs += 1;

    /* scatter-gather: 16 even fragments, then 16 odd-sized ones */
    make_frame(f, 1514, peer_mac, 0x0800, 3);
    tx_frame_ok(&c, f, 1514, 16, NULL);
    frames++, bytes += 1514, descs += 16;
    for (i = 0; i < 16; i++) {
        odd_len += odd_frags[i];
    }
    make_frame(f, odd_len, peer_mac, 0x0800, 4);
    tx_frame_ok(&c, f, odd_len, 16, odd_frags);
    frames++, bytes += odd_len, descs += 16;

    /* 9018-byte jumbo frame: one descriptor, then three */
    make_frame(f, CHIMNEY_MAX_FRAME, peer_mac, 0x8100, 5);
    tx_frame_ok(&c, f, CHIMNEY_MAX_FRAME, 1, NULL);
    frames++, bytes += CHIMNEY_MAX_FRAME, descs += 1;
    make_frame(f, CHIMNEY_MAX_FRAME, peer_mac, 0x0800, 6);
    tx_frame_ok(&c, f, CHIMNEY_MAX_FRAME, 3, NULL);
    frames++, bytes += CHIMNEY_MAX_FRAME, descs += 3;

    /* 20 bytes: padded with zeros to 60 on the wire */
    make_frame(f, 20, peer_mac, 0x0800, 7);
    tx_frame_ok(&c, f, 20, 2, NULL);
    frames++, bytes += ETH_MIN_WIRE, descs += 2;
    /* 14 bytes (a bare header) is the smallest frame */
    make_frame(f, 14, peer_mac, 0x0800, 8);
    tx_frame_ok(&c, f, 14, 1, NULL);
    frames++, bytes += ETH_MIN_WIRE, descs += 1;

    /*
     * TX_BYTES counts bytes put on the wire (padding included); the notes
     * only say "TX_FRAMES/TX_BYTES updated", this is the device's reading.
     */
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, frames);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_BYTES), ==, bytes);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, descs);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_COUNT_REG), ==,
                     descs);

    /*
     * An incomplete frame (no EOP yet) waits; several frames behind one
     * doorbell all go, in order, and the ring wraps around.
     */
    make_frame(f, 300, peer_mac, 0x0800, 9);
    make_frame(g, 100, peer_mac, 0x0800, 10);
    first = d->ring[CHIMNEY_RING_TX].tail;
    {
        uint64_t a = chimney_alloc(d, 300);

        qtest_memwrite(c.qts, a, f, 300);
        chimney_tx_post(d, a, 300, 0);                  /* no EOP */
    }
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    wire_expect_nothing(&c);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, first);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, first), ==, 0);
    {
        uint64_t a = chimney_alloc(d, 60);
        uint8_t tail[60];

        make_frame(tail, 60, peer_mac, 0, 11);
        qtest_memwrite(c.qts, a, tail, 60);
        chimney_tx_post(d, a, 60, CHIMNEY_TXF_EOP);     /* frame 1 done */
        memcpy(f + 300, tail, 60);
    }
    chimney_tx_post_frame(d, g, 100, 1, NULL);          /* frame 2 */
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    g_assert_cmpuint(wire_recv(&c, wire, sizeof(wire)), ==, 360);
    g_assert_cmpmem(wire, 360, f, 360);
    g_assert_cmpuint(wire_recv(&c, wire, sizeof(wire)), ==, 100);
    g_assert_cmpmem(wire, 100, g, 100);
    descs += 3;
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, descs % 64);
    for (i = 0; i < 64 - descs % 64 + 2; i++) {
        tx_small_ok(&c, 100 + i);       /* wraps past index 63 */
    }
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 0);
    chimney_wait_vec(d, CHIMNEY_VEC_TX);
}

/*
 * 6. RX
 */

static void test_rx(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static uint8_t f[CHIMNEY_MAX_FRAME + 1];
    static const uint8_t new_mac[6] = { 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
    uint32_t idx = 0, filtered = 0, bytes = 0;
    ChimneyRxDesc desc;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(d, CHIMNEY_RING_RX, 32);
    rx_post_bufs(&c, 16, 2048);

    /* unicast to our MAC, 60 and 1514 bytes */
    make_frame(f, 60, our_mac, 0x0800, 1);
    rx_frame_ok(&c, f, 60, idx++, 0);
    bytes += 60;
    chimney_wait_vec(d, CHIMNEY_VEC_RX);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_BYTES), ==, 60);
    make_frame(f, 1514, our_mac, 0x86dd, 2);
    rx_frame_ok(&c, f, 1514, idx++, 0);
    bytes += 1514;
    /* the smallest frame: a bare 14-byte header */
    make_frame(f, 14, our_mac, 0x0800, 3);
    rx_frame_ok(&c, f, 14, idx++, 0);
    bytes += 14;

    /* a 3000-byte frame spans two 2048-byte buffers, EOP on the last */
    make_frame(f, 3000, our_mac, 0x0800, 4);
    wire_send(&c, f, 3000);
    wait_done(&c, CHIMNEY_RING_RX, idx + 1);
    rx_check(&c, idx, f, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 1, f + 2048, 3000 - 2048,
             CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    idx += 2;
    bytes += 3000;
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, idx);

    /*
     * Filter.  A dropped frame uses no buffer: the next accepted frame
     * lands in the descriptor the dropped one would have taken.
     */
    make_frame(f, 64, other_mac, 0x0800, 5);        /* other unicast */
    wire_send(&c, f, 64);
    filtered++;
    make_frame(f, 64, mcast_mac, 0x0800, 6);        /* multicast */
    wire_send(&c, f, 64);
    filtered++;
    make_frame(f, 13, our_mac, 0x0800, 60);         /* runt: < 14 bytes */
    wire_send(&c, f, 13);
    filtered++;
    make_frame(f, 70, bcast_mac, 0x0806, 7);        /* broadcast: accepted */
    rx_frame_ok(&c, f, 70, idx++, 0);
    bytes += 70;
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, filtered);

    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_UNICAST | CHIMNEY_RXF_BROADCAST |
       CHIMNEY_RXF_ALLMULTI);
    make_frame(f, 64, mcast_mac, 0x0800, 8);        /* now accepted */
    rx_frame_ok(&c, f, 64, idx++, 0);
    bytes += 64;
    make_frame(f, 64, other_mac, 0x0800, 9);        /* still dropped */
    wire_send(&c, f, 64);
    filtered++;
    wait_stat(&c, CHIMNEY_STAT_RX_FILTERED, filtered);

    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_UNICAST);
    make_frame(f, 64, bcast_mac, 0x0800, 10);       /* no BROADCAST */
    wire_send(&c, f, 64);
    filtered++;
    make_frame(f, 64, mcast_mac, 0x0800, 11);       /* no ALLMULTI */
    wire_send(&c, f, 64);
    filtered++;
    wait_stat(&c, CHIMNEY_STAT_RX_FILTERED, filtered);

    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_PROMISC);
    make_frame(f, 64, other_mac, 0x0800, 12);       /* PROMISC: all */
    rx_frame_ok(&c, f, 64, idx++, 0);
    bytes += 64;
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, filtered);

    /* filtering uses the current MAC_LO/HI */
    wr(&c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_RESET_VALUE);
    wr(&c, CHIMNEY_REG_MAC_LO, mac_lo(new_mac));
    wr(&c, CHIMNEY_REG_MAC_HI, mac_hi(new_mac));
    make_frame(f, 64, our_mac, 0x0800, 13);         /* old MAC: dropped */
    wire_send(&c, f, 64);
    filtered++;
    make_frame(f, 64, new_mac, 0x0800, 14);
    rx_frame_ok(&c, f, 64, idx++, 0);
    bytes += 64;
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, filtered);

    /* 802.1Q: RXF_VLAN, frame delivered unmodified (tag included) */
    make_frame(f, 64, new_mac, 0x8100, 15);
    f[14] = 0x20;                                   /* PCP 1, VID 5 */
    f[15] = 0x05;
    f[16] = 0x08;
    f[17] = 0x00;
    rx_frame_ok(&c, f, 64, idx++, CHIMNEY_RXF_VLAN);
    bytes += 64;

    /* longer than CAP_MAX_FRAME: dropped, RX_OVERSIZE, no buffer used */
    make_frame(f, CHIMNEY_MAX_FRAME + 1, new_mac, 0x0800, 17);
    wire_send(&c, f, CHIMNEY_MAX_FRAME + 1);

    /* a 9018-byte jumbo frame across five 2048-byte buffers */
    make_frame(f, CHIMNEY_MAX_FRAME, new_mac, 0x0800, 16);
    wire_send(&c, f, CHIMNEY_MAX_FRAME);
    wait_done(&c, CHIMNEY_RING_RX, idx + 4);
    rx_check(&c, idx, f, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 1, f + 2048, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 2, f + 4096, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 3, f + 6144, 2048, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, idx + 4, f + 8192, CHIMNEY_MAX_FRAME - 8192,
             CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    idx += 5;
    bytes += CHIMNEY_MAX_FRAME;

    g_assert_cmpuint(idx, ==, 15);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, idx);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_RX, CHIMNEY_RING_COUNT_REG), ==,
                     idx);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 10);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_BYTES), ==, bytes);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_ERRORS), ==, 0);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_OVERSIZE), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, filtered);
    /* the buffer after the last frame is untouched */
    quiet(&c);
    chimney_rx_read(d, idx, &desc);
    g_assert_cmphex(desc.status, ==, 0);
    g_assert_cmpuint(desc.len, ==, 0);
}

/*
 * 7. RX back-pressure: nothing is lost
 */

static void test_rx_backpressure(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[10][100];
    uint32_t i, idx;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(&c, 4, 256);
    for (i = 0; i < 10; i++) {
        make_frame(f[i], 64 + i, our_mac, 0x0800, 100 + i);
        wire_send(&c, f[i], 64 + i);
    }
    wait_done(&c, CHIMNEY_RING_RX, 3);
    quiet(&c);
    for (i = 0; i < 4; i++) {
        rx_check(&c, i, f[i], 64 + i, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP,
                 0);
    }
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, 0);
    /*
     * The ring owns no descriptor now: the device does not take frames at
     * all, they wait in QEMU's queue, and that is no RX_NOBUF stall
     * (docs/specs/chimney-nic.rst "Receive processing"; l2-semantics.md
     * only says "not enough free descriptors").
     */
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_NOBUF), ==, 0);
    expect_no_other_vec(&c, 1u << CHIMNEY_VEC_RX);

    /*
     * One 64-byte buffer cannot hold frame 5 (68 bytes): a stall for lack
     * of buffers.  Not consumed, RX_NOBUF++, INT_RX_NOBUF on vector 0.
     */
    chimney_rx_post(d, chimney_alloc(d, 64), 64);
    chimney_ring_kick(d, CHIMNEY_RING_RX);
    chimney_wait_vec(d, CHIMNEY_VEC_MISC);
    quiet(&c);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_NOBUF), ==, 1);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_RX, 4), ==, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 4);
    /* once per stall */
    chimney_expect_no_vec(d, CHIMNEY_VEC_MISC, CHIMNEY_QOS_QUIET_ITERS,
                          CHIMNEY_QOS_STEP_NS);

    /*
     * Six more buffers (indices 5..7, 0..2, the ring is then full): the
     * other six frames arrive in order, frame 5 across the small buffer
     * and the next one.
     */
    rx_post_bufs(&c, 6, 256);
    wait_done(&c, CHIMNEY_RING_RX, 5);
    rx_check(&c, 4, f[4], 64, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, 5, f[4] + 64, 4, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    idx = 6;
    for (i = 5; i < 10; i++, idx = (idx + 1) % 8) {
        wait_done(&c, CHIMNEY_RING_RX, idx);
        rx_check(&c, idx, f[i], 64 + i, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP,
                 0);
    }
    quiet(&c);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 10);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_NOBUF), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_ERRORS), ==, 0);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FILTERED), ==, 0);
}

/*
 * 8. Link
 */

static void test_link(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t x[80], y[90];
    uint32_t first;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS) & CHIMNEY_STATUS_LINK_UP, ==,
                    CHIMNEY_STATUS_LINK_UP);

    /* Event ring disabled: INT_LINK only, no event is kept for later. */
    set_link(&c, false);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS) & CHIMNEY_STATUS_LINK_UP, ==,
                    0);
    chimney_wait_vec(d, CHIMNEY_VEC_MISC);
    set_link(&c, true);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS) & CHIMNEY_STATUS_LINK_UP, ==,
                    CHIMNEY_STATUS_LINK_UP);
    chimney_wait_vec(d, CHIMNEY_VEC_MISC);
    cmd_evt_start(&c, 7);
    quiet(&c);
    g_assert_false(evt_valid_now(&c, 0));
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_EVT), ==, 0);
    expect_no_other_vec(&c, 0);

    chimney_ring_start(d, CHIMNEY_RING_TX, 8);
    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(&c, 2, 256);

    /* Down: STATUS, INT_LINK (vector 0), EVT_LINK info 0 (vector 4) */
    set_link(&c, false);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_BUS_MASTER | CHIMNEY_STATUS_MSIX);
    chimney_wait_vec(d, CHIMNEY_VEC_MISC);
    evt_check(&c, 0, CHIMNEY_EVT_LINK, 0, 0, 0, 0);
    chimney_wait_vec(d, CHIMNEY_VEC_EVT);

    /* TX while down: consumed and completed normally, the wire drops it. */
    make_frame(x, sizeof(x), peer_mac, 0x0800, 1);
    first = chimney_tx_post_frame(d, x, sizeof(x), 1, NULL);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    wait_done(&c, CHIMNEY_RING_TX, first);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, first), ==,
                    CHIMNEY_DESC_DONE);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 0);
    wire_expect_nothing(&c);

    /*
     * RX while down.  set_link on the netdev "hs0" takes down both the
     * socket backend and its NIC peer (net/net.c qmp_set_link), and
     * qemu_send_packet_async_with_flags() returns "sent" for a sender whose
     * link is down without delivering anything: net/socket.c reads frame X
     * from the wire and QEMU's net layer drops it.  It is therefore never
     * delivered, not even after the link comes back (frame Y is the first
     * to land).  Even with only the NIC side down, qemu_deliver_packet_iov()
     * would drop it the same way.
     */
    make_frame(x, sizeof(x), our_mac, 0x0800, 2);
    wire_send(&c, x, sizeof(x));
    quiet(&c);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_RX, 0), ==, 0);

    /* Up: STATUS, INT_LINK, EVT_LINK info 1 */
    chimney_evt_release(d, 0);
    chimney_evt_give(d, 1);
    set_link(&c, true);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS), ==, STATUS_ALL_ON);
    chimney_wait_vec(d, CHIMNEY_VEC_MISC);
    evt_check(&c, 1, CHIMNEY_EVT_LINK, 0, 0, 0, 1);
    chimney_wait_vec(d, CHIMNEY_VEC_EVT);

    make_frame(y, sizeof(y), our_mac, 0x0800, 3);
    rx_frame_ok(&c, y, sizeof(y), 0, 0);
    quiet(&c);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_RX, 1), ==, 0);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 1);
    tx_small_ok(&c, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 2);
}

/*
 * 9. Reset in the middle of traffic
 */

/* All four L2/command rings up and some traffic through each. */
static void start_traffic(Ctx *c, uint32_t seed)
{
    uint8_t f[128];

    int ring;

    for (ring = 0; ring < CHIMNEY_RING_COUNT; ring++) {
        chimney_ring_disable(c->d, ring);
    }
    wr(c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    wr(c, CHIMNEY_REG_INT_THROTTLE, 50);
    wr(c, CHIMNEY_REG_RX_FILTER, CHIMNEY_RXF_PROMISC);
    wr(c, CHIMNEY_REG_MAC_LO, 0x11111111);
    chimney_ring_start(c->d, CHIMNEY_RING_TX, 16);
    chimney_ring_start(c->d, CHIMNEY_RING_RX, 16);
    cmd_evt_start(c, 7);
    rx_post_bufs(c, 8, 256);
    tx_small_ok(c, seed);
    make_frame(f, sizeof(f), other_mac, 0x0800, seed + 1);
    rx_frame_ok(c, f, sizeof(f), 0, 0);
    chimney_cmd_post(c->d, CHIMNEY_CMD_NOP, 0, seed);
    chimney_ring_kick(c->d, CHIMNEY_RING_CMD);
    evt_check(c, 0, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP,
              CHIMNEY_ST_SUCCESS, seed, 0);
    /* an incomplete TX frame is pending when the reset comes */
    chimney_tx_post(c->d, chimney_alloc(c->d, 64), 64, 0);
    chimney_ring_kick(c->d, CHIMNEY_RING_TX);
    g_assert_cmpuint(chimney_ring_head(c->d, CHIMNEY_RING_TX), ==, 1);
}

/* After a reset: fresh rings, traffic flows again (incl. a queued frame). */
static void traffic_after_reset(Ctx *c, uint32_t seed)
{
    uint8_t f[100], g[110];

    /* a frame arriving while the RX ring is off waits in QEMU's queue */
    make_frame(f, sizeof(f), our_mac, 0x0800, seed);
    wire_send(c, f, sizeof(f));
    quiet(c);
    wr(c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(c->d, CHIMNEY_RING_TX, 8);
    chimney_ring_start(c->d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(c, 2, 256);
    wait_done(c, CHIMNEY_RING_RX, 0);
    rx_check(c, 0, f, sizeof(f), CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    chimney_wait_vec(c->d, CHIMNEY_VEC_RX);
    make_frame(g, sizeof(g), our_mac, 0x0800, seed + 1);
    rx_frame_ok(c, g, sizeof(g), 1, 0);
    tx_small_ok(c, seed + 2);
    chimney_wait_vec(c->d, CHIMNEY_VEC_TX);
    g_assert_cmpuint(st_rd(c, CHIMNEY_STAT_TX_FRAMES), ==, 1);
    g_assert_cmpuint(st_rd(c, CHIMNEY_STAT_RX_FRAMES), ==, 2);
    cmd_evt_start(c, 7);
    chimney_cmd_post(c->d, CHIMNEY_CMD_NOP, 0, seed + 3);
    chimney_ring_kick(c->d, CHIMNEY_RING_CMD);
    evt_check(c, 0, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP,
              CHIMNEY_ST_SUCCESS, seed + 3, 0);
}

static void test_reset_mid_traffic(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint64_t old_tx;

    /* CTRL.RESET */
    start_traffic(&c, 10);
    old_tx = d->ring[CHIMNEY_RING_TX].base;
    wr(&c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
    check_reset_values(&c, STATUS_ALL_ON);
    /* the pending TX descriptor is never touched again */
    quiet(&c);
    g_assert_cmphex(qtest_readw(c.qts, old_tx + sizeof(ChimneyTxDesc) +
                                offsetof(ChimneyTxDesc, status)), ==, 0);
    wire_expect_nothing(&c);
    traffic_after_reset(&c, 20);

    /* QMP system_reset: PCI config space is reset too */
    start_traffic(&c, 30);
    qtest_system_reset(c.qts);
    chimney_pci_setup(d);
    check_reset_values(&c, STATUS_ALL_ON);
    wire_expect_nothing(&c);
    traffic_after_reset(&c, 40);
}

/*
 * 10. Malformed input
 */

/* Enable @ring with the given base/size; it must fail with @err + INT_ERR. */
static void ring_enable_fails(Ctx *c, int ring, uint64_t base, uint32_t size,
                              uint32_t err)
{
    uint32_t errs = rd(c, CHIMNEY_REG_ERR_COUNT);

    chimney_ring_writel(c->d, ring, CHIMNEY_RING_ADDR_LO, (uint32_t)base);
    chimney_ring_writel(c->d, ring, CHIMNEY_RING_ADDR_HI, base >> 32);
    chimney_ring_writel(c->d, ring, CHIMNEY_RING_SIZE, size);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_ERR_COUNT), ==, errs);
    chimney_ring_writel(c->d, ring, CHIMNEY_RING_CTRL,
                        CHIMNEY_RING_CTRL_ENABLE);
    check_ring_status(c, ring, ring_err_status(err));
    g_assert_cmphex(rd(c, CHIMNEY_REG_LAST_ERR), ==, err);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_ERR_COUNT), ==, errs + 1);
    /* INT_ERR is masked here: it stays in INT_CAUSE */
    g_assert_cmphex(rd(c, CHIMNEY_REG_INT_CAUSE), ==, CHIMNEY_INT_ERR);
    wr(c, CHIMNEY_REG_INT_CAUSE, CHIMNEY_INT_ERR);
    /* the values are kept as written */
    g_assert_cmphex(ring_rd(c, ring, CHIMNEY_RING_ADDR_LO), ==,
                    (uint32_t)base);
    g_assert_cmphex(ring_rd(c, ring, CHIMNEY_RING_ADDR_HI), ==, base >> 32);
    g_assert_cmpuint(ring_rd(c, ring, CHIMNEY_RING_SIZE), ==, size);
}

/* After a failed enable, a good configuration enables and clears the error */
static void ring_enable_recovers(Ctx *c, int ring, uint32_t size)
{
    chimney_ring_alloc(c->d, ring, size);
    chimney_ring_program(c->d, ring);
    g_assert_cmphex(chimney_ring_enable(c->d, ring), ==,
                    CHIMNEY_RING_ST_ENABLED);
    g_assert_cmpuint(ring_rd(c, ring, CHIMNEY_RING_HEAD), ==, 0);
    g_assert_cmpuint(ring_rd(c, ring, CHIMNEY_RING_TAIL), ==, 0);
    chimney_ring_disable(c->d, ring);
    check_ring_status(c, ring, 0);
}

static void test_bad_ring_size(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint32_t sizes[] = { 0, 4, 6, 12, 100, 65536, 0x80000000u };
    uint64_t base = chimney_alloc(c.d, 4096);   /* page aligned */
    int ring;
    size_t i;

    for (ring = 0; ring < CHIMNEY_RING_COUNT; ring++) {
        for (i = 0; i < G_N_ELEMENTS(sizes); i++) {
            ring_enable_fails(&c, ring, base, sizes[i], CHIMNEY_ERR_BAD_SIZE);
        }
        ring_enable_recovers(&c, ring, ring == CHIMNEY_RING_TX ? 32768 : 8);
    }
    /* with INT_ERR enabled the error is signalled on vector 0 */
    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ERR);
    chimney_ring_writel(c.d, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE, 7);
    chimney_ring_writel(c.d, CHIMNEY_RING_TX, CHIMNEY_RING_CTRL, 1);
    chimney_wait_vec(c.d, CHIMNEY_VEC_MISC);
    check_ring_status(&c, CHIMNEY_RING_TX,
                      ring_err_status(CHIMNEY_ERR_BAD_SIZE));
}

static void test_bad_ring_align(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint32_t offs[] = { 1, 4, 8, 16, 32, 48, 63 };
    uint64_t base = chimney_alloc(c.d, 8192);
    int ring;
    size_t i;

    for (ring = 0; ring < CHIMNEY_RING_COUNT; ring++) {
        for (i = 0; i < G_N_ELEMENTS(offs); i++) {
            ring_enable_fails(&c, ring, base + offs[i], 8,
                              CHIMNEY_ERR_BAD_ALIGN);
        }
        ring_enable_fails(&c, ring, 0x100000020ull, 8, CHIMNEY_ERR_BAD_ALIGN);
        ring_enable_recovers(&c, ring, 8);
    }
    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ERR);
    chimney_ring_writel(c.d, CHIMNEY_RING_RX, CHIMNEY_RING_ADDR_LO,
                        (uint32_t)base + 32);
    chimney_ring_writel(c.d, CHIMNEY_RING_RX, CHIMNEY_RING_CTRL, 1);
    chimney_wait_vec(c.d, CHIMNEY_VEC_MISC);
    check_ring_status(&c, CHIMNEY_RING_RX,
                      ring_err_status(CHIMNEY_ERR_BAD_ALIGN));
}

/* Point @ring at BAD_GPA and enable it (that alone is fine). */
static void ring_start_bad_base(Ctx *c, int ring)
{
    QChimneyRing *r = &c->d->ring[ring];

    chimney_ring_disable(c->d, ring);
    r->base = BAD_GPA;
    r->size = 8;
    r->entry_size = chimney_ring_entry_size(ring);
    r->tail = 0;
    chimney_ring_program(c->d, ring);
    g_assert_cmphex(chimney_ring_enable(c->d, ring), ==,
                    CHIMNEY_RING_ST_ENABLED);
}

/* @ring hit a DMA error: stopped with ERROR|DMA, INT_ERR on vector 0. */
static void expect_ring_dma_stop(Ctx *c, int ring)
{
    uint32_t errs;

    chimney_wait_vec(c->d, CHIMNEY_VEC_MISC);
    check_ring_status(c, ring, ring_err_status(CHIMNEY_ERR_DMA));
    g_assert_cmpuint(ring_rd(c, ring, CHIMNEY_RING_HEAD), ==, 0);
    g_assert_cmphex(rd(c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_DMA);
    /* stopped: nothing more happens on it until it is enabled again */
    errs = rd(c, CHIMNEY_REG_ERR_COUNT);
    quiet(c);
    g_assert_cmpuint(rd(c, CHIMNEY_REG_ERR_COUNT), ==, errs);
    check_ring_status(c, ring, ring_err_status(CHIMNEY_ERR_DMA));
}

static void test_ring_dma_error(void *obj, void *data,
                                QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[80];

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);

    /* TX: the doorbell makes the device read descriptor 0 */
    ring_start_bad_base(&c, CHIMNEY_RING_TX);
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL, 1);
    expect_ring_dma_stop(&c, CHIMNEY_RING_TX);
    wire_expect_nothing(&c);
    chimney_ring_start(d, CHIMNEY_RING_TX, 8);          /* recovers */
    tx_small_ok(&c, 1);

    /* RX: touched when a frame arrives; the frame is kept, not lost */
    ring_start_bad_base(&c, CHIMNEY_RING_RX);
    chimney_ring_writel(d, CHIMNEY_RING_RX, CHIMNEY_RING_TAIL, 1);
    make_frame(f, sizeof(f), our_mac, 0x0800, 2);
    wire_send(&c, f, sizeof(f));
    expect_ring_dma_stop(&c, CHIMNEY_RING_RX);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 0);
    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(&c, 1, 256);
    wait_done(&c, CHIMNEY_RING_RX, 0);
    rx_check(&c, 0, f, sizeof(f), CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);

    /* CMD: touched by the command bottom half */
    chimney_ring_start(d, CHIMNEY_RING_EVT, 8);
    chimney_evt_give(d, 7);
    ring_start_bad_base(&c, CHIMNEY_RING_CMD);
    chimney_ring_writel(d, CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL, 1);
    expect_ring_dma_stop(&c, CHIMNEY_RING_CMD);
    g_assert_false(evt_valid_now(&c, 0));

    /* EVT: touched when the first event is written */
    chimney_ring_start(d, CHIMNEY_RING_CMD, 8);
    ring_start_bad_base(&c, CHIMNEY_RING_EVT);
    chimney_evt_give(d, 7);
    chimney_cmd_post(d, CHIMNEY_CMD_NOP, 0, 5);
    chimney_ring_kick(d, CHIMNEY_RING_CMD);
    expect_ring_dma_stop(&c, CHIMNEY_RING_EVT);
}

static void test_bad_tail(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static const uint32_t tails[] = { 8, 9, 0x100, 0xffffffffu };
    uint32_t errs = 0;
    size_t i;

    chimney_ring_start(d, CHIMNEY_RING_TX, 8);
    tx_small_ok(&c, 1);
    for (i = 0; i < G_N_ELEMENTS(tails); i++) {
        chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL, tails[i]);
        errs++;
        g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), ==,
                         1);
        g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
        g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==,
                        CHIMNEY_ERR_BAD_TAIL);
        check_ring_status(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ST_ENABLED);
    }
    g_assert_cmphex(rd(&c, CHIMNEY_REG_INT_CAUSE), ==, CHIMNEY_INT_TX);
    wire_expect_nothing(&c);
    /* the ring keeps running */
    tx_small_ok(&c, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 2);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
}

static void test_tx_zero_len(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint16_t one[] = { 0 };
    static const uint16_t three[] = { 30, 0, 30 };

    chimney_ring_start(c.d, CHIMNEY_RING_TX, 16);
    tx_frame_err(&c, one, 1, CHIMNEY_ERR_ZERO_LEN);
    tx_frame_err(&c, three, 3, CHIMNEY_ERR_ZERO_LEN);
    /* TX_ERRORS counts descriptors; one guest error per frame */
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 1 + 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 0);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_BYTES), ==, 0);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 2);
    tx_small_ok(&c, 1);
}

static void test_tx_oversize(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint16_t one[] = { CHIMNEY_MAX_FRAME + 1 };
    static const uint16_t two[] = { 5000, 4019 };
    static const uint16_t huge[] = { 60000, 100 };

    chimney_ring_start(c.d, CHIMNEY_RING_TX, 16);
    tx_frame_err(&c, one, 1, CHIMNEY_ERR_OVERSIZE);
    tx_frame_err(&c, two, 2, CHIMNEY_ERR_OVERSIZE);
    tx_frame_err(&c, huge, 2, CHIMNEY_ERR_OVERSIZE);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 1 + 2 + 2);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 0);
    tx_small_ok(&c, 1);
}

static void test_tx_runt(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    static const uint16_t one[] = { 13 };
    static const uint16_t three[] = { 1, 1, 1 };

    chimney_ring_start(c.d, CHIMNEY_RING_TX, 16);
    tx_frame_err(&c, one, 1, CHIMNEY_ERR_RUNT);
    tx_frame_err(&c, three, 3, CHIMNEY_ERR_RUNT);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 1 + 3);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 0);
    tx_small_ok(&c, 1);
}

static void test_tx_too_many_frags(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[17 * 10 + 60], wire[256];
    uint64_t a;
    uint32_t i;

    chimney_ring_start(d, CHIMNEY_RING_TX, 32);
    make_frame(f, sizeof(f), peer_mac, 0x0800, 1);
    /* 17 fragments of 10 bytes, none with EOP */
    for (i = 0; i < 17; i++) {
        a = chimney_alloc(d, 10);
        qtest_memwrite(c.qts, a, f + 10 * i, 10);
        chimney_tx_post(d, a, 10, 0);
    }
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    /* the first 16 are dropped as one frame; the 17th waits for its EOP */
    for (i = 0; i < 16; i++) {
        g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, i), ==,
                        desc_err(CHIMNEY_ERR_TOO_MANY_FRAGS));
    }
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, 16), ==, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 16);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==,
                    CHIMNEY_ERR_TOO_MANY_FRAGS);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 16);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 1);
    wire_expect_nothing(&c);

    /* processing continues after them: descriptor 16 + an EOP one */
    a = chimney_alloc(d, 60);
    qtest_memwrite(c.qts, a, f + 170, 60);
    chimney_tx_post(d, a, 60, CHIMNEY_TXF_EOP);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    g_assert_cmpuint(wire_recv(&c, wire, sizeof(wire)), ==, 70);
    g_assert_cmpmem(wire, 70, f + 160, 70);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, 16), ==,
                    CHIMNEY_DESC_DONE);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, 17), ==,
                    CHIMNEY_DESC_DONE);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 18);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_FRAMES), ==, 1);

    /* exactly 16 fragments with EOP on the last is fine */
    make_frame(f, 16 * 10, peer_mac, 0x0800, 2);
    tx_frame_ok(&c, f, 160, 16, NULL);
}

static void test_tx_buffer_dma_error(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[60];
    uint64_t a;
    uint32_t i;

    chimney_ring_start(d, CHIMNEY_RING_TX, 16);
    /* one fragment outside RAM */
    chimney_tx_post(d, BAD_GPA, 60, CHIMNEY_TXF_EOP);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, 0), ==,
                    desc_err(CHIMNEY_ERR_DMA));
    /* the second of three fragments outside RAM: the whole frame fails */
    make_frame(f, sizeof(f), peer_mac, 0x0800, 1);
    a = chimney_alloc(d, 60);
    qtest_memwrite(c.qts, a, f, 60);
    chimney_tx_post(d, a, 20, 0);
    chimney_tx_post(d, BAD_GPA + 0x1000, 20, 0);
    chimney_tx_post(d, a + 40, 20, CHIMNEY_TXF_EOP);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    for (i = 1; i < 4; i++) {
        g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, i), ==,
                        desc_err(CHIMNEY_ERR_DMA));
    }
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 4);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_DMA);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_TX_ERRORS), ==, 1 + 3);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 2);
    wire_expect_nothing(&c);
    /* a data-buffer fault is not a ring fault: the ring keeps running */
    check_ring_status(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ST_ENABLED);
    tx_small_ok(&c, 2);
}

static void test_rx_zero_len_buffer(void *obj, void *data,
                                    QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint8_t f[300];

    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    chimney_rx_post(d, chimney_alloc(d, 256), 0);
    chimney_rx_post(d, chimney_alloc(d, 256), 256);
    chimney_rx_post(d, chimney_alloc(d, 256), 0);
    chimney_rx_post(d, chimney_alloc(d, 256), 256);
    chimney_ring_kick(d, CHIMNEY_RING_RX);
    /* 300 bytes: skip 0, 256 into 1, skip 2, 44 into 3 */
    make_frame(f, sizeof(f), our_mac, 0x0800, 1);
    wire_send(&c, f, sizeof(f));
    wait_done(&c, CHIMNEY_RING_RX, 3);
    rx_check(&c, 0, NULL, 0, desc_err(CHIMNEY_ERR_ZERO_LEN), 0);
    rx_check(&c, 1, f, 256, CHIMNEY_DESC_DONE, 0);
    rx_check(&c, 2, NULL, 0, desc_err(CHIMNEY_ERR_ZERO_LEN), 0);
    rx_check(&c, 3, f + 256, 44, CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 4);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_ERRORS), ==, 2);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_RX_FRAMES), ==, 1);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_ZERO_LEN);
    check_ring_status(&c, CHIMNEY_RING_RX, CHIMNEY_RING_ST_ENABLED);
}

static void test_ring_busy(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint64_t base;
    uint32_t errs = 0;

    chimney_ring_start(d, CHIMNEY_RING_TX, 8);
    base = d->ring[CHIMNEY_RING_TX].base;
    tx_small_ok(&c, 1);

    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_LO,
                        (uint32_t)base + 0x1000);
    errs++;
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BUSY);
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_HI, 1);
    errs++;
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE, 16);
    errs++;
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BUSY);
    g_assert_cmphex(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_LO), ==,
                    (uint32_t)base);
    g_assert_cmphex(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ADDR_HI), ==,
                    base >> 32);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), ==, 8);
    /* ENABLE written again while enabled is no 0->1 edge: nothing resets */
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_CTRL,
                        CHIMNEY_RING_CTRL_ENABLE);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 1);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), ==, 1);
    check_ring_status(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ST_ENABLED);
    /* still the same ring */
    tx_small_ok(&c, 2);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);

    /* disabled: HEAD/TAIL keep their values, reconfiguration is allowed */
    chimney_ring_disable(d, CHIMNEY_RING_TX);
    check_ring_status(&c, CHIMNEY_RING_TX, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 2);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_TAIL), ==, 2);
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE, 16);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE), ==, 16);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, errs);
}

static void test_bus_master_off(void *obj, void *data,
                                QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    static uint8_t wire[256];
    uint8_t f[60], g[90];
    uint32_t first;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    chimney_ring_start(d, CHIMNEY_RING_TX, 8);
    chimney_ring_start(d, CHIMNEY_RING_RX, 8);
    rx_post_bufs(&c, 2, 256);

    chimney_set_bus_master(d, false);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_STATUS) & CHIMNEY_STATUS_BUS_MASTER,
                    ==, 0);
    make_frame(f, sizeof(f), peer_mac, 0x0800, 1);
    first = chimney_tx_post_frame(d, f, sizeof(f), 1, NULL);
    chimney_ring_kick(d, CHIMNEY_RING_TX);
    make_frame(g, sizeof(g), our_mac, 0x0800, 2);
    wire_send(&c, g, sizeof(g));
    wire_expect_nothing(&c);
    /* nothing was done, and that is not an error */
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_TX), ==, 0);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, first), ==, 0);
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_RX, 0), ==, 0);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_RX), ==, 0);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 0);
    check_ring_status(&c, CHIMNEY_RING_TX, CHIMNEY_RING_ST_ENABLED);
    check_ring_status(&c, CHIMNEY_RING_RX, CHIMNEY_RING_ST_ENABLED);
    expect_no_other_vec(&c, 0);

    /* bus mastering on: both resume */
    chimney_set_bus_master(d, true);
    g_assert_cmpuint(wire_recv(&c, wire, sizeof(wire)), ==, sizeof(f));
    g_assert_cmpmem(wire, sizeof(f), f, sizeof(f));
    g_assert_cmphex(chimney_desc_status(d, CHIMNEY_RING_TX, first), ==,
                    CHIMNEY_DESC_DONE);
    chimney_wait_vec(d, CHIMNEY_VEC_TX);
    wait_done(&c, CHIMNEY_RING_RX, 0);
    rx_check(&c, 0, g, sizeof(g), CHIMNEY_DESC_DONE | CHIMNEY_DESC_EOP, 0);
    chimney_wait_vec(d, CHIMNEY_VEC_RX);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 0);
}

static void test_cmd_bad_opcode(void *obj, void *data,
                                QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;

    cmd_evt_start(&c, 7);
    chimney_cmd_post(d, 0x00ff, 0, 0x1234);
    chimney_cmd_post(d, 0xbeef, 0, 0x5678);
    chimney_cmd_post(d, CHIMNEY_CMD_NOP, 0, 0x9abc);
    chimney_ring_kick(d, CHIMNEY_RING_CMD);
    evt_check(&c, 0, CHIMNEY_EVT_CMD_DONE, 0x00ff, CHIMNEY_ST_NOT_SUPPORTED,
              0x1234, 0);
    evt_check(&c, 1, CHIMNEY_EVT_CMD_DONE, 0xbeef, CHIMNEY_ST_NOT_SUPPORTED,
              0x5678, 0);
    evt_check(&c, 2, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP,
              CHIMNEY_ST_SUCCESS, 0x9abc, 0);
    g_assert_cmphex(rd(&c, CHIMNEY_REG_LAST_ERR), ==, CHIMNEY_ERR_BAD_OPCODE);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 2);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_CMD), ==, 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_CMDS), ==, 3);
    check_ring_status(&c, CHIMNEY_RING_CMD, CHIMNEY_RING_ST_ENABLED);
}

/*
 * 11. Commands: NOP and flow control
 */

static void test_cmd_nop(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint32_t i;

    wr(&c, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_ALL);
    cmd_evt_start(&c, 7);
    chimney_cmd_post(d, CHIMNEY_CMD_NOP, 0, 0x0123456789abcdefull);
    chimney_ring_kick(d, CHIMNEY_RING_CMD);
    evt_check(&c, 0, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP,
              CHIMNEY_ST_SUCCESS, 0x0123456789abcdefull, 0);
    chimney_wait_vec(d, CHIMNEY_VEC_CMD);
    chimney_wait_vec(d, CHIMNEY_VEC_EVT);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_CMD), ==, 1);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_EVT), ==, 1);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_CMD, CHIMNEY_RING_COUNT_REG), ==,
                     1);
    g_assert_cmpuint(ring_rd(&c, CHIMNEY_RING_EVT, CHIMNEY_RING_COUNT_REG), ==,
                     1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_CMDS), ==, 1);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_EVENTS), ==, 1);
    g_assert_false(evt_valid_now(&c, 1));

    /* a batch of four, completed in order */
    for (i = 0; i < 4; i++) {
        chimney_cmd_post(d, CHIMNEY_CMD_NOP, 0, 0x100 + i);
    }
    chimney_ring_kick(d, CHIMNEY_RING_CMD);
    for (i = 0; i < 4; i++) {
        evt_check(&c, 1 + i, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP,
                  CHIMNEY_ST_SUCCESS, 0x100 + i, 0);
    }
    chimney_wait_vec(d, CHIMNEY_VEC_CMD);
    chimney_wait_vec(d, CHIMNEY_VEC_EVT);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_CMD), ==, 5);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_CMDS), ==, 5);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_EVENTS), ==, 5);
    g_assert_cmpuint(rd(&c, CHIMNEY_REG_ERR_COUNT), ==, 0);
}

static void test_cmd_flow_control(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QChimneyNic *d = c.d;
    uint32_t i;

    cmd_evt_start(&c, 1);               /* one event slot */
    for (i = 0; i < 3; i++) {
        chimney_cmd_post(d, CHIMNEY_CMD_NOP, 0, 0x700 + i);
    }
    chimney_ring_kick(d, CHIMNEY_RING_CMD);
    for (i = 0; i < 3; i++) {
        /* exactly one command is consumed per returned slot */
        evt_check(&c, i, CHIMNEY_EVT_CMD_DONE, CHIMNEY_CMD_NOP,
                  CHIMNEY_ST_SUCCESS, 0x700 + i, 0);
        quiet(&c);
        g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_CMD), ==, i + 1);
        g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_EVT), ==, i + 1);
        g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_CMDS), ==, i + 1);
        g_assert_false(evt_valid_now(&c, i + 1));
        /* the driver hands the slot back */
        chimney_evt_release(d, i);
        chimney_evt_give(d, 1);
    }
    quiet(&c);
    g_assert_cmpuint(chimney_ring_head(d, CHIMNEY_RING_CMD), ==, 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_EVENTS), ==, 3);
    g_assert_cmpuint(st_rd(&c, CHIMNEY_STAT_EVT_OVERFLOW), ==, 0);
}

/*
 * Registration
 */

static void data_test_clear(void *sockets)
{
    int *test_sockets = sockets;

    close(test_sockets[0]);
    qos_invalidate_command_line();
    close(test_sockets[1]);
    g_free(test_sockets);
}

/*
 * 12. Introspection: read-only QOM properties (qom-get over QMP) report the
 * offloaded object counts and the guest-error count.
 */

/* QOM path of the (only) chimney-nic, found by type. */
static char *find_chimney_path(QTestState *qts)
{
    static const char *const parents[] = {
        "/machine/peripheral-anon", "/machine/peripheral",
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(parents); i++) {
        QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-list', 'arguments':"
                               " {'path': %s}}", parents[i]);
        QList *list = qdict_get_qlist(rsp, "return");
        QListEntry *e;
        char *found = NULL;

        QLIST_FOREACH_ENTRY(list, e) {
            QDict *prop = qobject_to(QDict, qlist_entry_obj(e));

            if (!found && !strcmp(qdict_get_str(prop, "type"),
                                  "child<chimney-nic>")) {
                found = g_strdup_printf("%s/%s", parents[i],
                                        qdict_get_str(prop, "name"));
            }
        }
        qobject_unref(rsp);
        if (found) {
            return found;
        }
    }
    g_assert_not_reached();
}

static uint64_t qom_get_uint(QTestState *qts, const char *path,
                             const char *prop)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments':"
                           " {'path': %s, 'property': %s}}", path, prop);
    uint64_t v;

    g_assert(qdict_haskey(rsp, "return"));
    v = qdict_get_int(rsp, "return");
    qobject_unref(rsp);
    return v;
}

static void test_introspection(void *obj, void *data, QGuestAllocator *alloc)
{
    Ctx c = ctx_get(obj, data);
    QTestState *qts = chimney_qts(c.d);
    char *path = find_chimney_path(qts);
    uint32_t before = rd(&c, CHIMNEY_REG_ERR_COUNT);

    g_assert_cmpuint(qom_get_uint(qts, path, "x-offloaded-neighbors"), ==, 0);
    g_assert_cmpuint(qom_get_uint(qts, path, "x-offloaded-paths"), ==, 0);
    g_assert_cmpuint(qom_get_uint(qts, path, "x-offloaded-connections"), ==,
                     0);
    g_assert_cmpuint(qom_get_uint(qts, path, "x-guest-errors"), ==, before);
    /* a write to a read-only register is a guest error */
    wr(&c, CHIMNEY_REG_ID, 0);
    g_assert_cmpuint(qom_get_uint(qts, path, "x-guest-errors"), ==,
                     before + 1);
    g_free(path);
}

static void *data_test_init(GString *cmd_line, void *arg)
{
    int *test_sockets = g_new(int, 2);
    int ret = socketpair(PF_UNIX, SOCK_STREAM, 0, test_sockets);

    g_assert_cmpint(ret, !=, -1);
    g_string_append_printf(cmd_line, " -netdev socket,fd=%d,id=%s ",
                           test_sockets[1], CHIMNEY_QOS_NETDEV);
    g_test_queue_destroy(data_test_clear, test_sockets);
    return test_sockets;
}

static void register_chimney_nic_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "pci-probe", test_pci_probe },
        { "reg-reset-values", test_reg_reset_values },
        { "reg-access-rules", test_reg_access_rules },
        { "msix", test_msix },
        { "tx", test_tx },
        { "rx", test_rx },
        { "rx-backpressure", test_rx_backpressure },
        { "link", test_link },
        { "reset-mid-traffic", test_reset_mid_traffic },
        { "bad-ring-size", test_bad_ring_size },
        { "bad-ring-align", test_bad_ring_align },
        { "ring-dma-error", test_ring_dma_error },
        { "bad-tail", test_bad_tail },
        { "tx-zero-len", test_tx_zero_len },
        { "tx-oversize", test_tx_oversize },
        { "tx-runt", test_tx_runt },
        { "tx-too-many-frags", test_tx_too_many_frags },
        { "tx-buffer-dma-error", test_tx_buffer_dma_error },
        { "rx-zero-len-buffer", test_rx_zero_len_buffer },
        { "ring-busy", test_ring_busy },
        { "bus-master-off", test_bus_master_off },
        { "cmd-bad-opcode", test_cmd_bad_opcode },
        { "cmd-nop", test_cmd_nop },
        { "cmd-flow-control", test_cmd_flow_control },
        { "introspection", test_introspection },
    };
    QOSGraphTestOptions opts = {
        .before = data_test_init,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_nic_test);

#endif /* !_WIN32 */
