/*
 * chimney-nic state trees: reading a tree from guest memory (the load
 * pass and its checks), dispatching the five state operations, writing
 * the results back.  C + GLib only.
 *
 * The two passes and the files of the operations: chimney_tree.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_tree.h"
#include "chimney_tcp.h"

TreeNode *chimney_tree_node(Tree *t, uint32_t i)
{
    return &g_array_index(t->nodes, TreeNode, i);
}

uint8_t *chimney_tree_state(Tree *t, TreeNode *n)
{
    return t->state->data + n->state_off;
}

static uint8_t chimney_type_layer(uint16_t type)
{
    if (type >= CHIMNEY_TYPE_NEIGH_CONST && type <= CHIMNEY_TYPE_NEIGH) {
        return LAYER_NEIGH;
    }
    if (type >= CHIMNEY_TYPE_IP4_CONST && type <= CHIMNEY_TYPE_IP6) {
        return LAYER_PATH;
    }
    if (type >= CHIMNEY_TYPE_TCP_CONST && type <= CHIMNEY_TYPE_TCP) {
        return LAYER_TCP;   /* TCP_RESOURCE fails per block (BAD_TYPE) */
    }
    return LAYER_BAD;
}

const unsigned chimney_layer_kind[] = {
    [LAYER_NEIGH] = CHIMNEY_KIND_NEIGH,
    [LAYER_PATH] = CHIMNEY_KIND_PATH,
    [LAYER_TCP] = CHIMNEY_KIND_TCP,
};

/*
 * Load pass (spec "State trees", phase 1: a failure changes nothing)
 */

static bool tree_role_allowed(uint32_t opcode, uint16_t role)
{
    if (role == CHIMNEY_ROLE_PLACEHOLDER) {
        return true;
    }
    if (opcode == CHIMNEY_CMD_INITIATE) {
        return role == CHIMNEY_ROLE_NEW || role == CHIMNEY_ROLE_LINKER;
    }
    return role == CHIMNEY_ROLE_REF;
}

/*
 * Read the chain of blocks starting at addr (siblings through `next`,
 * each with its dependents).  Recursion depth is bounded by the three
 * layers; chain length by CHIMNEY_TREE_MAX_BLOCKS and the cycle check.
 */
