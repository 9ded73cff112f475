/*
 * A fake host for the offload engine alone (chimney_engine.h), without
 * the device core: flat guest memory with a bump allocator, services that
 * record what the engine asks for (frames, events, the one timer
 * deadline), a virtual clock the caller owns, and commands run the way
 * the core runs them (CMD_DONE queued before chimney_engine_after_command).
 * Used by the engine-to-engine benchmark and the segment fuzzer, which
 * drive engines directly; header-only like chimney-fake-host.h.
 *
 * Services never call back into the engine: frames and events are only
 * handed to the caller's hooks or queued, and the caller acts on them
 * once the engine call returned.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_FAKE_ENGINE_H
#define CHIMNEY_FAKE_ENGINE_H

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "chimney_engine.h"
#include "chimney-test-tree.h"

#define FE_RAM_BASE     0x100000ull

typedef struct FeHost FeHost;

struct FeHost {
    ChimneyEngine *eng;
    uint8_t *ram;
    uint64_t ram_size;
    uint64_t alloc_next;
    const int64_t *clock;       /* virtual ns, owned by the caller */
    int64_t deadline;           /* engine timer; INT64_MAX = none */
    uint8_t mac[6];
    /* frames the engine sends (the caller copies them) */
    void (*emit)(void *ctx, const uint8_t *frame, size_t len);
    void *emit_ctx;
    /* transmit segmentation offload of the wire: 0 = none */
    uint32_t tso_max;
    void (*emit_tso)(void *ctx, const uint8_t *frame, size_t len,
                     uint16_t l4_off, uint16_t hdr_len, uint16_t mss,
                     bool ipv6);
    /* receive indications; NULL = IND ring disabled (returns 0) */
    int64_t (*indicate)(void *ctx, uint64_t handle, uint32_t seq,
                        const uint8_t *data, uint32_t len);
    void *ind_ctx;
    /*
     * Every event as it is queued, CMD_DONE included (host order): for
     * checks that must see events in the order the engine made them
     * relative to its other service calls.  Must not call the engine.
     */
    void (*on_event)(void *ctx, const ChimneyEvent *ev);
    void *ev_ctx;
    /* events in host byte order, FIFO */
    ChimneyEvent *evq;
    uint32_t evq_head;
    uint32_t evq_len;
    uint32_t evq_cap;
    unsigned guest_errors;
    uint64_t cookie;
    bool verbose;               /* print guest errors */
    bool ram_borrowed;          /* fe_init_on_ram(): the caller's */
};

static inline bool fe_in_ram(FeHost *h, uint64_t addr, size_t len)
{
    return addr >= FE_RAM_BASE && len <= h->ram_size &&
           addr - FE_RAM_BASE <= h->ram_size - len;
}

static inline void *fe_ptr(FeHost *h, uint64_t addr)
{
    g_assert(fe_in_ram(h, addr, 1));
    return h->ram + (addr - FE_RAM_BASE);
}

static inline uint64_t fe_alloc(FeHost *h, uint64_t len)
{
    uint64_t a = h->alloc_next;

    h->alloc_next += (len + 63) & ~63ull;
    g_assert(h->alloc_next <= FE_RAM_BASE + h->ram_size);
    return a;
}

static int fe_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    FeHost *h = opaque;

    if (!fe_in_ram(h, addr, len)) {
        return -1;
    }
    memcpy(buf, h->ram + (addr - FE_RAM_BASE), len);
    return 0;
}

static int fe_dma_write(void *opaque, uint64_t addr, const void *buf,
                        size_t len)
{
    FeHost *h = opaque;

    if (!fe_in_ram(h, addr, len)) {
        return -1;
    }
    memcpy(h->ram + (addr - FE_RAM_BASE), buf, len);
    return 0;
}

static void fe_emit_frame(void *opaque, const uint8_t *buf, size_t len)
{
    FeHost *h = opaque;

    if (h->emit) {
        h->emit(h->emit_ctx, buf, len);
    }
}

