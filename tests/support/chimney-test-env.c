/*
 * chimney-nic test support: the scenario interface's shared part (see
 * chimney-test-env.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "chimney-test-env.h"

static void rec_add(ChimneyTestEnv *env, int kind, uint64_t cookie,
                    uint64_t handle, uint16_t type, uint32_t a, uint32_t b)
{
    ChimneyTestRec r = { kind, cookie, handle, type, a, b };

    /* the core never calls the host with its lock held */
    g_assert_false(env->locked(env));
    g_array_append_val(env->recs, r);
}

static void ev_tcp(void *ctx, uint64_t ndis, uint64_t handle, uint16_t type,
                   uint32_t info)
{
    rec_add(ctx, 'T', ndis, handle, type, info, 0);
}

static void ev_neigh(void *ctx, uint64_t ndis, uint64_t handle, uint32_t nrd)
{
    rec_add(ctx, 'N', ndis, handle, 0, nrd, 0);
}

static void ev_status(void *ctx, uint16_t code)
{
    rec_add(ctx, 'S', 0, 0, 0, code, 0);
}

static void ev_link(void *ctx, int up)
{
    rec_add(ctx, 'L', 0, 0, 0, up, 0);
}

static void ev_io(void *ctx, uint64_t cookie, uint64_t handle, uint16_t type,
                  uint32_t status, uint32_t info)
{
    rec_add(ctx, 'I', cookie, handle, type, status, info);
}

/* An indication: record it ('D': handle, total, frags), take its bytes. */
static u32 ev_indicate(void *ctx, u64 ndis, u64 handle,
                       const struct chimney_drv_ind_frag *frags, u32 nfrags,
                       u32 total)
{
    ChimneyTestEnv *env = ctx;
    uint32_t i, take;

    rec_add(env, 'D', ndis, handle, CHIMNEY_EVT_RECV_INDICATE, total,
            nfrags);
    for (i = 0; i < nfrags; i++) {
        g_autofree uint8_t *buf = g_malloc(frags[i].len);

        chimney_drv_ind_read(env->drv, &frags[i], 0, buf, frags[i].len);
        g_byte_array_append(env->ind_data, buf, frags[i].len);
    }
    if (env->ind_defer) {
        g_byte_array_set_size(env->ind_data, env->ind_data->len - total);
        return CHIMNEY_DRV_IND_DEFER;
    }
    take = env->ind_accept < 0 ? total : MIN((uint32_t)env->ind_accept,
                                             total);
    /* what the host did not take is indicated again later: forget it */
    g_byte_array_set_size(env->ind_data, env->ind_data->len - (total - take));
    return take;
}

static const struct chimney_drv_event_ops env_evt_ops = {
    .on_indicate = ev_indicate,
    .on_tcp_event = ev_tcp,
    .on_neigh_query = ev_neigh,
    .on_status = ev_status,
    .on_link = ev_link,
    .on_io_done = ev_io,
};

void env_init(ChimneyTestEnv *env)
{
    g_assert_nonnull(env->drv);
    hb_set_init(&env->hb);
    env->recs = g_array_new(FALSE, TRUE, sizeof(ChimneyTestRec));
    env->ind_data = g_byte_array_new();
    env->ind_accept = -1;
    env->soft = g_string_new(NULL);
    env->nsoft = 0;
    chimney_drv_set_event_ops(env->drv, &env_evt_ops, env);
}

void env_start(ChimneyTestEnv *env)
{
    g_assert_cmphex(env_set_params(env, 1000, 0), ==, CHIMNEY_ST_SUCCESS);
}

void env_ind_start(ChimneyTestEnv *env, uint32_t slots, uint32_t buf_size)
{
    g_assert_cmpint(chimney_drv_ind_start(env->drv, slots, buf_size), ==, 0);
}

