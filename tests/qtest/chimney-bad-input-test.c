/*
 * QTest testcases for the chimney-nic offload target.
 *
 * Error handling, malformed trees: cycles, blocks at the wrong layer,
 * TCP blocks with dependents, unknown types and roles.  Bad sizes and
 * lengths are a table of cases run as a scenario
 * (tests/support/scenarios-errors.c).
 *
 * Helpers, context and conventions: chimney-offload-qtest.h (with the
 * canary connection and the expect_* checks of bad input).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

static void test_bad_cycle(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a, b, p1, p2, tt;
    uint32_t errs, tail;
    HBlk *n, *p, *tc[2];
    Done d = { 0 };

    canary_up(t, &k);
    errs = err_count(t);
    raw_init(t, &r, 16384);
    /* N1 -> N2 -> N1 */
    a = raw_neigh(&r, peer2_mac, 0);
    b = raw_neigh(&r, peer2_mac, 0);
    raw_next(&r, a, b);
    raw_next(&r, b, a);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a cycle through next");
    /* a block that is its own next, in QUERY */
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    raw_next(&r, a, a);
    expect_tree_refused(t, &r, CHIMNEY_CMD_QUERY, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a block that is its own next");
    /* one TCP block in two dependent lists */
    a = raw_neigh(&r, peer2_mac, 0);
    p1 = raw_path4(&r, 1, 20, 1500);
    p2 = raw_path4(&r, 1, 21, 1500);
    tt = raw_tcp(&r, 3000, 80);
    raw_dep(&r, a, p1);
    raw_next(&r, p1, p2);
    raw_dep(&r, p1, tt);
    raw_dep(&r, p2, tt);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a block shared by two lists");
    /* a path whose dependent list leads back to its neighbor */
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL,
                  0);
    b = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    raw_dep(&r, a, b);
    raw_dep(&r, b, a);
    expect_tree_refused(t, &r, CHIMNEY_CMD_TERMINATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a dependent list back to the root");
    raw_free(&r);

    /* the driver core refuses a cyclic host tree before the device */
    tail = rd(t, CHIMNEY_RING_REG(CHIMNEY_RING_CMD, CHIMNEY_RING_TAIL));
    n = build_npt(t, &p, tc, 2, 4000);
    hb_next(tc[1], tc[0]);
    g_assert_cmpint(OP_INITIATE(t->env->drv, &n->b, tree_done, &d), ==,
                    CHIMNEY_DRV_ELOOP);
    g_assert_cmpuint(rd(t, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                            CHIMNEY_RING_TAIL)), ==, tail);
    g_assert_cmphex(n->b.status, ==, STATUS_POISON);
    g_assert_cmpuint(chimney_drv_pending(t->env->drv), ==, 0);
    canary_check(t, &k, "a cyclic host tree");
    t_end(t);
}

