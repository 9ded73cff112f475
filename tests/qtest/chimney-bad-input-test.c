/*
 * QTest testcases for the chimney-nic offload target.
 *
 * Error handling: malformed trees, bad DMA addresses, lengths, handles,
 * dependents, duplicates, offload disabled.
 *
 * Helpers, context and conventions: chimney-offload-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

/*
 * Tests: bad input
 *
 * Each bad input gets its defined status, counts as a guest error
 * (ERR_COUNT grows) where the spec says so, and leaves everything else
 * alone: a connection offloaded before ("the canary") still answers
 * QUERY with exactly its state.
 */

typedef struct Canary {
    Conn c;
    TcpState q;
    PathState ps;
    NeighState ns;
} Canary;

static void canary_up(T *t, Canary *k)
{
    clock_mid_tick(t);
    conn_init4(&k->c, 1, 2, 1000, 80);
    k->c.s.d.rcv_nxt = cpu_to_le32(0xc0ffee00);
    k->c.s.d.snd_una = k->c.s.d.snd_nxt = k->c.s.d.snd_max =
        cpu_to_le32(0xbeef0000);
    k->c.s.k.ttl_hop_limit = 99;
    conn_offload(t->env, &k->c);
    g_assert_cmphex(query_tcp(t, k->c.t->slot, &k->q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(query_path(t, false, k->c.p->slot, &k->ps), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(query_neigh(t, k->c.n->slot, &k->ns), ==,
                    CHIMNEY_ST_SUCCESS);
}

static void canary_check(T *t, Canary *k, const char *after)
{
    TcpState q;
    PathState ps;
    NeighState ns;
    Mis m;

    mis_init(&m);
    mis_u(&m, "TCP query status", query_tcp(t, k->c.t->slot, &q),
          CHIMNEY_ST_SUCCESS);
    mis_u(&m, "path query status", query_path(t, false, k->c.p->slot, &ps),
          CHIMNEY_ST_SUCCESS);
    mis_u(&m, "neighbor query status", query_neigh(t, k->c.n->slot, &ns),
          CHIMNEY_ST_SUCCESS);
    /* time may have moved by a tick: TsTime and the deltas aside */
    q.d.ts_time = k->q.d.ts_time;
    ns.k.host_reachability_delta = k->ns.k.host_reachability_delta;
    ns.d.nic_reachability_delta = k->ns.d.nic_reachability_delta;
    mis_mem(&m, "TCP state", &q, &k->q, sizeof(q));
    mis_mem(&m, "path state", &ps, &k->ps, sizeof(ps));
    mis_mem(&m, "neighbor state", &ns, &k->ns, sizeof(ns));
    if (m.n) {
        soft_fail(t, "the canary connection changed after %s:%s", after,
                  m.s->str);
    }
    g_string_free(m.s, TRUE);
}

/* ERR_COUNT went up since *errs (then remember the new value). */
static void expect_guest_error(T *t, uint32_t *errs, const char *what)
{
    uint32_t now = err_count(t);

    if (now <= *errs) {
        soft_fail(t, "%s: ERR_COUNT did not increase (%u)", what, now);
    }
    *errs = now;
}

/*
 * A raw tree that must be refused as a whole: the command status, no
 * block written (status still poisoned), a guest error, nothing changed.
 */
static void expect_tree_refused(T *t, Raw *r, uint16_t opcode, uint64_t root,
                                uint32_t status, uint32_t *errs,
                                Canary *k, const char *what)
{
    g_autofree uint8_t *before = NULL, *after = NULL;
    uint32_t info = 0xdead, st;

    raw_put(r);
    before = raw_get(r);
    st = qchimney_raw_cmd(&t->qe.os, opcode, root, 0, 0, &info);
    if (st != status) {
        soft_fail(t, "%s: command status 0x%x, expected 0x%x", what, st,
                  status);
    } else if (info) {
        soft_fail(t, "%s: CMD_DONE info %u, expected 0", what, info);
    }
    after = raw_get(r);
    if (memcmp(before, after, r->used)) {
        soft_fail(t, "%s: the refused tree was written to", what);
    }
    expect_guest_error(t, errs, what);
    canary_check(t, k, what);
}

/* A walked raw tree: block @blk got @status; a guest error; canary. */
static void expect_block(T *t, Raw *r, uint16_t opcode, uint64_t root,
                         uint64_t blk, uint32_t status, bool guest_error,
                         uint32_t *errs, Canary *k, const char *what)
{
    uint32_t st = raw_run(t, r, opcode, root, NULL);

    if (st != CHIMNEY_ST_SUCCESS) {
        soft_fail(t, "%s: command status 0x%x, expected the tree to be "
                  "walked", what, st);
    } else {
        st = raw_status(r, blk);
        if (st != status) {
            soft_fail(t, "%s: block status 0x%x, expected 0x%x", what, st,
                      status);
        }
    }
    if (guest_error) {
        expect_guest_error(t, errs, what);
    }
    canary_check(t, k, what);
}

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

static void test_bad_dma(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a, b, c;
    uint32_t errs;
    TcpState s;
    HBlk *lk, *x, *n, *term;
    ChimneyDmaBuf in, out;

    canary_up(t, &k);
    errs = err_count(t);
    raw_init(t, &r, 16384);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE, BAD_GPA, 0,
                                     0, NULL), ==, CHIMNEY_ST_DMA_ERROR);
    expect_guest_error(t, &errs, "the root outside guest RAM");
    canary_check(t, &k, "the root outside guest RAM");
    /* halfway: two good blocks, then a dependent outside RAM */
    a = raw_neigh(&r, peer2_mac, 0);
    b = raw_neigh(&r, peer2_mac, 0);
    c = raw_path4(&r, 1, 20, 1500);
    raw_next(&r, a, b);
    raw_dep(&r, b, c);
    raw_dep(&r, c, BAD_GPA);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_DMA_ERROR,
                        &errs, &k, "a dependent outside guest RAM");
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, k.c.t->slot, NULL,
                  0);
    raw_next(&r, a, BAD_GPA + 64);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INVALIDATE, a,
                        CHIMNEY_ST_DMA_ERROR, &errs, &k,
                        "INVALIDATE: next outside guest RAM");
    raw_free(&r);
    /* nothing of that was applied: the next neighbor is the second one */
    n = hb_neigh(&t->env->hb, peer2_mac, 0);
    offload_ok(t, n);
    g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(n->slot), ==, 1);

    /* send list / receive data outside RAM: that TCP block fails */
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    tcp_state(&s, 3000, 80);
    s.d.snd_max = cpu_to_le32(5010);
    s.d.send_list_addr = cpu_to_le64(BAD_GPA);
    s.d.send_list_count = cpu_to_le32(1);
    x = hb_tcp_state(&t->env->hb, &s);
    hb_dep(lk, x);
    tcp_state(&s, 3001, 80);
    s.d.rcv_data_addr = cpu_to_le64(BAD_GPA);
    s.d.rcv_data_len = cpu_to_le32(10);
    hb_next(x, hb_tcp_state(&t->env->hb, &s));
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(x->b.status, ==, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(x->b.next_block->status, ==, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(x->slot, ==, 0);
    expect_guest_error(t, &errs, "send list / receive data outside RAM");
    canary_check(t, &k, "send list / receive data outside RAM");

    /* TERMINATE into a return buffer outside RAM: stays offloaded */
    fill_buf(t, &in, 10, 0x42);
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    tcp_state(&s, 3002, 80);
    s.d.rcv_data_addr = cpu_to_le64(in.dma);
    s.d.rcv_data_len = cpu_to_le32(10);
    x = hb_tcp_state(&t->env->hb, &s);
    hb_dep(lk, x);
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(x->b.status, ==, CHIMNEY_ST_SUCCESS);
    term = hb_term_tcp(&t->env->hb, x->slot, NULL, 0, &in, 64);
    ((ChimneyTcpDelegated *)term->st)->rcv_data_addr = cpu_to_le64(BAD_GPA);
    run_ok(t, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_DMA_ERROR);
    expect_guest_error(t, &errs, "TERMINATE into a buffer outside RAM");
    g_assert_cmphex(query_tcp(t, x->slot, NULL), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpint(qchimney_dma_alloc(&t->qe.os, 64, &out), ==, 0);
    term = hb_term_tcp(&t->env->hb, x->slot, NULL, 0, &out, 64);
    run_ok(t, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(le32_to_cpu(hb_delegated(term)->rcv_data_len), ==, 10);
    canary_check(t, &k, "TERMINATE into a buffer outside RAM");
    qchimney_dma_free(&t->qe.os, &in);
    qchimney_dma_free(&t->qe.os, &out);
    t_end(t);
}

static void test_bad_lengths(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a, b;
    uint32_t errs;
    NeighState ns;
    TcpState s;
    uint8_t buf[512];
    ChimneyTcpCached tk;
    ChimneyTcpDelegated td;
    HBlk *vic, *lk;

    canary_up(t, &k);
    errs = err_count(t);
    raw_init(t, &r, 32768);
    /* size = 64 + the structures' lengths, exactly */
    neigh_state(&ns, peer2_mac, 0);
    memcpy(buf, &ns, sizeof(ns));
    memset(buf + sizeof(ns), 0, 8);
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_NEW, 0, buf,
                  sizeof(ns) + 8);
    expect_block(t, &r, CHIMNEY_CMD_INITIATE, a, a, CHIMNEY_ST_BAD_LENGTH,
                 true, &errs, &k, "NEW neighbor: size longer than its "
                 "structures");
    /* a structure shorter than its ABI size */
    b = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    tcp_state(&s, 3000, 80);
    s.c.hdr.length = cpu_to_le32(16);
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, &s, sizeof(s));
    raw_dep(&r, b, a);
    expect_block(t, &r, CHIMNEY_CMD_INITIATE, b, a, CHIMNEY_ST_BAD_LENGTH,
                 true, &errs, &k, "NEW TCP: const length 16");
    /* a length beyond the block */
    b = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    tcp_state(&s, 3000, 80);
    s.d.hdr.length = cpu_to_le32(4000);
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, &s, sizeof(s));
    raw_dep(&r, b, a);
    expect_block(t, &r, CHIMNEY_CMD_INITIATE, b, a, CHIMNEY_ST_BAD_LENGTH,
                 true, &errs, &k, "NEW TCP: delegated length 4000");
    /* no state at all */
    b = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, NULL, 0);
    raw_dep(&r, b, a);
    expect_block(t, &r, CHIMNEY_CMD_INITIATE, b, a, CHIMNEY_ST_BAD_LENGTH,
                 true, &errs, &k, "NEW TCP without state");
    /* size below 64 or above 64 + 4096: the tree is refused */
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL,
                  0);
    raw_blk(&r, a)->size = cpu_to_le32(60);
    expect_tree_refused(t, &r, CHIMNEY_CMD_INITIATE, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "size 60");
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL,
                  0);
    raw_blk(&r, a)->size = cpu_to_le32(64 + 4097);
    expect_tree_refused(t, &r, CHIMNEY_CMD_QUERY, a, CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "size 64 + 4097");
    /* UPDATE (of a victim): the cached structure and nothing else */
    vic = hb_tcp(&t->env->hb, 3005, 80);
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    hb_dep(lk, vic);
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(vic->b.status, ==, CHIMNEY_ST_SUCCESS);
    memset(buf, 0, sizeof(buf));
    tk = k.c.s.k;
    tk.ttl_hop_limit = 1;
    memcpy(buf, &tk, sizeof(tk));
    a = raw_block(&r, CHIMNEY_TYPE_TCP_CACHED, CHIMNEY_ROLE_REF, vic->slot,
                  buf, sizeof(tk) + 8);
    expect_block(t, &r, CHIMNEY_CMD_UPDATE, a, a, CHIMNEY_ST_BAD_LENGTH, true,
                 &errs, &k, "UPDATE: size longer than the cached structure");
    tk.hdr.length = cpu_to_le32(sizeof(tk) - 4);
    a = raw_block(&r, CHIMNEY_TYPE_TCP_CACHED, CHIMNEY_ROLE_REF, vic->slot,
                  &tk, sizeof(tk));
    expect_block(t, &r, CHIMNEY_CMD_UPDATE, a, a, CHIMNEY_ST_BAD_LENGTH, true,
                 &errs, &k, "UPDATE: cached length 36");
    /* QUERY: room for exactly what the type names */
    memset(buf, 0, sizeof(buf));
    ((ChimneyStateHdr *)buf)->length = cpu_to_le32(sizeof(ChimneyTcpConst));
    a = raw_block(&r, CHIMNEY_TYPE_TCP_CONST, CHIMNEY_ROLE_REF, k.c.t->slot,
                  buf, sizeof(ChimneyTcpConst) + 16);
    expect_block(t, &r, CHIMNEY_CMD_QUERY, a, a, CHIMNEY_ST_BAD_LENGTH, true,
                 &errs, &k, "QUERY: size longer than the structure named");
    /* TERMINATE: a delegated structure too short */
    memset(&td, 0, sizeof(td));
    td.hdr.length = cpu_to_le32(100);
    a = raw_block(&r, CHIMNEY_TYPE_TCP_DELEGATED, CHIMNEY_ROLE_REF,
                  vic->slot, &td, sizeof(td));
    expect_block(t, &r, CHIMNEY_CMD_TERMINATE, a, a, CHIMNEY_ST_BAD_LENGTH,
                 true, &errs, &k, "TERMINATE: delegated length 100");
    td.hdr.length = cpu_to_le32(sizeof(td));
    memcpy(buf, &td, sizeof(td));
    memset(buf + sizeof(td), 0, 8);
    a = raw_block(&r, CHIMNEY_TYPE_TCP_DELEGATED, CHIMNEY_ROLE_REF,
                  vic->slot, buf, sizeof(td) + 8);
    expect_block(t, &r, CHIMNEY_CMD_TERMINATE, a, a, CHIMNEY_ST_BAD_LENGTH,
                 true, &errs, &k, "TERMINATE: size longer than the "
                 "delegated structure");
    /* the victim is still there, unchanged */
    if (query_tcp(t, vic->slot, &s) != CHIMNEY_ST_SUCCESS) {
        soft_fail(t, "the victim connection is gone after the bad blocks");
    } else if (s.k.ttl_hop_limit != 64) {
        soft_fail(t, "a refused UPDATE changed the victim's TTL to %u",
                  s.k.ttl_hop_limit);
    }
    raw_free(&r);
    t_end(t);
}

