/*
 * chimney-nic state trees: reading a tree from guest memory and running
 * the five state operations (initiate, terminate, update, query,
 * invalidate) plus SET_PARAMS and SET_VLANS.  C + GLib only.
 *
 * A command runs in two passes.  The load pass reads every block and the
 * state after it into device memory, checking the shape (layers, cycles,
 * size limits); a malformed tree fails as a whole and changes nothing.
 * The apply pass works only on that snapshot, so the guest cannot change
 * the tree under the device, then writes statuses and handles back.
 * Spec: docs/specs/chimney-nic.rst, "State trees"; rules cited as rule-NNN
 * are from the conformance checklist.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney_trace.h"

#include <glib.h>
#include <string.h>

#include "chimney_offload.h"
#include "chimney_tcp.h"

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

static TreeNode *tree_node(Tree *t, uint32_t i)
{
    return &g_array_index(t->nodes, TreeNode, i);
}

static uint8_t *tree_state(Tree *t, TreeNode *n)
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

static const unsigned layer_kind[] = {
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
             tree_node(t, parent)->role == CHIMNEY_ROLE_PLACEHOLDER)) {
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
            tree_node(t, prev)->next = idx;
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
            tree_node(t, idx)->first_dep = first_dep;
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

static void tree_mark_subtree(Tree *t, uint32_t first, uint32_t status)
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = tree_node(t, i)->next) {
        TreeNode *n = tree_node(t, i);

        n->status = status;
        tree_mark_subtree(t, n->first_dep, status);
    }
}

static bool tree_obj_invalid(Tree *t, unsigned layer, uint32_t idx)
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
static uint32_t tree_check_type(Tree *t, TreeNode *n, uint32_t idx)
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

/* The structures must fill the block exactly (`size` = 64 + lengths). */
static uint32_t tree_check_end(Tree *t, TreeNode *n, uint32_t off)
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

static bool status_ok(uint32_t st)
{
    return st == CHIMNEY_ST_SUCCESS || st == CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS;
}

/*
 * State structures: checked reads of the snapshot (LE → host order)
 */

/*
 * Take the next structure of at least `min` bytes from a block's state.
 * Its header length must cover the ABI size and stay inside the block;
 * longer structures (a newer ABI) are accepted and the tail skipped.
 */
static const void *state_take(Tree *t, TreeNode *n, uint32_t *off,
                              size_t min)
{
    ChimneyStateHdr h;
    uint32_t len;
    void *copy;

    if (n->state_len - *off < sizeof(ChimneyStateHdr)) {
        return NULL;
    }
    memcpy(&h, tree_state(t, n) + *off, sizeof(h));
    len = GUINT32_FROM_LE(h.length);
    if (len < min || len > n->state_len - *off) {
        return NULL;
    }
    /*
     * Structures may start at any offset (lengths need not be multiples
     * of 8): hand out an aligned copy of the part the ABI defines.
     */
    copy = t->scratch[t->scratch_next++ % TREE_SCRATCH_SLOTS];
    memcpy(copy, tree_state(t, n) + *off, min);
    *off += len;
    return copy;
}

static void neigh_const_load(ChimneyNeighObj *o, const ChimneyNeighConst *c)
{
    memcpy(o->dl_src, c->dl_src_addr, 6);
    o->vlan_id = GUINT16_FROM_LE(c->vlan_id) & 0xfff;
}

static void neigh_cached_load(ChimneyNeighObj *o, const ChimneyNeighCached *c)
{
    memcpy(o->dl_dst, c->dl_dst_addr, 6);
    o->hrd = GUINT32_FROM_LE(c->host_reachability_delta);
}

static void tcp_const_load(ChimneyTcpConstState *s, const ChimneyTcpConst *c)
{
    s->flags = GUINT16_FROM_LE(c->flags);
    s->remote_port = GUINT16_FROM_LE(c->remote_port);
    s->local_port = GUINT16_FROM_LE(c->local_port);
    s->snd_wind_scale = c->snd_wind_scale;
    s->rcv_wind_scale = c->rcv_wind_scale;
    s->remote_mss = GUINT16_FROM_LE(c->remote_mss);
    s->hash_value = GUINT32_FROM_LE(c->hash_value);
}

static void tcp_cached_load(ChimneyTcpCachedState *s,
                            const ChimneyTcpCached *c)
{
    s->flags = GUINT16_FROM_LE(c->flags);
    s->initial_rcv_wnd = GUINT32_FROM_LE(c->initial_rcv_wnd);
    s->rcv_indication_size = GUINT32_FROM_LE(c->rcv_indication_size);
    s->ka_timeout = GUINT32_FROM_LE(c->ka_timeout);
    s->ka_interval = GUINT32_FROM_LE(c->ka_interval);
    s->max_rt = GUINT32_FROM_LE(c->max_rt);
    s->flow_label = GUINT32_FROM_LE(c->flow_label) & 0xfffff;
    s->ka_probe_count = c->ka_probe_count;
    s->ttl_hop_limit = c->ttl_hop_limit;
    s->tos_traffic_class = c->tos_traffic_class;
    s->user_priority = c->user_priority & 7;
}

static void tcp_delegated_load(ChimneyTcpDelegatedState *s,
                               ChimneyTcpHandover *h,
                               const ChimneyTcpDelegated *d)
{
    s->state = GUINT32_FROM_LE(d->state);
    s->flags = GUINT16_FROM_LE(d->flags);
    s->rcv_nxt = GUINT32_FROM_LE(d->rcv_nxt);
    s->rcv_wnd = GUINT32_FROM_LE(d->rcv_wnd);
    s->snd_una = GUINT32_FROM_LE(d->snd_una);
    s->snd_nxt = GUINT32_FROM_LE(d->snd_nxt);
    s->snd_max = GUINT32_FROM_LE(d->snd_max);
    s->snd_wnd = GUINT32_FROM_LE(d->snd_wnd);
    s->max_snd_wnd = GUINT32_FROM_LE(d->max_snd_wnd);
    s->snd_wl1 = GUINT32_FROM_LE(d->snd_wl1);
    s->cwnd = GUINT32_FROM_LE(d->cwnd);
    s->ssthresh = GUINT32_FROM_LE(d->ssthresh);
    s->srtt = GUINT16_FROM_LE(d->srtt);
    s->rttvar = GUINT16_FROM_LE(d->rttvar);
    s->ts_recent = GUINT32_FROM_LE(d->ts_recent);
    h->ts_recent_age = GUINT32_FROM_LE(d->ts_recent_age);
    h->ts_time = GUINT32_FROM_LE(d->ts_time);
    s->total_rt = GUINT32_FROM_LE(d->total_rt);
    s->dup_ack_count = d->dup_ack_count;
    s->snd_wnd_probe_count = d->snd_wnd_probe_count;
    s->ka_probe_count = d->ka_probe_count;
    s->rexmit_count = d->rexmit_count;
    h->ka_timeout_delta = GUINT32_FROM_LE(d->ka_timeout_delta);
    h->rexmit_timeout_delta = GUINT32_FROM_LE(d->rexmit_timeout_delta);
    s->dwnd = GUINT32_FROM_LE(d->dwnd);
}

static void hdr_store(ChimneyStateHdr *h, size_t len)
{
    h->length = GUINT32_TO_LE(len);
    h->recognized_options = 0;
}

