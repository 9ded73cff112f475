/*
 * chimney-nic test scenarios, spec chapter "Error handling": malformed
 * trees and bad references, each with its defined status, a guest error
 * and the canary connection untouched (chimney-test-bad.h); the lengths
 * as a table of cases.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-bad.h"

/* A new TCP block under a linker to the canary's path. */
static uint64_t bad_new_tcp(ChimneyTestRaw *r, const BadCtx *x,
                            const ChimneyTestTcpState *s, uint32_t len,
                            uint64_t *blk)
{
    uint64_t lk = raw_block(r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER,
                            x->k->c.p->slot, NULL, 0);

    *blk = raw_block(r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, s, len);
    raw_dep(r, lk, *blk);
    return lk;
}

/* size = 64 + the structures' lengths, exactly */
static uint64_t bl_neigh_longer(ChimneyTestRaw *r, const BadCtx *x,
                                uint64_t *blk)
{
    uint8_t buf[sizeof(ChimneyTestNeighState) + 8] = { 0 };
    ChimneyTestNeighState ns;

    chimney_test_neigh_state(&ns, chimney_test_peer2_mac, 0);
    memcpy(buf, &ns, sizeof(ns));
    *blk = raw_block(r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_NEW, 0, buf,
                     sizeof(buf));
    return *blk;
}

/* a structure shorter than its ABI size */
static uint64_t bl_tcp_const_short(ChimneyTestRaw *r, const BadCtx *x,
                                   uint64_t *blk)
{
    ChimneyTestTcpState s;

    chimney_test_tcp_state(&s, 3000, 80);
    s.c.hdr.length = GUINT32_TO_LE(16);
    return bad_new_tcp(r, x, &s, sizeof(s), blk);
}

/* a length beyond the block */
static uint64_t bl_tcp_deleg_beyond(ChimneyTestRaw *r, const BadCtx *x,
                                    uint64_t *blk)
{
    ChimneyTestTcpState s;

    chimney_test_tcp_state(&s, 3000, 80);
    s.d.hdr.length = GUINT32_TO_LE(4000);
    return bad_new_tcp(r, x, &s, sizeof(s), blk);
}

/* no state at all */
static uint64_t bl_tcp_no_state(ChimneyTestRaw *r, const BadCtx *x,
                                uint64_t *blk)
{
    return bad_new_tcp(r, x, NULL, 0, blk);
}

/* size below 64 or above 64 + 4096: the tree is refused */
static uint64_t bl_size_60(ChimneyTestRaw *r, const BadCtx *x, uint64_t *blk)
{
    uint64_t a = raw_block(r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0,
                           NULL, 0);

    raw_blk(r, a)->size = GUINT32_TO_LE(60);
    return a;
}

static uint64_t bl_size_4161(ChimneyTestRaw *r, const BadCtx *x, uint64_t *blk)
{
    uint64_t a = raw_block(r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0,
                           NULL, 0);

    raw_blk(r, a)->size = GUINT32_TO_LE(64 + 4097);
    return a;
}

/* UPDATE (of the victim): the cached structure and nothing else */
static uint64_t bl_update_longer(ChimneyTestRaw *r, const BadCtx *x,
                                 uint64_t *blk)
{
    uint8_t buf[sizeof(ChimneyTcpCached) + 8] = { 0 };
    ChimneyTcpCached tk = x->k->c.s.k;

    tk.ttl_hop_limit = 1;
    memcpy(buf, &tk, sizeof(tk));
    *blk = raw_block(r, CHIMNEY_TYPE_TCP_CACHED, CHIMNEY_ROLE_REF, x->vic,
                     buf, sizeof(buf));
    return *blk;
}

static uint64_t bl_update_short(ChimneyTestRaw *r, const BadCtx *x,
                                uint64_t *blk)
{
    ChimneyTcpCached tk = x->k->c.s.k;

    tk.ttl_hop_limit = 1;
    tk.hdr.length = GUINT32_TO_LE(sizeof(tk) - 4);
    *blk = raw_block(r, CHIMNEY_TYPE_TCP_CACHED, CHIMNEY_ROLE_REF, x->vic,
                     &tk, sizeof(tk));
    return *blk;
}

