/*
 * QTest testcases for the chimney-nic PCI NIC (the plain L2 NIC):
 * PCI interface, register map, interrupts (MSI-X), link and reset,
 * the command ring, introspection (QOM properties).
 *
 * Helpers, context and conventions: chimney-nic-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-nic-qtest.h"

#ifndef _WIN32

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

/*
 * Registration
 */

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
        { "link", test_link },
        { "reset-mid-traffic", test_reset_mid_traffic },
        { "cmd-bad-opcode", test_cmd_bad_opcode },
        { "cmd-nop", test_cmd_nop },
        { "cmd-flow-control", test_cmd_flow_control },
        { "introspection", test_introspection },
    };
    QOSGraphTestOptions opts = {
        .before = chimney_qos_socket_netdev,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_nic_test);

#endif /* !_WIN32 */