static void neigh_store(const ChimneyNeighObj *o, ChimneyNeighConst *c,
                        ChimneyNeighCached *k, ChimneyNeighDelegated *d,
                        uint32_t nrd)
{
    if (c) {
        memset(c, 0, sizeof(*c));
        hdr_store(&c->hdr, sizeof(*c));
        memcpy(c->dl_src_addr, o->dl_src, 6);
        c->vlan_id = GUINT16_TO_LE(o->vlan_id);
    }
    if (k) {
        memset(k, 0, sizeof(*k));
        hdr_store(&k->hdr, sizeof(*k));
        memcpy(k->dl_dst_addr, o->dl_dst, 6);
        k->host_reachability_delta = GUINT32_TO_LE(o->hrd);
    }
    if (d) {
        memset(d, 0, sizeof(*d));
        hdr_store(&d->hdr, sizeof(*d));
        d->nic_reachability_delta = GUINT32_TO_LE(nrd);
    }
}

static void path_store(const ChimneyPathObj *o, ChimneyPathConst *c,
                       ChimneyPathCached *k, ChimneyPathDelegated *d)
{
    if (c) {
        memset(c, 0, sizeof(*c));
        hdr_store(&c->hdr, sizeof(*c));
        memcpy(c->src_addr, o->src, o->ipv6 ? 16 : 4);
        memcpy(c->dst_addr, o->dst, o->ipv6 ? 16 : 4);
    }
    if (k) {
        memset(k, 0, sizeof(*k));
        hdr_store(&k->hdr, sizeof(*k));
        k->path_mtu = GUINT32_TO_LE(o->path_mtu);
    }
    if (d) {
        hdr_store(&d->hdr, sizeof(*d));
    }
}

static void tcp_store(const ChimneyTcpObj *o, ChimneyTcpConst *c,
                      ChimneyTcpCached *k)
{
    if (c) {
        memset(c, 0, sizeof(*c));
        hdr_store(&c->hdr, sizeof(*c));
        c->flags = GUINT16_TO_LE(o->c.flags);
        c->remote_port = GUINT16_TO_LE(o->c.remote_port);
        c->local_port = GUINT16_TO_LE(o->c.local_port);
        c->snd_wind_scale = o->c.snd_wind_scale;
        c->rcv_wind_scale = o->c.rcv_wind_scale;
        c->remote_mss = GUINT16_TO_LE(o->c.remote_mss);
        c->hash_value = GUINT32_TO_LE(o->c.hash_value);
    }
    if (k) {
        memset(k, 0, sizeof(*k));
        hdr_store(&k->hdr, sizeof(*k));
        /* restart/update flags are one-shot requests, not state */
        k->flags = GUINT16_TO_LE(o->k.flags & (CHIMNEY_TCP_CACHED_KEEPALIVE |
                                               CHIMNEY_TCP_CACHED_NAGLE));
        k->initial_rcv_wnd = GUINT32_TO_LE(o->k.initial_rcv_wnd);
        k->rcv_indication_size = GUINT32_TO_LE(o->k.rcv_indication_size);
        k->ka_timeout = GUINT32_TO_LE(o->k.ka_timeout);
        k->ka_interval = GUINT32_TO_LE(o->k.ka_interval);
        k->max_rt = GUINT32_TO_LE(o->k.max_rt);
        k->flow_label = GUINT32_TO_LE(o->k.flow_label);
        k->ka_probe_count = o->k.ka_probe_count;
        k->ttl_hop_limit = o->k.ttl_hop_limit;
        k->tos_traffic_class = o->k.tos_traffic_class;
        k->user_priority = o->k.user_priority;
    }
}

/*
 * The delegated TCP state as handed back (terminate) or reported (query).
 * Timers are remaining ticks or CHIMNEY_TIMER_OFF (rule 041), TsTime is
 * NicTime + NicDelta (rule 042), SRtt/RttVar keep their scaling (rule 034).
 */
static void tcp_delegated_store(ChimneyEngine *eng, ChimneyTcpObj *o,
                                ChimneyTcpDelegated *d, bool query)
{
    const ChimneyTcpDelegatedState *s = &o->d;

    d->state = GUINT32_TO_LE(s->state);
    d->flags = GUINT16_TO_LE(s->flags);
    d->rsvd = 0;
    d->rcv_nxt = GUINT32_TO_LE(s->rcv_nxt);
    d->rcv_wnd = GUINT32_TO_LE(s->rcv_wnd);
    d->snd_una = GUINT32_TO_LE(s->snd_una);
    d->snd_nxt = GUINT32_TO_LE(s->snd_nxt);
    d->snd_max = GUINT32_TO_LE(s->snd_max);
    d->snd_wnd = GUINT32_TO_LE(s->snd_wnd);
    d->max_snd_wnd = GUINT32_TO_LE(s->max_snd_wnd);
    d->snd_wl1 = GUINT32_TO_LE(s->snd_wl1);
    d->cwnd = GUINT32_TO_LE(s->cwnd);
    d->ssthresh = GUINT32_TO_LE(s->ssthresh);
    d->srtt = GUINT16_TO_LE(s->srtt);
    d->rttvar = GUINT16_TO_LE(s->rttvar);
    d->ts_recent = GUINT32_TO_LE(s->ts_recent);
    d->ts_recent_age = GUINT32_TO_LE(chimney_tcp_ts_recent_age(eng, o));
    d->ts_time = GUINT32_TO_LE(chimney_tcp_ts_now(eng, o));
    d->total_rt = GUINT32_TO_LE(s->total_rt);
    d->dup_ack_count = s->dup_ack_count;
    d->snd_wnd_probe_count = s->snd_wnd_probe_count;
    d->ka_probe_count = s->ka_probe_count;
    d->rexmit_count = s->rexmit_count;
    /* rule 041: what remains of the running timers, or TIMER_OFF */
    d->ka_timeout_delta = GUINT32_TO_LE(
        chimney_tcp_timer_left(eng, o, CHIMNEY_TCP_TMR_KEEPALIVE));
    d->rexmit_timeout_delta = GUINT32_TO_LE(chimney_tcp_rexmit_left(eng, o));
    /* rule 061: preferred backlog (spec "send_backlog_size") */
    d->send_backlog_size = GUINT32_TO_LE(query ?
                                         chimney_tcp_send_backlog(o) : 0);
    d->rcv_backlog_size = GUINT32_TO_LE(query ? o->rcv_len : 0);
    d->dwnd = GUINT32_TO_LE(s->dwnd);
    d->rsvd2 = 0;
}

/*
 * Initiate offload
 */

static bool vlan_allowed(ChimneyEngine *ofl, uint16_t vid)
{
    uint32_t i;

    bool any_nonzero = false;

    /* rule 032: interface VLAN 0, or neighbor VLAN 0, never fails */
    if (vid == 0) {
        return true;
    }
    for (i = 0; i < ofl->nvlans; i++) {
        if (ofl->vlans[i] == vid) {
            return true;
        }
        any_nonzero |= ofl->vlans[i] != 0;
    }
    return !any_nonzero;
}

/*
 * The CONST, CACHED and DELEGATED structures after a new-offload block,
 * each at least its ABI size, filling the block exactly.
 */