/* QUERY: room for exactly what the type names */
static uint64_t bl_query_longer(ChimneyTestRaw *r, const BadCtx *x,
                                uint64_t *blk)
{
    uint8_t buf[sizeof(ChimneyTcpConst) + 16] = { 0 };

    ((ChimneyStateHdr *)buf)->length = GUINT32_TO_LE(sizeof(ChimneyTcpConst));
    *blk = raw_block(r, CHIMNEY_TYPE_TCP_CONST, CHIMNEY_ROLE_REF,
                     x->k->c.t->slot, buf, sizeof(buf));
    return *blk;
}

/* The driver core refuses such trees itself: no completion ever. */
static void never_done(void *ctx, struct chimney_offload_block *root,
                       uint32_t status)
{
    g_assert_not_reached();
}

static void scn_bad_cycle(ChimneyTestEnv *env)
{
    Canary k;
    ChimneyTestRaw r;
    uint64_t a, b, p1, p2, tt;
    uint32_t errs, tail;
    ChimneyTestHBlk *n, *p, *tc[2];

    env_canary_up(env, &k);
    errs = env_err_count(env);
    env_raw_init(env, &r, 16384);
    /* N1 -> N2 -> N1 */
    a = raw_neigh(&r, chimney_test_peer2_mac, 0);
    b = raw_neigh(&r, chimney_test_peer2_mac, 0);
    raw_next(&r, a, b);
    raw_next(&r, b, a);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a cycle through next");
    /* a block that is its own next, in QUERY */
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    raw_next(&r, a, a);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_QUERY, a, CHIMNEY_ST_BAD_TREE,
                            &errs, &k, "a block that is its own next");
    /* one TCP block in two dependent lists */
    a = raw_neigh(&r, chimney_test_peer2_mac, 0);
    p1 = raw_path4(&r, 1, 20, 1500);
    p2 = raw_path4(&r, 1, 21, 1500);
    tt = raw_tcp(&r, 3000, 80);
    raw_dep(&r, a, p1);
    raw_next(&r, p1, p2);
    raw_dep(&r, p1, tt);
    raw_dep(&r, p2, tt);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a block shared by two lists");
    /* a path whose dependent list leads back to its neighbor */
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL,
                  0);
    b = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    raw_dep(&r, a, b);
    raw_dep(&r, b, a);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_TERMINATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a dependent list back to the root");
    raw_free(&r);

    /* the driver core refuses a cyclic host tree before the device */
    tail = env->reg_read(env, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                               CHIMNEY_RING_TAIL));
    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 2, 4000);
    hb_next(tc[1], tc[0]);
    g_assert_cmpint(OP_INITIATE(env->drv, &n->b, never_done, NULL), ==,
                    CHIMNEY_DRV_ELOOP);
    g_assert_cmpuint(env->reg_read(env, CHIMNEY_RING_REG(CHIMNEY_RING_CMD,
                                            CHIMNEY_RING_TAIL)), ==, tail);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_TEST_STATUS_POISON);
    g_assert_cmpuint(chimney_drv_pending(env->drv), ==, 0);
    env_canary_check(env, &k, "a cyclic host tree");
}

static void scn_bad_tcp_dependent(ChimneyTestEnv *env)
{
    Canary k;
    ChimneyTestRaw r;
    uint64_t a, b;
    uint32_t errs;
    ChimneyTestHBlk *lk, *t1, *t2;

    env_canary_up(env, &k);
    errs = env_err_count(env);
    env_raw_init(env, &r, 8192);
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    b = raw_tcp(&r, 3000, 80);
    raw_dep(&r, a, b);
    raw_dep(&r, b, raw_tcp(&r, 3001, 80));
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a TCP block with a dependent");
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, k.c.t->slot, NULL,
                  0);
    raw_dep(&r, a, raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_PLACEHOLDER,
                             0, NULL, 0));
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INVALIDATE, a,
                            CHIMNEY_ST_BAD_TREE, &errs, &k,
                        "INVALIDATE: a TCP block with a dependent");
    raw_free(&r);
    /* through the core, which checks depth, not layers: the device says */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    t1 = hb_tcp(&env->hb, 3000, 80);
    t2 = hb_tcp(&env->hb, 3001, 80);
    hb_dep(lk, t1);
    hb_dep(t1, t2);
    g_assert_cmphex(env_run_tree(env, OP_INITIATE, lk), ==,
                    CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t1->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t2->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(t1->slot | t2->slot, ==, 0);
    env_expect_guest_error(env, &errs, "core: a TCP block with a dependent");
    /* a fourth level the core refuses itself, nothing submitted */
    hb_dep(t2, hb_tcp(&env->hb, 3002, 80));
    t1->b.status = CHIMNEY_TEST_STATUS_POISON;
    g_assert_cmpint(OP_INITIATE(env->drv, &lk->b, never_done, NULL), ==,
                    CHIMNEY_DRV_EINVAL);
    g_assert_cmpuint(chimney_drv_pending(env->drv), ==, 0);
    g_assert_cmphex(t1->b.status, ==, CHIMNEY_TEST_STATUS_POISON);
    env_canary_check(env, &k, "core: a TCP block with a dependent");
}