static uint32_t fe_tso_max(void *opaque)
{
    return ((FeHost *)opaque)->tso_max;
}

static void fe_emit_tso(void *opaque, const uint8_t *buf, size_t len,
                        uint16_t l4_off, uint16_t hdr_len, uint16_t mss,
                        bool ipv6)
{
    FeHost *h = opaque;

    g_assert_nonnull(h->emit_tso);      /* only with tso_max set */
    h->emit_tso(h->emit_ctx, buf, len, l4_off, hdr_len, mss, ipv6);
}

static inline void fe_evq_push(FeHost *h, const ChimneyEvent *le)
{
    ChimneyEvent ev;
    uint32_t i;

    if (h->evq_len == h->evq_cap) {
        uint32_t ncap = h->evq_cap ? h->evq_cap * 2 : 256;
        ChimneyEvent *n = g_new(ChimneyEvent, ncap);

        for (i = 0; i < h->evq_len; i++) {
            n[i] = h->evq[(h->evq_head + i) % h->evq_cap];
        }
        g_free(h->evq);
        h->evq = n;
        h->evq_head = 0;
        h->evq_cap = ncap;
    }
    ev.type = GUINT16_FROM_LE(le->type);
    ev.code = GUINT16_FROM_LE(le->code);
    ev.status = GUINT32_FROM_LE(le->status);
    ev.cookie = GUINT64_FROM_LE(le->cookie);
    ev.handle = GUINT64_FROM_LE(le->handle);
    ev.info = GUINT32_FROM_LE(le->info);
    ev.flags = 0;
    h->evq[(h->evq_head + h->evq_len++) % h->evq_cap] = ev;
    if (h->on_event) {
        h->on_event(h->ev_ctx, &ev);
    }
}

static bool fe_queue_event(void *opaque, const ChimneyEvent *ev)
{
    fe_evq_push(opaque, ev);
    return true;
}

static int64_t fe_clock_ns(void *opaque)
{
    return *((FeHost *)opaque)->clock;
}

static void fe_timer_set(void *opaque, int64_t deadline_ns)
{
    ((FeHost *)opaque)->deadline = deadline_ns;
}

static void fe_guest_error(void *opaque, uint32_t code, const char *msg)
{
    FeHost *h = opaque;

    h->guest_errors++;
    if (h->verbose) {
        fprintf(stderr, "guest error %u: %s\n", code, msg);
    }
}

static bool fe_event_room(void *opaque)
{
    return ((FeHost *)opaque)->evq_len < CHIMNEY_EVT_QUEUE_MAX;
}

static int64_t fe_indicate(void *opaque, uint64_t handle, uint32_t seq,
                           const uint8_t *data, uint32_t len)
{
    FeHost *h = opaque;

    return h->indicate ? h->indicate(h->ind_ctx, handle, seq, data, len) : 0;
}

static const ChimneyEngineServices fe_services = {
    .dma_read = fe_dma_read,
    .dma_write = fe_dma_write,
    .emit_frame = fe_emit_frame,
    .tso_max = fe_tso_max,
    .emit_tso = fe_emit_tso,
    .queue_event = fe_queue_event,
    .clock_ns = fe_clock_ns,
    .timer_set = fe_timer_set,
    .guest_error = fe_guest_error,
    .event_room = fe_event_room,
    .indicate = fe_indicate,
};

/*
 * An engine on @ram_size bytes of guest memory the caller owns (zeroed
 * as the caller sees fit), link up, offload on: fuzzers reuse one buffer
 * rather than map a fresh one per input.
 */