void env_fini(ChimneyTestEnv *env)
{
    if (env->nsoft) {
        g_error("%s: %u check(s) failed:%s", env->name, env->nsoft,
                env->soft->str);
    }
    g_string_free(env->soft, TRUE);
    g_array_free(env->recs, TRUE);
    g_byte_array_free(env->ind_data, TRUE);
    hb_set_free(&env->hb);
    g_assert_cmpuint(env->drv->n_unknown_event, ==, 0);
}

void env_soft_fail(ChimneyTestEnv *env, const char *fmt, ...)
{
    va_list ap;

    g_string_append(env->soft, "\n  ");
    va_start(ap, fmt);
    g_string_append_vprintf(env->soft, fmt, ap);
    va_end(ap);
    env->nsoft++;
}

void env_wait(ChimneyTestEnv *env, const unsigned *counter, unsigned want)
{
    int i;

    for (i = 0; i < CHIMNEY_TEST_WAIT_ITERS && *counter < want; i++) {
        if (!env->poll(env) && *counter < want) {
            env->clock_step(env, env->poll_step_ns);
        }
    }
    if (*counter < want) {
        g_error("%s: no completion: %u of %u callbacks (pending %u)",
                env->name, *counter, want, chimney_drv_pending(env->drv));
    }
}

void env_settle(ChimneyTestEnv *env, int quiet)
{
    int i, idle = 0;

    for (i = 0; i < CHIMNEY_TEST_WAIT_ITERS && idle < quiet; i++) {
        if (env->poll(env)) {
            idle = 0;
        } else {
            idle++;
            env->clock_step(env, env->poll_step_ns);
        }
    }
}

unsigned env_count_recs(ChimneyTestEnv *env, int kind, uint16_t type)
{
    unsigned i, n = 0;

    for (i = 0; i < env->recs->len; i++) {
        ChimneyTestRec *r = &g_array_index(env->recs, ChimneyTestRec, i);

        n += r->kind == kind && (!type || r->type == type);
    }
    return n;
}

const ChimneyTestRec *env_find_rec(ChimneyTestEnv *env, int kind,
                                   uint16_t type, uint64_t cookie)
{
    unsigned i;

    for (i = 0; i < env->recs->len; i++) {
        const ChimneyTestRec *r = &g_array_index(env->recs, ChimneyTestRec, i);

        if (r->kind == kind && r->type == type && r->cookie == cookie) {
            return r;
        }
    }
    return NULL;
}

void env_cmd_done(void *ctx, uint32_t status)
{
    ChimneyTestDone *d = ctx;

    g_assert_false(d->env->locked(d->env));
    d->calls++;
    d->status = status;
}

void env_tree_done(void *ctx, struct chimney_offload_block *root,
                   uint32_t status)
{
    ChimneyTestDone *d = ctx;

    g_assert_false(d->env->locked(d->env));
    d->calls++;
    d->status = status;
    d->root = root;
}

uint32_t env_set_params(ChimneyTestEnv *env, uint32_t tps,
                        uint32_t nce_stale)
{
    ChimneyOffloadParams p = {
        .ticks_per_second = GUINT32_TO_LE(tps),
        .ack_frequency = 2,
        .delayed_ack_ticks = 200,
        .max_retransmissions = 5,
        .dup_ack_threshold = GUINT32_TO_LE(3),
        .push_ticks = GUINT32_TO_LE(500),
        .nce_stale_ticks = GUINT32_TO_LE(nce_stale),
    };
    ChimneyTestDone d = { .env = env };

    g_assert_cmpint(chimney_drv_set_params(env->drv, &p, env_cmd_done, &d),
                    ==, 0);
    env_wait(env, &d.calls, 1);
    g_assert_cmpuint(d.calls, ==, 1);
    return d.status;
}

uint32_t env_set_vlans(ChimneyTestEnv *env, const uint16_t *ids, uint32_t n)
{
    ChimneyTestDone d = { .env = env };

    g_assert_cmpint(chimney_drv_set_vlans(env->drv, ids, n, env_cmd_done,
                                          &d), ==, 0);
    env_wait(env, &d.calls, 1);
    g_assert_cmpuint(d.calls, ==, 1);
    return d.status;
}