/* TERMINATE: a delegated structure too short, or a block too long */
static uint64_t bl_term_short(ChimneyTestRaw *r, const BadCtx *x, uint64_t *blk)
{
    ChimneyTcpDelegated td = { .hdr.length = GUINT32_TO_LE(100) };

    *blk = raw_block(r, CHIMNEY_TYPE_TCP_DELEGATED, CHIMNEY_ROLE_REF, x->vic,
                     &td, sizeof(td));
    return *blk;
}

static uint64_t bl_term_longer(ChimneyTestRaw *r, const BadCtx *x,
                               uint64_t *blk)
{
    uint8_t buf[sizeof(ChimneyTcpDelegated) + 8] = { 0 };

    ((ChimneyStateHdr *)buf)->length =
        GUINT32_TO_LE(sizeof(ChimneyTcpDelegated));
    *blk = raw_block(r, CHIMNEY_TYPE_TCP_DELEGATED, CHIMNEY_ROLE_REF, x->vic,
                     buf, sizeof(buf));
    return *blk;
}

static const BadCase bad_length_cases[] = {
    { "NEW neighbor: size longer than its structures",
      CHIMNEY_CMD_INITIATE, bl_neigh_longer, CHIMNEY_ST_BAD_LENGTH, false },
    { "NEW TCP: const length 16",
      CHIMNEY_CMD_INITIATE, bl_tcp_const_short, CHIMNEY_ST_BAD_LENGTH, false },
    { "NEW TCP: delegated length 4000",
      CHIMNEY_CMD_INITIATE, bl_tcp_deleg_beyond, CHIMNEY_ST_BAD_LENGTH, false },
    { "NEW TCP without state",
      CHIMNEY_CMD_INITIATE, bl_tcp_no_state, CHIMNEY_ST_BAD_LENGTH, false },
    { "size 60",
      CHIMNEY_CMD_INITIATE, bl_size_60, CHIMNEY_ST_BAD_TREE, true },
    { "size 64 + 4097",
      CHIMNEY_CMD_QUERY, bl_size_4161, CHIMNEY_ST_BAD_TREE, true },
    { "UPDATE: size longer than the cached structure",
      CHIMNEY_CMD_UPDATE, bl_update_longer, CHIMNEY_ST_BAD_LENGTH, false },
    { "UPDATE: cached length 36",
      CHIMNEY_CMD_UPDATE, bl_update_short, CHIMNEY_ST_BAD_LENGTH, false },
    { "QUERY: size longer than the structure named",
      CHIMNEY_CMD_QUERY, bl_query_longer, CHIMNEY_ST_BAD_LENGTH, false },
    { "TERMINATE: delegated length 100",
      CHIMNEY_CMD_TERMINATE, bl_term_short, CHIMNEY_ST_BAD_LENGTH, false },
    { "TERMINATE: size longer than the delegated structure",
      CHIMNEY_CMD_TERMINATE, bl_term_longer, CHIMNEY_ST_BAD_LENGTH, false },
};

