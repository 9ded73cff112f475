/*
 * QTest testcases for chimney-nic: migration and the reentrancy guard.
 *
 * - migration-roundtrip: registers set through BAR0 survive a migration
 *   through a file into a second QEMU.
 * - migration-corrupt: the same file with one field of the chimney-nic
 *   section corrupted (event queue head, a ring size, a ring head, the
 *   throttle register) is refused by the destination's post_load: the
 *   incoming migration fails, QEMU names the field on stderr and keeps
 *   running (migrate-incoming with exit-on-error false).
 * - migration-blocker: while a state object is offloaded, QMP migrate is
 *   refused with the device's blocker reason; after the objects are gone
 *   (CTRL.RESET) migration works again.
 * - migration-offload-during: an object offloaded while a migration runs
 *   makes that migration fail (pre_save), and blocks the next one.
 * - reentry-*: MSI-X messages aimed at the device's own CTRL register with
 *   the RESET bit, sent from the link callback, the moderation timer and a
 *   PCI config write, are refused by the device's reentrancy guard (the
 *   device is not reset underneath its own callback); a machine reset
 *   still resets the device (reset hold); on q35, a message aimed at the
 *   device's own config space through ECAM reaches its config_write hook
 *   inside the link callback and is deferred, not run nested; so is a
 *   device reset through a root port's Secondary Bus Reset bit.
 *
 * The source is the QEMU qos-test starts (-M pc, the libqos chimney-nic
 * node); the destination is started here with the same machine, memory and
 * device options, and "-incoming defer".  The chimney-nic section is found
 * in the migration file by a MAC address no other byte sequence of the
 * file holds, set through MAC_LO/MAC_HI; its layout is chimney_nic_vmstate
 * in hw/net/chimney/chimney_nic.c (big-endian integers, no padding) and is
 * checked against the values the test wrote before anything is corrupted.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/module.h"
#include "qemu/bswap.h"
#include "hw/pci/pci_regs.h"
#include "libqos/qgraph.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "libqos/chimney-nic.h"
#include "qobject/qdict.h"
#include "hw/net/chimney_hw.h"

#ifndef _WIN32

/* MAC_LO/MAC_HI during the migration tests: the section's marker. */
static const uint8_t marker_mac[6] = { 0x4d, 0x49, 0x47, 0xc4, 0x1e, 0x5a };
#define MIG_THROTTLE    0x0bee
#define MIG_RX_FILTER   (CHIMNEY_RXF_PROMISC | CHIMNEY_RXF_BROADCAST)

/*
 * Offsets in the chimney-nic section, from the first MAC byte
 * (chimney_nic_vmstate after VMSTATE_PCI_DEVICE and VMSTATE_MSIX).
 */
#define OFF_CTRL            6
#define OFF_RX_FILTER       11
#define OFF_INT_THROTTLE    31
#define OFF_RING(i)         (37 + 32 * (i))   /* ChimneyRing: 8 + 6 * 4 */
#define RING_SIZE           8
#define RING_HEAD           12
#define RING_STATUS         24
#define OFF_EVTQ            (OFF_RING(CHIMNEY_RING_COUNT) + \
                             4 * CHIMNEY_STAT_COUNT + \
                             16 * CHIMNEY_MSIX_VECTORS)
#define OFF_EVTQ_HEAD       (OFF_EVTQ + 32 * CHIMNEY_EVT_QUEUE_MAX)
#define OFF_EVTQ_LEN        (OFF_EVTQ_HEAD + 4)

#define MIG_WAIT_ITERS      3000        /* x 10 ms of wall clock */

static uint32_t rd(QChimneyNic *d, uint32_t off)
{
    return chimney_readl(d, off);
}

static void wr(QChimneyNic *d, uint32_t off, uint32_t val)
{
    chimney_writel(d, off, val);
}

static uint32_t mac_lo(const uint8_t *m)
{
    return m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
}

static uint32_t mac_hi(const uint8_t *m)
{
    return m[4] | m[5] << 8;
}

static char *tmp_path(const char *what)
{
    return g_strdup_printf("%s/chimney-migration-%d-%s", g_get_tmp_dir(),
                           (int)getpid(), what);
}

/*
 * Poll query-migrate until the migration ends; returns its status and,
 * in *desc (may be NULL), its error-desc (caller frees both).
 */
static char *migration_wait(QTestState *qts, char **desc)
{
    int i;

    for (i = 0; i < MIG_WAIT_ITERS; i++) {
        QDict *rsp = qtest_qmp_assert_success_ref(qts,
                                         "{'execute': 'query-migrate'}");
        const char *st = qdict_haskey(rsp, "status") ?
                         qdict_get_str(rsp, "status") : "none";

        if (!strcmp(st, "completed") || !strcmp(st, "failed") ||
            !strcmp(st, "cancelled")) {
            char *ret = g_strdup(st);

            if (desc) {
                *desc = qdict_haskey(rsp, "error-desc") ?
                        g_strdup(qdict_get_str(rsp, "error-desc")) : NULL;
            }
            qobject_unref(rsp);
            return ret;
        }
        qobject_unref(rsp);
        g_usleep(10 * 1000);
    }
    g_error("migration did not finish within %d s", MIG_WAIT_ITERS / 100);
}

