/*
 * The scenario environment (tests/support/chimney-test-env.h) over QEMU:
 * the driver core on the qtest OS shim (chimney-drv-qtest.h), the wire is
 * one end of the socketpair behind the netdev (frames as a 4-byte
 * big-endian length and the frame), the clock is QEMU's virtual clock.
 *
 * "The device sent nothing more" (wire_quiet) is decided with a marker
 * frame for the L2 path sent behind everything else: the socket netdev
 * keeps order, so once the marker comes out of the L2 RX ring, QEMU has
 * processed every frame before it.  That needs the L2 RX ring
 * (qchimney_env_rx_setup(), done on first use).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QOS_CHIMNEY_ENV_QTEST_H
#define QOS_CHIMNEY_ENV_QTEST_H

#include "chimney-drv-qtest.h"
#include "tests/support/chimney-test-env.h"

#define QCHIMNEY_RX_BUF_LEN     2048
#define QCHIMNEY_RX_RING_SIZE   64
#define QCHIMNEY_ETH_P_MARK     0x88b5  /* local experimental: L2 markers */

typedef struct QChimneyEnv {
    ChimneyTestEnv env;         /* first: the callbacks cast back */
    QChimneyOs os;
    QChimneyNic *d;
    QTestState *qts;
    int fd;                     /* our end of the wire */
    bool rx_on;
    uint32_t rx_next;           /* next RX descriptor to look at */
    uint32_t mark_seq;
} QChimneyEnv;

/* Shim, driver core up (64/256 entries), env_init(); no SET_PARAMS. */
void qchimney_env_init(QChimneyEnv *qe, QChimneyNic *d,
                       QGuestAllocator *alloc, int fd);
/* env_fini(), then the shim's checks and cleanup. */
void qchimney_env_fini(QChimneyEnv *qe);

/* The wire. */
void qchimney_env_wire_send(QChimneyEnv *qe, const uint8_t *frame,
                            size_t len);
/* One frame if one comes within @iters polling steps; 0 if none. */
size_t qchimney_env_wire_try_recv(QChimneyEnv *qe, uint8_t *buf, size_t cap,
                                  int iters);
bool qchimney_env_wire_pending(QChimneyEnv *qe);

/* The L2 RX ring: @size - 1 buffers posted. */
void qchimney_env_rx_setup(QChimneyEnv *qe);
/* Is descriptor rx_next done right now? */
bool qchimney_env_rx_ready(QChimneyEnv *qe);
/* Take the frame at rx_next (must be done), give the buffer back. */
size_t qchimney_env_rx_take(QChimneyEnv *qe, uint8_t *buf, size_t cap);
/* Wait (bounded) for the next frame of the RX ring; fails if none. */
size_t qchimney_env_rx_wait(QChimneyEnv *qe, uint8_t *buf, size_t cap);
/*
 * Make sure QEMU has processed every frame sent so far (marker frame);
 * a frame that reached the RX ring before the marker fails the test.
 */
void qchimney_env_wire_sync(QChimneyEnv *qe);
/* After wire_sync: nothing (more) was sent on the wire. */
void qchimney_env_wire_expect_nothing(QChimneyEnv *qe);

#endif