static uint32_t take_new_state(Tree *t, TreeNode *n, size_t csize,
                               size_t ksize, size_t dsize, const void **c,
                               const void **k, const void **d)
{
    uint32_t off = 0;

    *c = state_take(t, n, &off, csize);
    *k = *c ? state_take(t, n, &off, ksize) : NULL;
    *d = *k ? state_take(t, n, &off, dsize) : NULL;
    if (!*d) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: new-offload block 0x%"
                                 G_GINT64_MODIFIER "x: state lengths "
                                 "disagree", n->addr);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    return tree_check_end(t, n, off);
}

static uint32_t initiate_neigh(Tree *t, TreeNode *n)
{
    static const uint8_t zero_mac[6];
    const ChimneyNeighConst *c;
    const ChimneyNeighCached *k;
    const ChimneyNeighDelegated *d;
    ChimneyNeighObj *o;
    uint32_t idx;

    if (take_new_state(t, n, sizeof(*c), sizeof(*k), sizeof(*d),
                       (const void **)&c, (const void **)&k,
                       (const void **)&d) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (t->ofl->neigh.used >= t->ofl->neigh.capacity) {
        return CHIMNEY_ST_OFFLOAD_NEIGHBOR_ENTRIES;
    }
    /* rule 029: no software-settable source MAC on this device */
    if (memcmp(c->dl_src_addr, zero_mac, 6)) {
        return CHIMNEY_ST_OFFLOAD_HW_ADDRESS_ENTRIES;
    }
    if (!vlan_allowed(t->ofl, GUINT16_FROM_LE(c->vlan_id) & 0xfff)) {
        return CHIMNEY_ST_OFFLOAD_VLAN_MISMATCH;   /* rule 032 */
    }
    idx = chimney_table_alloc(&t->ofl->neigh);
    o = chimney_neigh_at(t->ofl, idx);
    neigh_const_load(o, c);
    neigh_cached_load(o, k);
    o->host_handle = n->host_handle;
    chimney_tcp_neigh_offloaded(t->ofl, o,
                                GUINT32_FROM_LE(d->nic_reachability_delta));
    n->obj = idx;
    n->created = true;
    n->out_handle = chimney_offload_handle(t->ofl, CHIMNEY_KIND_NEIGH, idx);
    return CHIMNEY_ST_SUCCESS;
}

static uint32_t initiate_path(Tree *t, TreeNode *n, uint32_t neigh)
{
    const ChimneyPathConst *c;
    const ChimneyPathCached *k;
    const void *d;
    ChimneyPathObj *o;
    uint32_t idx, mtu;
    bool ipv6 = n->type == CHIMNEY_TYPE_IP6;

    if (take_new_state(t, n, sizeof(*c), sizeof(*k),
                       sizeof(ChimneyPathDelegated), (const void **)&c,
                       (const void **)&k, &d) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (t->ofl->path.used >= t->ofl->path.capacity) {
        return CHIMNEY_ST_OFFLOAD_PATH_ENTRIES;
    }
    mtu = GUINT32_FROM_LE(k->path_mtu);
    if (mtu > CHIMNEY_MAX_PATH_MTU) {
        return CHIMNEY_ST_OFFLOAD_PATH_MTU;            /* rule 031 */
    }
    if (mtu < (ipv6 ? 1280u : 68u)) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: path block 0x%"
                                 G_GINT64_MODIFIER "x: PathMtu %u below "
                                 "the IP minimum", n->addr, mtu);
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    idx = chimney_table_alloc(&t->ofl->path);
    o = chimney_path_at(t->ofl, idx);
    o->ipv6 = ipv6;
    memcpy(o->src, c->src_addr, ipv6 ? 16 : 4);    /* rule 018: copied */
    memcpy(o->dst, c->dst_addr, ipv6 ? 16 : 4);
    o->path_mtu = mtu;
    o->host_handle = n->host_handle;
    chimney_path_link(t->ofl, idx, neigh);
    n->obj = idx;
    n->created = true;
    n->out_handle = chimney_offload_handle(t->ofl, CHIMNEY_KIND_PATH, idx);
    return CHIMNEY_ST_SUCCESS;
}

static bool tcp_state_offloadable(uint32_t state)
{
    /* rule 033 */
    switch (state) {
    case CHIMNEY_TCPS_ESTABLISHED:
    case CHIMNEY_TCPS_FIN_WAIT_1:
    case CHIMNEY_TCPS_FIN_WAIT_2:
    case CHIMNEY_TCPS_CLOSE_WAIT:
    case CHIMNEY_TCPS_CLOSING:
    case CHIMNEY_TCPS_LAST_ACK:
        return true;
    default:
        return false;
    }
}

/* Read and check the send list handed over at offload (rules 025-028). */
static uint32_t initiate_tcp_send_list(Tree *t, TreeNode *n,
                                       const ChimneyTcpDelegated *d,
                                       const ChimneyTcpDelegatedState *ds,
                                       ChimneySendReq **out, uint32_t *count)
{
    uint32_t nsend = GUINT32_FROM_LE(d->send_list_count), i;
    ChimneySendBuf *wire;
    ChimneySendReq *q;
    uint64_t total = 0;

    *out = NULL;
    *count = 0;
    if (nsend > MAX_SEND_LIST) {
        return CHIMNEY_ST_OFFLOAD_TCP_XMIT_BUFFER;
    }
    if (!nsend) {
        q = NULL;
    } else {
        wire = g_new(ChimneySendBuf, nsend);
        if (chimney_eng_dma_read(t->ofl, GUINT64_FROM_LE(d->send_list_addr),
                                  wire, nsend * sizeof(*wire)) < 0) {
            g_free(wire);
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                                     "chimney-nic: TCP block 0x%"
                                     G_GINT64_MODIFIER "x: send list not "
                                     "readable", n->addr);
            return CHIMNEY_ST_DMA_ERROR;
        }
        q = g_new(ChimneySendReq, nsend);
        for (i = 0; i < nsend; i++) {
            q[i].addr = GUINT64_FROM_LE(wire[i].addr);
            q[i].len = GUINT32_FROM_LE(wire[i].len);
            q[i].acked = GUINT32_FROM_LE(wire[i].acked);
            q[i].cookie = GUINT64_FROM_LE(wire[i].cookie);
            total += q[i].len;
            if (!q[i].len || q[i].acked) {
                g_free(wire);
                g_free(q);
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                         "chimney-nic: TCP block 0x%"
                                         G_GINT64_MODIFIER "x: send entry %u "
                                         "has len 0 or acked != 0", n->addr,
                                         i);
                return CHIMNEY_ST_INVALID_PARAMETER;
            }
        }
        g_free(wire);
    }
    /* [SndUna, SndNxt) and [SndNxt, SndMax) must lie inside that data. */
    if ((uint32_t)(ds->snd_nxt - ds->snd_una) >
        (uint32_t)(ds->snd_max - ds->snd_una) ||
        (uint64_t)(uint32_t)(ds->snd_max - ds->snd_una) > total) {
        g_free(q);
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: TCP block 0x%"
                                 G_GINT64_MODIFIER "x: SndUna/SndNxt/SndMax "
                                 "disagree with %" G_GUINT64_FORMAT
                                 " bytes of send data", n->addr, total);
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    *out = q;
    *count = nsend;
    return CHIMNEY_ST_SUCCESS;
}