/* Migrate the source to @file; it must complete. */
static void migrate_to_file(QTestState *qts, const char *file)
{
    char *uri = g_strdup_printf("file:%s", file);
    char *st;

    qtest_qmp_assert_success(qts, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);
    st = migration_wait(qts, NULL);
    g_assert_cmpstr(st, ==, "completed");
    g_free(st);
    g_free(uri);
}

/* The QMP error of a refused "migrate" (caller frees). */
static char *migrate_refused(QTestState *qts, const char *file)
{
    char *uri = g_strdup_printf("file:%s", file);
    QDict *rsp = qtest_qmp(qts, "{'execute': 'migrate', 'arguments': "
                           "{'uri': %s}}", uri);
    QDict *err;
    char *desc;

    g_assert_true(qdict_haskey(rsp, "error"));
    err = qdict_get_qdict(rsp, "error");
    desc = g_strdup(qdict_get_str(err, "desc"));
    qobject_unref(rsp);
    g_free(uri);
    return desc;
}

static char *qom_get_str(QTestState *qts, const char *path, const char *prop)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': %s, 'property': %s}}", path, prop);
    char *s;

    g_assert_true(qdict_haskey(rsp, "return"));
    s = g_strdup(qdict_get_str(rsp, "return"));

    qobject_unref(rsp);
    return s;
}

static uint64_t qom_get_uint(QTestState *qts, const char *path,
                             const char *prop)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': %s, 'property': %s}}", path, prop);
    uint64_t v;

    g_assert_true(qdict_haskey(rsp, "return"));
    v = qdict_get_int(rsp, "return");

    qobject_unref(rsp);
    return v;
}

#define DEV_PATH    "/machine/peripheral/" CHIMNEY_QOS_DEV_ID

/*
 * Destination QEMU: the source's machine, memory and device, waiting for
 * an incoming migration; its stderr goes to @err_file (libqtest runs the
 * command through "sh -c", so a redirection is allowed).
 */
static QTestState *dest_start(QTestState *src, const char *err_file)
{
    char *type = qom_get_str(src, "/machine", "type");
    QDict *rsp = qtest_qmp_assert_success_ref(src,
                        "{'execute': 'query-memory-size-summary'}");
    uint64_t mem = qdict_get_int(rsp, "base-memory");
    const char *suffix = "-machine";
    QTestState *dst;

    g_assert_true(g_str_has_suffix(type, suffix));
    type[strlen(type) - strlen(suffix)] = 0;
    dst = qtest_initf("-M %s -m %" PRIu64 "M "
                      "-device chimney-nic,netdev=%s,mac=%s,id=%s "
                      "-netdev hubport,hubid=0,id=%s -incoming defer 2>%s",
                      type, mem >> 20, CHIMNEY_QOS_NETDEV,
                      CHIMNEY_QOS_MAC_STR, CHIMNEY_QOS_DEV_ID,
                      CHIMNEY_QOS_NETDEV, err_file);
    qobject_unref(rsp);
    g_free(type);
    return dst;
}

/* migrate-incoming from @file; returns the final status (caller frees). */
static char *dest_load(QTestState *dst, const char *file, char **desc)
{
    char *uri = g_strdup_printf("file:%s", file);
    char *st;

    qtest_qmp_assert_success(dst, "{'execute': 'migrate-incoming', "
                             "'arguments': {'uri': %s, "
                             "'exit-on-error': false}}", uri);
    st = migration_wait(dst, desc);
    g_free(uri);
    return st;
}

/*
 * Source state for the migration tests: marker MAC, RX filter, throttle,
 * an enabled EVT ring of 64 entries, a CMD ring of 16 and an RX ring of 32
 * with 5 buffers handed over (TAIL 5, HEAD 0).
 */
static void mig_source_setup(QChimneyNic *d)
{
    wr(d, CHIMNEY_REG_MAC_LO, mac_lo(marker_mac));
    wr(d, CHIMNEY_REG_MAC_HI, mac_hi(marker_mac));
    wr(d, CHIMNEY_REG_RX_FILTER, MIG_RX_FILTER);
    wr(d, CHIMNEY_REG_INT_THROTTLE, MIG_THROTTLE);
    chimney_ring_start(d, CHIMNEY_RING_EVT, 64);
    chimney_ring_start(d, CHIMNEY_RING_CMD, 16);
    chimney_ring_start(d, CHIMNEY_RING_RX, 32);
    d->ring[CHIMNEY_RING_RX].tail = 5;
    chimney_ring_kick(d, CHIMNEY_RING_RX);
}

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

/*
 * The offset of the chimney-nic section's MAC in the migration file,
 * checked against what mig_source_setup() wrote.
 */
