/*
 * libqos driver for the chimney-nic PCI NIC (qgraph node "chimney-nic")
 *
 * The node is a thin "driver": it finds the function on the PCI bus, maps
 * BAR0, turns on memory decoding and bus mastering, enables MSI-X and points
 * every MSI-X vector at its own word of guest RAM with a per-vector magic
 * value, so that a test sees each message the device sends by polling that
 * word (see chimney_msix_poll()).  It never writes a device register on its
 * own: the device is left in its reset state for the tests.
 *
 * Rings live in guest memory obtained from the machine's allocator; the
 * helpers below write descriptors there and move the TAIL doorbells.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QOS_CHIMNEY_NIC_H
#define QOS_CHIMNEY_NIC_H

#include "qgraph.h"
#include "pci.h"
#include "libqos-malloc.h"
#include "hw/net/chimney_hw.h"

/*
 * Command line pieces of the node: every test using the node must add a
 * "-netdev ...,id=" CHIMNEY_QOS_NETDEV in its .before callback.  The device
 * gets an id so that QMP set_link can address the NIC side alone.
 */
#define CHIMNEY_QOS_NETDEV      "hs0"
#define CHIMNEY_QOS_DEV_ID      "chimney0"
/* All six bytes differ so that byte-order mistakes in MAC_LO/HI show. */
#define CHIMNEY_QOS_MAC         { 0x02, 0x1b, 0x36, 0xc1, 0x5a, 0xa5 }
#define CHIMNEY_QOS_MAC_STR     "02:1b:36:c1:5a:a5"

/* Data word each MSI-X vector writes to its RAM word. */
#define CHIMNEY_QOS_MSIX_DATA(vec)  (0xc41e0000u | (uint32_t)(vec))

/*
 * Bounds of the polling loops: at most CHIMNEY_QOS_WAIT_ITERS iterations,
 * each advancing the virtual clock by CHIMNEY_QOS_STEP_NS (one qtest round
 * trip lets QEMU's main loop run: fd handlers, bottom halves, timers).
 */
#define CHIMNEY_QOS_WAIT_ITERS  2000
#define CHIMNEY_QOS_STEP_NS     10000
/* Number of iterations used to conclude that something does NOT happen. */
#define CHIMNEY_QOS_QUIET_ITERS 50

typedef struct QChimneyRing {
    uint64_t base;          /* guest-physical base (what ADDR_LO/HI hold) */
    uint64_t alloc;         /* what guest_alloc returned, 0 if none */
    uint32_t size;          /* entries */
    uint32_t entry_size;    /* bytes per entry */
    uint32_t tail;          /* driver's copy of TAIL */
} QChimneyRing;

typedef struct QChimneyNic {
    QOSGraphObject obj;
    QPCIDevice pci_dev;
    QPCIBar bar0;
    uint64_t bar0_size;
    QGuestAllocator *alloc;
    uint64_t msix_addr[CHIMNEY_MSIX_VECTORS];   /* RAM word per vector */
    QChimneyRing ring[CHIMNEY_RING_COUNT];
} QChimneyNic;

static inline QTestState *chimney_qts(QChimneyNic *d)
{
    return d->pci_dev.bus->qts;
}

/* Registers (aligned 32-bit accesses through BAR0) */
uint32_t chimney_readl(QChimneyNic *d, uint32_t off);
void chimney_writel(QChimneyNic *d, uint32_t off, uint32_t val);
uint32_t chimney_ring_readl(QChimneyNic *d, int ring, uint32_t reg);
void chimney_ring_writel(QChimneyNic *d, int ring, uint32_t reg, uint32_t val);
uint32_t chimney_stat(QChimneyNic *d, int stat);

/* PCI side */
/* (Re)map BAR0, enable decoding + bus mastering, MSI-X: after a PCI reset */
void chimney_pci_setup(QChimneyNic *d);
void chimney_set_bus_master(QChimneyNic *d, bool on);
void chimney_msix_setup(QChimneyNic *d);     /* (re)program all vectors */

/*
 * MSI-X observation.  chimney_msix_poll() returns true (and re-arms the
 * word) if the vector's message arrived since the last poll; it fails the
 * test if the word holds anything other than 0 or the vector's data.
 * chimney_wait_vec() fails the test unless the message arrives within the
 * bound; chimney_expect_no_vec() fails it if one arrives within @iters
 * iterations of @step_ns virtual nanoseconds each.
 */
