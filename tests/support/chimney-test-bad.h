/*
 * chimney-nic test support: bad input.
 *
 * Each bad input gets its defined status, counts as a guest error
 * (ERR_COUNT grows) where the spec says so, and leaves everything else
 * alone: a connection offloaded before ("the canary") still answers
 * QUERY with exactly its state.  Bad-input cases are tables of BadCase
 * rows: a raw tree (chimney-test-tree.h) built by the row, the
 * operation, the status, and whether the whole tree is refused (the
 * command status) or the tree is walked and one block fails.
 *
 * QEMU-free (C + GLib).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_BAD_H
#define CHIMNEY_TEST_BAD_H

#include "chimney-test-peer.h"

typedef struct Canary {
    ChimneyTestConn c;
    ChimneyTestTcpState q;
    ChimneyTestPathState ps;
    ChimneyTestNeighState ns;
} Canary;

/* Offload the canary connection and remember its state. */
void env_canary_up(ChimneyTestEnv *env, Canary *k);
/* A soft failure if the canary's state changed (time aside). */
void env_canary_check(ChimneyTestEnv *env, Canary *k, const char *after);
/* ERR_COUNT went up since *errs (then remember the new value). */
void env_expect_guest_error(ChimneyTestEnv *env, uint32_t *errs,
                            const char *what);
/*
 * A raw tree that must be refused as a whole: the command status, no
 * block written (status still poisoned), a guest error, nothing changed.
 */
void env_expect_tree_refused(ChimneyTestEnv *env, ChimneyTestRaw *r,
                             uint16_t opcode, uint64_t root, uint32_t status,
                             uint32_t *errs, Canary *k, const char *what);
/* A walked raw tree: block @blk got @status; a guest error; canary. */
void env_expect_block(ChimneyTestEnv *env, ChimneyTestRaw *r,
                      uint16_t opcode, uint64_t root, uint64_t blk,
                      uint32_t status, bool guest_error, uint32_t *errs,
                      Canary *k, const char *what);

typedef struct BadCtx {
    const Canary *k;
    uint64_t vic;               /* a victim connection's handle */
} BadCtx;

typedef struct BadCase {
    const char *what;
    uint16_t opcode;
    /* returns the root; *blk: the block that must fail (walked trees) */
    uint64_t (*build)(ChimneyTestRaw *r, const BadCtx *x, uint64_t *blk);
    uint32_t status;
    bool refused;
} BadCase;

/* Run every row; a soft failure for each row that misbehaves. */
void env_run_bad_cases(ChimneyTestEnv *env, ChimneyTestRaw *r, Canary *k,
                       const BadCtx *x, const BadCase *cases, size_t n,
                       uint32_t *errs);

#endif /* CHIMNEY_TEST_BAD_H */