static void test_bad_handles(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    HBlk *n, *p, *tc[1], *b;
    uint64_t stale, h, bad[9];
    uint32_t errs;
    unsigned i, op;
    ChimneyTcpCached tk;
    static const char *const op_names[] = {
        "QUERY", "UPDATE", "INVALIDATE", "TERMINATE",
    };
    static const char *const names[] = {
        "stale", "generation + 1", "bit 28 set", "bit 31 set",
        "kind PATH", "kind NEIGH", "index out of range", "handle 0",
        "generation 0",
    };

    canary_up(t, &k);
    n = build_npt(t, &p, tc, 1, 2000);
    offload_ok(t, n);
    stale = tc[0]->slot;
    g_assert_cmphex(terminate_one(t, CHIMNEY_TYPE_TCP, stale), ==,
                    CHIMNEY_ST_SUCCESS);
    h = k.c.t->slot;
    bad[0] = stale;
    bad[1] = h + (1ull << 32);
    bad[2] = h | (1ull << 28);
    bad[3] = h | (1ull << 31);
    bad[4] = (h & ~(0xfull << 24)) | ((uint64_t)CHIMNEY_KIND_PATH << 24);
    bad[5] = (h & ~(0xfull << 24)) | ((uint64_t)CHIMNEY_KIND_NEIGH << 24);
    bad[6] = h | 0xffffff;
    bad[7] = 0;
    bad[8] = h & 0xffffffffull;
    errs = err_count(t);
    tk = k.c.s.k;
    tk.ttl_hop_limit = 1;
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        for (op = 0; op < 4; op++) {
            static const TreeOp ops[4] = {
                OP_QUERY, OP_UPDATE, OP_INVALIDATE, OP_TERMINATE,
            };
            char what[96];

            if (op == 0) {
                b = hb_ref(&t->env->hb, CHIMNEY_TYPE_TCP, bad[i], 3, tcp_sizes);
            } else if (op == 1) {
                b = hb_tcp_cached(&t->env->hb, bad[i], &tk);
            } else {
                b = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, bad[i]);
            }
            if (!bad[i]) {
                /* slot 0 would be a NEW block for the core: force REF */
                b->b.miniport_offload_context = &b->slot;
            }
            run_ok(t, ops[op], b);
            snprintf(what, sizeof(what), "%s handle in %s", names[i],
                     op_names[op]);
            if (b->b.status != CHIMNEY_ST_BAD_HANDLE) {
                g_error("%s: status 0x%x", what, b->b.status);
            }
            expect_guest_error(t, &errs, what);
        }
    }
    /* as a linker, and a path handle in a TCP-layer linker */
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        uint64_t ph = p->slot;
        uint64_t lh = i == 0 ? stale :
                      i == 4 || i == 5 ? k.c.t->slot :
                      i == 7 ? 0 : bad[i] - h + ph;

        if (!lh) {
            continue;       /* handle 0 in INITIATE makes a NEW block */
        }
        b = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, lh);
        hb_dep(b, hb_tcp(&t->env->hb, 3000 + i, 80));
        run_ok(t, OP_INITIATE, b);
        if (b->b.status != CHIMNEY_ST_BAD_HANDLE) {
            g_error("%s handle as a linker: status 0x%x", names[i],
                    b->b.status);
        }
        g_assert_cmphex(b->b.dependent_block_list->status, ==,
                        CHIMNEY_ST_FAILURE);
        expect_guest_error(t, &errs, names[i]);
    }
    canary_check(t, &k, "bad handles");
    t_end(t);
}

