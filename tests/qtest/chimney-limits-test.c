/*
 * QTest testcases for the chimney-nic offload target: the device's
 * limits as QEMU sees them.  A ring of maximal trees does not hold up the
 * wire and the timers (bounded work per pass); a tree over the block
 * limit fails whole and leaves every offloaded object working; the
 * data-buffer budget (mem-budget) bounds what QEMU allocates however
 * much the wire sends.
 *
 * Helpers, context and conventions: chimney-offload-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"
#include "qobject/qdict.h"
#include "hw/pci/pci_regs.h"

#ifndef _WIN32

/* Commands queued at once for the bounded-pass test (CMD ring: 64). */
#define MAX_TREES_QUEUED    48

/*
 * A QUERY tree of @nblocks placeholder blocks, the largest kind of tree
 * (rule 009: placeholders always succeed).  Returns its root.
 */
static uint64_t placeholder_tree(T *t, Raw *r, uint32_t nblocks)
{
    uint64_t root = 0, prev = 0, b;
    uint32_t i;

    raw_init(t, r, (nblocks + 1) * sizeof(ChimneyBlock));
    for (i = 0; i < nblocks; i++) {
        b = raw_block(r, CHIMNEY_TYPE_NEIGH_CONST, CHIMNEY_ROLE_PLACEHOLDER,
                      0, NULL, 0);
        if (prev) {
            raw_next(r, prev, b);
        } else {
            root = b;
        }
        prev = b;
    }
    raw_put(r);
    return root;
}

/* A connection with keepalive: ka_timeout ticks idle, 5 probes 10 apart. */
static void conn_keepalive(Conn *c, uint32_t ka_timeout)
{
    c->s.k.flags = cpu_to_le16(le16_to_cpu(c->s.k.flags) |
                               CHIMNEY_TCP_CACHED_KEEPALIVE);
    c->s.k.ka_timeout = cpu_to_le32(ka_timeout);
    c->s.k.ka_interval = cpu_to_le32(10);
    c->s.k.ka_probe_count = 5;
    c->s.d.ka_timeout_delta = cpu_to_le32(ka_timeout);
}

/*
 * A ring full of maximal trees: the device processes them a bounded
 * amount per main-loop pass (spec "Command processing"), so an offloaded
 * connection's data is acknowledged and its keepalive timer fires while
 * most of the trees still wait in the CMD ring.
 */
static void test_bounded_passes(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    uint32_t nblocks = rd(t, CHIMNEY_REG_CAP_TREE_BLOCKS), head, tail;
    uint8_t f[256];
    ChimneyTestRxSeg rs;
    uint64_t root, cookie[MAX_TREES_QUEUED];
    uint16_t cmd;
    size_t len;
    Conn c;
    Seg s;
    Raw r;
    int i;

    rx_setup(t);                /* spec: offloaded frames need the RX ring */
    conn_init4(&c, 1, 2, 1000, 80);
    conn_keepalive(&c, 50);
    conn_offload(t->env, &c);
    root = placeholder_tree(t, &r, nblocks);

    /*
     * Queue the trees with bus mastering off (the device consumes no
     * command without it), so that they are all in the ring when it is
     * turned on again, together with a segment from the peer.
     */
    cmd = qpci_config_readw(&t->d->pci_dev, PCI_COMMAND);
    qpci_config_writew(&t->d->pci_dev, PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER);
    for (i = 0; i < MAX_TREES_QUEUED; i++) {
        cookie[i] = qchimney_raw_submit(&t->qe.os, CHIMNEY_CMD_QUERY, 0, root,
                                        0, 0);
    }
    conn_peer_seg(t->env, &c, &s, "during", 6);
    len = seg_build(&s, f);
    qpci_config_writew(&t->d->pci_dev, PCI_COMMAND, cmd);
    /* data from the peer: the ACK comes while trees still wait */
    wire_send(t, f, len);
    len = wire_recv(t, f, sizeof(f));
    g_assert_true(seg_parse(f, len, &rs));
    g_assert_cmpuint(rs.ack, ==, c.peer_seq + 6);
    c.peer_seq += 6;
    head = rd(t, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_HEAD));
    tail = rd(t, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL));
    g_test_message("ACK sent with %u of %d maximal trees still queued",
                   (tail - head) & 63, MAX_TREES_QUEUED);
    g_assert_cmpuint(head, !=, tail);

    /* the keepalive timer fires between passes too: a probe at SndUna-1 */
    t->env->clock_step(t->env, 60 * NS_PER_MS);
    len = wire_recv(t, f, sizeof(f));
    g_assert_true(seg_parse(f, len, &rs));
    g_assert_cmpuint(rs.seq, ==, le32_to_cpu(c.s.d.snd_una) - 1);
    g_assert_cmpuint(rs.plen, ==, 0);
    head = rd(t, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_HEAD));
    g_test_message("keepalive probe sent with %u trees still queued",
                   (tail - head) & 63);
    g_assert_cmpuint(head, !=, tail);

    /* and every tree completes */
    for (i = 0; i < MAX_TREES_QUEUED; i++) {
        ChimneyEvent ev = qchimney_raw_wait(&t->qe.os, cookie[i]);

        g_assert_cmphex(le32_to_cpu(ev.status), ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(le32_to_cpu(ev.info), ==, nblocks);
    }
    raw_free(&r);
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    t_end(t);
}

