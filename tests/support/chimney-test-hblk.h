/*
 * chimney-nic test support: NDIS-shaped host blocks (the driver core's
 * struct chimney_offload_block) for the state operations, with the
 * default states of chimney-test-state.h.
 *
 * A ChimneyTestHBlocks owns every block made from it (freed together);
 * each block gets a unique NdisOffloadHandle and a poisoned status, so a
 * status the core or the device failed to write shows.
 *
 * QEMU-free (C + GLib).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_HBLK_H
#define CHIMNEY_TEST_HBLK_H

#include "chimney-test-state.h"
#include "chimney-test-tree.h"
#include "chimney-test-drv.h"

typedef struct ChimneyTestHBlk {
    struct chimney_offload_block b;
    uint64_t slot;              /* MiniportOffloadContext */
    uint8_t st[1024];           /* the state (b.state points here) */
} ChimneyTestHBlk;

typedef struct ChimneyTestHBlocks {
    GPtrArray *all;             /* ChimneyTestHBlk * */
    uint64_t next_ndis;
} ChimneyTestHBlocks;

void hb_set_init(ChimneyTestHBlocks *set);
void hb_set_free(ChimneyTestHBlocks *set);

/*
 * A block of @type with @len bytes of @state; with @slot, a
 * MiniportOffloadContext slot holding @slotval (the handle of a LINKER or
 * REF block; 0 for a NEW block), else none (a placeholder).
 */
ChimneyTestHBlk *hb_new(ChimneyTestHBlocks *set, uint16_t type, bool slot,
                        uint64_t slotval, const void *state, uint32_t len);
void hb_dep(ChimneyTestHBlk *a, ChimneyTestHBlk *b);
void hb_next(ChimneyTestHBlk *a, ChimneyTestHBlk *b);

/* NEW blocks. */
ChimneyTestHBlk *hb_neigh_state(ChimneyTestHBlocks *set,
                                const ChimneyTestNeighState *s);
ChimneyTestHBlk *hb_neigh(ChimneyTestHBlocks *set, const uint8_t *mac,
                          uint16_t vlan);
ChimneyTestHBlk *hb_path_state(ChimneyTestHBlocks *set, bool v6,
                               const ChimneyTestPathState *s);
/* IPv4 path 10.0.0.<src> -> 10.0.0.<dst>. */
ChimneyTestHBlk *hb_path4(ChimneyTestHBlocks *set, uint8_t src, uint8_t dst,
                          uint32_t mtu);
ChimneyTestHBlk *hb_tcp_state(ChimneyTestHBlocks *set,
                              const ChimneyTestTcpState *s);
ChimneyTestHBlk *hb_tcp(ChimneyTestHBlocks *set, uint16_t lport,
                        uint16_t rport);
/* An UPDATE block for connection @h with cached state @k. */
ChimneyTestHBlk *hb_tcp_cached(ChimneyTestHBlocks *set, uint64_t h,
                               const ChimneyTcpCached *k);

/*
 * A TERMINATE block for connection @h asking for its delegated state,
 * with return space: a send list of @sl_cap entries in @sl and @rd_cap
 * bytes of receive data in @rd (either may be NULL).
 */
ChimneyTestHBlk *hb_term_tcp(ChimneyTestHBlocks *set, uint64_t h,
                             const struct chimney_dma_buf *sl,
                             uint32_t sl_cap,
                             const struct chimney_dma_buf *rd,
                             uint32_t rd_cap);
/* The delegated structure such a block returned. */
static inline ChimneyTcpDelegated *hb_delegated(ChimneyTestHBlk *b)
{
    return (ChimneyTcpDelegated *)b->st;
}

/* A block without slot (no object at this layer). */
ChimneyTestHBlk *hb_placeholder(ChimneyTestHBlocks *set, uint16_t type);
/* A block naming an offloaded object (LINKER in INITIATE, else REF). */
ChimneyTestHBlk *hb_obj(ChimneyTestHBlocks *set, uint16_t type,
                        uint64_t handle);
/*
 * A REF block followed by empty structures of the given sizes (headers
 * set, the rest poisoned so that unwritten bytes show).
 */
ChimneyTestHBlk *hb_ref(ChimneyTestHBlocks *set, uint16_t type,
                        uint64_t handle, unsigned nstruct,
                        const uint32_t *sizes);
/* Query blocks for the combined state of each layer. */
ChimneyTestHBlk *hb_query_neigh(ChimneyTestHBlocks *set, uint64_t h);
ChimneyTestHBlk *hb_query_path(ChimneyTestHBlocks *set, bool v6, uint64_t h);
ChimneyTestHBlk *hb_query_tcp(ChimneyTestHBlocks *set, uint64_t h);

/*
 * N{P{T[0..n-1]}}: neighbor @mac, path 10.0.0.1 -> 10.0.0.2 (MTU 1500),
 * connections port0 + i -> 80.  *p_out (may be NULL) gets the path.
 */
ChimneyTestHBlk *hb_npt(ChimneyTestHBlocks *set, const uint8_t *mac,
                        ChimneyTestHBlk **p_out, ChimneyTestHBlk **tcp,
                        unsigned n, uint16_t port0);

/* Blocks of a tree in the core's (and device's) traversal order. */
unsigned hb_walk(struct chimney_offload_block *root,
                 struct chimney_offload_block **out, unsigned max);

#endif /* CHIMNEY_TEST_HBLK_H */