static size_t find_section(const uint8_t *buf, size_t len)
{
    size_t off = 0, found = 0, n = 0;
    const uint8_t *r;

    while (off < len &&
           (r = memmem(buf + off, len - off, marker_mac, 6)) != NULL) {
        found = r - buf;
        n++;
        off = found + 1;
    }
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpuint(found + OFF_EVTQ_LEN + 4, <=, len);
    r = buf + found;
    g_assert_cmphex(be32_at(r + OFF_CTRL), ==, 0);
    g_assert_cmphex(be32_at(r + OFF_RX_FILTER), ==, MIG_RX_FILTER);
    g_assert_cmphex(be32_at(r + OFF_INT_THROTTLE), ==, MIG_THROTTLE);
    g_assert_cmpuint(be32_at(r + OFF_RING(CHIMNEY_RING_EVT) + RING_SIZE), ==,
                     64);
    g_assert_cmphex(be32_at(r + OFF_RING(CHIMNEY_RING_EVT) + RING_STATUS),
                    ==, CHIMNEY_RING_ST_ENABLED);
    g_assert_cmpuint(be32_at(r + OFF_RING(CHIMNEY_RING_CMD) + RING_SIZE), ==,
                     16);
    g_assert_cmpuint(be32_at(r + OFF_RING(CHIMNEY_RING_RX) + RING_SIZE), ==,
                     32);
    g_assert_cmpuint(be32_at(r + OFF_RING(CHIMNEY_RING_RX) + RING_HEAD +
                             4), ==, 5);       /* TAIL */
    g_assert_cmpuint(be32_at(r + OFF_EVTQ_HEAD), ==, 0);
    g_assert_cmpuint(be32_at(r + OFF_EVTQ_LEN), ==, 0);
    return found;
}

/* Source migrated to a file, read back whole. */
typedef struct MigFile {
    char *path;
    uint8_t *buf;
    size_t len;
    size_t sec;         /* offset of the chimney-nic section's MAC */
} MigFile;

static void mig_file_make(QChimneyNic *d, MigFile *f)
{
    GError *err = NULL;
    gsize len;

    mig_source_setup(d);
    f->path = tmp_path("src.mig");
    migrate_to_file(chimney_qts(d), f->path);
    g_assert_true(g_file_get_contents(f->path, (gchar **)&f->buf, &len,
                                      &err));
    f->len = len;
    f->sec = find_section(f->buf, f->len);
}

static void mig_file_free(MigFile *f)
{
    unlink(f->path);
    g_free(f->path);
    g_free(f->buf);
}

/* BAR0 of the chimney-nic in a destination QEMU, as migrated. */
static uint32_t dest_readl(QTestState *dst, int devfn, uint32_t off)
{
    QPCIBus *bus = qpci_new_pc(dst, NULL);
    QPCIDevice *dev = qpci_device_find(bus, devfn);
    uint64_t bar;
    uint32_t v;

    g_assert_nonnull(dev);
    g_assert_cmphex(qpci_config_readw(dev, PCI_VENDOR_ID), ==,
                    CHIMNEY_PCI_VENDOR_ID);
    bar = qpci_config_readl(dev, PCI_BASE_ADDRESS_0) & ~0xfull;
    bar |= (uint64_t)qpci_config_readl(dev, PCI_BASE_ADDRESS_1) << 32;
    g_assert_cmphex(bar, !=, 0);
    v = qtest_readl(dst, bar + off);
    g_free(dev);
    qpci_free_pc(bus);
    return v;
}

static void test_migration_roundtrip(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    QChimneyNic *d = obj;
    MigFile f;
    char *err_file = tmp_path("dst.err");
    QTestState *dst;
    char *st, *desc = NULL;

    mig_file_make(d, &f);
    dst = dest_start(chimney_qts(d), err_file);
    st = dest_load(dst, f.path, &desc);
    g_assert_cmpstr(st, ==, "completed");
    g_assert_cmphex(dest_readl(dst, d->pci_dev.devfn, CHIMNEY_REG_MAC_LO), ==,
                    mac_lo(marker_mac));
    g_assert_cmphex(dest_readl(dst, d->pci_dev.devfn, CHIMNEY_REG_MAC_HI), ==,
                    mac_hi(marker_mac));
    g_assert_cmphex(dest_readl(dst, d->pci_dev.devfn,
                               CHIMNEY_REG_INT_THROTTLE), ==, MIG_THROTTLE);
    g_assert_cmpuint(dest_readl(dst, d->pci_dev.devfn,
                                CHIMNEY_RING_REG(CHIMNEY_RING_EVT,
                                                 CHIMNEY_RING_SIZE)), ==, 64);
    g_assert_cmpuint(dest_readl(dst, d->pci_dev.devfn,
                                CHIMNEY_RING_REG(CHIMNEY_RING_RX,
                                                 CHIMNEY_RING_TAIL)), ==, 5);
    qtest_quit(dst);
    unlink(err_file);
    g_free(err_file);
    g_free(st);
    g_free(desc);
    mig_file_free(&f);
}

