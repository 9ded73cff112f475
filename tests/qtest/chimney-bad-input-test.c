/*
 * QTest testcases for the chimney-nic offload target.
 *
 * Error handling, malformed trees: cycles, blocks at the wrong layer,
 * TCP blocks with dependents, unknown types and roles, bad sizes and
 * lengths (a table).
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
 * Bad-input cases as tables: each row builds a raw tree and names the
 * operation, the status and whether the whole tree is refused (the
 * command status) or the tree is walked and one block fails.  Every row
 * must also count as a guest error and leave the canary alone.
 */
typedef struct BadCtx {
    const Canary *k;
    uint64_t vic;               /* a victim connection's handle */
} BadCtx;

typedef struct BadCase {
    const char *what;
    uint16_t opcode;
    /* returns the root; *blk: the block that must fail (walked trees) */
    uint64_t (*build)(Raw *r, const BadCtx *x, uint64_t *blk);
    uint32_t status;
    bool refused;
} BadCase;

static void run_bad_cases(T *t, Raw *r, Canary *k, const BadCtx *x,
                          const BadCase *cases, size_t n, uint32_t *errs)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const BadCase *c = &cases[i];
        uint64_t blk = 0, root = c->build(r, x, &blk);

        if (c->refused) {
            expect_tree_refused(t, r, c->opcode, root, c->status, errs, k,
                                c->what);
        } else {
            expect_block(t, r, c->opcode, root, blk, c->status, true, errs,
                         k, c->what);
        }
    }
}

/* A new TCP block under a linker to the canary's path. */
static uint64_t bad_new_tcp(Raw *r, const BadCtx *x, const TcpState *s,
                            uint32_t len, uint64_t *blk)
{
    uint64_t lk = raw_block(r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER,
                            x->k->c.p->slot, NULL, 0);

    *blk = raw_block(r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, s, len);
    raw_dep(r, lk, *blk);
    return lk;
}

/* size = 64 + the structures' lengths, exactly */
static uint64_t bl_neigh_longer(Raw *r, const BadCtx *x, uint64_t *blk)
{
    uint8_t buf[sizeof(NeighState) + 8] = { 0 };
    NeighState ns;

    neigh_state(&ns, peer2_mac, 0);
    memcpy(buf, &ns, sizeof(ns));
    *blk = raw_block(r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_NEW, 0, buf,
                     sizeof(buf));
    return *blk;
}

/* a structure shorter than its ABI size */
static uint64_t bl_tcp_const_short(Raw *r, const BadCtx *x, uint64_t *blk)
{
    TcpState s;

    tcp_state(&s, 3000, 80);
    s.c.hdr.length = cpu_to_le32(16);
    return bad_new_tcp(r, x, &s, sizeof(s), blk);
}

/* a length beyond the block */
static uint64_t bl_tcp_deleg_beyond(Raw *r, const BadCtx *x, uint64_t *blk)
{
    TcpState s;

    tcp_state(&s, 3000, 80);
    s.d.hdr.length = cpu_to_le32(4000);
    return bad_new_tcp(r, x, &s, sizeof(s), blk);
}

/* no state at all */
static uint64_t bl_tcp_no_state(Raw *r, const BadCtx *x, uint64_t *blk)
{
    return bad_new_tcp(r, x, NULL, 0, blk);
}

/* size below 64 or above 64 + 4096: the tree is refused */
static uint64_t bl_size_60(Raw *r, const BadCtx *x, uint64_t *blk)
{
    uint64_t a = raw_block(r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0,
                           NULL, 0);

    raw_blk(r, a)->size = cpu_to_le32(60);
    return a;
}

static uint64_t bl_size_4161(Raw *r, const BadCtx *x, uint64_t *blk)
{
    uint64_t a = raw_block(r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0,
                           NULL, 0);

    raw_blk(r, a)->size = cpu_to_le32(64 + 4097);
    return a;
}

/* UPDATE (of the victim): the cached structure and nothing else */
static uint64_t bl_update_longer(Raw *r, const BadCtx *x, uint64_t *blk)
{
    uint8_t buf[sizeof(ChimneyTcpCached) + 8] = { 0 };
    ChimneyTcpCached tk = x->k->c.s.k;

    tk.ttl_hop_limit = 1;
    memcpy(buf, &tk, sizeof(tk));
    *blk = raw_block(r, CHIMNEY_TYPE_TCP_CACHED, CHIMNEY_ROLE_REF, x->vic,
                     buf, sizeof(buf));
    return *blk;
}

