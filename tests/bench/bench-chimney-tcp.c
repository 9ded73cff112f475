/*
 * Engine-to-engine benchmark of the TCP data path: two offload engines
 * (chimney_engine.h, no device core, no QEMU) wired back to back in one
 * process, each with its own fake guest memory
 * (tests/unit/chimney-fake-engine.h), on one virtual clock.  Engine A
 * sends, engine B receives, over matching offloaded connections (the
 * INITIATE trees of both sides mirror each other: ports and addresses
 * swapped, A's snd_nxt = B's rcv_nxt and back, 256 KiB windows with
 * window scaling, timestamps, MSS 1448).
 *
 * Cases: 1 GiB over one connection and 1 GiB over 1,024 connections, each
 * with 0% and 1% random frame loss on the wire (both directions, a fixed
 * PRNG seed).  The sender keeps 8 SENDs of 64 KiB outstanding per
 * connection, the receiver 4 RECV_POSTs of 64 KiB (non-push, so each
 * completes full); every completed receive buffer is compared with the
 * bytes sent, so the stream must arrive intact.
 *
 * Figures, per case: MB/s per host core (CPU time of the process, both
 * engines and the wire copy; the verification memcmp is measured and
 * left out), instructions per 1448-byte segment (perf_event_open, "n/a"
 * where the VM has no counters), goodput in virtual time, and beside
 * them the same figures for memcpy + Internet checksum of the same bytes
 * measured in the same run.  Goal (printed, never checked): loss-free
 * engine cost within 2x of memcpy + checksum.  The program fails only if
 * the data path does (stream corrupted, a request failed, a stall).
 *
 * CHIMNEY_BENCH_TCP_MIB sets the bytes per case (default 1024).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chimney-fake-engine.h"
#include "chimney_hdr.h"

#define MIB             (1024u * 1024u)
#define MSS             1448u       /* MTU 1500, timestamps */
#define REQ_LEN         (64u * 1024u)
#define NSEND           8u          /* SENDs outstanding per connection */
#define NRECV           4u          /* RECV_POSTs posted per connection */
#define WND             (256u * 1024u)
#define WSCALE          3
/* The byte stream repeats after PERIOD bytes (a prime: no alignment). */
#define PERIOD          1000003u
#define FRAME_MAX       1536u
/*
 * Virtual link: 100 Gbit/s, so that 1,024 full windows queued on the
 * (unbounded) wire stay well under the 200 ms minimum RTO.
 */
#define LINK_BPS        100000000000ull
#define MAX_CONN        1024u

static const uint8_t mac_a[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0b };

typedef struct Frame {
    uint32_t len;
    uint8_t to_b;
    uint8_t data[FRAME_MAX];
} Frame;

typedef struct Conn {
    uint64_t ha, hb;            /* handles on A and on B */
    uint32_t phase;             /* where the stream starts in the pattern */
    uint64_t snd_off;           /* bytes handed to SEND */
    uint64_t snd_done;          /* bytes SEND_DONE reported */
    unsigned snd_out;
    uint64_t rcv_posted;        /* stream offset the posted buffers reach */
    uint64_t rcv_off;           /* bytes received and verified */
    unsigned rcv_out;
    unsigned rcv_next;          /* buffer slot that completes next */
    uint64_t rbuf;              /* NRECV buffers of REQ_LEN on B */
} Conn;

typedef struct Bench {
    int64_t clock;
    FeHost a, b;
    Frame **wire;               /* FIFO of frames, a ring */
    uint32_t wire_head, wire_len, wire_cap;
    Frame **spare;              /* frame buffers not on the wire */
    uint32_t nspare;
    uint64_t rng;
    uint32_t loss_ppm;
    uint64_t frames, lost;
    Conn *conn;
    uint32_t nconn;
    uint64_t per_conn;
    uint32_t conn_of_a[MAX_CONN], conn_of_b[MAX_CONN];  /* by handle index */
    uint64_t pat;               /* pattern in A's memory */
    const uint8_t *pat_host;
    uint32_t conns_done;
    /* verification cost, left out of the engine figures */
    int64_t verify_ns;
    uint64_t verify_instr;
    int perf_fd;
} Bench;