/* One corruption of the chimney-nic section. */
typedef struct Corrupt {
    const char *name;
    size_t off;             /* from the MAC */
    uint32_t val;           /* big-endian u32 written there */
    const char *field;      /* what the refusal must name */
} Corrupt;

static const Corrupt corrupts[] = {
    { "evtq-head", OFF_EVTQ_HEAD, 0x00100000, "evtq_head" },
    { "evtq-len", OFF_EVTQ_LEN, 0xffffffff, "evtq_len" },
    { "evt-ring-size", OFF_RING(CHIMNEY_RING_EVT) + RING_SIZE, 0,
      "ring[3] (EVT) size 0" },
    { "rx-ring-head", OFF_RING(CHIMNEY_RING_RX) + RING_HEAD, 0xffff0000,
      "ring[1] (RX) head" },
    { "int-throttle", OFF_INT_THROTTLE, 0xffffffff, "int_throttle" },
};

static void test_migration_corrupt(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    QChimneyNic *d = obj;
    MigFile f;
    size_t i;

    mig_file_make(d, &f);
    for (i = 0; i < G_N_ELEMENTS(corrupts); i++) {
        const Corrupt *c = &corrupts[i];
        char *bad = tmp_path("bad.mig");
        char *err_file = tmp_path("dst.err");
        uint8_t *copy = g_memdup2(f.buf, f.len);
        char *st, *desc = NULL, *err = NULL;
        QTestState *dst;
        QDict *rsp;

        g_test_message("corrupting %s", c->name);
        put_be32(copy + f.sec + c->off, c->val);
        g_assert_true(g_file_set_contents(bad, (gchar *)copy, f.len, NULL));
        dst = dest_start(chimney_qts(d), err_file);
        st = dest_load(dst, bad, &desc);
        g_assert_cmpstr(st, ==, "failed");
        g_assert_nonnull(desc);
        /* still alive and answering */
        rsp = qtest_qmp_assert_success_ref(dst,
                                           "{'execute': 'query-status'}");
        g_assert_false(qdict_get_bool(rsp, "running"));
        qobject_unref(rsp);
        qtest_quit(dst);
        g_assert_true(g_file_get_contents(err_file, &err, NULL, NULL));
        if (!strstr(err, "invalid device state in the migration stream") ||
            !strstr(err, c->field)) {
            g_error("%s: destination stderr does not name \"%s\":\n%s",
                    c->name, c->field, err);
        }
        g_test_message("%s refused (%s); destination said: %s", c->name,
                       desc, err);
        unlink(bad);
        unlink(err_file);
        g_free(bad);
        g_free(err_file);
        g_free(copy);
        g_free(st);
        g_free(desc);
        g_free(err);
    }
    mig_file_free(&f);
}

/*
 * Offload one neighbor with raw commands: SET_PARAMS, then INITIATE of a
 * one-block tree.  CMD ring 8, EVT ring 16 entries.
 */
typedef struct NeighBlock {
    ChimneyBlock b;
    ChimneyNeighConst c;
    ChimneyNeighCached k;
    ChimneyNeighDelegated del;
} QEMU_PACKED NeighBlock;

static void cmd_submit(QChimneyNic *d, uint16_t opcode, uint64_t addr,
                       uint32_t len, uint64_t cookie)
{
    QChimneyRing *r = &d->ring[CHIMNEY_RING_CMD];
    ChimneyCmdDesc c = {
        .opcode = cpu_to_le16(opcode),
        .len = cpu_to_le32(len),
        .addr = cpu_to_le64(addr),
        .cookie = cpu_to_le64(cookie),
    };

    qtest_memwrite(chimney_qts(d), chimney_ring_entry_addr(d,
                   CHIMNEY_RING_CMD, r->tail), &c, sizeof(c));
    r->tail = (r->tail + 1) % r->size;
    chimney_ring_kick(d, CHIMNEY_RING_CMD);
}

static void evt_expect_done(QChimneyNic *d, uint32_t idx, uint16_t opcode,
                            uint64_t cookie)
{
    ChimneyEvent ev;

    g_assert_true(chimney_wait_evt_valid(d, idx));
    chimney_evt_read(d, idx, &ev);
    g_assert_cmphex(le16_to_cpu(ev.type), ==, CHIMNEY_EVT_CMD_DONE);
    g_assert_cmphex(le16_to_cpu(ev.code), ==, opcode);
    g_assert_cmphex(le64_to_cpu(ev.cookie), ==, cookie);
    g_assert_cmphex(le32_to_cpu(ev.status), ==, CHIMNEY_ST_SUCCESS);
}

