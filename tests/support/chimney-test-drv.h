/*
 * chimney-nic test support: where the portable driver core's header is.
 * The standalone build gets guest-driver/core/ on the include path
 * (guest_driver_dep); the QEMU tree has the core in libqos/chimney-drv/
 * (scripts/build-qemu.sh).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_DRV_H
#define CHIMNEY_TEST_DRV_H

#ifdef CHIMNEY_STANDALONE
#include "chimney_drv.h"
#else
#include "tests/qtest/libqos/chimney-drv/chimney_drv.h"
#endif

#endif /* CHIMNEY_TEST_DRV_H */
