/*
 * chimney-nic test scenarios, spec chapter "State operations": initiate,
 * terminate, update, query and invalidate on state trees, as the driver
 * core submits them.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-scenarios.h"
#include "chimney-test-peer.h"

/*
 * rule 051: TERMINATE of a neighbor or path with offloaded dependents
 * fails with HAS_DEPENDENTS (a guest error); a tree listing only some of
 * the dependents terminates those and leaves the parents; listing all of
 * them terminates everything, and the same neighbor and path can be
 * offloaded again.
 */
static void scn_rule_051(ChimneyTestEnv *env)
{
    ChimneyTestHBlk *n, *p, *tc[3], *rn, *rp, *rt[3];
    uint32_t errs;
    unsigned i;

    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 3, 1000);
    env_offload_ok(env, n);
    errs = env_err_count(env);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_IP4, p->slot), ==,
                    CHIMNEY_ST_HAS_DEPENDENTS);
    g_assert_cmphex(env_terminate_one(env, CHIMNEY_TYPE_NEIGH, n->slot), ==,
                    CHIMNEY_ST_HAS_DEPENDENTS);
    g_assert_cmpuint(env_err_count(env), ==, errs + 2);   /* guest errors */
    /* only T0 listed: T0 goes, P and N stay */
    rn = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, n->slot);
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    rt[0] = hb_obj(&env->hb, CHIMNEY_TYPE_TCP, tc[0]->slot);
    hb_dep(rn, rp);
    hb_dep(rp, rt[0]);
    env_run_ok(env, OP_TERMINATE, rn);
    g_assert_cmphex(rt[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_HAS_DEPENDENTS);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_HAS_DEPENDENTS);
    g_assert_cmphex(env_query_path(env, false, p->slot, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_tcp(env, tc[1]->slot, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_tcp(env, tc[0]->slot, NULL), ==,
                    CHIMNEY_ST_BAD_HANDLE);
    /* the rest, all at once */
    rn = hb_obj(&env->hb, CHIMNEY_TYPE_NEIGH, n->slot);
    rp = hb_obj(&env->hb, CHIMNEY_TYPE_IP4, p->slot);
    hb_dep(rn, rp);
    for (i = 1; i < 3; i++) {
        rt[i] = hb_obj(&env->hb, CHIMNEY_TYPE_TCP, tc[i]->slot);
    }
    hb_dep(rp, rt[1]);
    hb_next(rt[1], rt[2]);
    env_run_ok(env, OP_TERMINATE, rn);
    g_assert_cmphex(rn->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rp->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(rt[2]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_neigh(env, n->slot, NULL), ==,
                    CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(env_query_path(env, false, p->slot, NULL), ==,
                    CHIMNEY_ST_BAD_HANDLE);
    for (i = 0; i < 3; i++) {
        g_assert_cmphex(env_query_tcp(env, tc[i]->slot, NULL), ==,
                        CHIMNEY_ST_BAD_HANDLE);
    }
    /* the same neighbor and path can be offloaded again */
    n = hb_npt(&env->hb, chimney_test_peer_mac, &p, tc, 3, 1000);
    env_offload_ok(env, n);
}

const ChimneyScenario chimney_scenarios_state[] = {
    { "rule-051-terminate-dependents", scn_rule_051 },
    { NULL, NULL },
};