static uint32_t initiate_tcp(Tree *t, TreeNode *n, uint32_t path)
{
    const ChimneyTcpConst *c;
    const ChimneyTcpCached *k;
    const ChimneyTcpDelegated *d;
    ChimneyTcpConstState cs;
    ChimneyTcpCachedState ks;
    ChimneyTcpDelegatedState ds;
    ChimneyTcpHandover ho;
    ChimneyPathObj *p = chimney_path_at(t->ofl, path);
    ChimneySendReq *sendq = NULL;
    uint32_t idx, nsend, rcv_len, st;
    bool send_dma_error;
    ChimneyTcpObj *o;

    if (take_new_state(t, n, sizeof(*c), sizeof(*k), sizeof(*d),
                       (const void **)&c, (const void **)&k,
                       (const void **)&d) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_LENGTH;
    }
    tcp_const_load(&cs, c);
    tcp_cached_load(&ks, k);
    tcp_delegated_load(&ds, &ho, d);

    /* Checked in the order of the spec's table. */
    if (t->ofl->tcp.used >= t->ofl->tcp.capacity) {
        return CHIMNEY_ST_OFFLOAD_TCP_ENTRIES;
    }
    if (!tcp_state_offloadable(ds.state) || cs.snd_wind_scale > 14 ||
        cs.rcv_wind_scale > 14 || cs.remote_mss == 0) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: TCP block 0x%"
                                 G_GINT64_MODIFIER "x: state %u, window "
                                 "scales %u/%u, MSS %u not acceptable",
                                 n->addr, ds.state, cs.snd_wind_scale,
                                 cs.rcv_wind_scale, cs.remote_mss);
        return CHIMNEY_ST_INVALID_PARAMETER;            /* rule 033 */
    }
    st = initiate_tcp_send_list(t, n, d, &ds, &sendq, &nsend);
    /* an unreadable send list ranks last in the spec's table */
    send_dma_error = st == CHIMNEY_ST_DMA_ERROR;
    if (st != CHIMNEY_ST_SUCCESS && !send_dma_error) {
        return st;
    }
    st = CHIMNEY_ST_SUCCESS;
    if (cs.flags & CHIMNEY_TCP_CONST_SACK) {
        st = CHIMNEY_ST_OFFLOAD_CONNECTION_REJECTED;    /* no CAP_SACK */
    } else if (ks.initial_rcv_wnd > CHIMNEY_MAX_RCV_WND) {
        st = CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW;         /* rule 030 */
    } else if (GUINT32_FROM_LE(d->rcv_data_len) > CHIMNEY_RCV_BUF) {
        st = CHIMNEY_ST_OFFLOAD_TCP_RCV_BUFFER;         /* rule 023 */
    } else if (chimney_demux_lookup(t->ofl, p->ipv6, p->src, p->dst,
                                    cs.local_port, cs.remote_port) !=
               CHIMNEY_NO_INDEX) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: TCP block 0x%"
                                 G_GINT64_MODIFIER "x: 4-tuple already "
                                 "offloaded", n->addr);
        st = CHIMNEY_ST_DUPLICATE;
    } else if (send_dma_error) {
        st = CHIMNEY_ST_DMA_ERROR;
    }
    if (st != CHIMNEY_ST_SUCCESS) {
        g_free(sendq);      /* rule 025: the host keeps its send data */
        return st;
    }

    idx = chimney_table_alloc(&t->ofl->tcp);
    o = chimney_tcp_at(t->ofl, idx);
    o->hash_next = CHIMNEY_NO_INDEX;
    o->demux_bucket = CHIMNEY_NO_INDEX;
    o->evt_next = CHIMNEY_NO_INDEX;
    o->host_handle = n->host_handle;
    o->c = cs;
    o->k = ks;
    o->d = ds;
    o->sendq = sendq;
    o->sendq_len = nsend;
    o->ip_id = 0x8000;

    /*
     * Buffered receive data is copied before completing (rule 023), into
     * bytes of the data-buffer budget (spec "Memory budget").
     */
    rcv_len = GUINT32_FROM_LE(d->rcv_data_len);
    st = CHIMNEY_ST_SUCCESS;
    if (!chimney_rcvbuf_init(t->ofl, o, rcv_len)) {
        st = CHIMNEY_ST_RESOURCES;
    } else if (rcv_len &&
               chimney_eng_dma_read(t->ofl,
                                    GUINT64_FROM_LE(d->rcv_data_addr),
                                    o->rcvbuf, rcv_len) < 0) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                                "chimney-nic: TCP block 0x%"
                                G_GINT64_MODIFIER "x: buffered data "
                                "not readable", n->addr);
        st = CHIMNEY_ST_DMA_ERROR;
    }
    if (st != CHIMNEY_ST_SUCCESS) {
        chimney_tcp_release_data(t->ofl, idx);
        chimney_table_release(&t->ofl->tcp, idx);
        return st;
    }
    o->rcv_len = rcv_len;
    chimney_tcp_link(t->ofl, idx, path);
    chimney_demux_insert(t->ofl, idx);
    chimney_tcp_offloaded(t->ofl, idx, &ho);
    n->obj = idx;
    n->created = true;
    n->out_handle = chimney_offload_handle(t->ofl, CHIMNEY_KIND_TCP, idx);
    return CHIMNEY_ST_SUCCESS;
}

/*
 * Offload one chain depth-first, dependents before next (rule 007).
 * `parent` is the object the chain's new blocks attach to
 * (CHIMNEY_NO_INDEX under a placeholder or at the root).
 */
static void initiate_chain(Tree *t, uint32_t first, uint32_t parent,
                           bool is_root)
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = tree_node(t, i)->next) {
        TreeNode *n = tree_node(t, i);
        uint32_t st, j, ndeps = 0, nok = 0;
        uint32_t obj = CHIMNEY_NO_INDEX;

        switch (n->role) {
        case CHIMNEY_ROLE_NEW:
            if (n->type != CHIMNEY_TYPE_NEIGH && n->type != CHIMNEY_TYPE_IP4 &&
                n->type != CHIMNEY_TYPE_IP6 && n->type != CHIMNEY_TYPE_TCP) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                         "chimney-nic: new-offload block 0x%"
                                         G_GINT64_MODIFIER "x must carry a "
                                         "combined state type, not %u",
                                         n->addr, n->type);
                st = CHIMNEY_ST_BAD_TYPE;
            } else if (n->layer != LAYER_NEIGH && parent == CHIMNEY_NO_INDEX) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                         "chimney-nic: new-offload block 0x%"
                                         G_GINT64_MODIFIER "x has no offloaded "
                                         "parent to link to", n->addr);
                st = CHIMNEY_ST_BAD_TREE;
            } else if (n->layer == LAYER_NEIGH) {
                st = initiate_neigh(t, n);
            } else if (n->layer == LAYER_PATH) {
                st = initiate_path(t, n, parent);
            } else {
                st = initiate_tcp(t, n, parent);
            }
            obj = n->obj;
            break;
        case CHIMNEY_ROLE_LINKER:
            if (!chimney_offload_lookup(t->ofl, n->handle,
                                        layer_kind[n->layer], &obj)) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                         "chimney-nic: linker block 0x%"
                                         G_GINT64_MODIFIER "x: bad handle 0x%"
                                         G_GINT64_MODIFIER "x", n->addr,
                                         n->handle);
                st = CHIMNEY_ST_BAD_HANDLE;
            } else if ((st = tree_check_type(t, n, obj)) !=
                       CHIMNEY_ST_SUCCESS) {
                /* BAD_TYPE */
            } else if (tree_obj_invalid(t, n->layer, obj)) {
                st = CHIMNEY_ST_INVALID_STATE;
            } else {
                st = CHIMNEY_ST_SUCCESS;
                n->obj = obj;
            }
            break;
        case CHIMNEY_ROLE_PLACEHOLDER:
            st = CHIMNEY_ST_SUCCESS;                    /* rule 009 */
            break;
        default:
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: block 0x%" G_GINT64_MODIFIER
                                     "x: role %u not allowed in an initiate "
                                     "tree", n->addr, n->role);
            st = CHIMNEY_ST_BAD_TREE;
            break;
        }

        if (!status_ok(st)) {
            /* rule 014: dependents of a failed block are not attempted */
            n->status = st;
            tree_mark_subtree(t, n->first_dep, CHIMNEY_ST_FAILURE);
            if (is_root && i == first) {
                /* rule 015: a failed root ends the traversal */
                tree_mark_subtree(t, n->next, CHIMNEY_ST_NOT_ATTEMPTED);
                return;
            }
            continue;
        }

        initiate_chain(t, n->first_dep, obj, false);
        for (j = n->first_dep; j != NODE_NONE; j = tree_node(t, j)->next) {
            ndeps++;
            nok += status_ok(tree_node(t, j)->status);
        }
        if (n->role == CHIMNEY_ROLE_PLACEHOLDER) {
            n->status = CHIMNEY_ST_SUCCESS;
        } else if (n->role == CHIMNEY_ROLE_LINKER && ndeps && !nok) {
            n->status = CHIMNEY_ST_FAILURE;             /* rule 010 */
        } else {
            /* rules 010, 013: one level of dependents decides */
            n->status = nok == ndeps ? CHIMNEY_ST_SUCCESS :
                        CHIMNEY_ST_OFFLOAD_PARTIAL_SUCCESS;
        }
    }
}

