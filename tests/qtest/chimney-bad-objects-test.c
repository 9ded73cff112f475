/*
 * QTest testcases for the chimney-nic offload target.
 *
 * Error handling, bad references: DMA addresses outside memory, stale
 * and foreign handles, objects with dependents, duplicate 4-tuples,
 * offload disabled.
 *
 * Helpers, context and conventions: chimney-offload-qtest.h (with the
 * canary connection and the expect_* checks of bad input).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

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
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE,
                                     BAD_GPA, 0,
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
    c = hb_tcp(&t->env->hb, 1001, 80);      /* b's, in the same tree */
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
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE,
                                     BAD_GPA, 0,
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

static void register_chimney_bad_objects_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "bad-input-dma", test_bad_dma },
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

libqos_init(register_chimney_bad_objects_test);

#endif /* !_WIN32 */
