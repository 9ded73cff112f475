/*
 * chimney-nic test support: the scenario interface.
 *
 * A scenario is written once against the driver core's OS interface (a
 * started struct chimney_drv, offload enabled) plus a wire and a clock,
 * and runs twice: in the unit tests over the fake host
 * (tests/unit/chimney-fake-env.h) and in qos-test over QEMU
 * (tests/qtest/libqos/chimney-env-qtest.c).  The environment fills in the
 * function pointers; everything else here is shared.
 *
 *   wire_inject    a frame from the peer reaches the device's port
 *   wire_take      the next frame the device sent (the environment lets
 *                  the device run a bounded while); 0 if none came
 *   wire_quiet     true if the device sent nothing (more): every frame
 *                  injected so far has been processed and nothing is on
 *                  the wire
 *   l2_take        the next frame the device delivered on the L2 path (its
 *                  RX ring, which the environment keeps stocked)
 *   clock_step     advance the device's (virtual) clock
 *   reg_read/write a device register (counters, RX_FILTER)
 *   dma_sync       the test's view of DMA buffers and guest memory agree
 *   poll           one pass of the driver core's event processing, after
 *                  letting the device run; returns the events processed
 *
 * QEMU-free (C + GLib).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_ENV_H
#define CHIMNEY_TEST_ENV_H

#include "chimney-test-hblk.h"
#include "chimney-test-tree.h"
#include "chimney-test-seg.h"

#define CHIMNEY_TEST_NS_PER_MS      1000000ll
/* An address outside guest RAM and any device in both environments. */
#define CHIMNEY_TEST_BAD_GPA        0xfff0000000ull
/* raw_cmd()'s info when the environment cannot see the CMD_DONE entry. */
#define CHIMNEY_TEST_INFO_UNKNOWN   0xffffffffu
/* Bound of every wait, in poll passes. */
#define CHIMNEY_TEST_WAIT_ITERS     2000

/* One unsolicited event or I/O completion the core handed to the host. */
typedef struct ChimneyTestRec {
    int kind;                   /* 'T'cp, 'N'eigh, 'S'tatus, 'L'ink, 'I'o */
    uint64_t cookie;
    uint64_t handle;
    uint16_t type;
    uint32_t a;
    uint32_t b;
} ChimneyTestRec;

typedef struct ChimneyTestEnv ChimneyTestEnv;

struct ChimneyTestEnv {
    const char *name;           /* "unit" or "qtest" (messages) */
    struct chimney_drv *drv;    /* started, event ops set by env_init() */
    uint8_t dev_mac[6];         /* the device's MAC */
    int64_t poll_step_ns;       /* virtual time per idle poll pass */

    void (*wire_inject)(ChimneyTestEnv *env, const uint8_t *frame,
                        size_t len);
    size_t (*wire_take)(ChimneyTestEnv *env, uint8_t *buf, size_t cap);
    bool (*wire_quiet)(ChimneyTestEnv *env);
    /* the next frame the device put in the L2 RX ring; 0 if none came */
    size_t (*l2_take)(ChimneyTestEnv *env, uint8_t *buf, size_t cap);
    /* returns the clock after the step */
    int64_t (*clock_step)(ChimneyTestEnv *env, int64_t ns);
    uint32_t (*reg_read)(ChimneyTestEnv *env, uint32_t off);
    void (*reg_write)(ChimneyTestEnv *env, uint32_t off, uint32_t val);
    unsigned (*poll)(ChimneyTestEnv *env);
    /*
     * Guest memory outside the driver core's buffers (raw trees): @mem
     * reaches it, mem_alloc hands out @len bytes of it.
     */
    ChimneyTestMem mem;
    uint64_t (*mem_alloc)(ChimneyTestEnv *env, uint32_t len);
    /*
     * A command exactly as given, queued by the driver core
     * (chimney_drv_raw_cmd()); waits for its completion and returns the
     * status; *info (may be NULL) gets the CMD_DONE info word when the
     * environment sees it, else CHIMNEY_TEST_INFO_UNKNOWN.
     */
    uint32_t (*raw_cmd)(ChimneyTestEnv *env, uint16_t opcode, uint64_t addr,
                        uint32_t len, uint64_t handle, uint32_t *info);
    /* guest memory and the test agree: pending writes out, reads fresh */
    void (*dma_sync)(ChimneyTestEnv *env);
    /* true while the driver core holds its lock (never in a callback) */
    bool (*locked)(ChimneyTestEnv *env);

