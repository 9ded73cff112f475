/*
 * Benchmark of the offload state tables: offloads CHIMNEY_MAX_CONN
 * connections through the standalone device core (one INITIATE tree),
 * then reports per-connection device memory and operation rates, and
 * uploads everything again.
 *
 * Memory is counted from the tables themselves (slots, chunk pointers,
 * free-index stack, demux buckets), i.e. the state the device keeps per
 * connection without data buffers.  The goal is <= 512 bytes; this
 * program prints the figure and whether the goal is met, and does not
 * fail on timing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>

#include "chimney-tree-builder.h"
#include "chimney_offload.h"
#include "chimney_hdr.h"

#define GOAL_BYTES_PER_CONN 512

static size_t table_bytes(const ChimneyTable *t)
{
    return (size_t)t->allocated * t->entry_size +
           (t->capacity / CHIMNEY_TABLE_CHUNK + 1) * sizeof(void *) +
           (size_t)t->capacity * sizeof(uint32_t);
}

int main(int argc, char **argv)
{
    FakeHost *h = fake_host_new();
    TbRings *r = tb_rings_new(h);
    ChimneyEngine *ofl = h->core.engine;
    uint32_t nconn = CHIMNEY_MAX_CONN, i, info;
    uint64_t rn;
    TbBulk b;
    size_t tcp_bytes, path_bytes, demux_bytes, per_conn;
    gint64 t0, t1, t2, t3;
    uint64_t lookups = 0, found = 0;
    uint8_t lip[4] = { 10, 0, 0, 1 }, rip[4] = { 10, 0, 0, 2 };

    if (tb_set_params(h, r, 0) != CHIMNEY_ST_SUCCESS) {
        g_printerr("SET_PARAMS failed\n");
        return 1;
    }
    tb_bulk_build(h, &b, nconn);

    t0 = g_get_monotonic_time();
    if (tb_cmd_full(h, r, CHIMNEY_CMD_INITIATE, b.n, 0, 0, &info) !=
        CHIMNEY_ST_SUCCESS || ofl->tcp.used != nconn) {
        g_printerr("initiate of %u connections failed\n", nconn);
        return 1;
    }
    t1 = g_get_monotonic_time();

    /* Receive demux: 4-tuple lookups of offloaded connections. */
    for (i = 0; i < 4 * nconn; i++) {
        lookups++;
        found += chimney_demux_lookup(ofl, false, lip, rip,
                                      1 + i % 32768, 80) != CHIMNEY_NO_INDEX;
    }
    t2 = g_get_monotonic_time();

    tcp_bytes = table_bytes(&ofl->tcp);
    path_bytes = table_bytes(&ofl->path) + table_bytes(&ofl->neigh);
    demux_bytes = (size_t)(ofl->demux_mask + 1) * sizeof(uint32_t);
    per_conn = (tcp_bytes + demux_bytes) / nconn;

    printf("chimney-nic offload state benchmark (%u connections)\n", nconn);
    printf("  sizeof(ChimneyTcpObj)           %zu bytes\n",
           sizeof(ChimneyTcpObj));
    printf("  TCP table (slots+index+free)    %zu bytes\n", tcp_bytes);
    printf("  demux buckets                   %zu bytes\n", demux_bytes);
    printf("  path+neighbor tables            %zu bytes (shared)\n",
           path_bytes);
    printf("  per-connection device memory    %zu bytes (goal <= %d): %s\n",
           per_conn, GOAL_BYTES_PER_CONN,
           per_conn <= GOAL_BYTES_PER_CONN ? "met" : "NOT MET");
    printf("  initiate, one tree of %u blocks  %.1f ms (%.0f conn/s)\n",
           info, (t1 - t0) / 1000.0,
           nconn / ((t1 - t0) / 1e6 + 1e-9));
    printf("  demux lookups                   %.1f M/s (%" G_GUINT64_FORMAT
           " of %" G_GUINT64_FORMAT " hit)\n",
           lookups / ((t2 - t1) / 1e6 + 1e-9) / 1e6, found, lookups);

    /* Upload everything in one tree. */
    rn = tb_bulk_terminate_tree(h, &b);
    t2 = g_get_monotonic_time();
    if (tb_cmd(h, r, CHIMNEY_CMD_TERMINATE, rn) != CHIMNEY_ST_SUCCESS ||
        ofl->tcp.used || ofl->path.used || ofl->neigh.used) {
        g_printerr("terminate failed\n");
        return 1;
    }
    t3 = g_get_monotonic_time();
    printf("  terminate, one tree             %.1f ms (%.0f conn/s)\n",
           (t3 - t2) / 1000.0, nconn / ((t3 - t2) / 1e6 + 1e-9));

    tb_bulk_free(&b);
    tb_rings_free(r);
    fake_host_free(h);
    return per_conn <= GOAL_BYTES_PER_CONN ? 0 : 2;
}