static inline void fe_init_on_ram(FeHost *h, uint8_t *ram, const uint8_t mac[6],
                                  const int64_t *clock, uint64_t ram_size,
                                  uint32_t max_conn, uint64_t mem_budget)
{
    ChimneyEngineConfig cfg = { .max_conn = max_conn,
                                .mem_budget = mem_budget };

    memset(h, 0, sizeof(*h));
    h->ram = ram;
    h->ram_borrowed = true;
    h->ram_size = ram_size;
    h->alloc_next = FE_RAM_BASE;
    h->clock = clock;
    h->deadline = INT64_MAX;
    memcpy(h->mac, mac, 6);
    h->verbose = g_getenv("CHIMNEY_TEST_VERBOSE") != NULL;
    h->eng = chimney_engine_new(&fe_services, h, &cfg);
    chimney_engine_set_mac(h->eng, mac);
    chimney_engine_set_link(h->eng, true);
    chimney_engine_set_enabled(h->eng, true);
}

/* The same on fresh zeroed guest memory of its own. */
static inline void fe_init(FeHost *h, const uint8_t mac[6],
                           const int64_t *clock, uint64_t ram_size,
                           uint32_t max_conn, uint64_t mem_budget)
{
    fe_init_on_ram(h, g_malloc0(ram_size), mac, clock, ram_size, max_conn,
                   mem_budget);
    h->ram_borrowed = false;
}

static inline void fe_fini(FeHost *h)
{
    chimney_engine_free(h->eng);
    if (!h->ram_borrowed) {
        g_free(h->ram);
    }
    g_free(h->evq);
    memset(h, 0, sizeof(*h));
}

/* Upload requests the engine held back go behind the queued events. */
static inline void fe_sync(FeHost *h)
{
    ChimneyEvent ev;
    unsigned guard;

    for (guard = 0; guard < 1u << 20 && h->evq_len < CHIMNEY_EVT_QUEUE_MAX &&
         chimney_engine_pop_event(h->eng, &ev); guard++) {
        fe_evq_push(h, &ev);
    }
}

/* The oldest queued event (host order); false when there is none. */
static inline bool fe_pop(FeHost *h, ChimneyEvent *ev)
{
    if (!h->evq_len) {
        fe_sync(h);
        if (!h->evq_len) {
            return false;
        }
    }
    *ev = h->evq[h->evq_head];
    h->evq_head = (h->evq_head + 1) % h->evq_cap;
    if (--h->evq_len == 0) {
        h->evq_head = 0;
    }
    if (h->evq_len == CHIMNEY_EVT_QUEUE_MAX - 1) {
        /* it was full: deferred object events may go in now */
        chimney_engine_event_room(h->eng);
    }
    return true;
}

/*
 * Run one command as the core does: its CMD_DONE is queued, then the
 * engine does the request's work.  Returns the status; *cookie_out (may
 * be NULL) gets the cookie its completion will carry.
 */
static inline uint32_t fe_cmd(FeHost *h, uint16_t opcode, uint16_t flags,
                              uint64_t addr, uint32_t len, uint64_t handle,
                              uint64_t *cookie_out)
{
    ChimneyCmdDesc c;
    ChimneyEvent done;
    uint32_t st, info, work;

    memset(&c, 0, sizeof(c));
    c.opcode = GUINT16_TO_LE(opcode);
    c.flags = GUINT16_TO_LE(flags);
    c.len = GUINT32_TO_LE(len);
    c.addr = GUINT64_TO_LE(addr);
    c.handle = GUINT64_TO_LE(handle);
    c.cookie = GUINT64_TO_LE(++h->cookie);
    st = chimney_engine_command(h->eng, &c, &info, &work);
    memset(&done, 0, sizeof(done));
    done.type = GUINT16_TO_LE(CHIMNEY_EVT_CMD_DONE);
    done.code = c.opcode;
    done.status = GUINT32_TO_LE(st);
    done.cookie = c.cookie;
    done.handle = c.handle;
    done.info = GUINT32_TO_LE(info);
    fe_evq_push(h, &done);
    chimney_engine_after_command(h->eng);
    if (cookie_out) {
        *cookie_out = h->cookie;
    }
    return st;
}