static void offload_one_neighbor(QChimneyNic *d)
{
    QTestState *qts = chimney_qts(d);
    ChimneyOffloadParams p = {
        .hdr.length = cpu_to_le32(sizeof(p)),
        .ticks_per_second = cpu_to_le32(1000),
        .ack_frequency = 2,
        .delayed_ack_ticks = 200,
        .max_retransmissions = 5,
        .dup_ack_threshold = cpu_to_le32(3),
        .push_ticks = cpu_to_le32(500),
    };
    NeighBlock nb = {
        .b = {
            .type = cpu_to_le16(CHIMNEY_TYPE_NEIGH),
            .role = cpu_to_le16(CHIMNEY_ROLE_NEW),
            .size = cpu_to_le32(sizeof(nb)),
            .host_handle = cpu_to_le64(0x4e1),
        },
        .c.hdr.length = cpu_to_le32(sizeof(nb.c)),
        .k.hdr.length = cpu_to_le32(sizeof(nb.k)),
        .k.dl_dst_addr = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
        .del.hdr.length = cpu_to_le32(sizeof(nb.del)),
    };
    uint64_t pa = chimney_alloc(d, sizeof(p));
    uint64_t na = chimney_alloc(d, sizeof(nb));

    qtest_memwrite(qts, pa, &p, sizeof(p));
    qtest_memwrite(qts, na, &nb, sizeof(nb));
    chimney_ring_start(d, CHIMNEY_RING_CMD, 8);
    chimney_ring_start(d, CHIMNEY_RING_EVT, 16);
    chimney_evt_give(d, 15);
    wr(d, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_OFFLOAD_EN);
    cmd_submit(d, CHIMNEY_CMD_SET_PARAMS, pa, sizeof(p), 0xc001);
    evt_expect_done(d, 0, CHIMNEY_CMD_SET_PARAMS, 0xc001);
    cmd_submit(d, CHIMNEY_CMD_INITIATE, na, 0, 0xc002);
    evt_expect_done(d, 1, CHIMNEY_CMD_INITIATE, 0xc002);
    g_assert_cmpuint(qom_get_uint(qts, DEV_PATH, "x-offloaded-neighbors"),
                     ==, 1);
}

