/*
 * QTest testcases for the chimney-nic offload target.
 *
 * State trees: traversal order, per-block statuses, placeholders and
 * linkers, handles, partial failure, host handles in events, what the
 * device writes back (rules 007-019).
 *
 * Helpers, context and conventions: chimney-offload-qtest.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-offload-qtest.h"

#ifndef _WIN32

/*
 * Tests: tree and handles (rules 007-019)
 */

/*
 * The device tree the core wrote for a host tree (capture mode): check
 * that, for every block, the device wrote status and flags, wrote a
 * handle only into a NEW block it offloaded (rules 011, 012), and left
 * every other byte of the block as submitted (rule 017); the state after
 * the blocks too, unless the operation writes it (QUERY, TERMINATE).
 */
static void check_device_tree(T *t, HBlk *root, uint16_t opcode,
                              const uint16_t *roles)
{
    QChimneyCapture *c = qchimney_last_capture(&t->qe.os);
    ChimneyOffloadBlock *blk[64];
    unsigned n, i;
    bool out_state = opcode == CHIMNEY_CMD_QUERY ||
                     opcode == CHIMNEY_CMD_TERMINATE;
    Mis m;

    g_assert_nonnull(c);
    mis_init(&m);
    n = tree_walk(&root->b, blk, G_N_ELEMENTS(blk));
    for (i = 0; i < n; i++) {
        ChimneyOffloadBlock *b = blk[i];
        uint32_t off = b->drv_offset;
        ChimneyBlock sub, fin;
        uint16_t role = roles[i];
        bool new_ok = opcode == CHIMNEY_CMD_INITIATE &&
                      role == CHIMNEY_ROLE_NEW &&
                      (b->status == CHIMNEY_ST_SUCCESS ||
                       b->status == CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);
        char what[64];

        g_assert_cmpuint(off + sizeof(sub) + b->state_len, <=, c->len);
        memcpy(&sub, c->submitted + off, sizeof(sub));
        memcpy(&fin, c->final + off, sizeof(fin));
        snprintf(what, sizeof(what), "block %u status", i);
        mis_u(&m, what, le32_to_cpu(fin.status), b->status);
        snprintf(what, sizeof(what), "block %u flags", i);
        mis_u(&m, what, le32_to_cpu(fin.flags),
              new_ok ? CHIMNEY_BLKF_HANDLE_VALID : 0);
        snprintf(what, sizeof(what), "block %u handle", i);
        if (new_ok) {
            mis_u(&m, what, le64_to_cpu(fin.handle),
                  *b->miniport_offload_context);
        } else {
            mis_u(&m, what, le64_to_cpu(fin.handle), le64_to_cpu(sub.handle));
        }
        snprintf(what, sizeof(what), "block %u bytes 0..23", i);
        mis_mem(&m, what, &fin, &sub, offsetof(ChimneyBlock, status));
        snprintf(what, sizeof(what), "block %u bytes 40..63", i);
        mis_mem(&m, what, &fin.host_handle, &sub.host_handle,
                sizeof(fin) - offsetof(ChimneyBlock, host_handle));
        if (!out_state && b->state_len) {
            snprintf(what, sizeof(what), "block %u state", i);
            mis_mem(&m, what, c->final + off + sizeof(sub),
                    c->submitted + off + sizeof(sub), b->state_len);
        }
    }
    mis_check(&m, "device tree in guest memory");
}

/* Run a tree with capture on and check its guest-memory image. */
static uint32_t run_tree_checked(T *t, TreeOp op, uint16_t opcode,
                                 HBlk *root)
{
    ChimneyOffloadBlock *blk[64];
    uint16_t roles[64];
    unsigned n, i;
    uint32_t st;

    /* roles as submitted (a NEW block's slot is filled on success) */
    n = tree_walk(&root->b, blk, G_N_ELEMENTS(blk));
    for (i = 0; i < n; i++) {
        roles[i] = chimney_drv_block_role(blk[i], opcode);
    }
    qchimney_capture(&t->qe.os, true);
    st = run_tree(t, op, root);
    qchimney_capture(&t->qe.os, false);
    if (st == CHIMNEY_ST_SUCCESS) {
        check_device_tree(t, root, opcode, roles);
    }
    qchimney_release_captures(&t->qe.os);
    return st;
}