/* The engine timer, if it is due at the current clock. */
static inline bool fe_run_timer(FeHost *h)
{
    if (h->deadline == INT64_MAX || h->deadline > *h->clock) {
        return false;
    }
    h->deadline = INT64_MAX;
    chimney_engine_timer_expired(h->eng);
    return true;
}

static void fe_mem_write(void *opaque, uint64_t addr, const void *buf,
                         size_t len)
{
    g_assert(fe_in_ram(opaque, addr, len));
    memcpy(fe_ptr(opaque, addr), buf, len);
}

static void fe_mem_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    g_assert(fe_in_ram(opaque, addr, len));
    memcpy(buf, fe_ptr(opaque, addr), len);
}

/* Guest memory as tests/support/ reaches it (raw trees). */
static inline ChimneyTestMem fe_mem(FeHost *h)
{
    ChimneyTestMem m = { fe_mem_write, fe_mem_read, h };

    return m;
}

/*
 * SET_PARAMS: @tps ticks per second, delayed ACK every @ack_freq segments
 * or after @delack ticks, push timer @push ticks, the Windows defaults
 * otherwise.
 */
static inline uint32_t fe_set_params(FeHost *h, uint32_t tps,
                                     uint8_t ack_freq, uint8_t delack,
                                     uint32_t push)
{
    uint64_t a = fe_alloc(h, sizeof(ChimneyOffloadParams));
    ChimneyOffloadParams *p = fe_ptr(h, a);

    memset(p, 0, sizeof(*p));
    p->hdr.length = GUINT32_TO_LE(sizeof(*p));
    p->ticks_per_second = GUINT32_TO_LE(tps);
    p->ack_frequency = ack_freq;
    p->delayed_ack_ticks = delack;
    p->max_retransmissions = 5;
    p->dup_ack_threshold = GUINT32_TO_LE(3);
    p->push_ticks = GUINT32_TO_LE(push);
    return fe_cmd(h, CHIMNEY_CMD_SET_PARAMS, 0, a, sizeof(*p), 0, NULL);
}

/*
 * Both ends of one established connection, each side's state matching
 * the other's: lport/rport swapped, A.snd_* = B.rcv_nxt and back, the
 * timestamps each has seen the other send.
 */
typedef struct FeConnPair {
    ChimneyTestTcpState a, b;
} FeConnPair;

static inline void fe_tcp_side(ChimneyTestTcpState *s, uint16_t lport,
                               uint16_t rport, uint32_t iss, uint32_t irs,
                               uint32_t ts_own, uint32_t ts_peer,
                               uint32_t wnd, bool ts, int wscale)
{
    chimney_test_tcp_state(s, lport, rport);
    s->c.flags = GUINT16_TO_LE((ts ? CHIMNEY_TCP_CONST_TIMESTAMP : 0) |
                               (wscale >= 0 ? CHIMNEY_TCP_CONST_WSCALE : 0));
    s->c.snd_wind_scale = wscale > 0 ? wscale : 0;
    s->c.rcv_wind_scale = wscale > 0 ? wscale : 0;
    s->k.initial_rcv_wnd = GUINT32_TO_LE(wnd);
    s->d.rcv_nxt = GUINT32_TO_LE(irs);
    s->d.rcv_wnd = GUINT32_TO_LE(wnd);
    s->d.snd_una = GUINT32_TO_LE(iss);
    s->d.snd_nxt = GUINT32_TO_LE(iss);
    s->d.snd_max = GUINT32_TO_LE(iss);
    s->d.snd_wnd = GUINT32_TO_LE(wnd);
    s->d.max_snd_wnd = GUINT32_TO_LE(wnd);
    s->d.snd_wl1 = GUINT32_TO_LE(irs - 1);
    s->d.ssthresh = GUINT32_TO_LE(1u << 30);
    if (ts) {
        s->d.ts_time = GUINT32_TO_LE(ts_own);
        s->d.ts_recent = GUINT32_TO_LE(ts_peer);
    }
}

#endif /* CHIMNEY_FAKE_ENGINE_H */
