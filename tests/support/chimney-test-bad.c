/*
 * chimney-nic test support: bad input (see chimney-test-bad.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "chimney-test-bad.h"

void env_canary_up(ChimneyTestEnv *env, Canary *k)
{
    env_clock_mid_tick(env);
    conn_init4(&k->c, 1, 2, 1000, 80);
    k->c.s.d.rcv_nxt = GUINT32_TO_LE(0xc0ffee00);
    k->c.s.d.snd_una = k->c.s.d.snd_nxt = k->c.s.d.snd_max =
        GUINT32_TO_LE(0xbeef0000);
    k->c.s.k.ttl_hop_limit = 99;
    conn_offload(env, &k->c);
    g_assert_cmphex(env_query_tcp(env, k->c.t->slot, &k->q), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_path(env, false, k->c.p->slot, &k->ps), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(env_query_neigh(env, k->c.n->slot, &k->ns), ==,
                    CHIMNEY_ST_SUCCESS);
}

void env_canary_check(ChimneyTestEnv *env, Canary *k, const char *after)
{
    ChimneyTestTcpState q;
    ChimneyTestPathState ps;
    ChimneyTestNeighState ns;
    Mis m;

    mis_init(&m);
    mis_u(&m, "TCP query status", env_query_tcp(env, k->c.t->slot, &q),
          CHIMNEY_ST_SUCCESS);
    mis_u(&m, "path query status",
          env_query_path(env, false, k->c.p->slot, &ps), CHIMNEY_ST_SUCCESS);
    mis_u(&m, "neighbor query status", env_query_neigh(env, k->c.n->slot, &ns),
          CHIMNEY_ST_SUCCESS);
    /* time may have moved by a tick: TsTime and the deltas aside */
    q.d.ts_time = k->q.d.ts_time;
    ns.k.host_reachability_delta = k->ns.k.host_reachability_delta;
    ns.d.nic_reachability_delta = k->ns.d.nic_reachability_delta;
    mis_mem(&m, "TCP state", &q, &k->q, sizeof(q));
    mis_mem(&m, "path state", &ps, &k->ps, sizeof(ps));
    mis_mem(&m, "neighbor state", &ns, &k->ns, sizeof(ns));
    if (m.n) {
        env_soft_fail(env, "the canary connection changed after %s:%s", after,
                      m.s->str);
    }
    g_string_free(m.s, TRUE);
}

/* ERR_COUNT went up since *errs (then remember the new value). */
void env_expect_guest_error(ChimneyTestEnv *env, uint32_t *errs,
                            const char *what)
{
    uint32_t now = env_err_count(env);

    if (now <= *errs) {
        env_soft_fail(env, "%s: ERR_COUNT did not increase (%u)", what, now);
    }
    *errs = now;
}

/*
 * A raw tree that must be refused as a whole: the command status, no
 * block written (status still poisoned), a guest error, nothing changed.
 */
void env_expect_tree_refused(ChimneyTestEnv *env, ChimneyTestRaw *r,
                             uint16_t opcode, uint64_t root, uint32_t status,
                             uint32_t *errs, Canary *k, const char *what)
{
    g_autofree uint8_t *before = NULL, *after = NULL;
    uint32_t info = 0xdead, st;

    raw_put(r);
    before = raw_get(r);
    st = env->raw_cmd(env, opcode, root, 0, 0, &info);
    if (st != status) {
        env_soft_fail(env, "%s: command status 0x%x, expected 0x%x", what, st,
                      status);
    } else if (info && info != CHIMNEY_TEST_INFO_UNKNOWN) {
        env_soft_fail(env, "%s: CMD_DONE info %u, expected 0", what, info);
    }
    after = raw_get(r);
    if (memcmp(before, after, r->used)) {
        env_soft_fail(env, "%s: the refused tree was written to", what);
    }
    env_expect_guest_error(env, errs, what);
    env_canary_check(env, k, what);
}

/* A walked raw tree: block @blk got @status; a guest error; canary. */
void env_expect_block(ChimneyTestEnv *env, ChimneyTestRaw *r,
                      uint16_t opcode, uint64_t root, uint64_t blk,
                      uint32_t status, bool guest_error, uint32_t *errs,
                      Canary *k, const char *what)
{
    uint32_t st = env_raw_run(env, r, opcode, root, NULL);

    if (st != CHIMNEY_ST_SUCCESS) {
        env_soft_fail(env, "%s: command status 0x%x, expected the tree to be "
                      "walked", what, st);
    } else {
        st = raw_status(r, blk);
        if (st != status) {
            env_soft_fail(env, "%s: block status 0x%x, expected 0x%x", what, st,
                          status);
        }
    }
    if (guest_error) {
        env_expect_guest_error(env, errs, what);
    }
    env_canary_check(env, k, what);
}

void env_run_bad_cases(ChimneyTestEnv *env, ChimneyTestRaw *r, Canary *k,
                       const BadCtx *x, const BadCase *cases, size_t n,
                       uint32_t *errs)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const BadCase *c = &cases[i];
        uint64_t blk = 0, root = c->build(r, x, &blk);

        if (c->refused) {
            env_expect_tree_refused(env, r, c->opcode, root, c->status,
                                    errs, k, c->what);
        } else {
            env_expect_block(env, r, c->opcode, root, blk, c->status, true,
                             errs, k, c->what);
        }
    }
}
