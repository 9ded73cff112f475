/*
 * chimney-nic test support: wire-format state trees (see
 * chimney-test-tree.h).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "chimney-test-tree.h"

#define ALIGN8(x)   (((x) + 7u) & ~7u)

void raw_init_at(ChimneyTestRaw *r, const ChimneyTestMem *mem, uint64_t base,
                 uint32_t cap)
{
    r->mem = *mem;
    r->base = base;
    r->img = g_malloc0(cap);
    r->cap = cap;
    r->used = 0;
}

void raw_free(ChimneyTestRaw *r)
{
    g_free(r->img);
    r->img = NULL;
}

ChimneyBlock *raw_blk(ChimneyTestRaw *r, uint64_t a)
{
    g_assert_cmphex(a, >=, r->base);
    g_assert_cmphex(a + sizeof(ChimneyBlock), <=, r->base + r->used);
    return (ChimneyBlock *)(r->img + (a - r->base));
}

uint64_t raw_block(ChimneyTestRaw *r, uint16_t type, uint16_t role,
                   uint64_t handle, const void *state, uint32_t len)
{
    uint64_t a = r->base + r->used;
    ChimneyBlock *b;

    g_assert_cmpuint(r->used + sizeof(*b) + len, <=, r->cap);
    r->used += ALIGN8(sizeof(*b) + len);
    b = raw_blk(r, a);
    memset(b, CHIMNEY_TEST_POISON8, sizeof(*b));
    b->type = GUINT16_TO_LE(type);
    b->role = GUINT16_TO_LE(role);
    b->size = GUINT32_TO_LE(sizeof(*b) + len);
    b->next = 0;
    b->dependent = 0;
    b->status = GUINT32_TO_LE(CHIMNEY_TEST_STATUS_POISON);
    b->flags = GUINT32_TO_LE(CHIMNEY_TEST_FLAGS_POISON);
    b->handle = GUINT64_TO_LE(role == CHIMNEY_ROLE_NEW ?
                              CHIMNEY_TEST_POISON64 : handle);
    b->host_handle = GUINT64_TO_LE(0x40570000ull + a);
    if (len) {
        memcpy(b + 1, state, len);
    }
    return a;
}

void raw_next(ChimneyTestRaw *r, uint64_t a, uint64_t b)
{
    raw_blk(r, a)->next = GUINT64_TO_LE(b);
}

void raw_dep(ChimneyTestRaw *r, uint64_t a, uint64_t b)
{
    raw_blk(r, a)->dependent = GUINT64_TO_LE(b);
}

uint64_t raw_neigh(ChimneyTestRaw *r, const uint8_t *mac, uint16_t vlan)
{
    ChimneyTestNeighState s;

    chimney_test_neigh_state(&s, mac, vlan);
    return raw_block(r, CHIMNEY_TYPE_NEIGH, CHIMNEY_ROLE_NEW, 0, &s,
                     sizeof(s));
}

uint64_t raw_path4(ChimneyTestRaw *r, uint8_t src, uint8_t dst, uint32_t mtu)
{
    ChimneyTestPathState s;

    chimney_test_path4_state(&s, src, dst, mtu);
    return raw_block(r, CHIMNEY_TYPE_IP4, CHIMNEY_ROLE_NEW, 0, &s, sizeof(s));
}

uint64_t raw_tcp(ChimneyTestRaw *r, uint16_t lport, uint16_t rport)
{
    ChimneyTestTcpState s;

    chimney_test_tcp_state(&s, lport, rport);
    return raw_block(r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, &s, sizeof(s));
}

void raw_put(ChimneyTestRaw *r)
{
    r->mem.write(r->mem.opaque, r->base, r->img, r->used);
}

uint8_t *raw_get(ChimneyTestRaw *r)
{
    uint8_t *m = g_malloc(r->used);

    r->mem.read(r->mem.opaque, r->base, m, r->used);
    return m;
}

ChimneyBlock raw_result(ChimneyTestRaw *r, uint64_t a)
{
    ChimneyBlock b;

    r->mem.read(r->mem.opaque, a, &b, sizeof(b));
    return b;
}

uint32_t raw_status(ChimneyTestRaw *r, uint64_t a)
{
    return GUINT32_FROM_LE(raw_result(r, a).status);
}

uint64_t raw_handle(ChimneyTestRaw *r, uint64_t a)
{
    return GUINT64_FROM_LE(raw_result(r, a).handle);
}
