/*
 * Seed corpus for the segment fuzzer (chimney-fuzz-seg.h): writes one
 * file per program into the directory given as argv[1] (scripts/fuzz.sh
 * --target seg runs it).  The seeds are what a peer and a driver do:
 * in-order data into posted buffers, sends acknowledged in full and in
 * part, out-of-order and overlapping data, indications, a graceful and
 * an abortive close, RSTs at and away from RcvNxt, retransmission after
 * a lost segment, FORWARD, a zero window, on each configuration.
 *
 * Build: see scripts/fuzz.sh (plain cc, no sanitizer needed).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>

#include "chimney-fuzz-seg.h"

static const char *outdir;
static unsigned nseeds;

static void put(GByteArray *b, unsigned n, ...)
{
    va_list ap;
    unsigned i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        uint8_t v = va_arg(ap, int);

        g_byte_array_append(b, &v, 1);
    }
    va_end(ap);
}

/* One operation: conn 0 unless a has bit 7. */
#define DATA(b, a, fl, d, l, cs)  put(b, 8, FZS_OP_DATA, a, fl, d, l, 0, cs, 0)
#define ACK(b, a, frac, w)        put(b, 4, FZS_OP_ACK, a, frac, w)
#define CTRL(b, a, fl, d)         put(b, 7, FZS_OP_CTRL, a, fl, d, 0, 0, 0)
#define SEND(b, a, len)           put(b, 4, FZS_OP_SEND, a, (len) & 0xff, \
                                      (len) >> 8)
#define RECV(b, a, len)           put(b, 4, FZS_OP_RECV, a, (len) & 0xff, \
                                      (len) >> 8)
#define DISC(b, a, len8)          put(b, 3, FZS_OP_DISC, a, len8)
#define IND_DONE(b, a, sel)       put(b, 3, FZS_OP_IND_DONE, a, sel)
#define FWD(b, a, d, l, fl)       put(b, 5, FZS_OP_FORWARD, a, d, l, fl)
#define CLOCK(b, a)               put(b, 2, FZS_OP_CLOCK, a)
#define IND(b, a, n16)            put(b, 3, FZS_OP_IND, a, n16)

static void seed(uint8_t cfg, uint8_t wnd, const char *name,
                 void (*body)(GByteArray *b, bool two))
{
    GByteArray *b = g_byte_array_new();
    char *path;
    GError *err = NULL;

    put(b, 2, cfg, wnd);
    body(b, cfg & FZS_CFG_TWO);
    path = g_strdup_printf("%s/seed-%03u-%s", outdir, nseeds++, name);
    if (!g_file_set_contents(path, (const char *)b->data, b->len, &err)) {
        g_printerr("%s\n", err->message);
        exit(1);
    }
    g_free(path);
    g_byte_array_unref(b);
}

static void receive(GByteArray *b, bool two)
{
    unsigned i;

    RECV(b, 0, 4096);
    RECV(b, 0x40, 4096);
    for (i = 0; i < 4; i++) {
        DATA(b, 0, i == 3 ? CHIMNEY_TH_PSH : 0, 0, 199, 0);
    }
    CLOCK(b, 0x44);
    if (two) {
        RECV(b, 0x80, 2000);
        DATA(b, 0x80, CHIMNEY_TH_PSH, 0, 100, 0);
    }
}

static void send_ack(GByteArray *b, bool two)
{
    SEND(b, 0, 3000);
    SEND(b, 0x40, 4096);
    CLOCK(b, 0x02);
    ACK(b, 1, 128, 1);
    ACK(b, 0, 0, 1);
    SEND(b, 0, 100);
    ACK(b, 0, 0, 1);
    if (two) {
        SEND(b, 0x80, 2000);
        ACK(b, 0x80, 0, 1);
    }
}

static void ooo(GByteArray *b, bool two)
{
    RECV(b, 0, 4096);
    DATA(b, 1, 0, 15, 199, 0);
    DATA(b, 1, 0, 30, 199, 0);
    DATA(b, 0, 0, 0, 199, 0);
    DATA(b, 2, 0, 5, 199, 0);
    DATA(b, 0, CHIMNEY_TH_PSH, 0, 50, 0);
    DATA(b, 0, 0, 0, 80, 0xa5);
}