static void G_GNUC_NORETURN G_GNUC_PRINTF(1, 2) die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench-chimney-tcp: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int perf_open(void)
{
    struct perf_event_attr a;

    memset(&a, 0, sizeof(a));
    a.type = PERF_TYPE_HARDWARE;
    a.size = sizeof(a);
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t perf_read(int fd)
{
    uint64_t v = 0;

    if (fd < 0 || read(fd, &v, sizeof(v)) != sizeof(v)) {
        return 0;
    }
    return v;
}

/*
 * The wire
 */

/*
 * The ring holds pointers, so a frame being received stays where it is
 * while the engine that receives it sends more (the ring may grow).
 */
static void wire_push(Bench *b, bool to_b, const uint8_t *f, size_t len)
{
    Frame *fr;

    if (len > FRAME_MAX) {
        die("frame of %zu bytes", len);
    }
    if (b->wire_len == b->wire_cap) {
        uint32_t ncap = b->wire_cap * 2, i;
        Frame **n = g_new(Frame *, ncap);

        for (i = 0; i < b->wire_len; i++) {
            n[i] = b->wire[(b->wire_head + i) % b->wire_cap];
        }
        g_free(b->wire);
        b->wire = n;
        b->wire_head = 0;
        b->wire_cap = ncap;
        b->spare = g_renew(Frame *, b->spare, ncap + 1);
    }
    fr = b->nspare ? b->spare[--b->nspare] : g_new(Frame, 1);
    fr->len = len;
    fr->to_b = to_b;
    memcpy(fr->data, f, len);
    b->wire[(b->wire_head + b->wire_len++) % b->wire_cap] = fr;
}

static Frame *wire_pop(Bench *b)
{
    Frame *f = b->wire[b->wire_head];

    b->wire_head = (b->wire_head + 1) % b->wire_cap;
    b->wire_len--;
    return f;
}

/* Frames in flight never exceed wire_cap, so spare has room. */
static void wire_free(Bench *b, Frame *f)
{
    b->spare[b->nspare++] = f;
}

static void emit_from_a(void *ctx, const uint8_t *f, size_t len)
{
    wire_push(ctx, true, f, len);
}

static void emit_from_b(void *ctx, const uint8_t *f, size_t len)
{
    wire_push(ctx, false, f, len);
}

/*
 * Requests and completions
 */

static void refill_sends(Bench *b, Conn *c)
{
    while (c->snd_out < NSEND && c->snd_off < b->per_conn) {
        uint32_t len = MIN(REQ_LEN, b->per_conn - c->snd_off);
        uint64_t addr = b->pat + (c->snd_off + c->phase) % PERIOD;
        uint32_t st = fe_cmd(&b->a, CHIMNEY_CMD_SEND, 0, addr, len, c->ha,
                             NULL);

        if (st != CHIMNEY_ST_SUCCESS) {
            die("SEND refused: status 0x%x", st);
        }
        c->snd_off += len;
        c->snd_out++;
    }
}

static void refill_recvs(Bench *b, Conn *c)
{
    while (c->rcv_out < NRECV && c->rcv_posted < b->per_conn) {
        uint32_t len = MIN(REQ_LEN, b->per_conn - c->rcv_posted);
        unsigned slot = (c->rcv_next + c->rcv_out) % NRECV;
        uint32_t st = fe_cmd(&b->b, CHIMNEY_CMD_RECV_POST,
                             CHIMNEY_RECVF_NO_PUSH,
                             c->rbuf + (uint64_t)slot * REQ_LEN, len, c->hb,
                             NULL);

        if (st != CHIMNEY_ST_SUCCESS) {
            die("RECV_POST refused: status 0x%x", st);
        }
        c->rcv_posted += len;
        c->rcv_out++;
    }
}

static void recv_done(Bench *b, Conn *c, const ChimneyEvent *ev)
{
    uint64_t buf = c->rbuf + (uint64_t)c->rcv_next * REQ_LEN;
    uint32_t want = MIN(REQ_LEN, b->per_conn - c->rcv_off);
    int64_t t0 = cpu_ns();
    uint64_t i0 = perf_read(b->perf_fd);

    if (ev->status != CHIMNEY_ST_SUCCESS || ev->info != want) {
        die("RECV_DONE status 0x%x, %u bytes (want %u)", ev->status,
            ev->info, want);
    }
    if (memcmp(fe_ptr(&b->b, buf),
               b->pat_host + (c->rcv_off + c->phase) % PERIOD, want)) {
        const uint8_t *got = fe_ptr(&b->b, buf);
        const uint8_t *exp = b->pat_host + (c->rcv_off + c->phase) % PERIOD;
        uint32_t k = 0;

        while (got[k] == exp[k]) {
            k++;
        }
        die("%u connection(s), loss %u ppm: connection %u: stream corrupted"
            " at byte %" G_GUINT64_FORMAT " (RECV_POST of %u bytes, from "
            "its byte %u)", b->nconn, b->loss_ppm, (unsigned)(c - b->conn),
            c->rcv_off + k, want, k);
    }
    b->verify_instr += perf_read(b->perf_fd) - i0;
    b->verify_ns += cpu_ns() - t0;
    c->rcv_off += want;
    c->rcv_out--;
    c->rcv_next = (c->rcv_next + 1) % NRECV;
    if (c->rcv_off == b->per_conn) {
        b->conns_done++;
    }
    refill_recvs(b, c);
}

static Conn *conn_of(Bench *b, const uint32_t *map, uint64_t handle)
{
    uint32_t i = CHIMNEY_HANDLE_INDEX(handle);

    if (i >= MAX_CONN || map[i] >= b->nconn) {
        die("event for unknown handle 0x%" G_GINT64_MODIFIER "x", handle);
    }
    return &b->conn[map[i]];
}

/* Act on everything the host's engine queued (may queue more). */
static void drain(Bench *b, FeHost *h)
{
    ChimneyEvent ev;
    unsigned guard;

    for (guard = 0; guard < 1u << 24 && fe_pop(h, &ev); guard++) {
        Conn *c;

        switch (ev.type) {
        case CHIMNEY_EVT_CMD_DONE:
            break;              /* statuses come back from fe_cmd() */
        case CHIMNEY_EVT_SEND_DONE:
            c = conn_of(b, b->conn_of_a, ev.handle);
            if (h != &b->a || ev.status != CHIMNEY_ST_SUCCESS || !ev.info) {
                die("SEND_DONE status 0x%x info %u", ev.status, ev.info);
            }
            c->snd_done += ev.info;
            c->snd_out--;
            refill_sends(b, c);
            break;
        case CHIMNEY_EVT_RECV_DONE:
            if (h != &b->b) {
                die("RECV_DONE on the sender");
            }
            recv_done(b, conn_of(b, b->conn_of_b, ev.handle), &ev);
            break;
        case CHIMNEY_EVT_TCP_BACKLOG:
            break;              /* advice for the host: nothing to do */
        default:
            die("unexpected event type 0x%x code %u on %s", ev.type,
                ev.code, h == &b->a ? "A" : "B");
        }
    }
}

/*
 * Set-up: SET_PARAMS and one INITIATE tree N{P{T * nconn}} per side
 */

static void offload_side(Bench *b, FeHost *h, bool is_a)
{
    ChimneyTestMem mem = fe_mem(h);
    ChimneyTestRaw r;
    uint32_t cap = 8192 + b->nconn * 320, i;
    uint64_t n, p, *t = g_new(uint64_t, b->nconn);
    uint32_t *map = is_a ? b->conn_of_a : b->conn_of_b;

    if (fe_set_params(h, 1000, 2, 200, 500) != CHIMNEY_ST_SUCCESS) {
        die("SET_PARAMS");
    }
    raw_init_at(&r, &mem, fe_alloc(h, cap), cap);
    n = raw_neigh(&r, is_a ? mac_b : mac_a, 0);
    p = raw_path4(&r, is_a ? 1 : 2, is_a ? 2 : 1, 1500);
    raw_dep(&r, n, p);
    for (i = 0; i < b->nconn; i++) {
        ChimneyTestTcpState s;
        uint16_t port_a = 20000 + i, port_b = 5001;
        /* near the top of sequence space: 1 GiB crosses the wrap */
        uint32_t iss_a = 0xf0000000u + i * 7919u, iss_b = 0x10000u + i;

        if (is_a) {
            fe_tcp_side(&s, port_a, port_b, iss_a, iss_b, 1000, 5000, WND,
                        true, WSCALE);
        } else {
            fe_tcp_side(&s, port_b, port_a, iss_b, iss_a, 5000, 1000, WND,
                        true, WSCALE);
        }
        t[i] = raw_block(&r, CHIMNEY_TYPE_TCP, CHIMNEY_ROLE_NEW, 0, &s,
                         sizeof(s));
        if (i) {
            raw_next(&r, t[i - 1], t[i]);
        }
    }
    raw_dep(&r, p, t[0]);
    raw_put(&r);
    if (fe_cmd(h, CHIMNEY_CMD_INITIATE, 0, n, 0, 0, NULL) !=
        CHIMNEY_ST_SUCCESS) {
        die("INITIATE");
    }
    for (i = 0; i < b->nconn; i++) {
        uint64_t hd = raw_handle(&r, t[i]);

        if (raw_status(&r, t[i]) != CHIMNEY_ST_SUCCESS ||
            CHIMNEY_HANDLE_INDEX(hd) >= MAX_CONN) {
            die("INITIATE: connection %u status 0x%x", i,
                raw_status(&r, t[i]));
        }
        if (is_a) {
            b->conn[i].ha = hd;
        } else {
            b->conn[i].hb = hd;
        }
        map[CHIMNEY_HANDLE_INDEX(hd)] = i;
    }
    raw_free(&r);
    g_free(t);
    drain(b, h);
}

typedef struct Result {
    double cpu_s;
    double wall_s;
    uint64_t instr;             /* 0: not available */
    double virt_s;
    uint64_t frames, lost;
    uint32_t rexmit;
} Result;

static double wall_now(void)
{
    return g_get_monotonic_time() / 1e6;
}

static uint32_t rexmit_count(FeHost *h)
{
    uint64_t a = fe_alloc(h, sizeof(ChimneyOffloadStats));
    ChimneyOffloadStats *s = fe_ptr(h, a);

    if (fe_cmd(h, CHIMNEY_CMD_QUERY_STATS, 0, a, sizeof(*s), 0, NULL) !=
        CHIMNEY_ST_SUCCESS) {
        die("QUERY_STATS");
    }
    return GUINT32_FROM_LE(s->tcp4.retransmitted_segments);
}

static void run_case(uint64_t total, uint32_t nconn, uint32_t loss_ppm,
                     int perf_fd, Result *res)
{
    Bench *b = g_new0(Bench, 1);
    uint64_t i, guard, max_iter;
    uint64_t budget = (uint64_t)nconn * (WND + 64 * 1024) + (64ull << 20);
    int64_t t0, virt0;
    uint64_t i0;
    double w0;

    b->nconn = nconn;
    b->per_conn = total / nconn;
    b->loss_ppm = loss_ppm;
    b->rng = 0x5eed0000u + nconn + loss_ppm;
    b->perf_fd = perf_fd;
    b->conn = g_new0(Conn, nconn);
    b->wire_cap = 1024;
    b->wire = g_new(Frame *, b->wire_cap);
    b->spare = g_new(Frame *, b->wire_cap + 1);
    memset(b->conn_of_a, 0xff, sizeof(b->conn_of_a));
    memset(b->conn_of_b, 0xff, sizeof(b->conn_of_b));
    fe_init(&b->a, mac_a, &b->clock, PERIOD + REQ_LEN + (8u << 20), MAX_CONN,
            budget);
    fe_init(&b->b, mac_b, &b->clock,
            (uint64_t)nconn * NRECV * REQ_LEN + (8u << 20), MAX_CONN, budget);
    /*
     * Guest memory is RAM the guest already has: fault it in now, so the
     * kernel's first-touch page faults are not billed to the engines.
     */
    memset(b->a.ram, 0, b->a.ram_size);
    memset(b->b.ram, 0, b->b.ram_size);
    b->a.emit = emit_from_a;
    b->a.emit_ctx = b;
    b->b.emit = emit_from_b;
    b->b.emit_ctx = b;

    /* the byte stream: pseudo-random, PERIOD long, repeated once more */
    b->pat = fe_alloc(&b->a, PERIOD + REQ_LEN);
    b->pat_host = fe_ptr(&b->a, b->pat);
    for (i = 0; i < PERIOD; i += 8) {
        uint64_t v = rng_next(&b->rng);

        memcpy((uint8_t *)b->pat_host + i, &v, 8);
    }
    memcpy((uint8_t *)b->pat_host + PERIOD, b->pat_host, REQ_LEN);
    for (i = 0; i < nconn; i++) {
        b->conn[i].phase = (i * 104729u) % PERIOD;
        b->conn[i].rbuf = fe_alloc(&b->b, (uint64_t)NRECV * REQ_LEN);
    }
    offload_side(b, &b->a, true);
    offload_side(b, &b->b, false);

    t0 = cpu_ns();
    i0 = perf_read(perf_fd);
    w0 = wall_now();
    virt0 = b->clock;
    for (i = 0; i < nconn; i++) {
        refill_recvs(b, &b->conn[i]);
        drain(b, &b->b);
        refill_sends(b, &b->conn[i]);
        drain(b, &b->a);
    }
    /* every frame at most a few times, plus timer passes */
    max_iter = total / MSS * 64 + (1u << 24);
    for (guard = 0; guard < max_iter; guard++) {
        if (fe_run_timer(&b->a)) {
            drain(b, &b->a);
        }
        if (fe_run_timer(&b->b)) {
            drain(b, &b->b);
        }
        if (b->wire_len) {
            Frame *f = wire_pop(b);
            FeHost *to = f->to_b ? &b->b : &b->a;

            b->frames++;
            b->clock += (int64_t)(f->len + 24) * 8 * 1000000000ll /
                        (int64_t)LINK_BPS;
            if (loss_ppm && rng_next(&b->rng) % 1000000u < loss_ppm) {
                b->lost++;
            } else if (!chimney_engine_rx(to->eng, f->data, f->len)) {
                die("a frame went to the host path");
            }
            wire_free(b, f);
            drain(b, to);
            continue;
        }
        if (b->conns_done == nconn) {
            bool sends_done = true;

            for (i = 0; i < nconn; i++) {
                sends_done &= b->conn[i].snd_done == b->per_conn;
            }
            if (sends_done) {
                break;
            }
        }
        /* quiet wire: time moves on to the next timer */
        if (b->a.deadline == INT64_MAX && b->b.deadline == INT64_MAX) {
            die("stalled: %u of %u connections done, no timer",
                b->conns_done, nconn);
        }
        b->clock = MAX(b->clock, MIN(b->a.deadline, b->b.deadline));
        if (b->clock - virt0 > 3600ll * 1000000000ll) {
            die("over an hour of virtual time");
        }
    }
    if (guard == max_iter) {
        die("no end after %" G_GUINT64_FORMAT " steps", guard);
    }
    res->cpu_s = (cpu_ns() - t0 - b->verify_ns) / 1e9;
    res->instr = perf_fd >= 0 ? perf_read(perf_fd) - i0 - b->verify_instr : 0;
    res->wall_s = wall_now() - w0;
    res->virt_s = (b->clock - virt0) / 1e9;
    res->frames = b->frames;
    res->lost = b->lost;
    res->rexmit = rexmit_count(&b->a);
    if (b->a.guest_errors || b->b.guest_errors) {
        die("%u + %u guest errors", b->a.guest_errors, b->b.guest_errors);
    }
    fe_fini(&b->a);
    fe_fini(&b->b);
    while (b->wire_len) {
        wire_free(b, wire_pop(b));
    }
    for (i = 0; i < b->nspare; i++) {
        g_free(b->spare[i]);
    }
    g_free(b->spare);
    g_free(b->wire);
    g_free(b->conn);
    g_free(b);
}

/*
 * The reference: memcpy + Internet checksum of the same bytes, one
 * 1448-byte segment at a time, with the engine's checksum code and with
 * a word-at-a-time one.
 */

static uint16_t csum_words(const uint8_t *p, size_t len)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i + 4 <= len; i += 4) {
        uint32_t w;

        memcpy(&w, p + i, 4);
        sum += w;
    }
    for (; i < len; i++) {
        sum += (uint32_t)p[i] << ((i & 1) ? 0 : 8);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

/* The references: mode 0 memcpy only, 1 + engine csum, 2 + word csum. */
static void run_base(uint64_t total, int mode, int perf_fd, Result *res)
{
    uint8_t *pat = g_malloc(PERIOD + MSS), *frame = g_malloc(MSS);
    static const uint8_t ip[4] = { 10, 0, 0, 1 };
    uint64_t v = 1, off, s = 0, i0;
    volatile uint32_t sink;
    int64_t t0;
    size_t i;

    for (i = 0; i < PERIOD + MSS; i++) {
        pat[i] = rng_next(&v);
    }
    t0 = cpu_ns();
    i0 = perf_read(perf_fd);
    for (off = 0; off < total; off += MSS) {
        uint32_t len = MIN(MSS, total - off);

        memcpy(frame, pat + off % PERIOD, len);
        if (mode == 1) {
            s += chimney_tcp_checksum(false, ip, ip, frame, len);
        } else if (mode == 2) {
            s += csum_words(frame, len);
        } else {
            s += frame[len - 1];
        }
    }
    sink = s;
    (void)sink;
    res->cpu_s = (cpu_ns() - t0) / 1e9;
    res->instr = perf_fd >= 0 ? perf_read(perf_fd) - i0 : 0;
    g_free(pat);
    g_free(frame);
}

static void print_row(const char *name, uint64_t total, const Result *r,
                      const Result *base)
{
    double mb = total / 1e6, segs = (double)total / MSS;
    char instr[32];

    if (r->instr) {
        snprintf(instr, sizeof(instr), "%.0f", r->instr / segs);
    } else {
        snprintf(instr, sizeof(instr), "n/a");
    }
    printf("  %-30s %9.0f %10s", name, mb / r->cpu_s, instr);
    if (r->frames) {
        printf(" %6.2f %8.2f %9" G_GUINT64_FORMAT " %7" G_GUINT64_FORMAT
               " %7u", base ? r->cpu_s / base->cpu_s : 0.0,
               total * 8 / r->virt_s / 1e9, r->frames, r->lost, r->rexmit);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *env = g_getenv("CHIMNEY_BENCH_TCP_MIB");
    uint64_t mib = env ? g_ascii_strtoull(env, NULL, 10) : 1024;
    uint64_t total = mib * MIB;
    int perf_fd = perf_open();
    Result base_copy = { 0 }, base_eng = { 0 }, base_fast = { 0 }, r[4];
    static const struct {
        const char *name;
        uint32_t nconn, loss_ppm;
    } cases[4] = {
        { "1 connection, 0% loss", 1, 0 },
        { "1 connection, 1% loss", 1, 10000 },
        { "1024 connections, 0% loss", 1024, 0 },
        { "1024 connections, 1% loss", 1024, 10000 },
    };
    unsigned k;

    if (!mib || mib > 4096) {
        die("CHIMNEY_BENCH_TCP_MIB must be 1..4096");
    }
#ifdef __SANITIZE_ADDRESS__
    printf("note: built with AddressSanitizer; figures are not "
           "representative\n");
#endif
    printf("bench-chimney-tcp: engine A -> engine B back to back, "
           "%" G_GUINT64_FORMAT " MiB per case, MSS %u (MTU 1500, "
           "timestamps, wscale %d), 256 KiB windows,\n"
           "  %u x 64 KiB SENDs / %u x 64 KiB RECV_POSTs outstanding per "
           "connection, virtual link 100 Gbit/s; instructions: %s\n",
           mib, MSS, WSCALE, NSEND, NRECV,
           perf_fd >= 0 ? "perf_event_open" : "n/a (no perf counters)");
    run_base(total, 0, perf_fd, &base_copy);
    run_base(total, 1, perf_fd, &base_eng);
    run_base(total, 2, perf_fd, &base_fast);
    for (k = 0; k < G_N_ELEMENTS(cases); k++) {
        run_case(total, cases[k].nconn, cases[k].loss_ppm, perf_fd, &r[k]);
    }

    printf("\n  %-30s %9s %10s %6s %8s %9s %7s %7s\n", "case", "MB/s/core",
           "instr/seg", "x ref", "virt Gb/s", "frames", "lost", "rexmit");
    for (k = 0; k < G_N_ELEMENTS(cases); k++) {
        print_row(cases[k].name, total, &r[k], &base_fast);
    }
    print_row("ref: memcpy + engine csum", total, &base_eng, NULL);
    print_row("ref: memcpy + word csum", total, &base_fast, NULL);
    print_row("ref: memcpy alone (the wire)", total, &base_copy, NULL);
    printf("\n  (engine rows: both engines, sender and receiver, plus the "
           "wire's frame copy, in one\n   process; \"x ref\": CPU per byte "
           "over memcpy + word csum; verification excluded)\n");
    printf("  goal: loss-free engine cost within 2x of memcpy + checksum: "
           "1 connection %.2fx, 1024 connections %.2fx (both engines;\n"
           "        per host about half: %.2fx, %.2fx; against the engine's "
           "own checksum code: %.2fx, %.2fx)\n",
           r[0].cpu_s / base_fast.cpu_s, r[2].cpu_s / base_fast.cpu_s,
           r[0].cpu_s / base_fast.cpu_s / 2, r[2].cpu_s / base_fast.cpu_s / 2,
           r[0].cpu_s / base_eng.cpu_s, r[2].cpu_s / base_eng.cpu_s);
    /* the harness's own frame copy is about one memcpy of the bytes */
    printf("        per host, the wire's frame copy (memcpy alone) taken "
           "out: %.2fx, %.2fx\n",
           (r[0].cpu_s - base_copy.cpu_s) / base_fast.cpu_s / 2,
           (r[2].cpu_s - base_copy.cpu_s) / base_fast.cpu_s / 2);
    if (perf_fd >= 0) {
        close(perf_fd);
    }
    return 0;
}
