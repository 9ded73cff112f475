/*
 * chimney-nic test support: host blocks for the driver core (see
 * chimney-test-hblk.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "chimney-test-hblk.h"

void hb_set_init(ChimneyTestHBlocks *set)
{
    set->all = g_ptr_array_new_with_free_func(g_free);
    set->next_ndis = 0x7e57000000000000ull;
}

void hb_set_free(ChimneyTestHBlocks *set)
{
    if (set->all) {
        g_ptr_array_unref(set->all);
        set->all = NULL;
    }
}

ChimneyTestHBlk *hb_new(ChimneyTestHBlocks *set, uint16_t type, bool slot,
                        uint64_t slotval, const void *state, uint32_t len)
{
    ChimneyTestHBlk *hb = g_new0(ChimneyTestHBlk, 1);

    g_assert_cmpuint(len, <=, sizeof(hb->st));
    g_ptr_array_add(set->all, hb);
    hb->b.type = type;
    hb->slot = slotval;
    hb->b.miniport_offload_context = slot ? &hb->slot : NULL;
    hb->b.ndis_offload_handle = ++set->next_ndis;
    hb->b.status = CHIMNEY_TEST_STATUS_POISON;
    if (len) {
        memcpy(hb->st, state, len);
        hb->b.state = hb->st;
        hb->b.state_len = len;
    }
    return hb;
}

void hb_dep(ChimneyTestHBlk *a, ChimneyTestHBlk *b)
{
    a->b.dependent_block_list = b ? &b->b : NULL;
}

void hb_next(ChimneyTestHBlk *a, ChimneyTestHBlk *b)
{
    a->b.next_block = b ? &b->b : NULL;
}

ChimneyTestHBlk *hb_neigh_state(ChimneyTestHBlocks *set,
                                const ChimneyTestNeighState *s)
{
    return hb_new(set, CHIMNEY_TYPE_NEIGH, true, 0, s, sizeof(*s));
}

ChimneyTestHBlk *hb_neigh(ChimneyTestHBlocks *set, const uint8_t *mac,
                          uint16_t vlan)
{
    ChimneyTestNeighState s;

    chimney_test_neigh_state(&s, mac, vlan);
    return hb_neigh_state(set, &s);
}

ChimneyTestHBlk *hb_path_state(ChimneyTestHBlocks *set, bool v6,
                               const ChimneyTestPathState *s)
{
    return hb_new(set, v6 ? CHIMNEY_TYPE_IP6 : CHIMNEY_TYPE_IP4, true, 0, s,
                  sizeof(*s));
}

ChimneyTestHBlk *hb_path4(ChimneyTestHBlocks *set, uint8_t src, uint8_t dst,
                          uint32_t mtu)
{
    ChimneyTestPathState s;

    chimney_test_path4_state(&s, src, dst, mtu);
    return hb_path_state(set, false, &s);
}

ChimneyTestHBlk *hb_tcp_state(ChimneyTestHBlocks *set,
                              const ChimneyTestTcpState *s)
{
    return hb_new(set, CHIMNEY_TYPE_TCP, true, 0, s, sizeof(*s));
}

ChimneyTestHBlk *hb_tcp(ChimneyTestHBlocks *set, uint16_t lport,
                        uint16_t rport)
{
    ChimneyTestTcpState s;

    chimney_test_tcp_state(&s, lport, rport);
    return hb_tcp_state(set, &s);
}

ChimneyTestHBlk *hb_tcp_cached(ChimneyTestHBlocks *set, uint64_t h,
                               const ChimneyTcpCached *k)
{
    return hb_new(set, CHIMNEY_TYPE_TCP_CACHED, true, h, k, sizeof(*k));
}

ChimneyTestHBlk *hb_term_tcp(ChimneyTestHBlocks *set, uint64_t h,
                             const struct chimney_dma_buf *sl,
                             uint32_t sl_cap,
                             const struct chimney_dma_buf *rd,
                             uint32_t rd_cap)
{
    ChimneyTcpDelegated d;

    memset(&d, CHIMNEY_TEST_POISON8, sizeof(d));
    d.hdr.length = GUINT32_TO_LE(sizeof(d));
    d.hdr.recognized_options = 0;
    d.send_list_addr = GUINT64_TO_LE(sl ? sl->dma : 0);
    d.send_list_cap = GUINT32_TO_LE(sl_cap);
    d.rcv_data_addr = GUINT64_TO_LE(rd ? rd->dma : 0);
    d.rcv_data_cap = GUINT32_TO_LE(rd_cap);
    return hb_new(set, CHIMNEY_TYPE_TCP_DELEGATED, true, h, &d, sizeof(d));
}

ChimneyTestHBlk *hb_placeholder(ChimneyTestHBlocks *set, uint16_t type)
{
    return hb_new(set, type, false, 0, NULL, 0);
}

ChimneyTestHBlk *hb_obj(ChimneyTestHBlocks *set, uint16_t type,
                        uint64_t handle)
{
    return hb_new(set, type, true, handle, NULL, 0);
}

ChimneyTestHBlk *hb_ref(ChimneyTestHBlocks *set, uint16_t type,
                        uint64_t handle, unsigned nstruct,
                        const uint32_t *sizes)
{
    uint8_t buf[1024];
    uint32_t off = 0;
    unsigned i;

    memset(buf, CHIMNEY_TEST_POISON8, sizeof(buf));
    for (i = 0; i < nstruct; i++) {
        ChimneyStateHdr hdr = { .length = GUINT32_TO_LE(sizes[i]) };

        g_assert_cmpuint(off + sizes[i], <=, sizeof(buf));
        memcpy(buf + off, &hdr, sizeof(hdr));
        off += sizes[i];
    }
    return hb_new(set, type, true, handle, buf, off);
}

ChimneyTestHBlk *hb_query_neigh(ChimneyTestHBlocks *set, uint64_t h)
{
    return hb_ref(set, CHIMNEY_TYPE_NEIGH, h, 3, chimney_test_neigh_sizes);
}

ChimneyTestHBlk *hb_query_path(ChimneyTestHBlocks *set, bool v6, uint64_t h)
{
    return hb_ref(set, v6 ? CHIMNEY_TYPE_IP6 : CHIMNEY_TYPE_IP4, h, 3,
                  chimney_test_path_sizes);
}

ChimneyTestHBlk *hb_query_tcp(ChimneyTestHBlocks *set, uint64_t h)
{
    return hb_ref(set, CHIMNEY_TYPE_TCP, h, 3, chimney_test_tcp_sizes);
}

ChimneyTestHBlk *hb_npt(ChimneyTestHBlocks *set, const uint8_t *mac,
                        ChimneyTestHBlk **p_out, ChimneyTestHBlk **tcp,
                        unsigned n, uint16_t port0)
{
    ChimneyTestHBlk *nb = hb_neigh(set, mac, 0);
    ChimneyTestHBlk *p = hb_path4(set, 1, 2, 1500);
    unsigned i;

    hb_dep(nb, p);
    for (i = 0; i < n; i++) {
        tcp[i] = hb_tcp(set, port0 + i, 80);
        if (i) {
            hb_next(tcp[i - 1], tcp[i]);
        }
    }
    if (n) {
        hb_dep(p, tcp[0]);
    }
    if (p_out) {
        *p_out = p;
    }
    return nb;
}

unsigned hb_walk(struct chimney_offload_block *root,
                 struct chimney_offload_block **out, unsigned max)
{
    struct chimney_offload_block *stack[3];
    struct chimney_offload_block *b = root;
    unsigned depth = 0, n = 0;

    while (b) {
        g_assert_cmpuint(n, <, max);
        out[n++] = b;
        if (b->dependent_block_list) {
            g_assert_cmpuint(depth, <, 3);
            stack[depth++] = b;
            b = b->dependent_block_list;
            continue;
        }
        while (!b->next_block && depth) {
            b = stack[--depth];
        }
        b = b->next_block;
    }
    return n;
}