/*
 * Terminate offload (upload)
 */

static uint32_t terminate_dma_error(Tree *t, TreeNode *n, const char *what)
{
    chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                             "chimney-nic: terminate block 0x%"
                             G_GINT64_MODIFIER "x: %s not writable; the "
                             "connection stays offloaded", n->addr, what);
    return CHIMNEY_ST_DMA_ERROR;
}

static uint32_t terminate_tcp_data(Tree *t, TreeNode *n, ChimneyTcpObj *o,
                                   uint32_t off)
{
    ChimneyTcpDelegated d;
    uint64_t list, rcv_addr;
    uint32_t cap, rcv_cap, i;

    memcpy(&d, tree_state(t, n) + off, sizeof(d));
    list = GUINT64_FROM_LE(d.send_list_addr);
    cap = GUINT32_FROM_LE(d.send_list_cap);
    rcv_addr = GUINT64_FROM_LE(d.rcv_data_addr);
    rcv_cap = GUINT32_FROM_LE(d.rcv_data_cap);

    /* Nothing is given back unless everything fits: no data is lost. */
    if (cap < o->sendq_len || rcv_cap < o->rcv_len) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: terminate block 0x%"
                                 G_GINT64_MODIFIER "x: return space for %u "
                                 "sends / %u bytes, need %u / %u", n->addr,
                                 cap, rcv_cap, o->sendq_len, o->rcv_len);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    /* rule 043: the original requests, in their original order */
    for (i = 0; i < o->sendq_len; i++) {
        ChimneySendBuf b = {
            .addr = GUINT64_TO_LE(o->sendq[i].addr),
            .len = GUINT32_TO_LE(o->sendq[i].len),
            .acked = GUINT32_TO_LE(o->sendq[i].acked),
            .cookie = GUINT64_TO_LE(o->sendq[i].cookie),
        };

        if (chimney_eng_dma_write(t->ofl, list + i * sizeof(b), &b,
                                   sizeof(b)) < 0) {
            return terminate_dma_error(t, n, "send list");
        }
    }
    /* rule 045: undelivered, acknowledged receive data */
    if (o->rcv_len &&
        chimney_eng_dma_write(t->ofl, rcv_addr, o->rcvbuf, o->rcv_len) < 0) {
        return terminate_dma_error(t, n, "receive data buffer");
    }
    tcp_delegated_store(t->ofl, o, &d, false);
    d.send_list_addr = GUINT64_TO_LE(list);
    d.send_list_count = GUINT32_TO_LE(o->sendq_len);
    d.send_list_cap = GUINT32_TO_LE(cap);
    d.rcv_data_addr = GUINT64_TO_LE(rcv_addr);
    d.rcv_data_len = GUINT32_TO_LE(o->rcv_len);
    d.rcv_data_cap = GUINT32_TO_LE(rcv_cap);
    /* the header stays as the host wrote it */
    if (chimney_eng_dma_write(t->ofl, n->addr + sizeof(ChimneyBlock) + off +
                               sizeof(ChimneyStateHdr),
                               (uint8_t *)&d + sizeof(ChimneyStateHdr),
                               sizeof(d) - sizeof(ChimneyStateHdr)) < 0) {
        return terminate_dma_error(t, n, "delegated state");
    }
    return CHIMNEY_ST_SUCCESS;
}

/*
 * TERMINATE without a delegated structure: the send requests are not handed
 * back, so each completes with SEND_DONE(UPLOAD_IN_PROGRESS) (the host stack
 * resends the data itself); undelivered receive data is discarded.
 */
static void terminate_tcp_complete_sends(Tree *t, ChimneyTcpObj *o,
                                         uint32_t idx)
{
    uint64_t handle = chimney_offload_handle(t->ofl, CHIMNEY_KIND_TCP, idx);
    uint32_t i;

    for (i = 0; i < o->sendq_len; i++) {
        ChimneyEvent ev = {
            .type = GUINT16_TO_LE(CHIMNEY_EVT_SEND_DONE),
            .code = GUINT16_TO_LE(CHIMNEY_CMD_SEND),
            .status = GUINT32_TO_LE(CHIMNEY_ST_UPLOAD_IN_PROGRESS),
            .cookie = GUINT64_TO_LE(o->sendq[i].cookie),
            .handle = GUINT64_TO_LE(handle),
            .info = GUINT32_TO_LE(o->sendq[i].acked),
        };

        chimney_eng_post_event(t->ofl, &ev);
    }
}

/* Resolve a terminate block when the walk reaches it (pre-order). */
static uint32_t terminate_resolve(Tree *t, TreeNode *n)
{
    uint32_t idx, off = 0;

    if (!chimney_offload_lookup(t->ofl, n->handle, layer_kind[n->layer],
                                &idx)) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: terminate block 0x%"
                                 G_GINT64_MODIFIER "x: bad handle 0x%"
                                 G_GINT64_MODIFIER "x", n->addr, n->handle);
        return CHIMNEY_ST_BAD_HANDLE;
    }
    n->obj = idx;
    if (tree_check_type(t, n, idx) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_TYPE;
    }
    if (n->state_len) {
        size_t need = n->layer == LAYER_NEIGH ? sizeof(ChimneyNeighDelegated) :
                      n->layer == LAYER_PATH ? sizeof(ChimneyPathDelegated) :
                      sizeof(ChimneyTcpDelegated);

        if (!state_take(t, n, &off, need)) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: terminate block 0x%"
                                     G_GINT64_MODIFIER "x: delegated "
                                     "structure too short", n->addr);
            return CHIMNEY_ST_BAD_LENGTH;
        }
    }
    return tree_check_end(t, n, off);
}

