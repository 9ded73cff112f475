/*
 * libqos driver for the chimney-nic PCI NIC (qgraph node "chimney-nic")
 *
 * Modelled on libqos/e1000e.c and libqos/igb.c; MSI-X messages are
 * observed the way libqos/virtio-pci.c does it (unmasked vectors whose
 * message address is a word of guest RAM).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pci/pci_regs.h"
#include "../libqtest.h"
#include "qemu/module.h"
#include "qemu/bswap.h"
#include "pci.h"
#include "qgraph.h"
#include "libqos-malloc.h"
#include "chimney-nic.h"

/*
 * Registers
 */

uint32_t chimney_readl(QChimneyNic *d, uint32_t off)
{
    return qpci_io_readl(&d->pci_dev, d->bar0, off);
}

void chimney_writel(QChimneyNic *d, uint32_t off, uint32_t val)
{
    qpci_io_writel(&d->pci_dev, d->bar0, off, val);
}

uint32_t chimney_ring_readl(QChimneyNic *d, int ring, uint32_t reg)
{
    return chimney_readl(d, CHIMNEY_RING_REG(ring, reg));
}

void chimney_ring_writel(QChimneyNic *d, int ring, uint32_t reg, uint32_t val)
{
    chimney_writel(d, CHIMNEY_RING_REG(ring, reg), val);
}

uint32_t chimney_stat(QChimneyNic *d, int stat)
{
    return chimney_readl(d, CHIMNEY_REG_STAT(stat));
}

/*
 * PCI / MSI-X
 */

void chimney_set_bus_master(QChimneyNic *d, bool on)
{
    uint16_t cmd = qpci_config_readw(&d->pci_dev, PCI_COMMAND);

    if (on) {
        cmd |= PCI_COMMAND_MASTER;
    } else {
        cmd &= ~PCI_COMMAND_MASTER;
    }
    qpci_config_writew(&d->pci_dev, PCI_COMMAND, cmd);
    g_assert_cmphex(qpci_config_readw(&d->pci_dev, PCI_COMMAND) &
                    PCI_COMMAND_MASTER, ==, on ? PCI_COMMAND_MASTER : 0);
}

void chimney_msix_setup(QChimneyNic *d)
{
    QTestState *qts = chimney_qts(d);
    uint8_t cap = qpci_find_capability(&d->pci_dev, PCI_CAP_ID_MSIX, 0);
    uint16_t flags;
    int vec;

    g_assert_cmphex(cap, !=, 0);
    if (!d->pci_dev.msix_enabled) {
        qpci_msix_enable(&d->pci_dev);
    }
    /* Make sure ENABLE is on and the function-wide mask is off. */
    flags = qpci_config_readw(&d->pci_dev, cap + PCI_MSIX_FLAGS);
    flags |= PCI_MSIX_FLAGS_ENABLE;
    flags &= ~PCI_MSIX_FLAGS_MASKALL;
    qpci_config_writew(&d->pci_dev, cap + PCI_MSIX_FLAGS, flags);

    g_assert_cmpint(qpci_msix_table_size(&d->pci_dev), >=,
                    CHIMNEY_MSIX_VECTORS);
    for (vec = 0; vec < CHIMNEY_MSIX_VECTORS; vec++) {
        uint64_t off = d->pci_dev.msix_table_off + vec * PCI_MSIX_ENTRY_SIZE;
        uint32_t ctrl;

        qtest_writel(qts, d->msix_addr[vec], 0);
        qpci_io_writel(&d->pci_dev, d->pci_dev.msix_table_bar,
                       off + PCI_MSIX_ENTRY_LOWER_ADDR,
                       (uint32_t)d->msix_addr[vec]);
        qpci_io_writel(&d->pci_dev, d->pci_dev.msix_table_bar,
                       off + PCI_MSIX_ENTRY_UPPER_ADDR,
                       (uint32_t)(d->msix_addr[vec] >> 32));
        qpci_io_writel(&d->pci_dev, d->pci_dev.msix_table_bar,
                       off + PCI_MSIX_ENTRY_DATA, CHIMNEY_QOS_MSIX_DATA(vec));
        ctrl = qpci_io_readl(&d->pci_dev, d->pci_dev.msix_table_bar,
                             off + PCI_MSIX_ENTRY_VECTOR_CTRL);
        qpci_io_writel(&d->pci_dev, d->pci_dev.msix_table_bar,
                       off + PCI_MSIX_ENTRY_VECTOR_CTRL,
                       ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT);
        g_assert_false(qpci_msix_masked(&d->pci_dev, vec));
    }
}

