/*
 * chimney-nic test support: state trees in the device's wire format
 * (ChimneyBlock + state), composed in a host image and written to guest
 * memory through a callback, so the same builder serves the fake host of
 * the unit tests (a memcpy into its RAM) and qtest (qtest_bufwrite).
 *
 * These are the trees a driver would never build (cycles, bad roles,
 * foreign handles, short sizes...): well-formed trees go through the
 * driver core (chimney-test-hblk.h).
 *
 * QEMU-free (C + GLib).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_TREE_H
#define CHIMNEY_TEST_TREE_H

#include "chimney-test-state.h"

#define CHIMNEY_TEST_POISON8        0xa5u
#define CHIMNEY_TEST_POISON64       0xa5a5a5a5a5a5a5a5ull
/* A status the device must overwrite. */
#define CHIMNEY_TEST_STATUS_POISON  0xdeadbeefu
#define CHIMNEY_TEST_FLAGS_POISON   0x5a5a5a5au

/* Guest memory, as the test environment reaches it. */
typedef struct ChimneyTestMem {
    void (*write)(void *opaque, uint64_t addr, const void *buf, size_t len);
    void (*read)(void *opaque, uint64_t addr, void *buf, size_t len);
    void *opaque;
} ChimneyTestMem;

typedef struct ChimneyTestRaw {
    ChimneyTestMem mem;
    uint64_t base;              /* guest address of the image */
    uint8_t *img;               /* host image */
    uint32_t cap;
    uint32_t used;
} ChimneyTestRaw;

/* An empty tree of at most @cap bytes at guest address @base. */
void raw_init_at(ChimneyTestRaw *r, const ChimneyTestMem *mem, uint64_t base,
                 uint32_t cap);
void raw_free(ChimneyTestRaw *r);

/* The block at guest address @a in the host image. */
ChimneyBlock *raw_blk(ChimneyTestRaw *r, uint64_t a);

/*
 * Append a block followed by @len bytes of @state.  Every field the
 * device must leave alone or overwrite is poisoned (rsvd, flags, status,
 * the handle of a NEW block); host_handle is unique per block.
 */
uint64_t raw_block(ChimneyTestRaw *r, uint16_t type, uint16_t role,
                   uint64_t handle, const void *state, uint32_t len);
void raw_next(ChimneyTestRaw *r, uint64_t a, uint64_t b);
void raw_dep(ChimneyTestRaw *r, uint64_t a, uint64_t b);

/* NEW blocks with the default states (chimney-test-state.h). */
uint64_t raw_neigh(ChimneyTestRaw *r, const uint8_t *mac, uint16_t vlan);
uint64_t raw_path4(ChimneyTestRaw *r, uint8_t src, uint8_t dst, uint32_t mtu);
uint64_t raw_tcp(ChimneyTestRaw *r, uint16_t lport, uint16_t rport);

/* Write the image to guest memory. */
void raw_put(ChimneyTestRaw *r);
/* Guest memory of the tree now (a fresh copy, caller frees). */
uint8_t *raw_get(ChimneyTestRaw *r);
/* The block at @a as the device left it in guest memory. */
ChimneyBlock raw_result(ChimneyTestRaw *r, uint64_t a);
uint32_t raw_status(ChimneyTestRaw *r, uint64_t a);
uint64_t raw_handle(ChimneyTestRaw *r, uint64_t a);

#endif /* CHIMNEY_TEST_TREE_H */