static uint32_t tree_load_chain(Tree *t, uint64_t addr, int layer,
                                uint32_t parent, uint32_t *first)
{
    uint32_t prev = NODE_NONE;

    *first = NODE_NONE;
    while (addr) {
        ChimneyBlock blk;
        TreeNode n = { 0 };
        uint32_t idx, st, dep;

        if (t->nodes->len >= CHIMNEY_TREE_MAX_BLOCKS) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: tree larger than %u "
                                     "blocks", CHIMNEY_TREE_MAX_BLOCKS);
            return CHIMNEY_ST_TREE_TOO_LARGE;
        }
        if (g_hash_table_contains(t->seen, &addr)) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: tree block 0x%"
                                     G_GINT64_MODIFIER "x reached twice "
                                     "(cycle)", addr);
            return CHIMNEY_ST_BAD_TREE;
        }
        if (chimney_eng_dma_read(t->ofl, addr, &blk, sizeof(blk)) < 0) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                                     "chimney-nic: tree block 0x%"
                                     G_GINT64_MODIFIER "x not readable",
                                     addr);
            return CHIMNEY_ST_DMA_ERROR;
        }
        g_hash_table_add(t->seen, g_memdup2(&addr, sizeof(addr)));
        n.addr = addr;
        n.type = GUINT16_FROM_LE(blk.type);
        n.role = GUINT16_FROM_LE(blk.role);
        n.size = GUINT32_FROM_LE(blk.size);
        n.handle = GUINT64_FROM_LE(blk.handle);
        n.host_handle = GUINT64_FROM_LE(blk.host_handle);
        n.layer = chimney_type_layer(n.type);
        n.parent = parent;
        n.first_dep = NODE_NONE;
        n.next = NODE_NONE;
        n.obj = CHIMNEY_NO_INDEX;
        if (n.layer == LAYER_BAD) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: tree block 0x%"
                                     G_GINT64_MODIFIER "x has unknown "
                                     "type %u", addr, n.type);
            return CHIMNEY_ST_BAD_TREE;
        }
        if (!tree_role_allowed(t->opcode, n.role)) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: tree block 0x%"
                                     G_GINT64_MODIFIER "x: role %u not "
                                     "allowed in command 0x%x", addr,
                                     n.role, t->opcode);
            return CHIMNEY_ST_BAD_TREE;
        }
        if (t->opcode == CHIMNEY_CMD_INITIATE &&
            n.role == CHIMNEY_ROLE_NEW && n.layer != LAYER_NEIGH &&
            (parent == NODE_NONE ||
             chimney_tree_node(t, parent)->role == CHIMNEY_ROLE_PLACEHOLDER)) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: new-offload block 0x%"
                                     G_GINT64_MODIFIER "x has no NEW or "
                                     "LINKER parent", addr);
            return CHIMNEY_ST_BAD_TREE;
        }
        if (layer >= 0 && n.layer != layer) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: tree block 0x%"
                                     G_GINT64_MODIFIER "x (type %u) in "
                                     "the wrong layer", addr, n.type);
            return CHIMNEY_ST_BAD_TREE;
        }
        layer = n.layer;
        if (n.size < sizeof(ChimneyBlock) ||
            n.size - sizeof(ChimneyBlock) > BLOCK_MAX_STATE) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: tree block 0x%"
                                     G_GINT64_MODIFIER "x size %u out of "
                                     "range", addr, n.size);
            return CHIMNEY_ST_BAD_TREE;
        }
        n.state_len = n.size - sizeof(ChimneyBlock);
        n.state_off = t->state->len;
        if (t->state->len + (uint64_t)n.state_len >
            CHIMNEY_TREE_MAX_STATE_BYTES) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                    "chimney-nic: tree state larger than %u "
                                    "bytes", CHIMNEY_TREE_MAX_STATE_BYTES);
            return CHIMNEY_ST_TREE_TOO_LARGE;
        }
        if (n.state_len) {
            g_byte_array_set_size(t->state, n.state_off + n.state_len);
            if (chimney_eng_dma_read(t->ofl, addr + sizeof(ChimneyBlock),
                                      t->state->data + n.state_off,
                                      n.state_len) < 0) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                                         "chimney-nic: state after block "
                                         "0x%" G_GINT64_MODIFIER "x not "
                                         "readable", addr);
                return CHIMNEY_ST_DMA_ERROR;
            }
        }
        idx = t->nodes->len;
        g_array_append_val(t->nodes, n);
        if (prev == NODE_NONE) {
            *first = idx;
        } else {
            chimney_tree_node(t, prev)->next = idx;
        }
        prev = idx;

        dep = GUINT64_FROM_LE(blk.dependent) ? 1 : 0;
        if (dep) {
            uint32_t first_dep;

            if (layer == LAYER_TCP) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                         "chimney-nic: TCP block 0x%"
                                         G_GINT64_MODIFIER "x has "
                                         "dependents", addr);
                return CHIMNEY_ST_BAD_TREE;
            }
            st = tree_load_chain(t, GUINT64_FROM_LE(blk.dependent),
                                 layer + 1, idx, &first_dep);
            if (st != CHIMNEY_ST_SUCCESS) {
                return st;
            }
            chimney_tree_node(t, idx)->first_dep = first_dep;
        }
        addr = GUINT64_FROM_LE(blk.next);
    }
    return CHIMNEY_ST_SUCCESS;
}

/*
 * Write-back
 */

/* Status (and, for new objects, the handle first) into the block. */
static int tree_write_result(Tree *t, TreeNode *n)
{
    struct {
        uint32_t status;
        uint32_t flags;
        uint64_t handle;
    } wb;

    wb.status = GUINT32_TO_LE(n->status);
    wb.flags = GUINT32_TO_LE(n->out_handle ? CHIMNEY_BLKF_HANDLE_VALID : 0);
    wb.handle = GUINT64_TO_LE(n->out_handle);
    if (n->out_handle &&
        chimney_eng_dma_write(t->ofl, n->addr + offsetof(ChimneyBlock,
                                                            handle),
                               &wb.handle, sizeof(wb.handle)) < 0) {
        return -1;
    }
    return chimney_eng_dma_write(t->ofl,
                                  n->addr + offsetof(ChimneyBlock, status),
                                  &wb.status, 8);
}

void chimney_tree_mark_subtree(Tree *t, uint32_t first, uint32_t status)
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = chimney_tree_node(t, i)->next) {
        TreeNode *n = chimney_tree_node(t, i);

        n->status = status;
        chimney_tree_mark_subtree(t, n->first_dep, status);
    }
}