    /* shared state, set up by env_init() */
    ChimneyTestHBlocks hb;
    /*
     * Receive indications (the driver core's IND ring, env_ind_start()):
     * every indicated byte is appended to ind_data; the host consumes
     * ind_accept bytes of each indication (-1: all of it), or, with
     * ind_defer, sends no IND_DONE at all (the indication stays
     * outstanding).
     */
    GByteArray *ind_data;
    int64_t ind_accept;
    bool ind_defer;             /* answer no indication (it stays busy) */
    GArray *recs;               /* ChimneyTestRec */
    GString *soft;              /* failures reported at env_fini() */
    unsigned nsoft;
};

/* After the implementation set drv and the callbacks: event ops, blocks. */
void env_init(ChimneyTestEnv *env);
/* Start the driver core's IND ring: @slots buffers of @buf_size bytes. */
void env_ind_start(ChimneyTestEnv *env, uint32_t slots, uint32_t buf_size);

/* SET_PARAMS (1000 ticks/s, the Windows defaults): offload on. */
void env_start(ChimneyTestEnv *env);
/* Report soft failures, free the shared state. */
void env_fini(ChimneyTestEnv *env);

/* A failed check that does not stop the scenario (reported at env_fini). */
void G_GNUC_PRINTF(2, 3) env_soft_fail(ChimneyTestEnv *env,
                                       const char *fmt, ...);

/* Poll until *counter >= want (bounded); fails the test if not reached. */
void env_wait(ChimneyTestEnv *env, const unsigned *counter, unsigned want);
/* Poll until @quiet passes in a row processed nothing. */
void env_settle(ChimneyTestEnv *env, int quiet);
unsigned env_count_recs(ChimneyTestEnv *env, int kind, uint16_t type);
/* The first record of @kind and @type with @cookie, NULL if none. */
const ChimneyTestRec *env_find_rec(ChimneyTestEnv *env, int kind,
                                   uint16_t type, uint64_t cookie);

/*
 * Completion of a command the scenario submits itself (several in
 * flight): initialise with .env, pass env_cmd_done/env_tree_done and the
 * record to the driver core, then env_wait(env, &d.calls, 1).
 */
typedef struct ChimneyTestDone {
    ChimneyTestEnv *env;
    unsigned calls;
    uint32_t status;
    struct chimney_offload_block *root;
} ChimneyTestDone;

void env_cmd_done(void *ctx, uint32_t status);
void env_tree_done(void *ctx, struct chimney_offload_block *root,
                   uint32_t status);

uint32_t env_set_params(ChimneyTestEnv *env, uint32_t tps,
                        uint32_t nce_stale);

uint32_t env_set_vlans(ChimneyTestEnv *env, const uint16_t *ids, uint32_t n);

/* The five state operations of the driver core. */
typedef int (*ChimneyTestTreeOp)(struct chimney_drv *,
                                 struct chimney_offload_block *,
                                 chimney_drv_tree_done_fn, void *);
#define OP_INITIATE     chimney_drv_initiate_offload
#define OP_TERMINATE    chimney_drv_terminate_offload
#define OP_UPDATE       chimney_drv_update_offload
#define OP_QUERY        chimney_drv_query_offload
#define OP_INVALIDATE   chimney_drv_invalidate_offload

/*
 * Submit a tree, wait for its one completion; checks that the core hands
 * back the same root and that every block's status was written (rule
 * 008).  Returns the command's status.
 */
uint32_t env_run_tree(ChimneyTestEnv *env, ChimneyTestTreeOp op,
                      ChimneyTestHBlk *root);