static void test_bad_layer(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a, b;
    uint32_t errs;
    HBlk *n, *tt;

    canary_up(t, &k);
    errs = err_count(t);
    raw_init(t, &r, 16384);
    a = raw_neigh(&r, peer2_mac, 0);
    b = raw_path4(&r, 1, 20, 1500);
    raw_dep(&r, a, b);
    raw_dep(&r, b, raw_path4(&r, 1, 21, 1500));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a path under a path");
    a = raw_neigh(&r, peer2_mac, 0);
    raw_dep(&r, a, raw_tcp(&r, 3000, 80));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a TCP block under a neighbor");
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    raw_dep(&r, a, raw_neigh(&r, peer2_mac, 0));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a neighbor under a path");
    a = raw_neigh(&r, peer2_mac, 0);
    raw_next(&r, a, raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER,
                              k.c.p->slot, NULL, 0));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a neighbor and a path in one chain");
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_REF, k.c.n->slot,
                  NULL, 0);
    raw_dep(&r, a, raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF,
                             k.c.t->slot, NULL, 0));
    expect_tree_refused(t, &r, CHIMNEY_CMD_TERMINATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "TERMINATE: TCP under a neighbor");
    raw_free(&r);

    /* through the core (which does not check layers): all blocks get it */
    n = hb_neigh(&t->env->hb, peer2_mac, 0);
    tt = hb_tcp(&t->env->hb, 3000, 80);
    hb_dep(n, tt);
    g_assert_cmphex(run_tree(t, OP_INITIATE, n), ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(tt->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(n->slot | tt->slot, ==, 0);
    expect_guest_error(t, &errs, "core: TCP under a neighbor");
    canary_check(t, &k, "core: TCP under a neighbor");
    t_end(t);
}

static void test_bad_tcp_dependent(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a, b;
    uint32_t errs;
    HBlk *lk, *t1, *t2;
    Done d = { 0 };

    canary_up(t, &k);
    errs = err_count(t);
    raw_init(t, &r, 8192);
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    b = raw_tcp(&r, 3000, 80);
    raw_dep(&r, a, b);
    raw_dep(&r, b, raw_tcp(&r, 3001, 80));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a TCP block with a dependent");
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, k.c.t->slot, NULL,
                  0);
    raw_dep(&r, a, raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_PLACEHOLDER,
                             0, NULL, 0));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INVALIDATE, a,
                        CHIMNEY_ST_BAD_TREE, &errs, &k,
                        "INVALIDATE: a TCP block with a dependent");
    raw_free(&r);
    /* through the core, which checks depth, not layers: the device says */
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    t1 = hb_tcp(&t->env->hb, 3000, 80);
    t2 = hb_tcp(&t->env->hb, 3001, 80);
    hb_dep(lk, t1);
    hb_dep(t1, t2);
    g_assert_cmphex(run_tree(t, OP_INITIATE, lk), ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t1->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t2->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t1->slot | t2->slot, ==, 0);
    expect_guest_error(t, &errs, "core: a TCP block with a dependent");
    /* a fourth level the core refuses itself, nothing submitted */
    hb_dep(t2, hb_tcp(&t->env->hb, 3002, 80));
    t1->b.status = STATUS_POISON;
    g_assert_cmpint(OP_INITIATE(t->env->drv, &lk->b, tree_done, &d), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpuint(chimney_drv_pending(t->env->drv), ==, 0);
    g_assert_cmphex(t1->b.status, ==, STATUS_POISON);
    canary_check(t, &k, "core: a TCP block with a dependent");
    t_end(t);
}