uint32_t env_run_tree(ChimneyTestEnv *env, ChimneyTestTreeOp op,
                      ChimneyTestHBlk *root)
{
    struct chimney_offload_block *blk[64];
    ChimneyTestDone d = { .env = env };
    unsigned n, i;

    n = hb_walk(&root->b, blk, G_N_ELEMENTS(blk));
    g_assert_cmpint(op(env->drv, &root->b, env_tree_done, &d), ==, 0);
    for (i = 0; i < n; i++) {
        g_assert_cmphex(blk[i]->status, ==, CHIMNEY_ST_PENDING);
    }
    env_wait(env, &d.calls, 1);
    g_assert_cmpuint(d.calls, ==, 1);
    g_assert_true(d.root == &root->b);
    for (i = 0; i < n; i++) {
        g_assert_cmphex(blk[i]->status, !=, CHIMNEY_ST_PENDING);
        g_assert_cmphex(blk[i]->status, !=, CHIMNEY_TEST_STATUS_POISON);
    }
    return d.status;
}

void env_run_ok(ChimneyTestEnv *env, ChimneyTestTreeOp op,
                ChimneyTestHBlk *root)
{
    g_assert_cmphex(env_run_tree(env, op, root), ==, CHIMNEY_ST_SUCCESS);
}

uint32_t env_offload_status(ChimneyTestEnv *env,
                            ChimneyTestHBlk *parent_linker,
                            ChimneyTestHBlk *blk)
{
    if (parent_linker) {
        hb_dep(parent_linker, blk);
        env_run_ok(env, OP_INITIATE, parent_linker);
    } else {
        env_run_ok(env, OP_INITIATE, blk);
    }
    return blk->b.status;
}

void env_offload_ok(ChimneyTestEnv *env, ChimneyTestHBlk *root)
{
    struct chimney_offload_block *blk[64];
    unsigned n, i;

    env_run_ok(env, OP_INITIATE, root);
    n = hb_walk(&root->b, blk, G_N_ELEMENTS(blk));
    for (i = 0; i < n; i++) {
        g_assert_cmphex(blk[i]->status, ==, CHIMNEY_ST_SUCCESS);
    }
}

uint32_t env_query_tcp(ChimneyTestEnv *env, uint64_t h,
                       ChimneyTestTcpState *out)
{
    ChimneyTestHBlk *q = hb_query_tcp(&env->hb, h);

    env_run_ok(env, OP_QUERY, q);
    if (out) {
        memcpy(out, q->st, sizeof(*out));
    }
    return q->b.status;
}

uint32_t env_query_path(ChimneyTestEnv *env, bool v6, uint64_t h,
                        ChimneyTestPathState *out)
{
    ChimneyTestHBlk *q = hb_query_path(&env->hb, v6, h);

    env_run_ok(env, OP_QUERY, q);
    if (out) {
        memcpy(out, q->st, sizeof(*out));
    }
    return q->b.status;
}

uint32_t env_query_neigh(ChimneyTestEnv *env, uint64_t h,
                         ChimneyTestNeighState *out)
{
    ChimneyTestHBlk *q = hb_query_neigh(&env->hb, h);

    env_run_ok(env, OP_QUERY, q);
    if (out) {
        memcpy(out, q->st, sizeof(*out));
    }
    return q->b.status;
}

uint32_t env_terminate_one(ChimneyTestEnv *env, uint16_t type, uint64_t h)
{
    ChimneyTestHBlk *r = hb_obj(&env->hb, type, h);

    env_run_ok(env, OP_TERMINATE, r);
    return r->b.status;
}

int env_dma_alloc(ChimneyTestEnv *env, uint32_t len,
                  struct chimney_dma_buf *b)
{
    struct chimney_os *os = &env->drv->os;

    return os->ops->dma_alloc(os->ctx, len, b);
}

void env_dma_free(ChimneyTestEnv *env, struct chimney_dma_buf *b)
{
    struct chimney_os *os = &env->drv->os;

    os->ops->dma_free(os->ctx, b);
}