static void test_migration_blocker(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    QChimneyNic *d = obj;
    QTestState *qts = chimney_qts(d);
    char *file = tmp_path("blocked.mig");
    char *desc;

    offload_one_neighbor(d);
    desc = migrate_refused(qts, file);
    g_test_message("migrate refused: %s", desc);
    g_assert_nonnull(strstr(desc, "chimney-nic " DEV_PATH));
    g_assert_nonnull(strstr(desc, "offloaded"));
    g_assert_nonnull(strstr(desc, "upload"));
    g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
    g_free(desc);

    /* CTRL.RESET drops every object: the blocker goes with them */
    wr(d, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
    g_assert_cmpuint(qom_get_uint(qts, DEV_PATH, "x-offloaded-neighbors"),
                     ==, 0);
    migrate_to_file(qts, file);
    unlink(file);
    g_free(file);
}

/*
 * Objects offloaded while a migration runs: the blocker can no longer be
 * added, pre_save refuses the migration at the end; afterwards the blocker
 * is in place.  The bandwidth limit keeps the migration running long
 * enough (about 3 s for the 128 MiB of mostly zero pages).
 */
static void test_migration_offload_during(void *obj, void *data,
                                          QGuestAllocator *alloc)
{
    QChimneyNic *d = obj;
    QTestState *qts = chimney_qts(d);
    char *file = tmp_path("during.mig");
    char *uri = g_strdup_printf("file:%s", file);
    char *st, *desc = NULL;
    QDict *rsp;

    qtest_qmp_assert_success(qts, "{'execute': 'migrate-set-parameters', "
                             "'arguments': {'max-bandwidth': 100000}}");
    qtest_qmp_assert_success(qts, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);
    offload_one_neighbor(d);
    rsp = qtest_qmp_assert_success_ref(qts, "{'execute': 'query-migrate'}");
    g_assert_cmpstr(qdict_get_str(rsp, "status"), ==, "active");
    qobject_unref(rsp);
    qtest_qmp_assert_success(qts, "{'execute': 'migrate-set-parameters', "
                             "'arguments': {'max-bandwidth': 1000000000}}");
    st = migration_wait(qts, &desc);
    g_assert_cmpstr(st, ==, "failed");
    g_test_message("migration failed: %s", desc ? desc : "(no error-desc)");
    g_free(st);
    g_free(desc);

    /* the next callback puts the blocker in place */
    g_assert_cmpuint(rd(d, CHIMNEY_REG_CTRL), ==, CHIMNEY_CTRL_OFFLOAD_EN);
    wr(d, CHIMNEY_REG_INT_MASK, 0);
    desc = migrate_refused(qts, file);
    g_assert_nonnull(strstr(desc, "chimney-nic " DEV_PATH));
    g_free(desc);
    unlink(file);
    g_free(file);
    g_free(uri);
}

/*
 * Reentrancy: vector MISC (LINK) of the MSI-X table points at the device's
 * own CTRL register with the RESET bit as data.  Every message the device
 * sends there must be refused by its reentrancy guard: the device state
 * (throttle, MAC, a ring's SIZE) must survive.
 */
#define REENTRY_THROTTLE    1000        /* us */

/* MSI-X vector @vec of @dev (enabled) writes @data to @addr, unmasked. */
static void msix_aim(QPCIDevice *dev, int vec, uint64_t addr, uint32_t data)
{
    uint64_t off = dev->msix_table_off + vec * PCI_MSIX_ENTRY_SIZE;

    qpci_io_writel(dev, dev->msix_table_bar, off + PCI_MSIX_ENTRY_LOWER_ADDR,
                   (uint32_t)addr);
    qpci_io_writel(dev, dev->msix_table_bar, off + PCI_MSIX_ENTRY_UPPER_ADDR,
                   addr >> 32);
    qpci_io_writel(dev, dev->msix_table_bar, off + PCI_MSIX_ENTRY_DATA, data);
    qpci_io_writel(dev, dev->msix_table_bar, off + PCI_MSIX_ENTRY_VECTOR_CTRL,
                   0);
}

static void set_link(QTestState *qts, bool up)
{
    qtest_qmp_assert_success(qts, "{'execute': 'set_link', 'arguments': "
                             "{'name': %s, 'up': %i}}", CHIMNEY_QOS_NETDEV,
                             up);
}

static void expect_not_reset(QChimneyNic *d, const char *when)
{
    if (rd(d, CHIMNEY_REG_INT_THROTTLE) != REENTRY_THROTTLE ||
        rd(d, CHIMNEY_REG_MAC_LO) != mac_lo(marker_mac) ||
        chimney_ring_readl(d, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE) != 64) {
        g_error("%s: the device was reset by its own MSI-X message", when);
    }
}

static void msix_set_enable(QChimneyNic *d, bool on)
{
    uint8_t cap = qpci_find_capability(&d->pci_dev, PCI_CAP_ID_MSIX, 0);
    uint16_t flags = qpci_config_readw(&d->pci_dev, cap + PCI_MSIX_FLAGS);

    flags = on ? flags | PCI_MSIX_FLAGS_ENABLE :
                 flags & ~PCI_MSIX_FLAGS_ENABLE;
    qpci_config_writew(&d->pci_dev, cap + PCI_MSIX_FLAGS, flags);
}

static void test_reentry_msix(void *obj, void *data, QGuestAllocator *alloc)
{
    QChimneyNic *d = obj;
    QTestState *qts = chimney_qts(d);
    int i;

    wr(d, CHIMNEY_REG_MAC_LO, mac_lo(marker_mac));
    wr(d, CHIMNEY_REG_INT_THROTTLE, REENTRY_THROTTLE);
    chimney_ring_writel(d, CHIMNEY_RING_TX, CHIMNEY_RING_SIZE, 64);
    wr(d, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_LINK);
    msix_aim(&d->pci_dev, CHIMNEY_VEC_MISC, d->bar0.addr + CHIMNEY_REG_CTRL,
             CHIMNEY_CTRL_RESET);

    /* link callback: the message goes out at once */
    set_link(qts, false);
    expect_not_reset(d, "link callback");
    g_assert_cmphex(rd(d, CHIMNEY_REG_INT_CAUSE) & CHIMNEY_INT_LINK, ==, 0);

    /* moderation timer: the second message waits for the gap */
    set_link(qts, true);
    g_assert_cmphex(rd(d, CHIMNEY_REG_INT_CAUSE) & CHIMNEY_INT_LINK, ==,
                    CHIMNEY_INT_LINK);
    for (i = 0; i < 10 && (rd(d, CHIMNEY_REG_INT_CAUSE) & CHIMNEY_INT_LINK);
         i++) {
        qtest_clock_step(qts, REENTRY_THROTTLE * 1000 / 4);
    }
    g_assert_cmphex(rd(d, CHIMNEY_REG_INT_CAUSE) & CHIMNEY_INT_LINK, ==, 0);
    expect_not_reset(d, "moderation timer");

    /* config write: MSI-X off, a cause waits, MSI-X on sends it */
    qtest_clock_step(qts, REENTRY_THROTTLE * 1000 * 2);
    msix_set_enable(d, false);
    set_link(qts, false);
    g_assert_cmphex(rd(d, CHIMNEY_REG_INT_CAUSE) & CHIMNEY_INT_LINK, ==,
                    CHIMNEY_INT_LINK);
    msix_set_enable(d, true);
    g_assert_cmphex(rd(d, CHIMNEY_REG_INT_CAUSE) & CHIMNEY_INT_LINK, ==, 0);
    expect_not_reset(d, "PCI config write");
    set_link(qts, true);
}

/*
 * A callback reached while the device is busy is deferred, not run inside
 * the busy one: on q35 the MSI-X message of the link callback is aimed at
 * the device's own config space through ECAM (MMCONFIG), which enters its
 * config_write hook from inside the link callback.  The config write is
 * logged as a guest error and its work done when the link callback ends;
 * the device keeps working.  Its own QEMU: qos-test's machine is "pc",
 * which has no ECAM.
 */
#define Q35_PCIEXBAR        0x60        /* MCH config: ECAM base + enable */
#define Q35_ECAM_BASE       0xb0000000ull
#define REENTRY_SLOT        4

/* ECAM on, as firmware would do it: no firmware runs under qtest. */
static void q35_ecam_enable(QPCIBus *bus)
{
    QPCIDevice *mch = qpci_device_find(bus, 0);

    g_assert_nonnull(mch);
    qpci_config_writel(mch, Q35_PCIEXBAR + 4, 0);
    qpci_config_writel(mch, Q35_PCIEXBAR, Q35_ECAM_BASE | 1);
    g_free(mch);
}

/* BAR0 mapped, MSI-X on (function mask off), vector MISC aimed. */
static QPCIBar q35_dev_setup(QPCIDevice *dev, uint64_t addr, uint32_t data)
{
    QPCIBar bar0;
    uint8_t cap;

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    bar0 = qpci_iomap(dev, CHIMNEY_BAR_REGS, NULL);
    qpci_msix_enable(dev);
    cap = qpci_find_capability(dev, PCI_CAP_ID_MSIX, 0);
    qpci_config_writew(dev, cap + PCI_MSIX_FLAGS,
                       qpci_config_readw(dev, cap + PCI_MSIX_FLAGS) &
                       ~PCI_MSIX_FLAGS_MASKALL);
    msix_aim(dev, CHIMNEY_VEC_MISC, addr, data);
    qpci_io_writel(dev, bar0, CHIMNEY_REG_INT_MASK, CHIMNEY_INT_LINK);
    return bar0;
}

/* QEMU's stderr must hold @what. */
static void err_file_expect(char *err_file, const char *what)
{
    char *err = NULL;

    g_assert_true(g_file_get_contents(err_file, &err, NULL, NULL));
    g_test_message("QEMU said: %s", err);
    g_assert_nonnull(strstr(err, what));
    unlink(err_file);
    g_free(err_file);
    g_free(err);
}

static void test_reentry_config_write(void *obj, void *data,
                                      QGuestAllocator *alloc)
{
    char *err_file = tmp_path("q35.err");
    QTestState *qts = qtest_initf("-M q35 -device chimney-nic,netdev=%s,"
                                  "addr=%02x.0 -netdev hubport,hubid=0,"
                                  "id=%s -d guest_errors 2>%s",
                                  CHIMNEY_QOS_NETDEV, REENTRY_SLOT,
                                  CHIMNEY_QOS_NETDEV, err_file);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *dev = qpci_device_find(bus, QPCI_DEVFN(REENTRY_SLOT, 0));
    uint64_t cfg = Q35_ECAM_BASE + (QPCI_DEVFN(REENTRY_SLOT, 0) << 12);
    QPCIBar bar0;

    q35_ecam_enable(bus);
    g_assert_cmphex(qtest_readw(qts, cfg), ==, CHIMNEY_PCI_VENDOR_ID);
    /* data 0x10 to the device's own PCI_CACHE_LINE_SIZE dword */
    bar0 = q35_dev_setup(dev, cfg + PCI_CACHE_LINE_SIZE, 0x10);

    set_link(qts, false);
    /* the message was sent (cause auto-cleared) */
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_INT_CAUSE) &
                    CHIMNEY_INT_LINK, ==, 0);
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_ID), ==,
                    CHIMNEY_ID_MAGIC);
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_STATUS) &
                    (CHIMNEY_STATUS_BUS_MASTER | CHIMNEY_STATUS_MSIX), ==,
                    CHIMNEY_STATUS_BUS_MASTER | CHIMNEY_STATUS_MSIX);
    set_link(qts, true);
    qtest_quit(qts);
    err_file_expect(err_file, "PCI config write while the device is busy");
    g_free(dev);
    qpci_free_pc(bus);
}