void env_run_ok(ChimneyTestEnv *env, ChimneyTestTreeOp op,
                ChimneyTestHBlk *root);
/*
 * INITIATE @blk (under @parent_linker when not NULL): the block's status
 * (the command itself must succeed).
 */
uint32_t env_offload_status(ChimneyTestEnv *env,
                            ChimneyTestHBlk *parent_linker,
                            ChimneyTestHBlk *blk);
/* INITIATE and check every block succeeded. */
void env_offload_ok(ChimneyTestEnv *env, ChimneyTestHBlk *root);

/* Status of a one-block query of the combined state; fills *out. */
uint32_t env_query_tcp(ChimneyTestEnv *env, uint64_t h,
                       ChimneyTestTcpState *out);
uint32_t env_query_path(ChimneyTestEnv *env, bool v6, uint64_t h,
                        ChimneyTestPathState *out);
uint32_t env_query_neigh(ChimneyTestEnv *env, uint64_t h,
                         ChimneyTestNeighState *out);
/* Terminate one object without returning state; returns its status. */
uint32_t env_terminate_one(ChimneyTestEnv *env, uint16_t type, uint64_t h);

/*
 * DMA buffers of the host (send lists, data, return space), from the
 * driver core's OS shim, as the host stack would get them; free them all.
 */
int env_dma_alloc(ChimneyTestEnv *env, uint32_t len,
                  struct chimney_dma_buf *b);
void env_dma_free(ChimneyTestEnv *env, struct chimney_dma_buf *b);
void env_dma_write(ChimneyTestEnv *env, const struct chimney_dma_buf *b,
                   uint32_t off, const void *src, uint32_t len);
/* Reads what the device wrote (env->dma_sync first). */
void env_dma_read(ChimneyTestEnv *env, const struct chimney_dma_buf *b,
                  uint32_t off, void *dst, uint32_t len);
/* A buffer of @len bytes of a pattern derived from @seed. */
void env_fill_buf(ChimneyTestEnv *env, struct chimney_dma_buf *b,
                  uint32_t len, uint8_t seed);
/* The buffer's bytes now (caller frees). */
uint8_t *env_buf_bytes(ChimneyTestEnv *env, const struct chimney_dma_buf *b);

/* An empty raw tree of @cap bytes in fresh guest memory. */
void env_raw_init(ChimneyTestEnv *env, ChimneyTestRaw *r, uint32_t cap);
/* Write the raw tree and run it as command @opcode with root @root. */
uint32_t env_raw_run(ChimneyTestEnv *env, ChimneyTestRaw *r, uint16_t opcode,
                     uint64_t root, uint32_t *info);

/* @h is a valid device handle of object kind @kind (CHIMNEY_KIND_*). */
void env_check_handle(uint64_t h, unsigned kind);

/* Put the clock in the middle of a 1 ms tick. */
void env_clock_mid_tick(ChimneyTestEnv *env);
uint32_t env_err_count(ChimneyTestEnv *env);

/*
 * Mismatch collection: record every differing field, then fail once
 * naming all of them.
 */
typedef struct Mis {
    GString *s;
    unsigned n;
} Mis;

void mis_init(Mis *m);
void mis_u(Mis *m, const char *what, uint64_t got, uint64_t want);
void mis_mem(Mis *m, const char *what, const void *got, const void *want,
             size_t len);
/* Fails the test if anything differed; frees m either way. */
void mis_check(Mis *m, const char *ctx);

#define MIS_LE32(m, name, got, want) \
    mis_u(m, name, GUINT32_FROM_LE(got), want)
#define MIS_LE16(m, name, got, want) \
    mis_u(m, name, GUINT16_FROM_LE(got), want)

/* Big-endian loads from a frame. */
static inline uint16_t chimney_test_ld16(const uint8_t *p)
{
    return p[0] << 8 | p[1];
}

static inline uint32_t chimney_test_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

#endif /* CHIMNEY_TEST_ENV_H */