bool chimney_msix_poll(QChimneyNic *d, int vec);
void chimney_msix_clear_all(QChimneyNic *d);
bool chimney_wait_vec_bounded(QChimneyNic *d, int vec, int iters,
                              int64_t step_ns);
void chimney_wait_vec(QChimneyNic *d, int vec);
void chimney_expect_no_vec(QChimneyNic *d, int vec, int iters,
                           int64_t step_ns);
/* One loop iteration: lets QEMU's main loop run, advances virtual time. */
void chimney_step(QChimneyNic *d);

/* Rings */
uint32_t chimney_ring_entry_size(int ring);
/* Allocate (64-byte aligned, zeroed) memory for @size entries. */
void chimney_ring_alloc(QChimneyNic *d, int ring, uint32_t size);
/* Write ADDR_LO/HI and SIZE from d->ring[ring] (ring must be disabled). */
void chimney_ring_program(QChimneyNic *d, int ring);
/* CTRL.ENABLE 0 -> 1; returns RING_STATUS afterwards. */
uint32_t chimney_ring_enable(QChimneyNic *d, int ring);
void chimney_ring_disable(QChimneyNic *d, int ring);
/* alloc + program + enable, asserting success (STATUS == ENABLED). */
void chimney_ring_start(QChimneyNic *d, int ring, uint32_t size);
/* Write d->ring[ring].tail to the TAIL doorbell. */
void chimney_ring_kick(QChimneyNic *d, int ring);
uint64_t chimney_ring_entry_addr(QChimneyNic *d, int ring, uint32_t idx);
uint32_t chimney_ring_head(QChimneyNic *d, int ring);

/* TX ring: write a descriptor at the driver tail (no doorbell). */
uint32_t chimney_tx_post(QChimneyNic *d, uint64_t addr, uint16_t len,
                         uint16_t flags);
void chimney_tx_read(QChimneyNic *d, uint32_t idx, ChimneyTxDesc *desc);
/*
 * Copy @len bytes of @frame into @nfrags freshly allocated buffers (split as
 * evenly as possible, or by @frag_len if non-NULL), post them with EOP on
 * the last one; no doorbell.  Returns the index of the first descriptor.
 */
uint32_t chimney_tx_post_frame(QChimneyNic *d, const uint8_t *frame,
                               size_t len, int nfrags,
                               const uint16_t *frag_len);

/* RX ring: post a buffer at the driver tail (no doorbell). */
uint32_t chimney_rx_post(QChimneyNic *d, uint64_t addr, uint16_t buf_len);
void chimney_rx_read(QChimneyNic *d, uint32_t idx, ChimneyRxDesc *desc);

/* CMD ring: write a command at the driver tail (no doorbell). */
uint32_t chimney_cmd_post(QChimneyNic *d, uint16_t opcode, uint16_t flags,
                          uint64_t cookie);

/* EVT ring */
void chimney_evt_read(QChimneyNic *d, uint32_t idx, ChimneyEvent *ev);
/* Clear VALID of entry @idx (the driver does this before returning it). */
void chimney_evt_release(QChimneyNic *d, uint32_t idx);
/* Give @n more slots to the device: TAIL += n (mod SIZE), doorbell. */
void chimney_evt_give(QChimneyNic *d, uint32_t n);

/* Descriptor status word (TX/RX: offset 12) of entry @idx. */
uint16_t chimney_desc_status(QChimneyNic *d, int ring, uint32_t idx);
/* Bounded wait for DONE in a TX/RX descriptor; false on timeout. */
bool chimney_wait_desc_done(QChimneyNic *d, int ring, uint32_t idx);
/* Bounded wait for VALID in event @idx; false on timeout. */
bool chimney_wait_evt_valid(QChimneyNic *d, uint32_t idx);

/* Guest memory */
uint64_t chimney_alloc(QChimneyNic *d, size_t size);

/*
 * qos .before callback: the wire behind the node's netdev is a socketpair
 * ("-netdev socket,fd=...,id=" CHIMNEY_QOS_NETDEV); returns the two
 * sockets (int[2]; [0] is the test's end), closed when the test ends.
 */
void *chimney_qos_socket_netdev(GString *cmd_line, void *arg);

#endif