/*
 * The same with the reset hold: the device sits behind a PCIe root port
 * and its link message sets Secondary Bus Reset in the port's bridge
 * control register (through ECAM), which resets the device from inside
 * its own link callback.  The device reset is deferred to the end of the
 * callback: afterwards the device is in its reset state and works.
 */
#define REENTRY_PORT_SLOT   5
#define REENTRY_WINDOW      0xe0000000u

static void test_reentry_bus_reset(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    char *err_file = tmp_path("q35sbr.err");
    QTestState *qts = qtest_initf("-M q35 -device pcie-root-port,id=rp0,"
                                  "chassis=1,addr=%02x.0 -device "
                                  "chimney-nic,bus=rp0,netdev=%s -netdev "
                                  "hubport,hubid=0,id=%s -d guest_errors "
                                  "2>%s", REENTRY_PORT_SLOT,
                                  CHIMNEY_QOS_NETDEV, CHIMNEY_QOS_NETDEV,
                                  err_file);
    QPCIBus *bus = qpci_new_pc(qts, NULL);
    QPCIDevice *port = qpci_device_find(bus, QPCI_DEVFN(REENTRY_PORT_SLOT, 0));
    QPCIDevice *dev;
    /* bridge control (upper half of the 0x3c dword) of the root port */
    uint64_t ecam = Q35_ECAM_BASE +
                    (QPCI_DEVFN(REENTRY_PORT_SLOT, 0) << 12) +
                    PCI_INTERRUPT_LINE;
    QPCIBar bar0;

    g_assert_nonnull(port);
    q35_ecam_enable(bus);
    /* what firmware would do: bus 1 behind the port, a memory window */
    qpci_config_writeb(port, PCI_SECONDARY_BUS, 1);
    qpci_config_writeb(port, PCI_SUBORDINATE_BUS, 1);
    qpci_config_writew(port, PCI_MEMORY_BASE, REENTRY_WINDOW >> 16);
    qpci_config_writew(port, PCI_MEMORY_LIMIT,
                       (REENTRY_WINDOW + 0x00f00000) >> 16);
    qpci_config_writew(port, PCI_PREF_MEMORY_BASE, 0xfff0);
    qpci_config_writew(port, PCI_PREF_MEMORY_LIMIT, 0);
    qpci_config_writew(port, PCI_COMMAND,
                       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    dev = qpci_device_find(bus, 1 << 8);
    bar0 = q35_dev_setup(dev, ecam, PCI_BRIDGE_CTL_BUS_RESET << 16);
    qpci_io_writel(dev, bar0, CHIMNEY_REG_INT_THROTTLE, REENTRY_THROTTLE);
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_INT_THROTTLE), ==,
                    REENTRY_THROTTLE);

    set_link(qts, false);
    g_assert_cmphex(qpci_config_readw(port, PCI_BRIDGE_CONTROL) &
                    PCI_BRIDGE_CTL_BUS_RESET, ==, PCI_BRIDGE_CTL_BUS_RESET);
    qpci_config_writew(port, PCI_BRIDGE_CONTROL, 0);

    /* the PCI reset cleared the BARs: map again, the device was reset */
    g_free(dev);
    dev = qpci_device_find(bus, 1 << 8);
    qpci_device_enable(dev);
    bar0 = qpci_iomap(dev, CHIMNEY_BAR_REGS, NULL);
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_ID), ==,
                    CHIMNEY_ID_MAGIC);
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_INT_THROTTLE), ==,
                    0);
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_INT_MASK), ==, 0);
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_STATUS) &
                    CHIMNEY_STATUS_LINK_UP, ==, 0);
    set_link(qts, true);
    g_assert_cmphex(qpci_io_readl(dev, bar0, CHIMNEY_REG_STATUS) &
                    CHIMNEY_STATUS_LINK_UP, ==, CHIMNEY_STATUS_LINK_UP);
    qtest_quit(qts);
    err_file_expect(err_file, "device reset while the device is busy");
    g_free(dev);
    g_free(port);
    qpci_free_pc(bus);
}