static void test_bad_type_role(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint16_t bad_types[] = { 0, 18, 0x55, 0xffff };
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a, b, c6p;
    uint32_t errs;
    unsigned i;
    Conn v6, vic;
    HBlk *vic2;
    char what[64];

    canary_up(t, &k);
    conn_init6(&v6, 1, 2, 1000, 80);
    conn_offload(t->env, &v6);
    c6p = v6.p->slot;
    errs = err_count(t);
    raw_init(t, &r, 32768);
    for (i = 0; i < G_N_ELEMENTS(bad_types); i++) {
        a = raw_block(&r, bad_types[i], CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
        snprintf(what, sizeof(what), "unknown type %u", bad_types[i]);
        expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE, &errs, &k, what);
    }
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, 4, 0, NULL, 0);
    expect_tree_refused(t, &r, CHIMNEY_CMD_QUERY, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "role 4");
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_REF, k.c.n->slot,
                  NULL, 0);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a REF block in INITIATE");
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_LINKER, k.c.n->slot,
                  NULL, 0);
    expect_tree_refused(t, &r, CHIMNEY_CMD_QUERY, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a LINKER block in QUERY");
    a = raw_neigh(&r, peer2_mac, 0);
    expect_tree_refused(t, &r, CHIMNEY_CMD_UPDATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a NEW block in UPDATE");
    a = raw_path4(&r, 1, 30, 1500);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a NEW path at the root");
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    raw_dep(&r, a, raw_tcp(&r, 3000, 80));
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a NEW TCP under a placeholder");

    /* block-level: the tree is walked, the block fails */
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    b = raw_block(&r, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_NEW, 0, NULL,
                  0);
    raw_dep(&r, a, b);
    expect_block(t, &r, CHIMNEY_CMD_INITIATE, a, b, CHIMNEY_ST_BAD_TYPE, true,
                 &errs, &k, "INITIATE: TCP_RESOURCE");
    {
        ChimneyNeighConst nc = { .hdr = HDR(ChimneyNeighConst) };

        a = raw_block(&r, CHIMNEY_TYPE_NEIGH_CONST, CHIMNEY_ROLE_NEW, 0, &nc,
                      sizeof(nc));
        expect_block(t, &r, CHIMNEY_CMD_INITIATE, a, a, CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "INITIATE: NEW with a non-combined "
                     "type");
    }
    {
        PathState ps;

        path_state(&ps, false, k.c.lip, k.c.rip, 1500);
        a = raw_block(&r, CHIMNEY_TYPE_IP6, CHIMNEY_ROLE_REF, k.c.p->slot,
                      &ps, sizeof(ps));
        expect_block(t, &r, CHIMNEY_CMD_QUERY, a, a, CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "QUERY: IPv6 type for an IPv4 path");
        a = raw_block(&r, CHIMNEY_TYPE_IP4_CACHED, CHIMNEY_ROLE_REF, c6p,
                      &ps.k, sizeof(ps.k));
        expect_block(t, &r, CHIMNEY_CMD_UPDATE, a, a, CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "UPDATE: IPv4 type for an IPv6 path");
    }
    a = raw_block(&r, CHIMNEY_TYPE_IP6, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    raw_dep(&r, a, raw_tcp(&r, 3001, 80));
    expect_block(t, &r, CHIMNEY_CMD_INITIATE, a, a, CHIMNEY_ST_BAD_TYPE,
                 true, &errs, &k, "LINKER: IPv6 type for an IPv4 path");
    a = raw_block(&r, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_REF,
                  k.c.t->slot, NULL, 0);
    expect_block(t, &r, CHIMNEY_CMD_QUERY, a, a, CHIMNEY_ST_BAD_TYPE, true,
                 &errs, &k, "QUERY: TCP_RESOURCE");
    /* (size 64: a relink-only UPDATE, harmless if wrongly accepted) */
    expect_block(t, &r, CHIMNEY_CMD_UPDATE, a, a, CHIMNEY_ST_BAD_TYPE, true,
                 &errs, &k, "UPDATE: TCP_RESOURCE");

    /* the ones that would change state if accepted: on victims */
    conn_init4(&vic, 1, 5, 1000, 80);
    memcpy(vic.nmac, peer2_mac, 6);
    conn_tree(t->env, &vic);
    vic2 = hb_tcp(&t->env->hb, 1001, 80);
    hb_next(vic.t, vic2);
    offload_ok(t, vic.n);
    a = raw_block(&r, CHIMNEY_TYPE_IP6, CHIMNEY_ROLE_REF, vic.p->slot, NULL,
                  0);
    expect_block(t, &r, CHIMNEY_CMD_INVALIDATE, a, a, CHIMNEY_ST_BAD_TYPE,
                 true, &errs, &k, "INVALIDATE: IPv6 type for an IPv4 path");
    a = raw_block(&r, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_REF,
                  vic.t->slot, NULL, 0);
    expect_block(t, &r, CHIMNEY_CMD_INVALIDATE, a, a, CHIMNEY_ST_BAD_TYPE,
                 true, &errs, &k, "INVALIDATE: TCP_RESOURCE");
    a = raw_block(&r, CHIMNEY_TYPE_IP6, CHIMNEY_ROLE_REF, vic.p->slot, NULL,
                  0);
    b = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, vic.t->slot, NULL,
                  0);
    raw_dep(&r, a, b);
    expect_block(t, &r, CHIMNEY_CMD_TERMINATE, a, a, CHIMNEY_ST_BAD_TYPE,
                 true, &errs, &k, "TERMINATE: IPv6 type for an IPv4 path");
    if (raw_status(&r, b) != CHIMNEY_ST_FAILURE) {
        soft_fail(t, "TERMINATE under an IPv6-typed IPv4 path: TCP block "
                  "status 0x%x, expected FAILURE", raw_status(&r, b));
    }
    a = raw_block(&r, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_REF,
                  vic2->slot, NULL, 0);
    expect_block(t, &r, CHIMNEY_CMD_TERMINATE, a, a, CHIMNEY_ST_BAD_TYPE,
                 true, &errs, &k, "TERMINATE: TCP_RESOURCE");
    raw_free(&r);
    t_end(t);
}

/*
 * Registration
 */

static void register_chimney_bad_input_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "bad-input-cycle", test_bad_cycle },
        { "bad-input-wrong-layer", test_bad_layer },
        { "bad-input-tcp-with-dependent", test_bad_tcp_dependent },
        { "bad-input-type-and-role", test_bad_type_role },
    };
    QOSGraphTestOptions opts = {
        .before = data_test_init,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_bad_input_test);

#endif /* !_WIN32 */
