/*
 * Seed corpus for the libFuzzer target: writes one file per program into
 * the directory given as argv[1] (scripts/fuzz.sh runs it).  The seeds
 * are what a driver does: bring-up, offload of a few connections, each
 * state operation on them, segments to offloaded connection k, batches,
 * time, large trees.  Deliberately NOT a seed: any tree naming the same
 * object twice (that is for the fuzzer to find).
 *
 * Build: see scripts/fuzz.sh (plain cc, no sanitizer needed).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>

#include "chimney-fuzz.h"

static const char *outdir;
static unsigned nseeds;

static void seed_write(const char *name, GByteArray *b)
{
    char *path = g_strdup_printf("%s/seed-%03u-%s", outdir, nseeds++, name);
    GError *err = NULL;

    if (!g_file_set_contents(path, (const char *)b->data, b->len, &err)) {
        g_printerr("%s\n", err->message);
        exit(1);
    }
    g_free(path);
    g_byte_array_unref(b);
}

/* bring-up + N{P{A, B, C}}: A plain, B with send data and timestamps,
 * C with buffered receive data; records: neigh 0, path 0, tcp 0..2. */
static GByteArray *three_conns(uint8_t bringup, uint8_t nsel, uint8_t psel)
{
    GByteArray *b = g_byte_array_new();
    FzTcpSpec t[3] = {
        { 0, 0, 0 },
        { 1 | (2 << 6), 0x01, 0x1234 },
        { 2, 0x08, 300 },
    };

    fz_emit_bringup(b, bringup);
    fz_emit_offload(b, nsel, psel, 3, t);
    return b;
}