/* Reset hold (machine reset) still resets the device. */
static void test_reentry_system_reset(void *obj, void *data,
                                      QGuestAllocator *alloc)
{
    QChimneyNic *d = obj;
    QTestState *qts = chimney_qts(d);
    static const uint8_t perm[6] = CHIMNEY_QOS_MAC;

    wr(d, CHIMNEY_REG_MAC_LO, mac_lo(marker_mac));
    wr(d, CHIMNEY_REG_INT_THROTTLE, REENTRY_THROTTLE);
    chimney_ring_start(d, CHIMNEY_RING_EVT, 64);
    qtest_qmp_assert_success(qts, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(qts, "RESET");
    chimney_pci_setup(d);
    g_assert_cmphex(rd(d, CHIMNEY_REG_MAC_LO), ==, mac_lo(perm));
    g_assert_cmphex(rd(d, CHIMNEY_REG_INT_THROTTLE), ==, 0);
    g_assert_cmphex(chimney_ring_readl(d, CHIMNEY_RING_EVT,
                                       CHIMNEY_RING_STATUS), ==, 0);
    /* and works afterwards */
    chimney_ring_start(d, CHIMNEY_RING_EVT, 64);
}

static void register_chimney_migration_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "migration-roundtrip", test_migration_roundtrip },
        { "migration-corrupt", test_migration_corrupt },
        { "migration-blocker", test_migration_blocker },
        { "migration-offload-during", test_migration_offload_during },
        { "reentry-msix", test_reentry_msix },
        { "reentry-config-write", test_reentry_config_write },
        { "reentry-bus-reset", test_reentry_bus_reset },
        { "reentry-system-reset", test_reentry_system_reset },
    };
    QOSGraphTestOptions opts = {
        .before = chimney_qos_socket_netdev,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_migration_test);

#endif /* !_WIN32 */
