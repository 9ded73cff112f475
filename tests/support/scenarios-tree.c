/*
 * chimney-nic test scenarios, spec chapter "State trees": traversal
 * order and handles, placeholders and linkers, partial failure, a failed
 * root, host handles in events.  The trees go through the
 * driver core; every block's status must be written (rule 008).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "chimney-scenarios.h"
#include "chimney-test-peer.h"

/* rule 009: placeholders always get SUCCESS, in every operation. */
static void scn_rule_009(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n, *p, *tc[2], *ph, *ph2, *lk, *nt;

    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 2, 1000);
    env_offload_ok(env, n);

    /* alone, no dependents */
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_NEIGH);
    env_run_ok(env, OP_INITIATE, ph);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_TCP);
    env_run_ok(env, OP_INITIATE, ph);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);

    /* over a linker whose new connection succeeds */
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_NEIGH);
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    nt = hb_tcp(&env->hb, 2000, 80);
    hb_dep(ph, lk);
    hb_dep(lk, nt);
    env_run_ok(env, OP_INITIATE, ph);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(nt->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(ph->slot, ==, 0);

    /* whatever its dependents' results: all fail here */
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_NEIGH);
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    hb_dep(ph, lk);
    hb_dep(lk, hb_tcp(&env->hb, 2000, 80));            /* DUPLICATE */
    ph2 = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot ^ (1ull << 33));
    hb_next(lk, ph2);                           /* BAD_HANDLE */
    env_run_ok(env, OP_INITIATE, ph);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(ph2->b.status, ==, CHIMNEY_ST_BAD_HANDLE);

    /* QUERY, UPDATE, INVALIDATE, TERMINATE */
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_NEIGH);
    ph2 = hb_placeholder(&env->hb, CHIMNEY_TYPE_IP4);
    hb_dep(ph, ph2);
    hb_dep(ph2, hb_ref(&env->hb, CHIMNEY_TYPE_TCP, tc[0]->slot, 3,
                       chimney_test_tcp_sizes));
    env_run_ok(env, OP_QUERY, ph);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(ph2->b.status, ==, CHIMNEY_ST_SUCCESS);
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_IP6);
    env_run_ok(env, OP_UPDATE, ph);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_IP4);
    hb_dep(ph, hb_obj(&env->hb, CHIMNEY_TYPE_TCP, 0x1234));  /* BAD_HANDLE */
    env_run_ok(env, OP_INVALIDATE, ph);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(ph->b.dependent_block_list->status,
                    ==, CHIMNEY_ST_BAD_HANDLE);
    ph = hb_placeholder(&env->hb, CHIMNEY_TYPE_NEIGH);
    ph2 = hb_placeholder(&env->hb, CHIMNEY_TYPE_IP4);
    hb_dep(ph, ph2);
    hb_dep(ph2, hb_obj(&env->hb, CHIMNEY_TYPE_TCP, tc[1]->slot));
    env_run_ok(env, OP_TERMINATE, ph);
    g_assert_cmphex(ph->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(ph2->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_tcp(env, tc[1]->slot, NULL), ==,
                    CHIMNEY_ST_BAD_HANDLE);
}