static void indications(GByteArray *b, bool two)
{
    IND(b, 0x10, 8);
    DATA(b, 0, 0, 0, 199, 0);
    IND_DONE(b, 0, 0x80);
    DATA(b, 0, CHIMNEY_TH_PSH, 0, 150, 0);
    IND_DONE(b, 0, 0x40);
    RECV(b, 0, 0);
    IND(b, 0x7f, 255);
    DATA(b, 0, 0, 0, 199, 0);
    IND_DONE(b, 0, 0xff);
    IND_DONE(b, 0, 0x80);
}

static void close_both(GByteArray *b, bool two)
{
    RECV(b, 0, 4096);
    SEND(b, 0, 1000);
    DATA(b, 0, CHIMNEY_TH_FIN | CHIMNEY_TH_PSH, 0, 100, 0);
    DISC(b, 0x10, 20);
    ACK(b, 0, 0, 1);
    CLOCK(b, 0x21);
    DISC(b, 0x20, 0);
    SEND(b, 0, 10);
}

static void resets(GByteArray *b, bool two)
{
    SEND(b, 0, 2000);
    RECV(b, 0, 100);
    CTRL(b, 3, CHIMNEY_TH_RST, 0x55);
    CTRL(b, 1, CHIMNEY_TH_SYN, 0x10);
    CTRL(b, 0x40, CHIMNEY_TH_RST, 0);
    CTRL(b, 0, CHIMNEY_TH_RST, 0);
    SEND(b, 0, 10);
}

static void loss(GByteArray *b, bool two)
{
    SEND(b, 0, 4096);
    SEND(b, 0, 4096);
    SEND(b, 0, 4096);
    ACK(b, 2, 0, 1);
    ACK(b, 2, 0, 1);
    ACK(b, 2, 0, 1);
    ACK(b, 1, 60, 1);
    CLOCK(b, 0x4f);
    ACK(b, 1, 200, 1);
    CLOCK(b, 0x6f);
    ACK(b, 0, 0, 1);
}

/* fast retransmit, then a partial ACK that covers whole requests */
static void recovery(GByteArray *b, bool two)
{
    unsigned i;

    for (i = 0; i < 8; i++) {
        SEND(b, 0, 700);
    }
    for (i = 0; i < 4; i++) {
        ACK(b, 2, 0, 1);
    }
    ACK(b, 1, 100, 1);
    ACK(b, 1, 180, 1);
    ACK(b, 0, 0, 1);
}

static void forward(GByteArray *b, bool two)
{
    RECV(b, 0, 2048);
    FWD(b, 0, 0, 255, CHIMNEY_TH_PSH);
    FWD(b, 1, 10, 100, 0);
    DATA(b, 0, CHIMNEY_TH_PSH, 0, 30, 0);
}

static void zero_window(GByteArray *b, bool two)
{
    SEND(b, 0, 4096);
    ACK(b, 1, 100, 0);
    CLOCK(b, 0x6f);
    CLOCK(b, 0x8f);
    ACK(b, 0, 0, 1);
    CLOCK(b, 0x2f);
}

int main(int argc, char **argv)
{
    static const uint8_t cfgs[] = {
        0x00, FZS_CFG_TS | FZS_CFG_WSCALE | 0x04,
        FZS_CFG_TS | FZS_CFG_IND, FZS_CFG_WRAP | FZS_CFG_TWO | FZS_CFG_TS |
        FZS_CFG_WSCALE | 0x08 | FZS_CFG_NAGLE,
    };
    static const struct {
        const char *name;
        void (*body)(GByteArray *b, bool two);
    } progs[] = {
        { "receive", receive }, { "send-ack", send_ack }, { "ooo", ooo },
        { "indications", indications }, { "close", close_both },
        { "resets", resets }, { "loss", loss }, { "recovery", recovery },
        { "forward", forward },
        { "zero-window", zero_window },
    };
    unsigned i, j;

    if (argc != 2) {
        g_printerr("usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    g_mkdir_with_parents(outdir, 0755);
    for (i = 0; i < G_N_ELEMENTS(cfgs); i++) {
        for (j = 0; j < G_N_ELEMENTS(progs); j++) {
            seed(cfgs[i] | (progs[j].body == indications ? FZS_CFG_IND : 0),
                 i == 2 ? 0x83 : 0x3f, progs[j].name, progs[j].body);
        }
    }
    return 0;
}