static void scn_bad_lengths(ChimneyTestEnv *env)
{
    Canary k;
    ChimneyTestRaw r;
    uint32_t errs;
    ChimneyTestTcpState s;
    ChimneyTestHBlk *vic, *lk;
    BadCtx x = { .k = &k };

    env_canary_up(env, &k);
    /* a victim for the cases that would change state if accepted */
    vic = hb_tcp(&env->hb, 3005, 80);
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    hb_dep(lk, vic);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(vic->b.status, ==, CHIMNEY_ST_SUCCESS);
    x.vic = vic->slot;
    errs = env_err_count(env);
    env_raw_init(env, &r, 32768);
    env_run_bad_cases(env, &r, &k, &x, bad_length_cases,
                      G_N_ELEMENTS(bad_length_cases), &errs);
    /* the victim is still there, unchanged */
    if (env_query_tcp(env, vic->slot, &s) != CHIMNEY_ST_SUCCESS) {
        env_soft_fail(env,
                      "the victim connection is gone after the bad blocks");
    } else if (s.k.ttl_hop_limit != 64) {
        env_soft_fail(env, "a refused UPDATE changed the victim's TTL to %u",
                      s.k.ttl_hop_limit);
    }
    raw_free(&r);
}

static void scn_bad_layer(ChimneyTestEnv *env)
{
    Canary k;
    ChimneyTestRaw r;
    uint64_t a, b;
    uint32_t errs;
    ChimneyTestHBlk *n, *tt;

    env_canary_up(env, &k);
    errs = env_err_count(env);
    env_raw_init(env, &r, 16384);
    a = raw_neigh(&r, chimney_test_peer2_mac, 0);
    b = raw_path4(&r, 1, 20, 1500);
    raw_dep(&r, a, b);
    raw_dep(&r, b, raw_path4(&r, 1, 21, 1500));
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a path under a path");
    a = raw_neigh(&r, chimney_test_peer2_mac, 0);
    raw_dep(&r, a, raw_tcp(&r, 3000, 80));
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a TCP block under a neighbor");
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    raw_dep(&r, a, raw_neigh(&r, chimney_test_peer2_mac, 0));
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a neighbor under a path");
    a = raw_neigh(&r, chimney_test_peer2_mac, 0);
    raw_next(&r, a, raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER,
                              k.c.p->slot, NULL, 0));
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a neighbor and a path in one chain");
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_REF, k.c.n->slot,
                  NULL, 0);
    raw_dep(&r, a, raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF,
                             k.c.t->slot, NULL, 0));
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_TERMINATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "TERMINATE: TCP under a neighbor");
    raw_free(&r);

    /* through the core (which does not check layers): all blocks get it */
    n = hb_neigh(&env->hb, chimney_test_peer2_mac, 0);
    tt = hb_tcp(&env->hb, 3000, 80);
    hb_dep(n, tt);
    g_assert_cmphex(env_run_tree(env, OP_INITIATE, n), ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(n->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(tt->b.status, ==, CHIMNEY_ST_BAD_TREE);
    g_assert_cmphex(n->slot | tt->slot, ==, 0);
    env_expect_guest_error(env, &errs, "core: TCP under a neighbor");
    env_canary_check(env, &k, "core: TCP under a neighbor");
}

static void scn_bad_type_role(ChimneyTestEnv *env)
{
    static const uint16_t bad_types[] = { 0, 18, 0x55, 0xffff };
    Canary k;
    ChimneyTestRaw r;
    uint64_t a, b, c6p;
    uint32_t errs;
    unsigned i;
    ChimneyTestConn v6, vic;
    ChimneyTestHBlk *vic2;
    char what[64];

    env_canary_up(env, &k);
    conn_init6(&v6, 1, 2, 1000, 80);
    conn_offload(env, &v6);
    c6p = v6.p->slot;
    errs = env_err_count(env);
    env_raw_init(env, &r, 32768);
    for (i = 0; i < G_N_ELEMENTS(bad_types); i++) {
        a = raw_block(&r, bad_types[i], CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
        snprintf(what, sizeof(what), "unknown type %u", bad_types[i]);
        env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                                CHIMNEY_ST_BAD_TREE, &errs, &k, what);
    }
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, 4, 0, NULL, 0);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_QUERY, a, CHIMNEY_ST_BAD_TREE,
                            &errs, &k, "role 4");
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_REF, k.c.n->slot,
                  NULL, 0);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a REF block in INITIATE");
    a = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_LINKER, k.c.n->slot,
                  NULL, 0);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_QUERY, a, CHIMNEY_ST_BAD_TREE,
                            &errs, &k, "a LINKER block in QUERY");
    a = raw_neigh(&r, chimney_test_peer2_mac, 0);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_UPDATE, a, CHIMNEY_ST_BAD_TREE,
                            &errs, &k, "a NEW block in UPDATE");
    a = raw_path4(&r, 1, 30, 1500);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a NEW path at the root");
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL, 0);
    raw_dep(&r, a, raw_tcp(&r, 3000, 80));
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_BAD_TREE,
                        &errs, &k, "a NEW TCP under a placeholder");

    /* block-level: the tree is walked, the block fails */
    a = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    b = raw_block(&r, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_NEW, 0, NULL,
                  0);
    raw_dep(&r, a, b);
    env_expect_block(env, &r, CHIMNEY_CMD_INITIATE, a, b, CHIMNEY_ST_BAD_TYPE,
                     true,
                 &errs, &k, "INITIATE: TCP_RESOURCE");
    {
        ChimneyNeighConst nc = { .hdr = CHIMNEY_TEST_HDR(ChimneyNeighConst) };

        a = raw_block(&r, CHIMNEY_TYPE_NEIGH_CONST, CHIMNEY_ROLE_NEW, 0, &nc,
                      sizeof(nc));
        env_expect_block(env, &r, CHIMNEY_CMD_INITIATE, a, a,
                         CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "INITIATE: NEW with a non-combined "
                     "type");
    }
    {
        ChimneyTestPathState ps;

        chimney_test_path_state(&ps, false, k.c.lip, k.c.rip, 1500);
        a = raw_block(&r, CHIMNEY_TYPE_IP6, CHIMNEY_ROLE_REF, k.c.p->slot,
                      &ps, sizeof(ps));
        env_expect_block(env, &r, CHIMNEY_CMD_QUERY, a, a, CHIMNEY_ST_BAD_TYPE,
                         true, &errs, &k, "QUERY: IPv6 type for an IPv4 path");
        a = raw_block(&r, CHIMNEY_TYPE_IP4_CACHED, CHIMNEY_ROLE_REF, c6p,
                      &ps.k, sizeof(ps.k));
        env_expect_block(env, &r, CHIMNEY_CMD_UPDATE, a, a, CHIMNEY_ST_BAD_TYPE,
                         true, &errs, &k, "UPDATE: IPv4 type for an IPv6 path");
    }
    a = raw_block(&r, CHIMNEY_TYPE_IP6, CHIMNEY_ROLE_LINKER, k.c.p->slot,
                  NULL, 0);
    raw_dep(&r, a, raw_tcp(&r, 3001, 80));
    env_expect_block(env, &r, CHIMNEY_CMD_INITIATE, a, a, CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "LINKER: IPv6 type for an IPv4 path");
    a = raw_block(&r, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_REF,
                  k.c.t->slot, NULL, 0);
    env_expect_block(env, &r, CHIMNEY_CMD_QUERY, a, a, CHIMNEY_ST_BAD_TYPE,
                     true,
                 &errs, &k, "QUERY: TCP_RESOURCE");
    /* (size 64: a relink-only UPDATE, harmless if wrongly accepted) */
    env_expect_block(env, &r, CHIMNEY_CMD_UPDATE, a, a, CHIMNEY_ST_BAD_TYPE,
                     true,
                 &errs, &k, "UPDATE: TCP_RESOURCE");

    /* the ones that would change state if accepted: on victims */
    conn_init4(&vic, 1, 5, 1000, 80);
    memcpy(vic.nmac, chimney_test_peer2_mac, 6);
    conn_tree(env, &vic);
    vic2 = hb_tcp(&env->hb, 1001, 80);
    hb_next(vic.t, vic2);
    env_offload_ok(env, vic.n);
    a = raw_block(&r, CHIMNEY_TYPE_IP6, CHIMNEY_ROLE_REF, vic.p->slot, NULL,
                  0);
    env_expect_block(env, &r, CHIMNEY_CMD_INVALIDATE, a, a, CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "INVALIDATE: IPv6 type for an IPv4 path");
    a = raw_block(&r, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_REF,
                  vic.t->slot, NULL, 0);
    env_expect_block(env, &r, CHIMNEY_CMD_INVALIDATE, a, a, CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "INVALIDATE: TCP_RESOURCE");
    a = raw_block(&r, CHIMNEY_TYPE_IP6, CHIMNEY_ROLE_REF, vic.p->slot, NULL,
                  0);
    b = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, vic.t->slot, NULL,
                  0);
    raw_dep(&r, a, b);
    env_expect_block(env, &r, CHIMNEY_CMD_TERMINATE, a, a, CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "TERMINATE: IPv6 type for an IPv4 path");
    if (raw_status(&r, b) != CHIMNEY_ST_FAILURE) {
        env_soft_fail(env, "TERMINATE under an IPv6-typed IPv4 path: TCP block "
                      "status 0x%x, expected FAILURE", raw_status(&r, b));
    }
    a = raw_block(&r, CHIMNEY_TYPE_TCP_RESOURCE, CHIMNEY_ROLE_REF,
                  vic2->slot, NULL, 0);
    env_expect_block(env, &r, CHIMNEY_CMD_TERMINATE, a, a, CHIMNEY_ST_BAD_TYPE,
                     true, &errs, &k, "TERMINATE: TCP_RESOURCE");
    raw_free(&r);
}