void env_dma_write(ChimneyTestEnv *env, const struct chimney_dma_buf *b,
                   uint32_t off, const void *src, uint32_t len)
{
    struct chimney_os *os = &env->drv->os;

    os->ops->dma_write(os->ctx, b, off, src, len);
    env->dma_sync(env);
}

void env_dma_read(ChimneyTestEnv *env, const struct chimney_dma_buf *b,
                  uint32_t off, void *dst, uint32_t len)
{
    struct chimney_os *os = &env->drv->os;

    env->dma_sync(env);
    os->ops->dma_read(os->ctx, b, off, dst, len);
}

void env_fill_buf(ChimneyTestEnv *env, struct chimney_dma_buf *b,
                  uint32_t len, uint8_t seed)
{
    uint8_t *p = g_malloc(len);
    uint32_t i;

    for (i = 0; i < len; i++) {
        p[i] = seed + i * 7 + (i >> 8);
    }
    g_assert_cmpint(env_dma_alloc(env, len, b), ==, 0);
    env_dma_write(env, b, 0, p, len);
    g_free(p);
}

uint8_t *env_buf_bytes(ChimneyTestEnv *env, const struct chimney_dma_buf *b)
{
    uint8_t *p = g_malloc(b->len);

    env_dma_read(env, b, 0, p, b->len);
    return p;
}

void env_raw_init(ChimneyTestEnv *env, ChimneyTestRaw *r, uint32_t cap)
{
    uint64_t a = env->mem_alloc(env, cap + 64);

    raw_init_at(r, &env->mem, (a + 63) & ~63ull, cap);
}

uint32_t env_raw_run(ChimneyTestEnv *env, ChimneyTestRaw *r, uint16_t opcode,
                     uint64_t root, uint32_t *info)
{
    raw_put(r);
    return env->raw_cmd(env, opcode, root, 0, 0, info);
}

void env_check_handle(uint64_t h, unsigned kind)
{
    g_assert_cmphex(h, !=, 0);
    g_assert_cmpuint(CHIMNEY_HANDLE_KIND(h), ==, kind);
    g_assert_cmphex(h & 0xf0000000u, ==, 0);
    g_assert_cmpuint(CHIMNEY_HANDLE_GEN(h), !=, 0);
}

void env_clock_mid_tick(ChimneyTestEnv *env)
{
    int64_t now = env->clock_step(env, 1);

    env->clock_step(env, CHIMNEY_TEST_NS_PER_MS -
                    now % CHIMNEY_TEST_NS_PER_MS +
                    CHIMNEY_TEST_NS_PER_MS / 2);
}

uint32_t env_err_count(ChimneyTestEnv *env)
{
    return env->reg_read(env, CHIMNEY_REG_ERR_COUNT);
}

/*
 * Mismatch collection
 */

void mis_init(Mis *m)
{
    m->s = g_string_new(NULL);
    m->n = 0;
}

void mis_u(Mis *m, const char *what, uint64_t got, uint64_t want)
{
    if (got != want) {
        g_string_append_printf(m->s, "\n  %s: got 0x%" PRIx64 " (%" PRIu64
                               "), expected 0x%" PRIx64 " (%" PRIu64 ")",
                               what, got, got, want, want);
        m->n++;
    }
}

void mis_mem(Mis *m, const char *what, const void *got, const void *want,
             size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (((const uint8_t *)got)[i] != ((const uint8_t *)want)[i]) {
            g_string_append_printf(m->s, "\n  %s: byte %zu of %zu is 0x%02x,"
                                   " expected 0x%02x", what, i, len,
                                   ((const uint8_t *)got)[i],
                                   ((const uint8_t *)want)[i]);
            m->n++;
            return;
        }
    }
}

void mis_check(Mis *m, const char *ctx)
{
    if (m->n) {
        g_error("%s: %u mismatch(es):%s", ctx, m->n, m->s->str);
    }
    g_string_free(m->s, TRUE);
}