/*
 * Full PCI bring-up, also after a reset that cleared config space (QMP
 * system_reset): BAR addresses, the command register and the MSI-X enable
 * are all zero then, so BAR0 and the MSI-X table BAR are assigned again
 * (qpci_msix_enable() re-maps the table BAR, hence the stale flag is
 * dropped first).
 */
void chimney_pci_setup(QChimneyNic *d)
{
    d->bar0 = qpci_iomap(&d->pci_dev, CHIMNEY_BAR_REGS, &d->bar0_size);
    g_assert_cmpuint(d->bar0_size, ==, CHIMNEY_BAR_REGS_SIZE);
    qpci_device_enable(&d->pci_dev);
    d->pci_dev.msix_enabled = false;
    chimney_msix_setup(d);
}

void chimney_step(QChimneyNic *d)
{
    qtest_clock_step(chimney_qts(d), CHIMNEY_QOS_STEP_NS);
}

bool chimney_msix_poll(QChimneyNic *d, int vec)
{
    QTestState *qts = chimney_qts(d);
    uint32_t v;

    g_assert(vec >= 0 && vec < CHIMNEY_MSIX_VECTORS);
    v = qtest_readl(qts, d->msix_addr[vec]);
    if (v == 0) {
        return false;
    }
    /* Anything else than our data word means a wrong message. */
    g_assert_cmphex(v, ==, CHIMNEY_QOS_MSIX_DATA(vec));
    qtest_writel(qts, d->msix_addr[vec], 0);
    return true;
}

void chimney_msix_clear_all(QChimneyNic *d)
{
    int vec;

    for (vec = 0; vec < CHIMNEY_MSIX_VECTORS; vec++) {
        qtest_writel(chimney_qts(d), d->msix_addr[vec], 0);
    }
}

bool chimney_wait_vec_bounded(QChimneyNic *d, int vec, int iters,
                              int64_t step_ns)
{
    int i;

    for (i = 0; i < iters; i++) {
        if (chimney_msix_poll(d, vec)) {
            return true;
        }
        if (step_ns) {
            qtest_clock_step(chimney_qts(d), step_ns);
        }
    }
    return chimney_msix_poll(d, vec);
}

void chimney_wait_vec(QChimneyNic *d, int vec)
{
    if (!chimney_wait_vec_bounded(d, vec, CHIMNEY_QOS_WAIT_ITERS,
                                  CHIMNEY_QOS_STEP_NS)) {
        g_error("chimney-nic: no MSI-X message on vector %d "
                "(INT_CAUSE=0x%x INT_MASK=0x%x)", vec,
                chimney_readl(d, CHIMNEY_REG_INT_CAUSE),
                chimney_readl(d, CHIMNEY_REG_INT_MASK));
    }
}

void chimney_expect_no_vec(QChimneyNic *d, int vec, int iters,
                           int64_t step_ns)
{
    if (chimney_wait_vec_bounded(d, vec, iters, step_ns)) {
        g_error("chimney-nic: unexpected MSI-X message on vector %d", vec);
    }
}

/*
 * Rings
 */

uint32_t chimney_ring_entry_size(int ring)
{
    switch (ring) {
    case CHIMNEY_RING_TX:
        return sizeof(ChimneyTxDesc);
    case CHIMNEY_RING_RX:
        return sizeof(ChimneyRxDesc);
    case CHIMNEY_RING_CMD:
        return sizeof(ChimneyCmdDesc);
    case CHIMNEY_RING_EVT:
        return sizeof(ChimneyEvent);
    case CHIMNEY_RING_IND:
        return sizeof(ChimneyIndDesc);
    default:
        g_assert_not_reached();
    }
}

uint64_t chimney_alloc(QChimneyNic *d, size_t size)
{
    uint64_t a = guest_alloc(d->alloc, size);

    g_assert(a != 0);
    return a;
}

void chimney_ring_alloc(QChimneyNic *d, int ring, uint32_t size)
{
    QChimneyRing *r = &d->ring[ring];
    uint32_t es = chimney_ring_entry_size(ring);
    size_t bytes = MAX((size_t)size * es, CHIMNEY_RING_ALIGN);

    if (r->alloc) {
        guest_free(d->alloc, r->alloc);
    }
    r->alloc = chimney_alloc(d, bytes + CHIMNEY_RING_ALIGN);
    r->base = QEMU_ALIGN_UP(r->alloc, CHIMNEY_RING_ALIGN);
    r->size = size;
    r->entry_size = es;
    r->tail = 0;
    qtest_memset(chimney_qts(d), r->base, 0, bytes);
}

