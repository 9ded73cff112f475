/*
 * chimney-nic test support: the device's header builder and checksums
 * (hw/net/chimney/chimney_hdr.c) under names of their own.
 *
 * The test support uses the device's checksums rather than a second
 * implementation, but is linked into binaries that contain the device
 * as well (QEMU's fuzz targets link libqos): chimney-test-hdr.c compiles
 * chimney_hdr.c once more with these names, so each binary holds one
 * copy of every device symbol.  Include this instead of chimney_hdr.h.
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TEST_HDR_H
#define CHIMNEY_TEST_HDR_H

#define chimney_ip_checksum         chimney_test_ip_checksum
#define chimney_tcp_checksum        chimney_test_tcp_checksum
#define chimney_tcp_pseudo_sum      chimney_test_tcp_pseudo_sum
#define chimney_build_segment       chimney_test_build_segment
#define chimney_effective_mss       chimney_test_effective_mss
#define chimney_segment_overhead    chimney_test_segment_overhead

#include "hw/net/chimney/chimney_hdr.h"

#endif /* CHIMNEY_TEST_HDR_H */