static uint64_t bl_update_short(Raw *r, const BadCtx *x, uint64_t *blk)
{
    ChimneyTcpCached tk = x->k->c.s.k;

    tk.ttl_hop_limit = 1;
    tk.hdr.length = cpu_to_le32(sizeof(tk) - 4);
    *blk = raw_block(r, CHIMNEY_TYPE_TCP_CACHED, CHIMNEY_ROLE_REF, x->vic,
                     &tk, sizeof(tk));
    return *blk;
}

/* QUERY: room for exactly what the type names */
static uint64_t bl_query_longer(Raw *r, const BadCtx *x, uint64_t *blk)
{
    uint8_t buf[sizeof(ChimneyTcpConst) + 16] = { 0 };

    ((ChimneyStateHdr *)buf)->length = cpu_to_le32(sizeof(ChimneyTcpConst));
    *blk = raw_block(r, CHIMNEY_TYPE_TCP_CONST, CHIMNEY_ROLE_REF,
                     x->k->c.t->slot, buf, sizeof(buf));
    return *blk;
}

/* TERMINATE: a delegated structure too short, or a block too long */
static uint64_t bl_term_short(Raw *r, const BadCtx *x, uint64_t *blk)
{
    ChimneyTcpDelegated td = { .hdr.length = cpu_to_le32(100) };

    *blk = raw_block(r, CHIMNEY_TYPE_TCP_DELEGATED, CHIMNEY_ROLE_REF, x->vic,
                     &td, sizeof(td));
    return *blk;
}

static uint64_t bl_term_longer(Raw *r, const BadCtx *x, uint64_t *blk)
{
    uint8_t buf[sizeof(ChimneyTcpDelegated) + 8] = { 0 };

    ((ChimneyStateHdr *)buf)->length =
        cpu_to_le32(sizeof(ChimneyTcpDelegated));
    *blk = raw_block(r, CHIMNEY_TYPE_TCP_DELEGATED, CHIMNEY_ROLE_REF, x->vic,
                     buf, sizeof(buf));
    return *blk;
}

static const BadCase bad_length_cases[] = {
    { "NEW neighbor: size longer than its structures",
      CHIMNEY_CMD_INITIATE, bl_neigh_longer, CHIMNEY_ST_BAD_LENGTH },
    { "NEW TCP: const length 16",
      CHIMNEY_CMD_INITIATE, bl_tcp_const_short, CHIMNEY_ST_BAD_LENGTH },
    { "NEW TCP: delegated length 4000",
      CHIMNEY_CMD_INITIATE, bl_tcp_deleg_beyond, CHIMNEY_ST_BAD_LENGTH },
    { "NEW TCP without state",
      CHIMNEY_CMD_INITIATE, bl_tcp_no_state, CHIMNEY_ST_BAD_LENGTH },
    { "size 60",
      CHIMNEY_CMD_INITIATE, bl_size_60, CHIMNEY_ST_BAD_TREE, true },
    { "size 64 + 4097",
      CHIMNEY_CMD_QUERY, bl_size_4161, CHIMNEY_ST_BAD_TREE, true },
    { "UPDATE: size longer than the cached structure",
      CHIMNEY_CMD_UPDATE, bl_update_longer, CHIMNEY_ST_BAD_LENGTH },
    { "UPDATE: cached length 36",
      CHIMNEY_CMD_UPDATE, bl_update_short, CHIMNEY_ST_BAD_LENGTH },
    { "QUERY: size longer than the structure named",
      CHIMNEY_CMD_QUERY, bl_query_longer, CHIMNEY_ST_BAD_LENGTH },
    { "TERMINATE: delegated length 100",
      CHIMNEY_CMD_TERMINATE, bl_term_short, CHIMNEY_ST_BAD_LENGTH },
    { "TERMINATE: size longer than the delegated structure",
      CHIMNEY_CMD_TERMINATE, bl_term_longer, CHIMNEY_ST_BAD_LENGTH },
};

static void test_bad_lengths(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Canary k;
    Raw r;
    uint32_t errs;
    TcpState s;
    HBlk *vic, *lk;
    BadCtx x = { .k = &k };

    canary_up(t, &k);
    /* a victim for the cases that would change state if accepted */
    vic = hb_tcp(&t->env->hb, 3005, 80);
    lk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    hb_dep(lk, vic);
    run_ok(t, OP_INITIATE, lk);
    g_assert_cmphex(vic->b.status, ==, CHIMNEY_ST_SUCCESS);
    x.vic = vic->slot;
    errs = err_count(t);
    raw_init(t, &r, 32768);
    run_bad_cases(t, &r, &k, &x, bad_length_cases,
                  G_N_ELEMENTS(bad_length_cases), &errs);
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
        { "bad-input-lengths", test_bad_lengths },
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