/* Terminate one object after its dependents in the tree (post-order). */
static uint32_t terminate_apply(Tree *t, TreeNode *n)
{
    uint32_t idx = n->obj;
    bool st = n->state_len != 0;

    if (n->layer == LAYER_NEIGH) {
        ChimneyNeighObj *o = chimney_neigh_at(t->ofl, idx);
        ChimneyNeighDelegated d;

        if (o->npaths) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: terminate of neighbor "
                                     "0x%" G_GINT64_MODIFIER "x with %u "
                                     "paths not listed", n->handle,
                                     o->npaths);
            return CHIMNEY_ST_HAS_DEPENDENTS;
        }
        if (st) {
            /* the header stays as the host wrote it */
            neigh_store(o, NULL, NULL, &d, chimney_tcp_neigh_nrd(t->ofl, o));
            if (chimney_eng_dma_write(t->ofl, n->addr + sizeof(ChimneyBlock) +
                                       sizeof(ChimneyStateHdr),
                                       (uint8_t *)&d + sizeof(d.hdr),
                                       sizeof(d) - sizeof(d.hdr)) < 0) {
                return terminate_dma_error(t, n, "delegated state");
            }
        }
    } else if (n->layer == LAYER_PATH) {
        ChimneyPathObj *o = chimney_path_at(t->ofl, idx);

        if (o->ntcp) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: terminate of path 0x%"
                                     G_GINT64_MODIFIER "x with %u "
                                     "connections not listed", n->handle,
                                     o->ntcp);
            return CHIMNEY_ST_HAS_DEPENDENTS;
        }
        /* a path has no delegated variables: nothing is written */
        chimney_path_unlink(t->ofl, idx);
    } else {
        ChimneyTcpObj *o = chimney_tcp_at(t->ofl, idx);
        uint32_t r;

        /* rule 040: flush what a delayed ACK would have said */
        chimney_tcp_before_upload(t->ofl, o);
        if (st) {
            r = terminate_tcp_data(t, n, o, 0);
            if (r != CHIMNEY_ST_SUCCESS) {
                return r;
            }
        } else {
            terminate_tcp_complete_sends(t, o, idx);
        }
        /* rule 048: from now on its frames go up the host path */
        chimney_demux_remove(t->ofl, idx);
        chimney_offload_cancel_retrieve(t->ofl, idx);
        chimney_tcp_unlink(t->ofl, idx);
    }
    n->done = true;
    return CHIMNEY_ST_SUCCESS;
}

static void terminate_chain(Tree *t, uint32_t first)
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = tree_node(t, i)->next) {
        TreeNode *n = tree_node(t, i);

        if (n->role == CHIMNEY_ROLE_PLACEHOLDER) {
            terminate_chain(t, n->first_dep);
            tree_node(t, i)->status = CHIMNEY_ST_SUCCESS;
            continue;
        }
        n->status = terminate_resolve(t, n);
        if (n->status != CHIMNEY_ST_SUCCESS) {
            tree_mark_subtree(t, n->first_dep, CHIMNEY_ST_FAILURE);
            continue;
        }
        /* dependents first so parents see their reference counts drop */
        terminate_chain(t, n->first_dep);
        n = tree_node(t, i);
        n->status = terminate_apply(t, n);
    }
}

/* rule 047: resources go only once the results are written back. */
static void terminate_release(Tree *t)
{
    uint32_t i;

    for (i = 0; i < t->nodes->len; i++) {
        TreeNode *n = tree_node(t, i);

        if (!n->done) {
            continue;
        }
        if (n->layer == LAYER_NEIGH) {
            chimney_table_release(&t->ofl->neigh, n->obj);
        } else if (n->layer == LAYER_PATH) {
            chimney_table_release(&t->ofl->path, n->obj);
        } else {
            chimney_tcp_release_data(t->ofl, n->obj);
            chimney_table_release(&t->ofl->tcp, n->obj);
        }
    }
}

/*
 * Update, query, invalidate
 */

static uint32_t update_one(Tree *t, TreeNode *n, uint32_t parent_neigh)
{
    uint32_t idx, off = 0;
    const void *k = NULL;
    static const size_t cached_size[] = {
        [LAYER_NEIGH] = sizeof(ChimneyNeighCached),
        [LAYER_PATH] = sizeof(ChimneyPathCached),
        [LAYER_TCP] = sizeof(ChimneyTcpCached),
    };

    if (!chimney_offload_lookup(t->ofl, n->handle, layer_kind[n->layer],
                                &idx)) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: update block 0x%"
                                 G_GINT64_MODIFIER "x: bad handle 0x%"
                                 G_GINT64_MODIFIER "x", n->addr, n->handle);
        return CHIMNEY_ST_BAD_HANDLE;
    }
    n->obj = idx;
    if (tree_check_type(t, n, idx) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_TYPE;
    }
    if (tree_obj_invalid(t, n->layer, idx)) {
        return CHIMNEY_ST_INVALID_STATE;    /* host never updates these */
    }
    if (n->state_len) {
        k = state_take(t, n, &off, cached_size[n->layer]);
        if (!k || tree_check_end(t, n, off) != CHIMNEY_ST_SUCCESS) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: update block 0x%"
                                     G_GINT64_MODIFIER "x: the cached "
                                     "structure is too short", n->addr);
            return CHIMNEY_ST_BAD_LENGTH;
        }
    }

    if (n->layer == LAYER_NEIGH) {
        ChimneyNeighObj *o = chimney_neigh_at(t->ofl, idx);

        if (k) {
            /* a MAC change of the same next hop (seed "Linking Path...") */
            neigh_cached_load(o, k);
            chimney_tcp_neigh_hrd_updated(t->ofl, o);
        }
    } else if (n->layer == LAYER_PATH) {
        ChimneyPathObj *o = chimney_path_at(t->ofl, idx);

        if (k) {
            uint32_t mtu =
                GUINT32_FROM_LE(((const ChimneyPathCached *)k)->path_mtu);

            if (mtu > CHIMNEY_MAX_PATH_MTU) {
                return CHIMNEY_ST_OFFLOAD_PATH_MTU;
            }
            if (mtu < (o->ipv6 ? 1280u : 68u)) {
                chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                        "chimney-nic: update block 0x%"
                                        G_GINT64_MODIFIER "x: PathMtu %u "
                                        "below the IP minimum", n->addr, mtu);
                return CHIMNEY_ST_INVALID_PARAMETER;
            }
            o->path_mtu = mtu;
        }
        /* rule 054: an update tree rooted at a neighbor relinks its paths */
        if (parent_neigh != CHIMNEY_NO_INDEX && parent_neigh != o->neigh) {
            chimney_path_unlink(t->ofl, idx);
            chimney_path_link(t->ofl, idx, parent_neigh);
        }
    } else {
        ChimneyTcpCachedState ks;

        if (k) {
            tcp_cached_load(&ks, k);
            if (ks.initial_rcv_wnd > CHIMNEY_MAX_RCV_WND) {
                /* rule 059: the block fails, the connection keeps going */
                return CHIMNEY_ST_OFFLOAD_TCP_RCV_WINDOW;
            }
            chimney_tcp_cached_update(t->ofl, idx, &ks);    /* rule 053 */
        }
    }
    return CHIMNEY_ST_SUCCESS;
}

