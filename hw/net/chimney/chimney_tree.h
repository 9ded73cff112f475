/*
 * chimney-nic offload engine, internal: state trees.  A tree command runs
 * in two passes.  The load pass (chimney_tree.c) reads every block and
 * the state after it into device memory, checking the shape (layers,
 * cycles, size limits, an object named twice); a malformed tree fails as a
 * whole and changes nothing.  The apply pass works only on that snapshot,
 * so the guest cannot change the tree under the device:
 *
 *   chimney_initiate.c   INITIATE
 *   chimney_terminate.c  TERMINATE (upload)
 *   chimney_ops.c        UPDATE, QUERY, INVALIDATE
 *   chimney_conv.c       ABI wire structures <-> the engine's own state
 *   chimney_params.c     SET_PARAMS, SET_VLANS
 *
 * then chimney_tree.c writes statuses and handles back.  Spec:
 * docs/specs/chimney-nic.rst, "State trees"; rules cited as rule NNN are
 * those of docs/conformance.md.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TREE_H
#define CHIMNEY_TREE_H

#include <glib.h>

#include "chimney_offload.h"

#define NODE_NONE           UINT32_MAX
#define BLOCK_MAX_STATE     CHIMNEY_BLOCK_MAX_STATE
#define MAX_SEND_LIST       1024u   /* send requests handed over at once */

enum { LAYER_NEIGH = 0, LAYER_PATH = 1, LAYER_TCP = 2, LAYER_BAD = 3 };

typedef struct TreeNode {
    uint64_t addr;              /* guest address of the block */
    uint16_t type;
    uint16_t role;
    uint32_t size;
    uint64_t handle;
    uint64_t host_handle;
    uint8_t layer;
    uint32_t first_dep;
    uint32_t next;
    uint32_t parent;
    uint32_t state_off;         /* into Tree.state */
    uint32_t state_len;
    /* results */
    uint32_t status;
    uint64_t out_handle;        /* new object's handle (initiate) */
    uint32_t obj;               /* object index the block resolved to */
    bool created;               /* object created by this command */
    bool done;                  /* terminated by this command */
} TreeNode;

/* Aligned copies of state structures; a block uses at most three. */
#define TREE_SCRATCH_SLOTS  4
#define TREE_SCRATCH_WORDS  (BLOCK_MAX_STATE / sizeof(uint64_t))

typedef struct Tree {
    uint64_t (*scratch)[TREE_SCRATCH_WORDS];
    unsigned scratch_next;
    ChimneyEngine *ofl;
    GArray *nodes;              /* TreeNode */
    GByteArray *state;          /* the state structures after each block */
    GHashTable *seen;           /* block addresses: cycle detection */
    uint32_t root;
    uint32_t opcode;
    uint32_t work;              /* objects touched beyond the blocks */
} Tree;

/* CHIMNEY_KIND_* of each layer. */
extern const unsigned chimney_layer_kind[];

static inline bool status_ok(uint32_t st)
{
    return st == CHIMNEY_ST_SUCCESS || st == CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS;
}

/* chimney_tree.c: the snapshot and checks shared by the operations */
TreeNode *chimney_tree_node(Tree *t, uint32_t i);
uint8_t *chimney_tree_state(Tree *t, TreeNode *n);
void chimney_tree_mark_subtree(Tree *t, uint32_t first, uint32_t status);
bool chimney_tree_obj_invalid(Tree *t, unsigned layer, uint32_t idx);
uint32_t chimney_tree_check_type(Tree *t, TreeNode *n, uint32_t idx);
/*
 * A REF block's object: BAD_HANDLE (logged) if the handle names none of
 * the block's layer, BAD_TYPE if the block type does not suit it; sets
 * n->obj.  `what` names the operation in the log.
 */
uint32_t chimney_tree_resolve(Tree *t, TreeNode *n, const char *what);
uint32_t chimney_tree_check_end(Tree *t, TreeNode *n, uint32_t off);
/*
 * Take the next structure of at least `min` bytes from a block's state
 * (an aligned copy); NULL if its length does not fit the block.
 */
const void *chimney_tree_take(Tree *t, TreeNode *n, uint32_t *off,
                              size_t min);

/* The operations, each over the chain of blocks starting at `first`. */
void chimney_tree_initiate(Tree *t, uint32_t first, uint32_t parent,
                           bool is_root);
void chimney_tree_terminate(Tree *t, uint32_t first);
/* rule 047: resources go only once the results are written back. */
void chimney_tree_release(Tree *t);
void chimney_tree_update(Tree *t, uint32_t first, uint32_t parent_neigh);
void chimney_tree_each_ref(Tree *t, uint32_t first,
                           uint32_t (*one)(Tree *, TreeNode *));
uint32_t chimney_tree_query_one(Tree *t, TreeNode *n);
uint32_t chimney_tree_invalidate_one(Tree *t, TreeNode *n);

/* chimney_params.c */
uint32_t chimney_cmd_set_params(ChimneyEngine *ofl, const ChimneyCmdDesc *cmd);
uint32_t chimney_cmd_set_vlans(ChimneyEngine *ofl, const ChimneyCmdDesc *cmd);

/* chimney_conv.c: little-endian ABI structures <-> host-order state */
void chimney_conv_neigh_const(ChimneyNeighObj *o, const ChimneyNeighConst *c);
void chimney_conv_neigh_cached(ChimneyNeighObj *o,
                               const ChimneyNeighCached *c);
void chimney_conv_tcp_const(ChimneyTcpConstState *s,
                            const ChimneyTcpConst *c);
void chimney_conv_tcp_cached(ChimneyTcpCachedState *s,
                             const ChimneyTcpCached *c);
void chimney_conv_tcp_delegated(ChimneyTcpDelegatedState *s,
                                ChimneyTcpHandover *h,
                                const ChimneyTcpDelegated *d);
void chimney_conv_hdr(ChimneyStateHdr *h, size_t len);
void chimney_conv_neigh_store(const ChimneyNeighObj *o, ChimneyNeighConst *c,
                              ChimneyNeighCached *k, ChimneyNeighDelegated *d,
                              uint32_t nrd);
void chimney_conv_path_store(const ChimneyPathObj *o, ChimneyPathConst *c,
                             ChimneyPathCached *k, ChimneyPathDelegated *d);
void chimney_conv_tcp_store(const ChimneyTcpObj *o, ChimneyTcpConst *c,
                            ChimneyTcpCached *k);
/*
 * The delegated TCP state as handed back (terminate) or reported (query).
 * Timers are remaining ticks or CHIMNEY_TIMER_OFF (rule 041), TsTime is
 * NicTime + NicDelta (rule 042), SRtt/RttVar keep their scaling (rule 034).
 */
void chimney_conv_tcp_delegated_store(ChimneyEngine *eng, ChimneyTcpObj *o,
                                      ChimneyTcpDelegated *d, bool query);

#endif /* CHIMNEY_TREE_H */