/*
 * rule 008: every block's status is written, whatever its role and
 * result, in all five operations (run_tree() checks the host tree,
 * check_device_tree() the device's own copy in guest memory).
 */
static void test_rule_008(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    HBlk *n1, *p1, *tc1, *tc2, *pph, *p2, *tc3, *n2, *plk, *tc4, *n3;
    HBlk *q[6];
    NeighState ns;
    TcpState ts;
    ChimneyTcpCached tk;

    n1 = hb_neigh(&t->env->hb, peer_mac, 0);
    p1 = hb_path4(&t->env->hb, 1, 2, 1500);
    tc1 = hb_tcp(&t->env->hb, 1000, 80);
    tc2 = hb_tcp(&t->env->hb, 1000, 80);                  /* DUPLICATE */
    pph = hb_placeholder(&t->env->hb, CHIMNEY_TYPE_IP4);
    p2 = hb_path4(&t->env->hb, 1, 3, CHIMNEY_MAX_PATH_MTU + 1);
    tc3 = hb_tcp(&t->env->hb, 1001, 80);                  /* FAILURE: parent failed */
    hb_dep(n1, p1);
    hb_dep(p1, tc1);
    hb_next(tc1, tc2);
    hb_next(p1, pph);
    hb_next(pph, p2);
    hb_dep(p2, tc3);
    /* a placeholder neighbor over a linker path carrying a new TCP */
    n2 = hb_placeholder(&t->env->hb, CHIMNEY_TYPE_NEIGH);
    hb_next(n1, n2);
    neigh_state(&ns, peer2_mac, 0);
    ns.c.dl_src_addr[5] = 1;                    /* HW_ADDRESS_ENTRIES */
    n3 = hb_neigh_state(&t->env->hb, &ns);
    hb_next(n2, n3);
    g_assert_cmphex(run_tree_checked(t, OP_INITIATE, CHIMNEY_CMD_INITIATE,
                                     n1), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tc1->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tc2->b.status, ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(p1->b.status, ==, CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);
    g_assert_cmphex(pph->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(p2->b.status, ==, CHIMNEY_ST_OFFLOAD_PATH_MTU);
    g_assert_cmphex(tc3->b.status, ==, CHIMNEY_ST_FAILURE);
    g_assert_cmphex(n1->b.status, ==, CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);
    g_assert_cmphex(n2->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(n3->b.status, ==, CHIMNEY_ST_OFFLOAD_HW_ADDRESS_ENTRIES);

    /* linker under a placeholder: a second tree */
    n2 = hb_placeholder(&t->env->hb, CHIMNEY_TYPE_NEIGH);
    plk = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p1->slot);
    tc4 = hb_tcp(&t->env->hb, 1002, 80);
    hb_dep(n2, plk);
    hb_dep(plk, tc4);
    g_assert_cmphex(run_tree_checked(t, OP_INITIATE, CHIMNEY_CMD_INITIATE,
                                     n2), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(tc4->b.status, ==, CHIMNEY_ST_SUCCESS);

    /* root failure: the rest NOT_ATTEMPTED, still written */
    n3 = hb_neigh_state(&t->env->hb, &ns);
    hb_dep(n3, hb_path4(&t->env->hb, 1, 4, 1500));
    hb_next(n3, build_npt(t, NULL, q, 1, 3000));
    g_assert_cmphex(run_tree_checked(t, OP_INITIATE, CHIMNEY_CMD_INITIATE,
                                     n3), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[0]->b.status, ==, CHIMNEY_ST_NOT_ATTEMPTED);

    /* QUERY: placeholder, good and stale references */
    q[0] = hb_placeholder(&t->env->hb, CHIMNEY_TYPE_NEIGH);
    q[1] = hb_ref(&t->env->hb, CHIMNEY_TYPE_IP4, p1->slot, 3, path_sizes);
    q[2] = hb_ref(&t->env->hb, CHIMNEY_TYPE_TCP, tc1->slot, 3, tcp_sizes);
    q[3] = hb_ref(&t->env->hb, CHIMNEY_TYPE_TCP_CONST, tc1->slot + (1ull << 32), 1,
                  tcp_sizes);
    q[4] = hb_ref(&t->env->hb, CHIMNEY_TYPE_NEIGH_CACHED, n1->slot, 1,
                  &neigh_sizes[1]);
    hb_dep(q[0], q[1]);
    hb_dep(q[1], q[2]);
    hb_next(q[2], q[3]);
    hb_next(q[0], q[4]);
    g_assert_cmphex(run_tree_checked(t, OP_QUERY, CHIMNEY_CMD_QUERY, q[0]),
                    ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[2]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[3]->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    g_assert_cmphex(q[4]->b.status, ==, CHIMNEY_ST_SUCCESS);

    /* UPDATE: a cached TCP structure and a failing one */
    memset(&tk, 0, sizeof(tk));
    tk.hdr.length = cpu_to_le32(sizeof(tk));
    tk.initial_rcv_wnd = cpu_to_le32(65535);
    tk.ttl_hop_limit = 33;
    q[0] = hb_placeholder(&t->env->hb, CHIMNEY_TYPE_IP4);
    q[1] = hb_new(&t->env->hb, CHIMNEY_TYPE_TCP_CACHED, true, tc1->slot, &tk,
                  sizeof(tk));
    tk.initial_rcv_wnd = cpu_to_le32(CHIMNEY_MAX_RCV_WND + 1);
    q[2] = hb_new(&t->env->hb, CHIMNEY_TYPE_TCP_CACHED, true, tc4->slot, &tk,
                  sizeof(tk));
    hb_dep(q[0], q[1]);
    hb_next(q[1], q[2]);
    g_assert_cmphex(run_tree_checked(t, OP_UPDATE, CHIMNEY_CMD_UPDATE, q[0]),
                    ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[2]->b.status, ==, CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW);

    /* INVALIDATE: a placeholder and a stale handle */
    q[0] = hb_placeholder(&t->env->hb, CHIMNEY_TYPE_IP4);
    q[1] = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, tc4->slot);
    q[2] = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, tc4->slot ^ (3ull << 40));
    hb_dep(q[0], q[1]);
    hb_next(q[1], q[2]);
    g_assert_cmphex(run_tree_checked(t, OP_INVALIDATE,
                                     CHIMNEY_CMD_INVALIDATE, q[0]), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[2]->b.status, ==, CHIMNEY_ST_BAD_HANDLE);

    /* TERMINATE: everything, with a delegated structure for one TCP */
    tcp_state(&ts, 0, 0);
    q[0] = hb_obj(&t->env->hb, CHIMNEY_TYPE_NEIGH, n1->slot);
    q[1] = hb_obj(&t->env->hb, CHIMNEY_TYPE_IP4, p1->slot);
    q[2] = hb_ref(&t->env->hb, CHIMNEY_TYPE_TCP_DELEGATED, tc1->slot, 1, &tcp_sizes[2]);
    q[3] = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, tc4->slot);
    q[4] = hb_placeholder(&t->env->hb, CHIMNEY_TYPE_NEIGH);
    q[5] = hb_obj(&t->env->hb, CHIMNEY_TYPE_TCP, tc1->slot);      /* twice: stale */
    hb_dep(q[0], q[1]);
    hb_dep(q[1], q[2]);
    hb_next(q[2], q[3]);
    hb_next(q[0], q[4]);
    hb_next(q[4], hb_placeholder(&t->env->hb, CHIMNEY_TYPE_NEIGH));
    g_assert_cmphex(run_tree_checked(t, OP_TERMINATE, CHIMNEY_CMD_TERMINATE,
                                     q[0]), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[0]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[1]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[2]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[3]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[4]->b.status, ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(run_tree_checked(t, OP_TERMINATE, CHIMNEY_CMD_TERMINATE,
                                     q[5]), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(q[5]->b.status, ==, CHIMNEY_ST_BAD_HANDLE);
    t_end(t);
}

/*
 * rules 011, 012: the handle is written (and the core stores it in the
 * slot) only for a NEW block whose object was created, also with partial
 * success; a failed block's slot and handle field stay as they were.
 */
static void test_rule_011_012(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    HBlk *n, *p, *tc[3];
    Raw r;
    uint64_t rn, rp, rt1, rt2;
    ChimneyBlock b;
    TcpState s;

    n = build_npt(t, &p, tc, 2, 1000);
    tcp_state(&s, 1002, 80);
    s.c.remote_mss = 0;                         /* INVALID_PARAMETER */
    tc[2] = hb_tcp_state(&t->env->hb, &s);
    hb_next(tc[1], tc[2]);
    g_assert_cmphex(run_tree_checked(t, OP_INITIATE, CHIMNEY_CMD_INITIATE,
                                     n), ==, CHIMNEY_ST_SUCCESS);
    env_check_handle(n->slot, CHIMNEY_KIND_NEIGH);
    g_assert_cmphex(p->b.status, ==, CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS);
    env_check_handle(p->slot, CHIMNEY_KIND_PATH);
    env_check_handle(tc[0]->slot, CHIMNEY_KIND_TCP);
    env_check_handle(tc[1]->slot, CHIMNEY_KIND_TCP);
    g_assert_cmphex(tc[0]->slot, !=, tc[1]->slot);
    g_assert_cmphex(tc[2]->b.status, ==, CHIMNEY_ST_INVALID_PARAMETER);
    g_assert_cmphex(tc[2]->slot, ==, 0);

    /* raw: a failed NEW block keeps whatever its handle field held */
    raw_init(t, &r, 4096);
    rn = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL,
                   0);
    rp = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_LINKER, p->slot, NULL,
                   0);
    rt1 = raw_tcp(&r, 1000, 80);                /* DUPLICATE */
    rt2 = raw_tcp(&r, 1003, 80);
    raw_dep(&r, rn, rp);
    raw_dep(&r, rp, rt1);
    raw_next(&r, rt1, rt2);
    g_assert_cmphex(raw_run(t, &r, CHIMNEY_CMD_INITIATE, rn, NULL), ==,
                    CHIMNEY_ST_SUCCESS);
    b = raw_result(&r, rt1);
    g_assert_cmphex(le32_to_cpu(b.status), ==, CHIMNEY_ST_DUPLICATE);
    g_assert_cmphex(le32_to_cpu(b.flags), ==, 0);
    g_assert_cmphex(le64_to_cpu(b.handle), ==, POISON64);
    b = raw_result(&r, rt2);
    g_assert_cmphex(le32_to_cpu(b.status), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(le32_to_cpu(b.flags), ==, CHIMNEY_BLKF_HANDLE_VALID);
    env_check_handle(le64_to_cpu(b.handle), CHIMNEY_KIND_TCP);
    /* linker and placeholder: no handle written, flags 0 */
    b = raw_result(&r, rp);
    g_assert_cmphex(le64_to_cpu(b.handle), ==, p->slot);
    g_assert_cmphex(le32_to_cpu(b.flags), ==, 0);
    b = raw_result(&r, rn);
    g_assert_cmphex(le64_to_cpu(b.handle), ==, 0);
    g_assert_cmphex(le32_to_cpu(b.flags), ==, 0);
    raw_free(&r);
    t_end(t);
}

/*
 * rule 017: the device writes nothing in a block but status, flags and
 * (NEW, offloaded) handle.  A raw tree with every other field poisoned
 * (reserved words, host_handle, NEW blocks' handle), in INITIATE, UPDATE,
 * QUERY and INVALIDATE; the state after INITIATE/UPDATE/INVALIDATE
 * blocks is input and stays too.
 */
static void check_raw_tree(T *t, Raw *r, const uint8_t *before,
                           const uint64_t *blocks, unsigned n,
                           bool state_is_output, const char *ctx)
{
    g_autofree uint8_t *after = raw_get(r);
    unsigned i;
    Mis m;

    mis_init(&m);
    for (i = 0; i < n; i++) {
        uint32_t off = blocks[i] - r->base;
        const ChimneyBlock *b0 = (const ChimneyBlock *)(before + off);
        const ChimneyBlock *b1 = (const ChimneyBlock *)(after + off);
        uint32_t flags = le32_to_cpu(b1->flags);
        char what[64];

        snprintf(what, sizeof(what), "block %u status written", i);
        mis_u(&m, what, le32_to_cpu(b1->status) == STATUS_POISON, 0);
        snprintf(what, sizeof(what), "block %u flags", i);
        mis_u(&m, what, flags & ~CHIMNEY_BLKF_HANDLE_VALID, 0);
        if (!(flags & CHIMNEY_BLKF_HANDLE_VALID)) {
            snprintf(what, sizeof(what), "block %u handle", i);
            mis_u(&m, what, le64_to_cpu(b1->handle),
                  le64_to_cpu(b0->handle));
        }
        snprintf(what, sizeof(what), "block %u bytes 0..23", i);
        mis_mem(&m, what, b1, b0, offsetof(ChimneyBlock, status));
        snprintf(what, sizeof(what), "block %u bytes 40..63", i);
        mis_mem(&m, what, &b1->host_handle, &b0->host_handle,
                sizeof(*b0) - offsetof(ChimneyBlock, host_handle));
        if (!state_is_output) {
            snprintf(what, sizeof(what), "block %u state", i);
            mis_mem(&m, what, b1 + 1, b0 + 1,
                    le32_to_cpu(b0->size) - sizeof(*b0));
        }
    }
    mis_check(&m, ctx);
}

static void test_rule_017(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Raw r;
    uint64_t b[8], th[2];
    g_autofree uint8_t *before = NULL;
    ChimneyTcpCached tk;
    uint8_t qst[sizeof(TcpState)];
    unsigned i;

    /* INITIATE: N{P{T1,T2 dup}}, placeholder N2 */
    raw_init(t, &r, 16384);
    b[0] = raw_neigh(&r, peer_mac, 0);
    b[1] = raw_path4(&r, 1, 2, 1500);
    b[2] = raw_tcp(&r, 1000, 80);
    b[3] = raw_tcp(&r, 1000, 80);
    b[4] = raw_block(&r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_PLACEHOLDER, 0,
                     NULL, 0);
    raw_dep(&r, b[0], b[1]);
    raw_dep(&r, b[1], b[2]);
    raw_next(&r, b[2], b[3]);
    raw_next(&r, b[0], b[4]);
    raw_put(&r);
    before = raw_get(&r);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INITIATE, b[0], 0, 0,
                                     NULL), ==, CHIMNEY_ST_SUCCESS);
    check_raw_tree(t, &r, before, b, 5, false, "INITIATE");
    g_assert_cmphex(raw_status(&r, b[3]), ==, CHIMNEY_ST_DUPLICATE);
    th[0] = raw_handle(&r, b[2]);
    env_check_handle(th[0], CHIMNEY_KIND_TCP);
    th[1] = raw_handle(&r, b[1]);
    env_check_handle(th[1], CHIMNEY_KIND_PATH);
    g_free(before);

    /* UPDATE: placeholder P { TCP cached } */
    raw_init(t, &r, 4096);
    memset(&tk, 0, sizeof(tk));
    tk.hdr.length = cpu_to_le32(sizeof(tk));
    tk.initial_rcv_wnd = cpu_to_le32(65535);
    tk.ttl_hop_limit = 99;
    b[0] = raw_block(&r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_PLACEHOLDER, 0, NULL,
                     0);
    b[1] = raw_block(&r, CHIMNEY_TYPE_TCP_CACHED, CHIMNEY_ROLE_REF, th[0],
                     &tk, sizeof(tk));
    raw_dep(&r, b[0], b[1]);
    raw_put(&r);
    before = raw_get(&r);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_UPDATE, b[0], 0, 0,
                                     NULL), ==, CHIMNEY_ST_SUCCESS);
    check_raw_tree(t, &r, before, b, 2, false, "UPDATE");
    g_assert_cmphex(raw_status(&r, b[1]), ==, CHIMNEY_ST_SUCCESS);
    g_free(before);

    /* QUERY: the state is output, the blocks are not */
    raw_init(t, &r, 4096);
    memset(qst, 0, sizeof(qst));
    for (i = 0; i < 3; i++) {
        static const uint32_t at[3] = { 0, sizeof(ChimneyTcpConst),
                                        sizeof(ChimneyTcpConst) +
                                        sizeof(ChimneyTcpCached) };
        ChimneyStateHdr h = { .length = cpu_to_le32(tcp_sizes[i]) };

        memcpy(qst + at[i], &h, sizeof(h));
    }
    b[0] = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, th[0], qst,
                     sizeof(qst));
    {
        ChimneyPathCached pk = { .hdr = HDR(ChimneyPathCached) };

        b[1] = raw_block(&r, CHIMNEY_TYPE_IP4_CACHED, CHIMNEY_ROLE_REF,
                         th[1], &pk, sizeof(pk));
    }
    raw_dep(&r, b[1], b[0]);
    raw_put(&r);
    before = raw_get(&r);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_QUERY, b[1], 0, 0,
                                     NULL), ==, CHIMNEY_ST_SUCCESS);
    check_raw_tree(t, &r, before, b, 2, true, "QUERY");
    g_assert_cmphex(raw_status(&r, b[0]), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(raw_status(&r, b[1]), ==, CHIMNEY_ST_SUCCESS);
    g_free(before);

    /* INVALIDATE */
    raw_init(t, &r, 4096);
    b[0] = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_REF, th[0], NULL, 0);
    raw_put(&r);
    before = raw_get(&r);
    g_assert_cmphex(qchimney_raw_cmd(&t->qe.os, CHIMNEY_CMD_INVALIDATE, b[0], 0,
                                     0, NULL), ==, CHIMNEY_ST_SUCCESS);
    check_raw_tree(t, &r, before, b, 1, false, "INVALIDATE");
    raw_free(&r);
    t_end(t);
}