static void scn_bad_dma(ChimneyTestEnv *env)
{
    Canary k;
    ChimneyTestRaw r;
    uint64_t a, b, c;
    uint32_t errs;
    ChimneyTestTcpState s;
    ChimneyTestHBlk *lk, *x, *n, *term;
    struct chimney_dma_buf in, out;

    env_canary_up(env, &k);
    errs = env_err_count(env);
    env_raw_init(env, &r, 16384);
    g_assert_cmphex(env->raw_cmd(env, CHIMNEY_CMD_INITIATE,
                                 CHIMNEY_TEST_BAD_GPA, 0,
                                     0, NULL), ==, CHIMNEY_ST_DMA_ERROR);
    env_expect_guest_error(env, &errs, "the root outside guest RAM");
    env_canary_check(env, &k, "the root outside guest RAM");
    /* halfway: two good blocks, then a dependent outside RAM */
    a = raw_neigh(&r, chimney_test_peer2_mac, 0);
    b = raw_neigh(&r, chimney_test_peer2_mac, 0);
    c = raw_path4(&r, 1, 20, 1500);
    raw_next(&r, a, b);
    raw_dep(&r, b, c);
    raw_dep(&r, c, CHIMNEY_TEST_BAD_GPA);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INITIATE, a,
                            CHIMNEY_ST_DMA_ERROR,
                        &errs, &k, "a dependent outside guest RAM");
    a = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, k.c.t->slot, NULL,
                  0);
    raw_next(&r, a, CHIMNEY_TEST_BAD_GPA + 64);
    env_expect_tree_refused(env, &r, CHIMNEY_CMD_INVALIDATE, a,
                            CHIMNEY_ST_DMA_ERROR, &errs, &k,
                        "INVALIDATE: next outside guest RAM");
    raw_free(&r);
    /* nothing of that was applied: the next neighbor is the second one */
    n = hb_neigh(&env->hb, chimney_test_peer2_mac, 0);
    env_offload_ok(env, n);
    g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(n->slot), ==, 1);

    /* send list / receive data outside RAM: that TCP block fails */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    chimney_test_tcp_state(&s, 3000, 80);
    s.d.snd_max = GUINT32_TO_LE(5010);
    s.d.send_list_addr = GUINT64_TO_LE(CHIMNEY_TEST_BAD_GPA);
    s.d.send_list_count = GUINT32_TO_LE(1);
    x = hb_tcp_state(&env->hb, &s);
    hb_dep(lk, x);
    chimney_test_tcp_state(&s, 3001, 80);
    s.d.rcv_data_addr = GUINT64_TO_LE(CHIMNEY_TEST_BAD_GPA);
    s.d.rcv_data_len = GUINT32_TO_LE(10);
    hb_next(x, hb_tcp_state(&env->hb, &s));
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(x->b.status, ==, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(x->b.next_block->status, ==, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(x->slot, ==, 0);
    env_expect_guest_error(env, &errs, "send list / receive data outside RAM");
    env_canary_check(env, &k, "send list / receive data outside RAM");

    /* TERMINATE into a return buffer outside RAM: stays offloaded */
    env_fill_buf(env, &in, 10, 0x42);
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    chimney_test_tcp_state(&s, 3002, 80);
    s.d.rcv_data_addr = GUINT64_TO_LE(in.dma);
    s.d.rcv_data_len = GUINT32_TO_LE(10);
    x = hb_tcp_state(&env->hb, &s);
    hb_dep(lk, x);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(x->b.status, ==, CHIMNEY_ST_SUCCESS);
    term = hb_term_tcp(&env->hb, x->slot, NULL, 0, &in, 64);
    ((ChimneyTcpDelegated *)term->st)->rcv_data_addr =
        GUINT64_TO_LE(CHIMNEY_TEST_BAD_GPA);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_DMA_ERROR);
    env_expect_guest_error(env, &errs, "TERMINATE into a buffer outside RAM");
    g_assert_cmphex(env_query_tcp(env, x->slot, NULL), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpint(env_dma_alloc(env, 64, &out), ==, 0);
    term = hb_term_tcp(&env->hb, x->slot, NULL, 0, &out, 64);
    env_run_ok(env, OP_TERMINATE, term);
    g_assert_cmphex(term->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT32_FROM_LE(hb_delegated(term)->rcv_data_len), ==, 10);
    env_canary_check(env, &k, "TERMINATE into a buffer outside RAM");
    env_dma_free(env, &in);
    env_dma_free(env, &out);
}

static void scn_bad_handles(ChimneyTestEnv *env)
{
    Canary k;
    ChimneyTestHBlk *n, *p, *tc[1], *b;
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

    env_canary_up(env, &k);
    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 1, 2000);
    env_offload_ok(env, n);
    stale = tc[0]->slot;
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_TCP, stale), ==,
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
    errs = env_err_count(env);
    tk = k.c.s.k;
    tk.ttl_hop_limit = 1;
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        for (op = 0; op < 4; op++) {
            static const ChimneyTestTreeOp ops[4] = {
                OP_QUERY, OP_UPDATE, OP_INVALIDATE, OP_TERMINATE,
            };
            char what[96];

            if (op == 0) {
                b = hb_ref(&env->hb, CHIMNEY_TYPE_TCP, bad[i], 3,
                           chimney_test_tcp_sizes);
            } else if (op == 1) {
                b = hb_tcp_cached(&env->hb, bad[i], &tk);
            } else {
                b = hb_obj(&env->hb, CHIMNEY_TYPE_TCP, bad[i]);
            }
            if (!bad[i]) {
                /* slot 0 would be a NEW block for the core: force REF */
                b->b.miniport_offload_context = &b->slot;
            }
            env_run_ok(env, ops[op], b);
            snprintf(what, sizeof(what), "%s handle in %s", names[i],
                     op_names[op]);
            if (b->b.status != CHIMNEY_ST_BAD_HANDLE) {
                g_error("%s: status 0x%x", what, b->b.status);
            }
            env_expect_guest_error(env, &errs, what);
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
        b = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, lh);
        hb_dep(b, hb_tcp(&env->hb, 3000 + i, 80));
        env_run_ok(env, OP_INITIATE, b);
        if (b->b.status != CHIMNEY_ST_BAD_HANDLE) {
            g_error("%s handle as a linker: status 0x%x", names[i],
                    b->b.status);
        }
        g_assert_cmphex(b->b.dependent_block_list->status, ==,
                        CHIMNEY_ST_FAILURE);
        env_expect_guest_error(env, &errs, names[i]);
    }
    env_canary_check(env, &k, "bad handles");
}