static void test_bad_has_dependents(void *obj, void *data,
                                    QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    uint32_t errs;
    HBlk *rp;

    canary_up(t, &k);
    errs = err_count(t);
    rp = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    run_ok(t, OP_TERMINATE, rp);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_HAS_DEPENDENTS);
    expect_guest_error(t, &errs, "a path with unlisted connections");
    rp = hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, k.c.n->slot);
    hb_dep(rp, hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot));
    run_ok(t, OP_TERMINATE, rp);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_HAS_DEPENDENTS);
    g_assert_cmphex(rp->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_HAS_DEPENDENTS);
    expect_guest_error(t, &errs, "a neighbor and path with unlisted "
                       "connections");
    canary_check(t, &k, "terminating objects with unlisted dependents");
    t_end(t);
}

static void test_bad_duplicate(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    uint32_t errs;
    HBlk *lk, *a, *b, *c;
    Conn v6;

    canary_up(t, &k);
    errs = err_count(t);
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    a = hb_tcp(&t->env->hb, 1000, 80);                /* the canary's 4-tuple */
    b = hb_tcp(&t->env->hb, 1001, 80);
    c = hb_tcp(&t->env->hb, 1001, 80);                /* b's, in the same tree */
    hb_dep(lk, a);
    hb_next(a, b);
    hb_next(b, c);
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(a->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(c->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(a->slot | c->slot, ==, 0);
    expect_guest_error(t, &errs, "a second offload of a 4-tuple");
    /* reversed ports, or the same ports over IPv6: not duplicates */
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    a = hb_tcp(&t->env->hb, 80, 1000);
    hb_dep(lk, a);
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(a->b.status, ==, CHIMNEY_ST_SUCCESS);
    conn_init6(&v6, 1, 2, 1000, 80);
    conn_offload(t->env, &v6);
    canary_check(t, &k, "duplicate 4-tuples");
    t_end(t);
}

/*
 * Offload is enabled by CTRL.OFFLOAD_EN (set by the core's init) AND a
 * successful SET_PARAMS: before SET_PARAMS, or with OFFLOAD_EN clear,
 * INITIATE completes with OFFLOAD_DISABLED without reading the tree (not
 * a guest error); objects offloaded before stay manageable.
 */
static void test_bad_disabled(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_init(obj, data, alloc);
    Canary k;
    Raw r;
    uint64_t a;
    uint32_t errs;
    HBlk *n, *p, *tc[1], *q;
    unsigned i;

    errs = err_count(t);
    n = build_npt(t, &p, tc, 1, 2000);
    g_assert_cmphex(run_tree(t, OP_INITIATE, n), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(tc[0]->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(n->slot | p->slot | tc[0]->slot, ==, 0);
    raw_init(t, &r, 4096);
    a = raw_neigh(&r, peer2_mac, 0);
    raw_put(&r);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE, a, 0, 0,
                                     NULL), ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(raw_status(&r, a), ==, STATUS_POISON);
    /* not even a bad address is read */
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE, BAD_GPA, 0,
                                     0, NULL), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmpuint(err_count(t), ==, errs);
    /* a bad SET_PARAMS does not enable it either */
    g_assert_cmphex(set_params(t, 50, 0), ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE, a, 0, 0,
                                     NULL), ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(set_params(t, 1000, 0), ==, CHIMNEY_ST_SUCCESS);
    canary_up(t, &k);

    /* OFFLOAD_EN off: PAUSE, then UPLOAD_ALL (an object is offloaded) */
    errs = err_count(t);
    wr(t, CHIMNEY_REG_CTRL, rd(t, CHIMNEY_REG_CTRL) &
       ~CHIMNEY_CTRL_OFFLOAD_EN);
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'S', 0), ==, 2);
    g_assert_cmpuint(g_array_index(t->env->recs, Rec, 0).a, ==,
                     CHIMNEY_STATUS_IND_PAUSE);
    g_assert_cmpuint(g_array_index(t->env->recs, Rec, 1).a, ==,
                     CHIMNEY_STATUS_IND_UPLOAD_ALL);
    n = build_npt(t, &p, tc, 1, 2000);
    g_assert_cmphex(run_tree(t, OP_INITIATE, n), ==,
                    CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmphex(tc[0]->b.status, ==, CHIMNEY_ST_OFFLOAD_DISABLED);
    g_assert_cmpuint(err_count(t), ==, errs);
    /* existing objects: query, update, invalidate still work */
    canary_check(t, &k, "OFFLOAD_EN cleared");
    q = hb_tcp_cached(&t->env->hb, k.c.t->slot, &k.c.s.k);
    run_ok(t, OP_UPDATE, q);
    g_assert_cmphex(q->b.status, ==, CHIMNEY_ST_SUCCESS);
    /* SET_PARAMS is refused while objects are offloaded */
    g_assert_cmphex(set_params(t, 100, 0), ==, CHIMNEY_ST_INVALID_STATE);
    /* back on: RESUME, and INITIATE works */
    wr(t, CHIMNEY_REG_CTRL, rd(t, CHIMNEY_REG_CTRL) |
       CHIMNEY_CTRL_OFFLOAD_EN);
    qchimney_settle(&t->qe.os, 5);
    g_assert_cmpuint(count_recs(t, 'S', 0), ==, 3);
    g_assert_cmpuint(g_array_index(t->env->recs, Rec, 2).a, ==,
                     CHIMNEY_STATUS_IND_RESUME);
    n = build_npt(t, &p, tc, 1, 2000);
    hb_dep(n, NULL);
    offload_ok(t, n);
    q = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, k.c.t->slot);
    run_ok(t, OP_INVALIDATE, q);
    g_assert_cmphex(q->b.status, ==, CHIMNEY_ST_SUCCESS);
    for (i = 0; i < 2; i++) {
        q = hb_obj(&t->env->hb, i ? CHIMNEY_TYPE_NEIGH : CHIMNEY_TYPE_TCP,
                   i ? n->slot : k.c.t->slot);
        run_ok(t, OP_TERMINATE, q);
        g_assert_cmphex(q->b.status, ==, CHIMNEY_ST_SUCCESS);
    }
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
        { "bad-input-dma", test_bad_dma },
        { "bad-input-lengths", test_bad_lengths },
        { "bad-input-handles", test_bad_handles },
        { "bad-input-has-dependents", test_bad_has_dependents },
        { "bad-input-duplicate", test_bad_duplicate },
        { "bad-input-offload-disabled", test_bad_disabled },
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