bool chimney_tree_obj_invalid(Tree *t, unsigned layer, uint32_t idx)
{
    switch (layer) {
    case LAYER_NEIGH:
        return chimney_neigh_at(t->ofl, idx)->invalid;
    case LAYER_PATH:
        return chimney_path_at(t->ofl, idx)->invalid;
    default:
        return chimney_tcp_at(t->ofl, idx)->invalid;
    }
}

/*
 * A REF or LINKER block's type must suit the object its handle names: an
 * IP4_* type for an IPv4 path, IP6_* for IPv6, and never the reserved
 * TCP_RESOURCE (spec "State operations").
 */
uint32_t chimney_tree_check_type(Tree *t, TreeNode *n, uint32_t idx)
{
    bool bad = n->type == CHIMNEY_TYPE_TCP_RESOURCE;

    if (n->layer == LAYER_PATH) {
        bad |= chimney_path_at(t->ofl, idx)->ipv6 !=
               (n->type >= CHIMNEY_TYPE_IP6_CONST);
    }
    if (bad) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: block 0x%" G_GINT64_MODIFIER
                                 "x: type %u does not suit its object",
                                 n->addr, n->type);
        return CHIMNEY_ST_BAD_TYPE;
    }
    return CHIMNEY_ST_SUCCESS;
}

uint32_t chimney_tree_resolve(Tree *t, TreeNode *n, const char *what)
{
    uint32_t idx;

    if (!chimney_offload_lookup(t->ofl, n->handle,
                                chimney_layer_kind[n->layer], &idx)) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                "chimney-nic: %s block 0x%" G_GINT64_MODIFIER
                                "x: bad handle 0x%" G_GINT64_MODIFIER "x",
                                what, n->addr, n->handle);
        return CHIMNEY_ST_BAD_HANDLE;
    }
    n->obj = idx;
    return chimney_tree_check_type(t, n, idx);
}

/* The structures must fill the block exactly (`size` = 64 + lengths). */
uint32_t chimney_tree_check_end(Tree *t, TreeNode *n, uint32_t off)
{
    if (off != n->state_len) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: block 0x%" G_GINT64_MODIFIER
                                 "x: %u bytes after its structures",
                                 n->addr, n->state_len - off);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    return CHIMNEY_ST_SUCCESS;
}

/*
 * State structures: checked reads of the snapshot (LE → host order)
 */

/*
 * Take the next structure of at least `min` bytes from a block's state.
 * Its header length must cover the ABI size and stay inside the block;
 * longer structures (a newer ABI) are accepted and the tail skipped.
 */
const void *chimney_tree_take(Tree *t, TreeNode *n, uint32_t *off,
                              size_t min)
{
    ChimneyStateHdr h;
    uint32_t len;
    void *copy;

    if (n->state_len - *off < sizeof(ChimneyStateHdr)) {
        return NULL;
    }
    memcpy(&h, chimney_tree_state(t, n) + *off, sizeof(h));
    len = GUINT32_FROM_LE(h.length);
    if (len < min || len > n->state_len - *off) {
        return NULL;
    }
    /*
     * Structures may start at any offset (lengths need not be multiples
     * of 8): hand out an aligned copy of the part the ABI defines.
     */
    copy = t->scratch[t->scratch_next++ % TREE_SCRATCH_SLOTS];
    memcpy(copy, chimney_tree_state(t, n) + *off, min);
    *off += len;
    return copy;
}


static guint addr_hash(gconstpointer p)
{
    uint64_t v = *(const uint64_t *)p;

    return (guint)(v ^ (v >> 32));
}

static gboolean addr_equal(gconstpointer a, gconstpointer b)
{
    return *(const uint64_t *)a == *(const uint64_t *)b;
}

/*
 * One live object named by two REF blocks of one tree would be released,
 * relinked or counted twice: the tree is malformed (spec "State trees":
 * BAD_TREE, nothing changes).  Stale handles name no object and fail per
 * block; LINKER blocks only name a parent and may repeat.
 */
static uint32_t tree_check_duplicates(Tree *t)
{
    GHashTable *names = g_hash_table_new(addr_hash, addr_equal);
    uint32_t i, st = CHIMNEY_ST_SUCCESS;

    for (i = 0; i < t->nodes->len; i++) {
        TreeNode *n = chimney_tree_node(t, i);

        if (n->role != CHIMNEY_ROLE_REF ||
            !chimney_offload_lookup(t->ofl, n->handle,
                                    chimney_layer_kind[n->layer], NULL)) {
            continue;
        }
        if (!g_hash_table_add(names, &n->handle)) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                    "chimney-nic: block 0x%" G_GINT64_MODIFIER
                                    "x names object 0x%" G_GINT64_MODIFIER
                                    "x a second time in one tree", n->addr,
                                    n->handle);
            trace_chimney_engine_dup_object(t->opcode, n->handle);
            st = CHIMNEY_ST_BAD_TREE;
            break;
        }
    }
    g_hash_table_destroy(names);
    return st;
}