/*
 * One block over CAP_TREE_BLOCKS: TREE_TOO_LARGE for the whole command,
 * nothing written back, and the offloaded connection that a block of the
 * tree names is untouched and keeps working (rule 008's phase 1).
 */
static void test_tree_too_large(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    uint32_t nblocks = rd(t, CHIMNEY_REG_CAP_TREE_BLOCKS), errs;
    TcpState q;
    uint64_t root, ref;
    Conn c;
    Raw r;

    rx_setup(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    raw_init(t, &r, (nblocks + 2) * sizeof(ChimneyBlock));
    /* a TERMINATE of the connection, followed by CAP_TREE_BLOCKS fillers */
    ref = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, c.t->slot,
                    NULL, 0);
    root = ref;
    {
        uint64_t prev = ref, b;
        uint32_t i;

        for (i = 0; i < nblocks; i++) {
            /* one chain, one layer: TCP-layer placeholders */
            b = raw_block(&r, CHIMNEY_TYPE_TCP_CONST,
                          CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
            raw_next(&r, prev, b);
            prev = b;
        }
    }
    errs = err_count(t);
    g_assert_cmphex(raw_run(t, &r, CHIMNEY_CMD_TERMINATE, root, NULL), ==,
                    CHIMNEY_ST_TREE_TOO_LARGE);
    g_assert_cmpuint(err_count(t), ==, errs + 1);
    g_assert_cmphex(raw_status(&r, ref), ==, STATUS_POISON);
    raw_free(&r);

    /* the connection is still offloaded and still works */
    g_assert_cmphex(query_tcp(t, c.t->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(q.d.rcv_nxt), ==, c.peer_seq);
    conn_send_data(t->env, &c, "still here", 10);
    {
        ChimneyTestRxSeg rs;
        uint8_t f[256];
        size_t len = wire_recv(t, f, sizeof(f));

        g_assert_true(seg_parse(f, len, &rs));
        g_assert_cmpuint(rs.ack, ==, c.peer_seq);
    }
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    t_end(t);
}

/*
 * The data-buffer budget
 */

#define BUDGET_BYTES        (1u << 20)      /* -global ...mem-budget=1M */
#define BUDGET_CONNS        48
/* what received data may take of it (spec "Memory budget") */
#define BUDGET_DATA         (BUDGET_BYTES - BUDGET_BYTES / 64)
#define SEG_BYTES           1400

/* Resident memory of the QEMU process, bytes. */
static uint64_t qemu_rss(T *t)
{
    char *path = g_strdup_printf("/proc/%d/status", qtest_pid(t->qts));
    char *text = NULL, *p;
    uint64_t kb = 0;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    p = strstr(text, "VmRSS:");
    g_assert_nonnull(p);
    kb = g_ascii_strtoull(p + 6, NULL, 10);
    g_free(text);
    g_free(path);
    return kb * 1024;
}

/* x-mem-used of the device (the qos node gives it an id) */
static uint64_t mem_used(T *t)
{
    QDict *rsp = qtest_qmp(t->qts, "{ 'execute': 'qom-get', 'arguments': "
                           "{ 'path': %s, 'property': 'x-mem-used' } }",
                           "/machine/peripheral/" CHIMNEY_QOS_DEV_ID);
    uint64_t val;

    g_assert_true(qdict_haskey(rsp, "return"));
    val = qdict_get_int(rsp, "return");
    qobject_unref(rsp);
    return val;
}

/*
 * Many connections, each sent all the data the host's window allowed
 * (64 KiB): the device holds at most mem-budget bytes (x-mem-used), and
 * received data at most 63/64 of them; the windows it advertises
 * close when that is spent, and QEMU's
 * resident memory grows by about the budget, not by what the peers
 * offered (spec "Memory budget").
 */
static void test_memory_budget(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    static uint8_t payload[SEG_BYTES];
    Conn c[BUDGET_CONNS];
    uint64_t rss0, rss1, offered = 0, taken = 0, promised = 0;
    unsigned i, k, closed = 0, win = 0;
    uint8_t f[2048];

    g_assert_cmpuint(rd(t, CHIMNEY_REG_CAP_MEM_BUDGET_KB), ==,
                     BUDGET_BYTES / 1024);
    memset(payload, 'b', sizeof(payload));
    rx_setup(t);
    for (i = 0; i < BUDGET_CONNS; i++) {
        conn_init4(&c[i], 1, 2, 2000 + i, 80);
        conn_offload(t->env, &c[i]);
    }
    g_assert_cmpuint(mem_used(t), ==, 0);
    rss0 = qemu_rss(t);

    for (i = 0; i < BUDGET_CONNS; i++) {
        /* at most what the host's window allowed, 64 KiB */
        for (k = 0; k < 65535 / SEG_BYTES; k++) {
            ChimneyTestRxSeg rs;
            Seg s;
            size_t len;

            conn_peer_seg(t->env, &c[i], &s, payload, SEG_BYTES);
            len = seg_build(&s, f);
            wire_send(t, f, len);
            offered += SEG_BYTES;
            len = wire_recv(t, f, sizeof(f));
            g_assert_true(seg_parse(f, len, &rs));
            /* all of it, or what the budget had left (the rest resent) */
            g_assert_cmpuint(rs.ack - c[i].peer_seq, <=, SEG_BYTES);
            taken += rs.ack - c[i].peer_seq;
            c[i].peer_seq = rs.ack;
            /* peers keep sending what the host's window allowed */
            win = rs.win;
        }
        promised += win;
        closed += !win;
    }
    rss1 = qemu_rss(t);
    g_test_message("offered %" PRIu64 " bytes, device took %" PRIu64
                   ", x-mem-used %" PRIu64 ", budget %u, %u windows "
                   "closed, %" PRIu64 " bytes of window still open, QEMU "
                   "RSS +%" PRId64 " bytes", offered, taken, mem_used(t),
                   BUDGET_BYTES, closed, promised, (int64_t)(rss1 - rss0));
    g_assert_cmpuint(mem_used(t), <=, BUDGET_BYTES);
    /* data never takes the last 1/64, kept for requests */
    g_assert_cmpuint(taken, <=, BUDGET_DATA);
    /* the budget was used, not left idle */
    g_assert_cmpuint(taken, >, BUDGET_DATA - 64 * 1024);
    g_assert_cmpuint(offered, >, 2 * BUDGET_BYTES);
    /* no window promises more than the budget can still hold */
    g_assert_cmpuint(taken + promised, <=, BUDGET_DATA);
    g_assert_cmpuint(closed, >=, BUDGET_CONNS / 2);
    /* what QEMU holds tracks the budget, not the offered data */
    g_assert_cmpint((int64_t)(rss1 - rss0), <, (int64_t)BUDGET_BYTES * 2);

    /* uploading returns the budget */
    for (i = 0; i < BUDGET_CONNS; i++) {
        g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, c[i].t->slot), ==,
                        CHIMNEY_ST_SUCCESS);
    }
    g_assert_cmpuint(mem_used(t), ==, 0);
    t_end(t);
}

static void *budget_test_init(GString *cmd_line, void *arg)
{
    g_string_append_printf(cmd_line, " -global chimney-nic.mem-budget=%u ",
                           BUDGET_BYTES);
    return chimney_qos_socket_netdev(cmd_line, arg);
}

/*
 * Registration
 */

static void register_chimney_limits_test(void)
{
    QOSGraphTestOptions opts = {
        .before = chimney_qos_socket_netdev,
    };
    QOSGraphTestOptions budget_opts = {
        .before = budget_test_init,
    };

    qos_add_test("limits-bounded-command-passes", "chimney-nic",
                 test_bounded_passes, &opts);
    qos_add_test("limits-tree-too-large-others-intact", "chimney-nic",
                 test_tree_too_large, &opts);
    qos_add_test("rule-023-memory-budget", "chimney-nic",
                 test_memory_budget, &budget_opts);
}

libqos_init(register_chimney_limits_test);

#endif /* !_WIN32 */