static void update_chain(Tree *t, uint32_t first, uint32_t parent_neigh)
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = tree_node(t, i)->next) {
        TreeNode *n = tree_node(t, i);
        uint32_t relink = CHIMNEY_NO_INDEX;

        if (n->role == CHIMNEY_ROLE_PLACEHOLDER) {
            n->status = CHIMNEY_ST_SUCCESS;
        } else {
            n->status = update_one(t, n, n->layer == LAYER_PATH ?
                                   parent_neigh : CHIMNEY_NO_INDEX);
            if (n->layer == LAYER_NEIGH && n->status == CHIMNEY_ST_SUCCESS) {
                relink = n->obj;
            }
        }
        if (n->first_dep != NODE_NONE) {
            if (!status_ok(n->status)) {
                tree_mark_subtree(t, n->first_dep, CHIMNEY_ST_FAILURE);
            } else {
                update_chain(t, n->first_dep, relink);
            }
        }
    }
}

static uint32_t query_one(Tree *t, TreeNode *n)
{
    union {
        struct {
            ChimneyNeighConst c;
            ChimneyNeighCached k;
            ChimneyNeighDelegated d;
        } neigh;
        struct {
            ChimneyPathConst c;
            ChimneyPathCached k;
            ChimneyPathDelegated d;
        } path;
        struct {
            ChimneyTcpConst c;
            ChimneyTcpCached k;
            ChimneyTcpDelegated d;
        } tcp;
    } st;
    const void *part[3];        /* CONST, CACHED, DELEGATED of the layer */
    size_t size[3];
    uint32_t idx, host_off = 0, slot_off[3];
    unsigned base, i;
    bool combined;

    if (!chimney_offload_lookup(t->ofl, n->handle, layer_kind[n->layer],
                                &idx)) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: query block 0x%"
                                 G_GINT64_MODIFIER "x: bad handle 0x%"
                                 G_GINT64_MODIFIER "x", n->addr, n->handle);
        return CHIMNEY_ST_BAD_HANDLE;
    }
    base = n->layer == LAYER_NEIGH ? CHIMNEY_TYPE_NEIGH_CONST :
           n->layer == LAYER_TCP ? CHIMNEY_TYPE_TCP_CONST :
           (n->type >= CHIMNEY_TYPE_IP6_CONST ? CHIMNEY_TYPE_IP6_CONST :
            CHIMNEY_TYPE_IP4_CONST);
    /* the combined type is base + 3, or 17 for TCP (16 is reserved) */
    combined = n->type == (n->layer == LAYER_TCP ? CHIMNEY_TYPE_TCP :
                           base + 3);
    if (tree_check_type(t, n, idx) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_TYPE;
    }

    if (n->layer == LAYER_NEIGH) {
        ChimneyNeighObj o = *chimney_neigh_at(t->ofl, idx);

        /* the host's view as the device tracks it: HRD = now - HRT */
        o.hrd = chimney_nic_ticks(t->ofl) - o.hrt;
        neigh_store(&o, &st.neigh.c, &st.neigh.k, &st.neigh.d,
                    chimney_tcp_neigh_nrd(t->ofl, &o));
        part[0] = &st.neigh.c;
        part[1] = &st.neigh.k;
        part[2] = &st.neigh.d;
        size[0] = sizeof(st.neigh.c);
        size[1] = sizeof(st.neigh.k);
        size[2] = sizeof(st.neigh.d);
    } else if (n->layer == LAYER_PATH) {
        ChimneyPathObj *o = chimney_path_at(t->ofl, idx);

        path_store(o, &st.path.c, &st.path.k, &st.path.d);
        part[0] = &st.path.c;
        part[1] = &st.path.k;
        part[2] = &st.path.d;
        size[0] = sizeof(st.path.c);
        size[1] = sizeof(st.path.k);
        size[2] = sizeof(st.path.d);
    } else {
        ChimneyTcpObj *o = chimney_tcp_at(t->ofl, idx);

        memset(&st.tcp.d, 0, sizeof(st.tcp.d));
        tcp_store(o, &st.tcp.c, &st.tcp.k);
        tcp_delegated_store(t->ofl, o, &st.tcp.d, true);
        hdr_store(&st.tcp.d.hdr, sizeof(st.tcp.d));
        part[0] = &st.tcp.c;
        part[1] = &st.tcp.k;
        part[2] = &st.tcp.d;
        size[0] = sizeof(st.tcp.c);
        size[1] = sizeof(st.tcp.k);
        size[2] = sizeof(st.tcp.d);
    }

    /*
     * The type names the structures that follow (rule 060); pair ours with
     * the host's, in order.  Each host structure must be at least the ABI
     * size (a longer one keeps its tail).
     */
    for (i = 0; i < 3; i++) {
        slot_off[i] = host_off;
        if (!combined && n->type != base + i) {
            continue;
        }
        if (!state_take(t, n, &host_off, size[i])) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                     "chimney-nic: query block 0x%"
                                     G_GINT64_MODIFIER "x: no room for the "
                                     "state its type names", n->addr);
            return CHIMNEY_ST_BAD_LENGTH;
        }
    }
    if (tree_check_end(t, n, host_off) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_LENGTH;
    }
    /* Write everything but the headers, which stay as the host wrote them. */
    for (i = 0; i < 3; i++) {
        if (!combined && n->type != base + i) {
            continue;
        }
        if (chimney_eng_dma_write(t->ofl, n->addr + sizeof(ChimneyBlock) +
                                   slot_off[i] + sizeof(ChimneyStateHdr),
                                   (const uint8_t *)part[i] +
                                   sizeof(ChimneyStateHdr),
                                   size[i] - sizeof(ChimneyStateHdr)) < 0) {
            chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_DMA,
                                     "chimney-nic: query block 0x%"
                                     G_GINT64_MODIFIER "x: state not "
                                     "writable", n->addr);
            return CHIMNEY_ST_DMA_ERROR;
        }
    }
    return CHIMNEY_ST_SUCCESS;
}

/* rule 064: every connection behind an invalidated object must go. */
static void invalidate_tcp(Tree *t, uint32_t tcp)
{
    chimney_tcp_at(t->ofl, tcp)->invalid = true;
    chimney_offload_request_upload(t->ofl, tcp, CHIMNEY_UPLOAD_INVALID_STATE);
    t->work++;
}

static void invalidate_path_tcps(Tree *t, uint32_t path)
{
    ChimneyPathObj *p = chimney_path_at(t->ofl, path);
    uint32_t i, guard = p->ntcp;

    /* the dependents lists: only the objects concerned, bounded by count */
    for (i = p->first_tcp; i != CHIMNEY_NO_INDEX && guard--;
         i = chimney_tcp_at(t->ofl, i)->path_next) {
        invalidate_tcp(t, i);
    }
}

static void invalidate_cascade(Tree *t, unsigned layer, uint32_t obj)
{
    if (layer == LAYER_TCP) {
        invalidate_tcp(t, obj);
    } else if (layer == LAYER_PATH) {
        invalidate_path_tcps(t, obj);
    } else {
        ChimneyNeighObj *n = chimney_neigh_at(t->ofl, obj);
        uint32_t i, guard = n->npaths;

        for (i = n->first_path; i != CHIMNEY_NO_INDEX && guard--;
             i = chimney_path_at(t->ofl, i)->neigh_next) {
            invalidate_path_tcps(t, i);
        }
    }
}