void chimney_ring_program(QChimneyNic *d, int ring)
{
    QChimneyRing *r = &d->ring[ring];

    chimney_ring_writel(d, ring, CHIMNEY_RING_ADDR_LO, (uint32_t)r->base);
    chimney_ring_writel(d, ring, CHIMNEY_RING_ADDR_HI,
                        (uint32_t)(r->base >> 32));
    chimney_ring_writel(d, ring, CHIMNEY_RING_SIZE, r->size);
}

uint32_t chimney_ring_enable(QChimneyNic *d, int ring)
{
    uint32_t st;

    chimney_ring_writel(d, ring, CHIMNEY_RING_CTRL, CHIMNEY_RING_CTRL_ENABLE);
    st = chimney_ring_readl(d, ring, CHIMNEY_RING_STATUS);
    if (st & CHIMNEY_RING_ST_ENABLED) {
        d->ring[ring].tail = 0;
    }
    return st;
}

void chimney_ring_disable(QChimneyNic *d, int ring)
{
    chimney_ring_writel(d, ring, CHIMNEY_RING_CTRL, 0);
}

void chimney_ring_start(QChimneyNic *d, int ring, uint32_t size)
{
    chimney_ring_alloc(d, ring, size);
    chimney_ring_program(d, ring);
    g_assert_cmphex(chimney_ring_enable(d, ring), ==, CHIMNEY_RING_ST_ENABLED);
    g_assert_cmpuint(chimney_ring_readl(d, ring, CHIMNEY_RING_HEAD), ==, 0);
    g_assert_cmpuint(chimney_ring_readl(d, ring, CHIMNEY_RING_TAIL), ==, 0);
}

void chimney_ring_kick(QChimneyNic *d, int ring)
{
    chimney_ring_writel(d, ring, CHIMNEY_RING_TAIL, d->ring[ring].tail);
}

uint64_t chimney_ring_entry_addr(QChimneyNic *d, int ring, uint32_t idx)
{
    QChimneyRing *r = &d->ring[ring];

    g_assert_cmpuint(idx, <, r->size);
    return r->base + (uint64_t)idx * r->entry_size;
}

uint32_t chimney_ring_head(QChimneyNic *d, int ring)
{
    return chimney_ring_readl(d, ring, CHIMNEY_RING_HEAD);
}

static uint32_t chimney_ring_advance(QChimneyNic *d, int ring)
{
    QChimneyRing *r = &d->ring[ring];
    uint32_t idx = r->tail;

    g_assert_cmpuint(r->size, !=, 0);
    r->tail = (r->tail + 1) % r->size;
    return idx;
}

uint32_t chimney_tx_post(QChimneyNic *d, uint64_t addr, uint16_t len,
                         uint16_t flags)
{
    ChimneyTxDesc desc = {
        .addr = cpu_to_le64(addr),
        .len = cpu_to_le16(len),
        .flags = cpu_to_le16(flags),
    };
    uint32_t idx = chimney_ring_advance(d, CHIMNEY_RING_TX);

    qtest_memwrite(chimney_qts(d),
                   chimney_ring_entry_addr(d, CHIMNEY_RING_TX, idx),
                   &desc, sizeof(desc));
    return idx;
}

void chimney_tx_read(QChimneyNic *d, uint32_t idx, ChimneyTxDesc *desc)
{
    qtest_memread(chimney_qts(d),
                  chimney_ring_entry_addr(d, CHIMNEY_RING_TX, idx),
                  desc, sizeof(*desc));
    desc->addr = le64_to_cpu(desc->addr);
    desc->len = le16_to_cpu(desc->len);
    desc->flags = le16_to_cpu(desc->flags);
    desc->status = le16_to_cpu(desc->status);
    desc->rsvd = le16_to_cpu(desc->rsvd);
}

uint32_t chimney_tx_post_frame(QChimneyNic *d, const uint8_t *frame,
                               size_t len, int nfrags,
                               const uint16_t *frag_len)
{
    uint32_t first = d->ring[CHIMNEY_RING_TX].tail;
    size_t off = 0;
    int i;

    g_assert_cmpint(nfrags, >=, 1);
    for (i = 0; i < nfrags; i++) {
        size_t n;
        uint64_t buf;

        if (frag_len) {
            n = frag_len[i];
        } else {
            n = len / nfrags + (i < (int)(len % nfrags) ? 1 : 0);
        }
        g_assert_cmpuint(off + n, <=, len);
        buf = chimney_alloc(d, MAX(n, 1));
        if (n) {
            qtest_memwrite(chimney_qts(d), buf, frame + off, n);
        }
        chimney_tx_post(d, buf, n, i == nfrags - 1 ? CHIMNEY_TXF_EOP : 0);
        off += n;
    }
    g_assert_cmpuint(off, ==, len);
    return first;
}