static void scn_bad_has_dependents(ChimneyTestEnv *env)
{
    Canary k;
    uint32_t errs;
    ChimneyTestHBlk *rp;

    env_canary_up(env, &k);
    errs = env_err_count(env);
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    env_run_ok(env, OP_TERMINATE, rp);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_HAS_DEPENDENTS);
    env_expect_guest_error(env, &errs, "a path with unlisted connections");
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, k.c.n->slot);
    hb_dep(rp, hb_obj(&env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot));
    env_run_ok(env, OP_TERMINATE, rp);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_HAS_DEPENDENTS);
    g_assert_cmphex(rp->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_HAS_DEPENDENTS);
    env_expect_guest_error(env, &errs, "a neighbor and path with unlisted "
                           "connections");
    env_canary_check(env, &k, "terminating objects with unlisted dependents");
}

static void scn_bad_duplicate(ChimneyTestEnv *env)
{
    Canary k;
    uint32_t errs;
    ChimneyTestHBlk *lk, *a, *b, *c;
    ChimneyTestConn v6;

    env_canary_up(env, &k);
    errs = env_err_count(env);
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    a = hb_tcp(&env->hb, 1000, 80);                /* the canary's 4-tuple */
    b = hb_tcp(&env->hb, 1001, 80);
    c = hb_tcp(&env->hb, 1001, 80);      /* b's, in the same tree */
    hb_dep(lk, a);
    hb_next(a, b);
    hb_next(b, c);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(a->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(c->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(a->slot | c->slot, ==, 0);
    env_expect_guest_error(env, &errs, "a second offload of a 4-tuple");
    /* reversed ports, or the same ports over IPv6: not duplicates */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, k.c.p->slot);
    a = hb_tcp(&env->hb, 80, 1000);
    hb_dep(lk, a);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(a->b.status, ==, CHIMNEY_ST_SUCCESS);
    conn_init6(&v6, 1, 2, 1000, 80);
    conn_offload(env, &v6);
    env_canary_check(env, &k, "duplicate 4-tuples");
}

/*
 * One live object named by two REF blocks of one tree (spec "Tree shape
 * and limits"): every operation refuses the whole tree with BAD_TREE,
 * writes nothing and changes nothing.  In TERMINATE this was the review's
 * double release (dependent counts dropped twice, the path freed under a
 * live connection).
 */
static void scn_bad_same_object(ChimneyTestEnv *env)
{
    static const struct {
        const char *what;
        uint16_t opcode;
        uint16_t type;
        int obj;                /* 0 neighbor, 1 path, 2 connection */
    } cases[] = {
        { "TERMINATE naming the connection twice", CHIMNEY_CMD_TERMINATE,
          CHIMNEY_TYPE_TCP, 2 },
        { "TERMINATE naming the path twice", CHIMNEY_CMD_TERMINATE,
          CHIMNEY_TYPE_IP4, 1 },
        { "TERMINATE naming the neighbor twice", CHIMNEY_CMD_TERMINATE,
          CHIMNEY_TYPE_NEIGH, 0 },
        { "UPDATE naming the path twice", CHIMNEY_CMD_UPDATE,
          CHIMNEY_TYPE_IP4, 1 },
        { "QUERY naming the connection twice", CHIMNEY_CMD_QUERY,
          CHIMNEY_TYPE_TCP_CONST, 2 },
        { "INVALIDATE naming the neighbor twice", CHIMNEY_CMD_INVALIDATE,
          CHIMNEY_TYPE_NEIGH, 0 },
    };
    ChimneyTestRaw r;
    Canary k;
    uint32_t errs;
    unsigned i;

    env_canary_up(env, &k);
    errs = env_err_count(env);
    env_raw_init(env, &r, 16384);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint64_t h = cases[i].obj == 0 ? k.c.n->slot :
                     cases[i].obj == 1 ? k.c.p->slot : k.c.t->slot;
        uint64_t a, b;

        a = raw_block(&r, cases[i].type, CHIMNEY_ROLE_REF, h, NULL, 0);
        b = raw_block(&r, cases[i].type, CHIMNEY_ROLE_REF, h, NULL, 0);
        raw_next(&r, a, b);
        env_expect_tree_refused(env, &r, cases[i].opcode, a,
                                CHIMNEY_ST_BAD_TREE, &errs, &k,
                                cases[i].what);
    }
    raw_free(&r);
}

const ChimneyScenario chimney_scenarios_errors[] = {
    { "bad-input-cycle", scn_bad_cycle },
    { "bad-input-wrong-layer", scn_bad_layer },
    { "bad-input-tcp-with-dependent", scn_bad_tcp_dependent },
    { "bad-input-type-and-role", scn_bad_type_role },
    { "bad-input-lengths", scn_bad_lengths },
    { "bad-input-dma", scn_bad_dma },
    { "bad-input-handles", scn_bad_handles },
    { "bad-input-has-dependents", scn_bad_has_dependents },
    { "bad-input-duplicate", scn_bad_duplicate },
    { "bad-input-same-object-twice", scn_bad_same_object },
    { NULL, NULL },
};