/* rule 010: a linker's status: all, some or none of its dependents. */
static void scn_rule_010(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n, *p, *tc[1], *lk, *a, *b, *lkn, *np;

    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 1, 1000);
    env_offload_ok(env, n);

    /* all succeed */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    a = hb_tcp(&env->hb, 2000, 80);
    b = hb_tcp(&env->hb, 2001, 80);
    hb_dep(lk, a);
    hb_next(a, b);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(lk->slot, ==, p->slot);     /* a linker's slot stays */

    /* some: PARTIAL_SUCCESS */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    a = hb_tcp(&env->hb, 2000, 80);                    /* DUPLICATE */
    b = hb_tcp(&env->hb, 2002, 80);
    hb_dep(lk, a);
    hb_next(a, b);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(a->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);

    /* none: FAILURE */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    a = hb_tcp(&env->hb, 2000, 80);
    b = hb_tcp(&env->hb, 2001, 80);
    hb_dep(lk, a);
    hb_next(a, b);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(a->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_FAILURE);

    /* no dependents: SUCCESS */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_SUCCESS);

    /* a neighbor linker: one level decides (the path is partial) */
    lkn = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, n->slot);
    np = hb_path4(&env->hb, 1, 9, 1500);
    a = hb_tcp(&env->hb, 3000, 80);
    b = hb_tcp(&env->hb, 3000, 80);         /* DUPLICATE in the tree */
    hb_dep(lkn, np);
    hb_dep(np, a);
    hb_next(a, b);
    env_run_ok(env, OP_INITIATE, lkn);
    g_assert_cmphex(a->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(b->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(np->b.status, ==, CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);
    g_assert_cmphex(lkn->b.status, ==, CHIMNEY_ST_SUCCESS);
}

/*
 * rules 013, 014: the worked example of the spec.  N1{P1{T1,T2},P2{T3}}:
 * T2 fails (same 4-tuple as T1), P2 fails (PathMtu too large) so T3 is
 * not attempted; P1 and N1 are partial; N1, P1 and T1 exist afterwards.
 */
static void scn_rule_013_014(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n1, *p1, *p2, *t1, *t2, *t3;
    ChimneyTestTcpState q;

    n1 = hb_neigh(&env->hb, chimney_test_peer_mac, 0);
    p1 = hb_path4(&env->hb, 1, 2, 1500);
    p2 = hb_path4(&env->hb, 1, 3, 65000);
    t1 = hb_tcp(&env->hb, 3000, 80);
    t2 = hb_tcp(&env->hb, 3000, 80);
    t3 = hb_tcp(&env->hb, 3001, 80);
    hb_dep(n1, p1);
    hb_next(p1, p2);
    hb_dep(p1, t1);
    hb_next(t1, t2);
    hb_dep(p2, t3);
    env_run_ok(env, OP_INITIATE, n1);
    g_assert_cmphex(t1->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(t2->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(p1->b.status, ==, CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);
    g_assert_cmphex(p2->b.status, ==, CHIMNEY_ST_OFFLOAD_PATH_MTU);
    g_assert_cmphex(t3->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(n1->b.status, ==, CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);
    g_assert_cmphex(t2->slot | p2->slot | t3->slot, ==, 0);
    g_assert_cmphex(env_query_neigh(env, n1->slot, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_path(env, false, p1->slot, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_tcp(env, t1->slot, &q), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(GUINT16_FROM_LE(q.c.local_port), ==, 3000);
    /* T3 was never created: its 4-tuple is free */
    t3 = hb_tcp(&env->hb, 3001, 80);
    p2 = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p1->slot);
    hb_dep(p2, t3);
    env_run_ok(env, OP_INITIATE, p2);
    g_assert_cmphex(t3->b.status, ==, CHIMNEY_ST_SUCCESS);
    /* N1 is offloaded with one path; P1 with two connections */
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_IP4, p1->slot), ==,
                    CHIMNEY_ST_HAS_DEPENDENTS);
}

/*
 * rule 015: when the root's own offload fails the traversal stops: its
 * subtree gets FAILURE, everything after it NOT_ATTEMPTED, and nothing is
 * offloaded.  A resolved linker root whose dependents all fail does not
 * stop it.
 */
static void scn_rule_015(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n1, *p1, *tc[2], *n2, *p2, *t3[1], *n3, *lk, *lk2, *lkn;
    ChimneyTestNeighState ns;

    chimney_test_neigh_state(&ns, chimney_test_peer_mac, 0);
    ns.c.dl_src_addr[0] = 0x02;                 /* rule 029 */
    n1 = hb_neigh_state(&env->hb, &ns);
    p1 = hb_path4(&env->hb, 1, 2, 1500);
    tc[0] = hb_tcp(&env->hb, 1000, 80);
    tc[1] = hb_tcp(&env->hb, 1001, 80);
    hb_dep(n1, p1);
    hb_dep(p1, tc[0]);
    hb_next(tc[0], tc[1]);
    n2 = hb_npt(&env->hb, chimney_test_peer_mac, &p2, t3, 1, 2000);
    n3 = hb_neigh(&env->hb, chimney_test_peer2_mac, 0);
    hb_next(n1, n2);
    hb_next(n2, n3);
    env_run_ok(env, OP_INITIATE, n1);
    g_assert_cmphex(n1->b.status, ==, CHIMNEY_ST_OFFLOAD_HW_ADDRESS_ENTRIES);
    g_assert_cmphex(p1->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(tc[0]->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(tc[1]->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(n2->b.status, ==, CHIMNEY_ST_NOT_ATTEMPTED);
    g_assert_cmphex(p2->b.status, ==, CHIMNEY_ST_NOT_ATTEMPTED);
    g_assert_cmphex(t3[0]->b.status, ==, CHIMNEY_ST_NOT_ATTEMPTED);
    g_assert_cmphex(n3->b.status, ==, CHIMNEY_ST_NOT_ATTEMPTED);
    g_assert_cmphex(n1->slot | p1->slot | tc[0]->slot | tc[1]->slot |
                    n2->slot | p2->slot | t3[0]->slot | n3->slot, ==, 0);

    /* nothing was created: the next neighbor gets the first index */
    n2 = hb_npt(&env->hb, chimney_test_peer_mac, &p2, t3, 1, 2000);
    env_offload_ok(env, n2);
    g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(n2->slot), ==, 0);
    g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(t3[0]->slot), ==, 0);

    /* an unresolved linker root stops it too */
    lk = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p2->slot + (1ull << 32));
    hb_dep(lk, hb_tcp(&env->hb, 2001, 80));
    lk2 = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p2->slot);
    hb_dep(lk2, hb_tcp(&env->hb, 2002, 80));
    hb_next(lk, lk2);
    env_run_ok(env, OP_INITIATE, lk);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(lk->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_FAILURE);
    g_assert_cmphex(lk2->b.status, ==, CHIMNEY_ST_NOT_ATTEMPTED);
    g_assert_cmphex(lk2->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_NOT_ATTEMPTED);

    /* a resolved linker root whose dependents all fail does not */
    lkn = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, n2->slot);
    hb_dep(lkn, hb_path4(&env->hb, 1, 7, 20));         /* INVALID_PARAMETER */
    lk2 = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, n2->slot);
    lk = hb_path4(&env->hb, 1, 8, 1500);
    hb_dep(lk2, lk);
    hb_next(lkn, lk2);
    env_run_ok(env, OP_INITIATE, lkn);
    g_assert_cmphex(lkn->b.dependent_block_list->status, ==,
                    CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(lkn->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(lk->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(lk2->b.status, ==, CHIMNEY_ST_SUCCESS);
}

/*
 * rule 007: N1{P1{T1,T2},P2{T3}}, N2{P3{T4,T5}}.  Objects are allocated as
 * the blocks are visited, so within each table the indices follow the
 * visit order N1, P1, T1, T2, P2, T3, N2, P3, T4, T5.
 */
static void scn_rule_007(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n[2], *p[3], *tc[5];
    unsigned i;

    n[0] = hb_neigh(&env->hb, chimney_test_peer_mac, 0);
    n[1] = hb_neigh(&env->hb, chimney_test_peer2_mac, 0);
    for (i = 0; i < 3; i++) {
        p[i] = hb_path4(&env->hb, 1, 10 + i, 1500);
    }
    for (i = 0; i < 5; i++) {
        tc[i] = hb_tcp(&env->hb, 2000 + i, 80);
    }
    hb_next(n[0], n[1]);
    hb_dep(n[0], p[0]);
    hb_next(p[0], p[1]);
    hb_dep(p[0], tc[0]);
    hb_next(tc[0], tc[1]);
    hb_dep(p[1], tc[2]);
    hb_dep(n[1], p[2]);
    hb_dep(p[2], tc[3]);
    hb_next(tc[3], tc[4]);
    env_offload_ok(env, n[0]);
    for (i = 0; i < 2; i++) {
        env_check_handle(n[i]->slot, CHIMNEY_KIND_NEIGH);
        g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(n[i]->slot), ==, i);
    }
    for (i = 0; i < 3; i++) {
        env_check_handle(p[i]->slot, CHIMNEY_KIND_PATH);
        g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(p[i]->slot), ==, i);
    }
    for (i = 0; i < 5; i++) {
        env_check_handle(tc[i]->slot, CHIMNEY_KIND_TCP);
        g_assert_cmpuint(CHIMNEY_HANDLE_INDEX(tc[i]->slot), ==, i);
    }
    /* each connection hangs off the path it was listed under */
    for (i = 0; i < 5; i++) {
        static const unsigned pi[5] = { 0, 0, 1, 2, 2 };
        ChimneyTestTcpState q;
        ChimneyTestPathState ps;

        g_assert_cmphex(env_query_tcp(env, tc[i]->slot, &q), ==,
                        CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(GUINT16_FROM_LE(q.c.local_port), ==, 2000 + i);
        g_assert_cmphex(env_query_path(env, false, p[pi[i]]->slot, &ps), ==,
                        CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(ps.c.dst_addr[3], ==, 10 + pi[i]);
    }
}

/*
 * rule 016: the host's NdisOffloadHandle of each object comes back as the
 * cookie of its events: TCP_RETRIEVE for connections, NEIGH_QUERY for
 * neighbors (with the neighbor's device handle).
 */
static void scn_rule_016(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n, *p, *tc[3], *inv;
    uint8_t f[256], old = 'x';
    ChimneyTestConn c;
    ChimneyTestSeg s;
    unsigned i;
    const ChimneyTestRec *r;

    /* NCE staleness after 50 ticks, to see a neighbor query */
    g_assert_cmphex(env_set_params(env, 1000, 50), ==, CHIMNEY_ST_SUCCESS);
    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 3, 1000);
    env_offload_ok(env, n);
    for (i = 0; i < 3; i++) {
        g_assert_cmphex(tc[i]->b.ndis_offload_handle, !=, 0);
    }
    /* invalidate T0 and T2: one RETRIEVE each, with their host handles */
    inv = hb_obj(&env->hb, CHIMNEY_TYPE_TCP, tc[0]->slot);
    hb_next(inv, hb_obj(&env->hb, CHIMNEY_TYPE_TCP, tc[2]->slot));
    env_run_ok(env, OP_INVALIDATE, inv);
    env_settle(env, 5);
    g_assert_cmpuint(env_count_recs(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE), ==, 2);
    for (i = 0; i < 3; i += 2) {
        r = env_find_rec(env, 'T', CHIMNEY_EVT_TCP_RETRIEVE,
                     tc[i]->b.ndis_offload_handle);
        g_assert_nonnull(r);
        g_assert_cmphex(r->handle, ==, tc[i]->slot);
        g_assert_cmpuint(r->a, ==, CHIMNEY_UPLOAD_INVALID_STATE);
    }

    /*
     * The neighbor: 100 ticks without progress, then an old segment on T1
     * (a duplicate, no progress) makes the device send an ACK, and ask
     * about the neighbor first.
     */
    env->clock_step(env, 100 * CHIMNEY_TEST_NS_PER_MS);
    conn_init4(&c, 1, 2, 1001, 80);
    c.s = *(ChimneyTestTcpState *)tc[1]->st;
    conn_peer_seg(env, &c, &s, &old, 1);
    s.seq = 999;                                /* before RcvNxt */
    env->wire_inject(env, f, seg_build(&s, f));
    g_assert_cmpuint(env_wire_recv(env, f, sizeof(f)), >=, 54);
    env_settle(env, 5);
    g_assert_cmpuint(env_count_recs(env, 'N', 0), ==, 1);
    r = env_find_rec(env, 'N', 0, n->b.ndis_offload_handle);
    g_assert_nonnull(r);
    g_assert_cmphex(r->handle, ==, n->slot);
    g_assert_cmpuint(r->a, >=, 100);            /* NRD, ticks */
    g_assert_cmpuint(r->a, <=, 101);
}

const ChimneyScenario chimney_scenarios_tree[] = {
    { "rule-007-traversal-order", scn_rule_007 },
    { "rule-009-placeholder-success", scn_rule_009 },
    { "rule-010-linker-status", scn_rule_010 },
    { "rule-013-014-partial-failure", scn_rule_013_014 },
    { "rule-015-root-failure", scn_rule_015 },
    { "rule-016-host-handle-in-events", scn_rule_016 },
    { NULL, NULL },
};