uint32_t chimney_rx_post(QChimneyNic *d, uint64_t addr, uint16_t buf_len)
{
    ChimneyRxDesc desc = {
        .addr = cpu_to_le64(addr),
        .buf_len = cpu_to_le16(buf_len),
    };
    uint32_t idx = chimney_ring_advance(d, CHIMNEY_RING_RX);

    qtest_memwrite(chimney_qts(d),
                   chimney_ring_entry_addr(d, CHIMNEY_RING_RX, idx),
                   &desc, sizeof(desc));
    return idx;
}

void chimney_rx_read(QChimneyNic *d, uint32_t idx, ChimneyRxDesc *desc)
{
    qtest_memread(chimney_qts(d),
                  chimney_ring_entry_addr(d, CHIMNEY_RING_RX, idx),
                  desc, sizeof(*desc));
    desc->addr = le64_to_cpu(desc->addr);
    desc->buf_len = le16_to_cpu(desc->buf_len);
    desc->len = le16_to_cpu(desc->len);
    desc->status = le16_to_cpu(desc->status);
    desc->flags = le16_to_cpu(desc->flags);
}

uint32_t chimney_cmd_post(QChimneyNic *d, uint16_t opcode, uint16_t flags,
                          uint64_t cookie)
{
    ChimneyCmdDesc cmd = {
        .opcode = cpu_to_le16(opcode),
        .flags = cpu_to_le16(flags),
        .cookie = cpu_to_le64(cookie),
    };
    uint32_t idx = chimney_ring_advance(d, CHIMNEY_RING_CMD);

    qtest_memwrite(chimney_qts(d),
                   chimney_ring_entry_addr(d, CHIMNEY_RING_CMD, idx),
                   &cmd, sizeof(cmd));
    return idx;
}

void chimney_evt_read(QChimneyNic *d, uint32_t idx, ChimneyEvent *ev)
{
    qtest_memread(chimney_qts(d),
                  chimney_ring_entry_addr(d, CHIMNEY_RING_EVT, idx),
                  ev, sizeof(*ev));
    ev->type = le16_to_cpu(ev->type);
    ev->code = le16_to_cpu(ev->code);
    ev->status = le32_to_cpu(ev->status);
    ev->cookie = le64_to_cpu(ev->cookie);
    ev->handle = le64_to_cpu(ev->handle);
    ev->info = le32_to_cpu(ev->info);
    ev->flags = le32_to_cpu(ev->flags);
}

void chimney_evt_release(QChimneyNic *d, uint32_t idx)
{
    qtest_writel(chimney_qts(d),
                 chimney_ring_entry_addr(d, CHIMNEY_RING_EVT, idx) +
                 offsetof(ChimneyEvent, flags), 0);
}

void chimney_evt_give(QChimneyNic *d, uint32_t n)
{
    QChimneyRing *r = &d->ring[CHIMNEY_RING_EVT];

    r->tail = (r->tail + n) % r->size;
    chimney_ring_kick(d, CHIMNEY_RING_EVT);
}

uint16_t chimney_desc_status(QChimneyNic *d, int ring, uint32_t idx)
{
    uint64_t a = chimney_ring_entry_addr(d, ring, idx);

    g_assert(ring == CHIMNEY_RING_TX || ring == CHIMNEY_RING_RX);
    QEMU_BUILD_BUG_ON(offsetof(ChimneyTxDesc, status) !=
                      offsetof(ChimneyRxDesc, status));
    /* qtest_readw returns the guest (little-endian) value as a number */
    return qtest_readw(chimney_qts(d), a + offsetof(ChimneyTxDesc, status));
}

bool chimney_wait_desc_done(QChimneyNic *d, int ring, uint32_t idx)
{
    int i;

    for (i = 0; i < CHIMNEY_QOS_WAIT_ITERS; i++) {
        if (chimney_desc_status(d, ring, idx) & CHIMNEY_DESC_DONE) {
            return true;
        }
        chimney_step(d);
    }
    return (chimney_desc_status(d, ring, idx) & CHIMNEY_DESC_DONE) != 0;
}

