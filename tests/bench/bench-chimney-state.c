/*
 * Benchmark of the offload state at scale: offloads 65,536 and then
 * 1,048,576 connections through the standalone device core (bulk
 * INITIATE trees of 65,536 connections), measures the device memory they
 * take with the allocator's own count (everything the core allocated:
 * tables, demux, free lists, path and neighbor objects), then times bulk
 * UPDATE, QUERY, INVALIDATE and TERMINATE over all of them, and prints
 * the two sizes side by side.  Goal: <= 256 bytes per connection, each
 * operation linear in the number of connections.  Figures only: the
 * program does not fail on timing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <malloc.h>
#include <stdio.h>

#ifdef __SANITIZE_ADDRESS__
/* ASan's allocator statistics (sanitizer/allocator_interface.h) */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include "chimney-tree-builder.h"
#include "chimney_offload.h"

#define GOAL_BYTES_PER_CONN 256
#define BATCH               65536u  /* connections per tree */
#define PER_PATH            32768u  /* ports 1..32768 per path */

static const uint8_t own_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* Bytes the process has allocated right now (ASan's count under ASan). */
static size_t alloc_bytes(void)
{
#ifdef __SANITIZE_ADDRESS__
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
#endif
}

typedef struct Scale {
    FakeHost *h;
    TbRings *r;
    uint32_t nconn;
    uint64_t *neigh;            /* per batch */
    uint64_t *path;             /* two per batch */
    uint64_t *tcp;              /* per connection */
    uint64_t ram_mark;          /* guest memory reused per tree */
} Scale;

static void die(const char *what)
{
    g_printerr("bench: %s failed\n", what);
    exit(1);
}

static uint32_t run(Scale *s, uint16_t op, uint64_t root)
{
    uint32_t st = tb_cmd(s->h, s->r, op, root);

    /* the event list only collects what the benchmark never reads */
    g_array_set_size(s->r->events, 0);
    s->h->alloc_next = s->ram_mark;
    return st;
}

/* N{P0{T * 32768}, P1{T * 32768}} for batch k, on addresses of its own. */
static void initiate_batch(Scale *s, uint32_t k, uint32_t count)
{
    FakeHost *h = s->h;
    uint64_t n, p[2], first = 0, prev = 0, t;
    uint32_t i, base = k * BATCH;
    uint64_t *blk = g_new(uint64_t, count);

    n = tb_new_neigh(h, (uint8_t)(k + 1), 0);
    p[0] = tb_new_path4(h, 0x0a000001, 0x0a000000 + (k << 8) + 2, 1500);
    p[1] = tb_new_path4(h, 0x0a000001, 0x0a000000 + (k << 8) + 3, 1500);
    tb_dep(h, n, p[0]);
    tb_next(h, p[0], p[1]);
    for (i = 0; i < count; i++) {
        t = tb_new_tcp(h, 1 + i % PER_PATH, 80);
        blk[i] = t;
        if (i == PER_PATH) {
            tb_dep(h, p[0], first);
            first = 0;
        }
        if (!first) {
            first = t;
        } else {
            tb_next(h, prev, t);
        }
        prev = t;
    }
    tb_dep(h, p[count > PER_PATH ? 1 : 0], first);
    if (tb_cmd(h, s->r, CHIMNEY_CMD_INITIATE, n) != CHIMNEY_ST_SUCCESS ||
        tb_status(h, n) != CHIMNEY_ST_SUCCESS) {
        die("initiate");
    }
    s->neigh[k] = tb_handle(h, n);
    s->path[2 * k] = tb_handle(h, p[0]);
    s->path[2 * k + 1] = tb_handle(h, p[1]);
    for (i = 0; i < count; i++) {
        s->tcp[base + i] = tb_handle(h, blk[i]);
    }
    g_free(blk);
    g_array_set_size(s->r->events, 0);
    h->alloc_next = s->ram_mark;
}

/* One REF block per connection of batch k, chained (QUERY, UPDATE...). */
static uint64_t ref_batch(Scale *s, uint32_t k, uint32_t count, uint16_t type,
                          size_t state_len)
{
    uint64_t first = 0, prev = 0;
    uint32_t i;

    for (i = 0; i < count; i++) {
        uint64_t b = tb_ref(s->h, type, s->tcp[k * BATCH + i], state_len);
        ChimneyStateHdr *hdr = (ChimneyStateHdr *)(tb_blk(s->h, b) + 1);

        if (state_len) {
            hdr->length = GUINT32_TO_LE(state_len);
        }
        if (prev) {
            tb_next(s->h, prev, b);
        } else {
            first = b;
        }
        prev = b;
    }
    return first;
}

static double op_all(Scale *s, uint16_t op, uint16_t type, size_t state_len)
{
    uint32_t k, nb = (s->nconn + BATCH - 1) / BATCH;
    double us = 0;

    for (k = 0; k < nb; k++) {
        uint32_t count = MIN(BATCH, s->nconn - k * BATCH);
        uint64_t root = ref_batch(s, k, count, type, state_len);
        gint64 t0 = g_get_monotonic_time();

        if (run(s, op, root) != CHIMNEY_ST_SUCCESS) {
            die("bulk operation");
        }
        us += g_get_monotonic_time() - t0;
    }
    return us;
}

static double terminate_all(Scale *s)
{
    uint32_t k, i, nb = (s->nconn + BATCH - 1) / BATCH;
    double us = 0;

    for (k = 0; k < nb; k++) {
        uint32_t count = MIN(BATCH, s->nconn - k * BATCH);
        uint64_t rn, rp[2], r, prev = 0;
        gint64 t0;

        rn = tb_ref(s->h, CHIMNEY_TYPE_NEIGH, s->neigh[k], 0);
        rp[0] = tb_ref(s->h, CHIMNEY_TYPE_IP4, s->path[2 * k], 0);
        rp[1] = tb_ref(s->h, CHIMNEY_TYPE_IP4, s->path[2 * k + 1], 0);
        tb_dep(s->h, rn, rp[0]);
        tb_next(s->h, rp[0], rp[1]);
        for (i = 0; i < count; i++) {
            r = tb_ref(s->h, CHIMNEY_TYPE_TCP, s->tcp[k * BATCH + i], 0);
            if (i == 0 || i == PER_PATH) {
                tb_dep(s->h, rp[i ? 1 : 0], r);
            } else {
                tb_next(s->h, prev, r);
            }
            prev = r;
        }
        t0 = g_get_monotonic_time();
        if (run(s, CHIMNEY_CMD_TERMINATE, rn) != CHIMNEY_ST_SUCCESS) {
            die("terminate");
        }
        us += g_get_monotonic_time() - t0;
    }
    return us;
}

typedef struct Figures {
    uint32_t nconn;
    double bytes_per_conn;
    double us[5];               /* initiate update query invalidate term */
} Figures;

static void measure(uint32_t nconn, Figures *f)
{
    ChimneyEngineConfig cfg = { .max_conn = nconn,
                                .mem_budget = CHIMNEY_MEM_BUDGET_DEFAULT };
    Scale s = { .nconn = nconn };
    uint32_t k, nb = (nconn + BATCH - 1) / BATCH;
    size_t before, after;
    gint64 t0;

    s.h = fake_host_new();
    s.neigh = g_new(uint64_t, nb);
    s.path = g_new(uint64_t, 2 * nb);
    s.tcp = g_new(uint64_t, nconn);
    chimney_core_cleanup(&s.h->core);
    before = alloc_bytes();
    chimney_core_init_config(&s.h->core, &fake_ops, s.h, own_mac, true,
                             &cfg);
    s.r = tb_rings_new(s.h);
    if (tb_set_params(s.h, s.r, 0) != CHIMNEY_ST_SUCCESS) {
        die("SET_PARAMS");
    }
    g_array_set_size(s.r->events, 0);
    s.ram_mark = s.h->alloc_next;

    t0 = g_get_monotonic_time();
    for (k = 0; k < nb; k++) {
        initiate_batch(&s, k, MIN(BATCH, nconn - k * BATCH));
    }
    f->us[0] = g_get_monotonic_time() - t0;
    if (chimney_engine_count(s.h->core.engine, CHIMNEY_KIND_TCP) != nconn) {
        die("connection count");
    }
    /* the rings' and the benchmark's own arrays are outside [before..] */
    after = alloc_bytes() - g_array_get_element_size(s.r->events) *
            s.r->events->len;
    f->nconn = nconn;
    f->bytes_per_conn = (double)(after - before) / nconn;

    f->us[1] = op_all(&s, CHIMNEY_CMD_UPDATE, CHIMNEY_TYPE_TCP_CACHED,
                      sizeof(ChimneyTcpCached));
    f->us[2] = op_all(&s, CHIMNEY_CMD_QUERY, CHIMNEY_TYPE_TCP_DELEGATED,
                      sizeof(ChimneyTcpDelegated));
    f->us[3] = op_all(&s, CHIMNEY_CMD_INVALIDATE, CHIMNEY_TYPE_TCP, 0);
    f->us[4] = terminate_all(&s);
    if (chimney_engine_objects(s.h->core.engine)) {
        die("everything uploaded");
    }
    g_free(s.neigh);
    g_free(s.path);
    g_free(s.tcp);
    tb_rings_free(s.r);
    fake_host_free(s.h);
}

int main(int argc, char **argv)
{
    static const char *const ops[] = {
        "initiate", "update", "query", "invalidate", "terminate",
    };
    Figures f[2];
    unsigned i;
    bool met;

    measure(65536, &f[0]);
    measure(CHIMNEY_MAX_CONN_LIMIT, &f[1]);
    met = f[0].bytes_per_conn <= GOAL_BYTES_PER_CONN &&
          f[1].bytes_per_conn <= GOAL_BYTES_PER_CONN;

    printf("chimney-nic offload state at scale (standalone core%s)\n",
#ifdef __SANITIZE_ADDRESS__
           ", ASan build"
#else
           ""
#endif
           );
    printf("  %-34s %14u %14u\n", "connections", f[0].nconn, f[1].nconn);
    printf("  %-34s %14.1f %14.1f  (goal <= %d: %s)\n",
           "device bytes per connection", f[0].bytes_per_conn,
           f[1].bytes_per_conn, GOAL_BYTES_PER_CONN, met ? "met" : "NOT MET");
    printf("  %-34s %14zu\n", "sizeof(ChimneyTcpObj)", sizeof(ChimneyTcpObj));
    for (i = 0; i < G_N_ELEMENTS(ops); i++) {
        char label[64];

        g_snprintf(label, sizeof(label), "bulk %s, ns per connection",
                   ops[i]);
        printf("  %-34s %14.0f %14.0f  (ratio %.2f)\n", label,
               f[0].us[i] * 1000.0 / f[0].nconn,
               f[1].us[i] * 1000.0 / f[1].nconn,
               (f[1].us[i] / f[1].nconn) / (f[0].us[i] / f[0].nconn + 1e-9));
    }
    for (i = 0; i < G_N_ELEMENTS(ops); i++) {
        printf("  bulk %-10s total ms %14.1f %14.1f\n", ops[i],
               f[0].us[i] / 1000.0, f[1].us[i] / 1000.0);
    }
    return 0;
}