uint32_t chimney_offload_cmd(ChimneyEngine *eng, const ChimneyCmdDesc *cmd,
                             uint32_t *info, uint32_t *work)
{
    uint16_t opcode = GUINT16_FROM_LE(cmd->opcode);
    Tree t = { .ofl = eng, .opcode = opcode };
    uint32_t st, i;
    bool wb_failed = false;

    *info = 0;
    switch (opcode) {
    case CHIMNEY_CMD_SET_PARAMS:
        return chimney_cmd_set_params(eng, cmd);
    case CHIMNEY_CMD_SET_VLANS:
        return chimney_cmd_set_vlans(eng, cmd);
    default:
        break;
    }
    /*
     * Only new offloads need offload enabled (OFFLOAD_EN and SET_PARAMS):
     * objects offloaded earlier stay manageable while paused (rule 121).
     */
    if (opcode == CHIMNEY_CMD_INITIATE &&
        (!eng->enabled || !eng->params_set)) {
        return CHIMNEY_ST_OFFLOAD_DISABLED;
    }
    if (!GUINT64_FROM_LE(cmd->addr)) {
        chimney_eng_guest_error(eng, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "state command 0x%x without a tree",
                                 opcode);
        return CHIMNEY_ST_BAD_TREE;
    }

    t.scratch = g_malloc(TREE_SCRATCH_SLOTS * sizeof(*t.scratch));
    t.nodes = g_array_new(FALSE, FALSE, sizeof(TreeNode));
    t.state = g_byte_array_new();
    t.seen = g_hash_table_new_full(addr_hash, addr_equal, g_free, NULL);
    st = tree_load_chain(&t, GUINT64_FROM_LE(cmd->addr), -1, NODE_NONE,
                         &t.root);
    if (st == CHIMNEY_ST_SUCCESS) {
        st = tree_check_duplicates(&t);
    }
    if (st != CHIMNEY_ST_SUCCESS) {
        goto out;   /* malformed: nothing is written, nothing changes */
    }

    switch (opcode) {
    case CHIMNEY_CMD_INITIATE:
        chimney_tree_initiate(&t, t.root, CHIMNEY_NO_INDEX, true);
        break;
    case CHIMNEY_CMD_TERMINATE:
        chimney_tree_terminate(&t, t.root);
        break;
    case CHIMNEY_CMD_UPDATE:
        chimney_tree_update(&t, t.root, CHIMNEY_NO_INDEX);
        break;
    case CHIMNEY_CMD_QUERY:
        chimney_tree_each_ref(&t, t.root, chimney_tree_query_one);
        break;
    case CHIMNEY_CMD_INVALIDATE:
        chimney_tree_each_ref(&t, t.root, chimney_tree_invalidate_one);
        break;
    default:
        g_assert_not_reached();
    }

    /* rule 008: every block gets its status, in tree order */
    for (i = 0; i < t.nodes->len; i++) {
        TreeNode *n = chimney_tree_node(&t, i);

        trace_chimney_tree_block(opcode, n->addr, n->type, n->status);
        if (wb_failed || tree_write_result(&t, n) < 0) {
            if (!wb_failed) {
                chimney_eng_guest_error(eng, CHIMNEY_ERR_DMA,
                                         "chimney-nic: status of block 0x%"
                                         G_GINT64_MODIFIER "x not writable",
                                         n->addr);
            }
            /* spec: changes made stand; the driver should reset */
            wb_failed = true;
        }
    }
    st = wb_failed ? CHIMNEY_ST_DMA_ERROR : CHIMNEY_ST_SUCCESS;
    if (opcode == CHIMNEY_CMD_TERMINATE) {
        chimney_tree_release(&t);
    }
    *info = t.nodes->len;
out:
    trace_chimney_tree_done(opcode, GUINT64_FROM_LE(cmd->addr), t.nodes->len,
                            st);
    *work = t.nodes->len + t.work;
    g_array_free(t.nodes, TRUE);
    g_byte_array_free(t.state, TRUE);
    g_hash_table_destroy(t.seen);
    g_free(t.scratch);
    return st;
}