int main(int argc, char **argv)
{
    GByteArray *b;
    unsigned i, k;

    if (argc != 2) {
        g_printerr("usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    g_mkdir_with_parents(outdir, 0755);

    /* bring-up variants */
    for (i = 0; i < 4; i++) {
        static const uint8_t v[4] = { 0, 0x05 | FZ_BU_VLANS, 0x0a | FZ_BU_RX,
                                      FZ_BU_INTX | 0x0c };

        b = g_byte_array_new();
        fz_emit_bringup(b, v[i]);
        seed_write("bringup", b);
    }

    /* offload of a few connections: IPv4, IPv6, VLAN, two paths, linkers */
    seed_write("offload-v4", three_conns(0, 0, 0));
    seed_write("offload-v6", three_conns(0, 1, 0x01));
    seed_write("offload-vlan", three_conns(FZ_BU_VLANS, 0x08, 0x02));
    seed_write("offload-ts-wscale", ({
        GByteArray *x = g_byte_array_new();
        FzTcpSpec t[2] = { { 0x40, 0x13, 0x0421 }, { 0x05, 0x62, 77 } };

        fz_emit_bringup(x, 0);
        fz_emit_offload(x, 0, 0x08 | 0x20 | 0x0e, 2 | 8 | 0x20, t);
        x;
    }));
    seed_write("offload-linkers", ({
        GByteArray *x = three_conns(0, 0, 0);
        FzTcpSpec t[2] = { { 3, 0, 0 }, { 4 | (1 << 6), 0, 999 } };

        fz_emit_offload(x, 0x20, 0x06, 1, t);           /* neigh linker */
        fz_emit_offload(x, 0, 0x80, 1, t + 1);          /* path linker */
        x;
    }));
    seed_write("offload-rejects", ({
        GByteArray *x = g_byte_array_new();
        FzTcpSpec t[3] = { { 0x38, 0, 0 }, { 1, 0x04, 0 }, { 2, 0x80, 0 } };

        fz_emit_bringup(x, 0);
        fz_emit_offload(x, 0x80, 0x81, 3, t);
        x;
    }));

    /* each state operation on the offloaded objects */
    for (k = 0; k < 3; k++) {
        /* terminate connection k: with and without delegated state */
        FzBlockSpec blk[1] = { { FZ_K_TCP | (k << 2) | FZ_R_STATE, 1, k } };

        b = three_conns(0, 0, 0);
        fz_emit_tree(b, FZ_T_TERMINATE, 1, blk);
        blk[0].ref &= ~FZ_R_STATE;
        fz_emit_tree(b, FZ_T_TERMINATE, 1, blk);
        seed_write("terminate-conn", b);
    }
    seed_write("terminate-all", ({
        GByteArray *x = three_conns(0, 0, 0);
        FzBlockSpec blk[5] = {
            { FZ_K_NEIGH | FZ_R_STATE, 1, 0 },
            { FZ_K_PATH, 0, 0 },
            { FZ_K_TCP | (0 << 2) | FZ_R_STATE, 0, 0 },
            { FZ_K_TCP | (1 << 2) | FZ_R_STATE, 0, 0x0010 },
            { FZ_K_TCP | (2 << 2), 0, 0 },
        };

        fz_emit_tree(x, FZ_T_TERMINATE, 5, blk);
        x;
    }));
    seed_write("terminate-path-placeholder", ({
        GByteArray *x = three_conns(0, 0, 0);
        FzBlockSpec blk[4] = {
            { FZ_K_PLACEHOLDER, 1, 0 },
            { FZ_K_TCP | (0 << 2), 2, 0 },
            { FZ_K_TCP | (1 << 2) | FZ_R_STATE, 2, 0x4000 },
            { FZ_K_TCP | (2 << 2) | FZ_R_STATE, 2, 0x8000 },
        };

        /* placeholder of the path layer above the connections */
        blk[0].ref = FZ_K_PLACEHOLDER | 0x04;
        fz_emit_tree(x, FZ_T_TERMINATE, 4, blk);
        x;
    }));
    for (k = 0; k < 3; k++) {
        FzBlockSpec blk[2] = {
            { k | FZ_R_STATE, 1, 0x0135 },
            { FZ_K_TCP | (1 << 2) | FZ_R_STATE, 0, 0x1411 },
        };

        b = three_conns(0, 0, 0);
        fz_emit_tree(b, FZ_T_UPDATE, k == 2 ? 1 : 2,
                     k == 2 ? blk + 1 : blk);
        seed_write("update", b);
    }
    for (k = 0; k < 3; k++) {
        for (i = 0; i < 4; i++) {
            FzBlockSpec blk[1] = {
                { k | (k == 2 ? 1 << 2 : 0) | FZ_R_STATE, 1 |
                  (i << FZ_S_TYPE_SHIFT), 0 },
            };

            b = three_conns(0, 0, k == 1 ? 1 : 0);
            fz_emit_tree(b, FZ_T_QUERY, 1, blk);
            seed_write("query", b);
        }
    }
    for (k = 0; k < 3; k++) {
        FzBlockSpec blk[1] = { { k, 1, 0 } };

        b = three_conns(0, 0, 0);
        fz_emit_tree(b, FZ_T_INVALIDATE, 1, blk);
        fz_emit_segment(b, 0, 0, 0, 0, 1000, 0, 0, NULL, 2);
        blk[0].ref = FZ_K_TCP;
        fz_emit_tree(b, FZ_T_TERMINATE, 1, blk);
        seed_write("invalidate", b);
    }
    seed_write("initiate-tree", ({
        GByteArray *x = three_conns(0, 0, 0);
        FzBlockSpec blk[4] = {
            { FZ_K_NEIGH, 1, 0 },                        /* linker */
            { FZ_K_PATH, FZ_S_NEW, 0x0a },               /* new path */
            { FZ_K_TCP, FZ_S_NEW, 0x0103 },              /* new conn */
            { FZ_K_TCP, FZ_S_NEW, 0x0001 },
        };

        fz_emit_tree(x, FZ_T_INITIATE, 4, blk);
        x;
    }));
    seed_write("data-commands", ({
        GByteArray *x = three_conns(0, 0, 0);

        for (i = 0; i < 16; i++) {
            fz_emit_data(x, i, i % 3, i * 7, i == 5 ? 1 : 64);
        }
        x;
    }));

    /* batches: several commands queued, then run together */
    seed_write("batch", ({
        GByteArray *x = three_conns(0, 0, 0);
        FzBlockSpec q[1] = { { FZ_K_TCP | (1 << 2) | FZ_R_STATE, 1, 0 } };
        FzBlockSpec u[1] = { { FZ_K_TCP | (2 << 2) | FZ_R_STATE, 1, 0x11 } };
        FzBlockSpec t[1] = { { FZ_K_TCP | (0 << 2), 1, 0 } };
        FzTcpSpec c[1] = { { 3, 0, 0 } };

        fz_emit_tree(x, FZ_T_QUERY | FZ_T_DEFER, 1, q);
        fz_emit_tree(x, FZ_T_UPDATE | FZ_T_DEFER, 1, u);
        fz_emit_tree(x, FZ_T_TERMINATE | FZ_T_DEFER, 1, t);
        fz_emit_offload(x, 0x20, 0x80, 1 | 4, c);
        fz_emit_data(x, 0x85, 0, 0, 1);
        fz_emit_u8(x, FZ_FLUSH);
        x;
    }));

    /* segments to connection k */
    for (k = 0; k < 3; k++) {
        static const char data[] = "GET / HTTP/1.1\r\nHost: chimney\r\n\r\n";

        b = three_conns(0, k == 1 ? 1 : 0, k == 1 ? 1 : 0);
        fz_emit_segment(b, k, 0, 0, 0, 8192, 0, 0, NULL, 0);       /* ack */
        fz_emit_segment(b, k, 0, 0, 100, 8192, FZ_O_TS, 0, NULL, 0);
        fz_emit_segment(b, k, 1, 0, 0, 8192, 0, 0, data, 4);       /* data */
        fz_emit_segment(b, k, 1, 100, 0, 8192, 0, 0, data, 4);     /* ooo */
        fz_emit_segment(b, k, 0, 0, 0, 0, FZ_O_SACK, 0, NULL, 0);
        fz_emit_segment(b, k, 0x10, 0, 0, 8192, 0, 0, NULL, 0);    /* ack */
        seed_write("segments", b);
    }
    seed_write("segments-vlan-v6", ({
        GByteArray *x = three_conns(FZ_BU_VLANS, 0x08 | 1, 0x03);

        fz_emit_segment(x, 1, 0, 0, 10, 4096, FZ_O_TS, 0, NULL, 0);
        fz_emit_segment(x, 1, 0, 0, 10, 4096, 0, FZ_M_VLAN, NULL, 0);
        fz_emit_segment(x, 2, 1, 0, 0, 4096, FZ_O_WS | 0x10, 0, "x", 1);
        x;
    }));
    seed_write("segments-flags", ({
        GByteArray *x = three_conns(0, 0, 0);

        fz_emit_segment(x, 0, 0x04, 0, 0, 100, 0, 0, NULL, 0);     /* FIN */
        fz_emit_segment(x, 1, 0x0c, 0, 0, 100, 0, 0, NULL, 0);     /* RST */
        fz_emit_segment(x, 2, 0x80 | 0x20, 0, 0, 100, 0, 0, NULL, 0);
        fz_emit_segment(x, 2, 0, 0, 0, 100, FZ_O_RAW | 0x38, 0, NULL, 0);
        fz_emit_segment(x, 2, 0, 0, 0, 100, 0, FZ_M_BAD_CSUM, NULL, 0);
        fz_emit_segment(x, 2, 0, 0, 0, 100, 0, FZ_M_IP_OPTS, NULL, 0);
        fz_emit_segment(x, 2, 0, 0, 0, 100, 0, FZ_M_FRAG | FZ_M_TRUNC,
                        NULL, 3);
        x;
    }));

    /* time: keepalive-ish state, NCE staleness, timestamps */
    seed_write("advance", ({
        GByteArray *x = g_byte_array_new();
        FzTcpSpec t[1] = { { 0, 0x11, 20 } };

        fz_emit_bringup(x, 1 << FZ_BU_STALE_SHIFT);
        fz_emit_offload(x, 0, 0, 1, t);
        fz_emit_advance(x, 5);
        fz_emit_segment(x, 0, 1, 0, 0, 100, FZ_O_TS, 0, "abc", 1);
        fz_emit_advance(x, 0x8000 | 100);
        fz_emit_segment(x, 0, 1, 8, 0, 100, FZ_O_TS_OLD, 0, "abc", 1);
        x;
    }));

    /* large trees: a bulk offload terminated again; a maximal tree */
    seed_write("bulk", ({
        GByteArray *x = g_byte_array_new();

        fz_emit_bringup(x, 0);
        fz_emit_u8(x, FZ_BULK);
        fz_emit_u8(x, 0 | 4);
        fz_emit_u16(x, 200);
        fz_emit_segment(x, 3, 0, 0, 0, 100, 0, 0, NULL, 0);
        x;
    }));
    seed_write("bulk-max", ({
        GByteArray *x = g_byte_array_new();

        fz_emit_bringup(x, 0);
        fz_emit_u8(x, FZ_BULK);
        fz_emit_u8(x, FZ_BULK_BIG | 2 | 4);
        fz_emit_u16(x, 0);
        x;
    }));

    /* raw register traffic on top of a bring-up */
    seed_write("raw", ({
        GByteArray *x = three_conns(0, 0, 0);

        fz_emit_reg(x, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
        fz_emit_u8(x, FZ_LINK);
        fz_emit_u8(x, 0);
        fz_emit_u8(x, FZ_CMD);
        x;
    }));

    printf("%u seeds in %s\n", nseeds, outdir);
    return 0;
}