bool chimney_wait_evt_valid(QChimneyNic *d, uint32_t idx)
{
    uint64_t a = chimney_ring_entry_addr(d, CHIMNEY_RING_EVT, idx) +
                 offsetof(ChimneyEvent, flags);
    int i;

    for (i = 0; i <= CHIMNEY_QOS_WAIT_ITERS; i++) {
        if (qtest_readl(chimney_qts(d), a) & CHIMNEY_EVTF_VALID) {
            return true;
        }
        chimney_step(d);
    }
    return false;
}

/*
 * qgraph node
 */

static void chimney_foreach_callback(QPCIDevice *dev, int devfn, void *data)
{
    QPCIDevice *res = data;

    memcpy(res, dev, sizeof(QPCIDevice));
    g_free(dev);
}

static void chimney_nic_destructor(QOSGraphObject *obj)
{
    QChimneyNic *d = (QChimneyNic *)obj;

    if (d->pci_dev.msix_enabled) {
        qpci_msix_disable(&d->pci_dev);
    }
    qpci_iounmap(&d->pci_dev, d->bar0);
}

static void chimney_nic_start_hw(QOSGraphObject *obj)
{
    QChimneyNic *d = (QChimneyNic *)obj;

    /* Memory decoding + bus mastering, then MSI-X; no device register. */
    qpci_device_enable(&d->pci_dev);
    chimney_msix_setup(d);
}

static void *chimney_nic_get_driver(void *obj, const char *interface)
{
    QChimneyNic *d = obj;

    if (!g_strcmp0(interface, "chimney-nic")) {
        return d;
    }
    if (!g_strcmp0(interface, "pci-device")) {
        return &d->pci_dev;
    }
    fprintf(stderr, "%s not present in chimney-nic\n", interface);
    g_assert_not_reached();
}

static void *chimney_nic_create(void *pci_bus, QGuestAllocator *alloc,
                                void *addr)
{
    QChimneyNic *d = g_new0(QChimneyNic, 1);
    QPCIBus *bus = pci_bus;
    QPCIAddress *address = addr;
    uint64_t words;
    int vec;

    qpci_device_foreach(bus, address->vendor_id, address->device_id,
                        chimney_foreach_callback, &d->pci_dev);
    g_assert(d->pci_dev.bus != NULL);

    d->alloc = alloc;
    d->bar0 = qpci_iomap(&d->pci_dev, CHIMNEY_BAR_REGS, &d->bar0_size);

    /* One RAM word per MSI-X vector, 16 bytes apart. */
    words = chimney_alloc(d, 16 * CHIMNEY_MSIX_VECTORS);
    for (vec = 0; vec < CHIMNEY_MSIX_VECTORS; vec++) {
        d->msix_addr[vec] = words + 16 * vec;
    }

    d->obj.get_driver = chimney_nic_get_driver;
    d->obj.start_hw = chimney_nic_start_hw;
    d->obj.destructor = chimney_nic_destructor;
    return &d->obj;
}

static void chimney_nic_register_nodes(void)
{
    QPCIAddress addr = {
        .vendor_id = CHIMNEY_PCI_VENDOR_ID,
        .device_id = CHIMNEY_PCI_DEVICE_ID,
    };
    /*
     * Every test using this node must add "-netdev ...,id=hs0" (see
     * chimney-nic-test.c), otherwise QEMU does not start.
     */
    QOSGraphEdgeOptions opts = {
        .extra_device_opts = "netdev=" CHIMNEY_QOS_NETDEV
                             ",mac=" CHIMNEY_QOS_MAC_STR
                             ",id=" CHIMNEY_QOS_DEV_ID,
    };

    add_qpci_address(&opts, &addr);
    qos_node_create_driver("chimney-nic", chimney_nic_create);
    qos_node_consumes("chimney-nic", "pci-bus", &opts);
}

libqos_init(chimney_nic_register_nodes);

static void chimney_qos_socket_netdev_close(void *sockets)
{
    int *test_sockets = sockets;

    close(test_sockets[0]);
    qos_invalidate_command_line();
    close(test_sockets[1]);
    g_free(test_sockets);
}

void *chimney_qos_socket_netdev(GString *cmd_line, void *arg)
{
    int *test_sockets = g_new(int, 2);
    int ret = socketpair(PF_UNIX, SOCK_STREAM, 0, test_sockets);

    g_assert_cmpint(ret, !=, -1);
    g_string_append_printf(cmd_line, " -netdev socket,fd=%d,id=%s ",
                           test_sockets[1], CHIMNEY_QOS_NETDEV);
    g_test_queue_destroy(chimney_qos_socket_netdev_close, test_sockets);
    return test_sockets;
}