/*
 * rule 018: path addresses are copied at INITIATE.  The host's tree in
 * guest memory is overwritten after the offload; QUERY still returns the
 * original addresses, and the ACKs of the connection carry them.  IPv4
 * bytes 4..15 are ignored on input and read 0.
 */
static void test_rule_018(void *obj, void *data, QGuestAllocator *alloc)
{
    T *t = t_start(obj, data, alloc);
    Conn c4, c6;
    PathState ps, *pin;
    QChimneyCapture *cap;
    HBlk *root;
    uint8_t junk[sizeof(ChimneyPathConst)], f[256];
    size_t len;

    rx_setup(t);
    conn_init4(&c4, 1, 2, 1000, 80);
    conn_init6(&c6, 1, 2, 1000, 80);
    root = conn_tree(t->env, &c4);
    /* garbage after the IPv4 addresses */
    pin = (PathState *)c4.p->st;
    memset(pin->c.src_addr + 4, 0x77, 12);
    memset(pin->c.dst_addr + 4, 0x66, 12);
    hb_next(root, conn_tree(t->env, &c6));
    qchimney_capture(&t->qe.os, true);
    offload_ok(t, root);
    qchimney_capture(&t->qe.os, false);
    cap = qchimney_last_capture(&t->qe.os);
    memset(junk, 0xee, sizeof(junk));
    qtest_memwrite(t->qts, cap->dma + c4.p->b.drv_offset + 64, junk,
                   sizeof(junk));
    qtest_memwrite(t->qts, cap->dma + c6.p->b.drv_offset + 64, junk,
                   sizeof(junk));

    g_assert_cmphex(query_path(t, false, c4.p->slot, &ps), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(ps.c.src_addr, 16, c4.lip, 16);     /* 4..15 zero */
    g_assert_cmpmem(ps.c.dst_addr, 16, c4.rip, 16);
    g_assert_cmpuint(le32_to_cpu(ps.c.hdr.length), ==, sizeof(ps.c));
    g_assert_cmphex(query_path(t, true, c6.p->slot, &ps), ==,
                    CHIMNEY_ST_SUCCESS);
    g_assert_cmpmem(ps.c.src_addr, 16, c6.lip, 16);
    g_assert_cmpmem(ps.c.dst_addr, 16, c6.rip, 16);

    /* on the wire: the ACKs come from the copied addresses */
    conn_send_data(t->env, &c4, "v4", 2);
    len = wire_recv(t, f, sizeof(f));
    g_assert_cmpuint(len, >=, 54);
    g_assert_cmpmem(f + 14 + 12, 4, c4.lip, 4);
    g_assert_cmpmem(f + 14 + 16, 4, c4.rip, 4);
    conn_send_data(t->env, &c6, "v6", 2);
    len = wire_recv(t, f, sizeof(f));
    g_assert_cmpuint(len, >=, 74);
    g_assert_cmpmem(f + 14 + 8, 16, c6.lip, 16);
    g_assert_cmpmem(f + 14 + 24, 16, c6.rip, 16);
    t_end(t);
}

/*
 * Registration
 */

static void register_chimney_tree_test(void)
{
    static const struct {
        const char *name;
        QOSTestFunc fn;
    } tests[] = {
        { "rule-008-every-status-written", test_rule_008 },
        { "rule-011-012-handle-only-on-success", test_rule_011_012 },
        { "rule-017-device-writes-only-results", test_rule_017 },
        { "rule-018-path-addresses-copied", test_rule_018 },
    };
    QOSGraphTestOptions opts = {
        .before = chimney_qos_socket_netdev,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        qos_add_test(tests[i].name, "chimney-nic", tests[i].fn, &opts);
    }
}

libqos_init(register_chimney_tree_test);

#endif /* !_WIN32 */
