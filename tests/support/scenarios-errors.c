/*
 * chimney-nic test scenarios, spec chapter "Error handling": malformed
 * trees, as tables of bad-input cases (chimney-test-bad.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

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

const ChimneyScenario chimney_scenarios_errors[] = {
    { "bad-input-lengths", scn_bad_lengths },
    { NULL, NULL },
};