static uint32_t invalidate_one(Tree *t, TreeNode *n)
{
    uint32_t idx;

    if (n->state_len) {
        /* rule 063: invalidate trees carry block lists only */
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: invalidate block 0x%"
                                 G_GINT64_MODIFIER "x carries %u bytes of "
                                 "state", n->addr, n->state_len);
        return CHIMNEY_ST_BAD_LENGTH;
    }

    if (!chimney_offload_lookup(t->ofl, n->handle, layer_kind[n->layer],
                                &idx)) {
        chimney_eng_guest_error(t->ofl, CHIMNEY_ERR_NONE,
                                 "chimney-nic: invalidate block 0x%"
                                 G_GINT64_MODIFIER "x: bad handle 0x%"
                                 G_GINT64_MODIFIER "x", n->addr, n->handle);
        return CHIMNEY_ST_BAD_HANDLE;
    }
    if (tree_check_type(t, n, idx) != CHIMNEY_ST_SUCCESS) {
        return CHIMNEY_ST_BAD_TYPE;
    }
    if (n->layer == LAYER_NEIGH) {
        chimney_neigh_at(t->ofl, idx)->invalid = true;
    } else if (n->layer == LAYER_PATH) {
        chimney_path_at(t->ofl, idx)->invalid = true;
    }
    /* rule 065: nothing is freed; the host terminates it later */
    invalidate_cascade(t, n->layer, idx);
    return CHIMNEY_ST_SUCCESS;
}

static void ref_chain(Tree *t, uint32_t first, uint32_t (*one)(Tree *,
                                                              TreeNode *))
{
    uint32_t i;

    for (i = first; i != NODE_NONE; i = tree_node(t, i)->next) {
        TreeNode *n = tree_node(t, i);

        n->status = n->role == CHIMNEY_ROLE_PLACEHOLDER ?
                    CHIMNEY_ST_SUCCESS : one(t, n);
        if (!status_ok(n->status)) {
            tree_mark_subtree(t, n->first_dep, CHIMNEY_ST_FAILURE);
        } else {
            ref_chain(t, n->first_dep, one);
        }
    }
}

static guint addr_hash(gconstpointer p);
static gboolean addr_equal(gconstpointer a, gconstpointer b);

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
        TreeNode *n = tree_node(t, i);

        if (n->role != CHIMNEY_ROLE_REF ||
            !chimney_offload_lookup(t->ofl, n->handle, layer_kind[n->layer],
                                    NULL)) {
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

/*
 * Commands
 */

static uint32_t cmd_set_params(ChimneyEngine *ofl, const ChimneyCmdDesc *cmd)
{
    ChimneyOffloadParams p;
    uint32_t len = GUINT32_FROM_LE(cmd->len);
    uint32_t tps, hlen;

    if (len < sizeof(p)) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_PARAMS length %u too short", len);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (chimney_eng_dma_read(ofl, GUINT64_FROM_LE(cmd->addr), &p,
                             sizeof(p)) < 0) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_DMA, "chimney-nic: "
                                "SET_PARAMS buffer not readable");
        return CHIMNEY_ST_DMA_ERROR;
    }
    hlen = GUINT32_FROM_LE(p.hdr.length);
    if (hlen < sizeof(p) || hlen > len) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_PARAMS header length %u", hlen);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    /* tick-valued state of live objects would change meaning */
    if (ofl->neigh.used || ofl->path.used || ofl->tcp.used) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_PARAMS while objects are offloaded");
        return CHIMNEY_ST_INVALID_STATE;
    }
    tps = GUINT32_FROM_LE(p.ticks_per_second);
    if (tps != 10 && tps != 100 && tps != 1000) {                /* rule 005 */
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "TicksPerSecond %u not 10/100/1000", tps);
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    ofl->params.ticks_per_second = tps;
    ofl->params.ack_frequency = p.ack_frequency;
    ofl->params.delayed_ack_ticks = p.delayed_ack_ticks;
    ofl->params.max_retransmissions = p.max_retransmissions;
    ofl->params.doubt_reachability_retransmissions =
        p.doubt_reachability_retransmissions;
    ofl->params.sws_prevention_ticks = GUINT32_FROM_LE(p.sws_prevention_ticks);
    ofl->params.dup_ack_threshold = GUINT32_FROM_LE(p.dup_ack_threshold);
    ofl->params.push_ticks = GUINT32_FROM_LE(p.push_ticks);
    ofl->params.nce_stale_ticks = GUINT32_FROM_LE(p.nce_stale_ticks);
    ofl->params.fin_wait2_ticks = GUINT32_FROM_LE(p.fin_wait2_ticks);
    ofl->params_set = true;
    return CHIMNEY_ST_SUCCESS;
}

static uint32_t cmd_set_vlans(ChimneyEngine *ofl, const ChimneyCmdDesc *cmd)
{
    uint32_t len = GUINT32_FROM_LE(cmd->len);
    uint16_t vids[CHIMNEY_MAX_IFACE_VLANS];
    uint32_t i, n = len / 2;

    if (len & 1) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_VLANS length %u is odd", len);
        return CHIMNEY_ST_BAD_LENGTH;
    }
    if (n > CHIMNEY_MAX_IFACE_VLANS) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                 "SET_VLANS with %u entries", n);
        return CHIMNEY_ST_INVALID_PARAMETER;
    }
    if (n && chimney_eng_dma_read(ofl, GUINT64_FROM_LE(cmd->addr), vids,
                                  len) < 0) {
        chimney_eng_guest_error(ofl, CHIMNEY_ERR_DMA, "chimney-nic: "
                                "SET_VLANS buffer not readable");
        return CHIMNEY_ST_DMA_ERROR;
    }
    for (i = 0; i < n; i++) {
        vids[i] = GUINT16_FROM_LE(vids[i]);
        if (vids[i] > 4095) {
            chimney_eng_guest_error(ofl, CHIMNEY_ERR_NONE, "chimney-nic: "
                                    "SET_VLANS entry %u is VLAN %u (> 4095)",
                                    i, vids[i]);
            return CHIMNEY_ST_INVALID_PARAMETER;
        }
    }
    memcpy(ofl->vlans, vids, n * sizeof(vids[0]));
    ofl->nvlans = n;
    return CHIMNEY_ST_SUCCESS;
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
        return cmd_set_params(eng, cmd);
    case CHIMNEY_CMD_SET_VLANS:
        return cmd_set_vlans(eng, cmd);
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
        initiate_chain(&t, t.root, CHIMNEY_NO_INDEX, true);
        break;
    case CHIMNEY_CMD_TERMINATE:
        terminate_chain(&t, t.root);
        break;
    case CHIMNEY_CMD_UPDATE:
        update_chain(&t, t.root, CHIMNEY_NO_INDEX);
        break;
    case CHIMNEY_CMD_QUERY:
        ref_chain(&t, t.root, query_one);
        break;
    case CHIMNEY_CMD_INVALIDATE:
        ref_chain(&t, t.root, invalidate_one);
        break;
    default:
        g_assert_not_reached();
    }

    /* rule 008: every block gets its status, in tree order */
    for (i = 0; i < t.nodes->len; i++) {
        TreeNode *n = tree_node(&t, i);

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
        terminate_release(&t);
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
