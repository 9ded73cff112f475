/*
 * QTest testcases for the chimney-nic offload target.
 *
 * State operations, TERMINATE: frames that arrive after an upload, which
 * must come up the L2 RX ring.  The other TERMINATE tests are scenarios
 * (tests/support/scenarios-terminate.c), run by chimney-scenario-test.c
 * and in the unit tests.
 *
 * Helpers, context and conventions: chimney-offload-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

/*
 * Tests: terminate (rules 041-051)
 */

/*
 * rule 048: while offloaded, the connection's segments never reach the
 * L2 RX ring (the device ACKs them); after the upload they do, as
 * received, and the device no longer answers them.
 */
static void test_rule_048(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    uint8_t f[256], got[RX_BUF_LEN];
    size_t len, glen;
    Conn c;
    Seg s;

    rx_setup(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    conn_send_data(t->env, &c, "offloaded", 9);
    len = wire_recv(t, f, sizeof(f));
    g_assert_cmpuint(len, >=, 54);
    g_assert_cmphex(ldl_be_p(f + 14 + 20 + 8), ==, 1009);   /* its ACK */
    wire_sync(t);               /* fails if the segment went up L2 */

    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    conn_peer_seg(t->env, &c, &s, "uploaded", 8);
    len = seg_build(&s, f);
    wire_send(t, f, len);
    glen = rx_wait(t, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len);
    g_assert_cmpmem(got, glen, f, len);
    wire_sync(t);
    wire_expect_nothing(t);
    t_end(t);
}

/*
 * rules 048, 115, 118: a segment with URG asks for the upload
 * (URGENT_DATA, a mandatory reason); from then on the device processes
 * nothing of the connection and holds its frames (not ACKed), and
 * delivers them through the RX ring, as received, right after the
 * TERMINATE's CMD_DONE (spec "Upload requests").
 */
static void test_rule_048_115_urgent(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    uint8_t f[256], f2[256], got[RX_BUF_LEN];
    size_t len, len2, glen;
    const Rec *r;
    Conn c;
    Seg s;

    rx_setup(t);
    conn_init4(&c, 1, 2, 1000, 80);
    conn_offload(t->env, &c);
    conn_peer_seg(t->env, &c, &s, "urgent", 6);
    s.flags |= TH_URG;
    s.urg = 6;
    len = seg_build(&s, f);
    wire_send(t, f, len);
    c.peer_seq += 6;
    conn_peer_seg(t->env, &c, &s, "later", 5);          /* host path as well */
    len2 = seg_build(&s, f2);
    wire_send(t, f2, len2);
    qchimney_settle(&t->qe.os, 5);
    r = find_rec(t, 'T', CHIMNEY_EVT_TCP_RETRIEVE, c.t->b.ndis_offload_handle);
    g_assert_nonnull(r);
    g_assert_cmpuint(r->a, ==, CHIMNEY_UPLOAD_URGENT_DATA);
    g_assert_cmphex(r->handle, ==, c.t->slot);
    /*
     * Spec ("Upload requests", ABI 1.0 decision): the urgent segment and
     * everything after it go up the RX ring as received, unacknowledged,
     * for the host stack that uploads the connection.
     */
    glen = rx_wait(t, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len);
    g_assert_cmpmem(got, glen, f, len);
    glen = rx_wait(t, got, sizeof(got));
    g_assert_cmpuint(glen, ==, len2);
    g_assert_cmpmem(got, glen, f2, len2);
    wire_sync(t);
    wire_expect_nothing(t);                     /* nothing ACKed */

    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, c.t->slot), ==,
                    CHIMNEY_ST_SUCCESS);
    t_end(t);
}

/*
 * Registration
 */

static void register_chimney_terminate_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "rule-048-frames-after-upload", test_rule_048 },
        { "rule-048-115-urgent-frames-held", test_rule_048_115_urgent },
    };
    QOSGraphTestOptions opts = {
        .before = data_test_init,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_terminate_test);

#endif /* !_WIN32 */
