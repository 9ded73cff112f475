/*
 * chimney-nic: trace points of the QEMU-free files.  Include this first in
 * every hw/net/chimney file that traces: inside QEMU it brings
 * qemu/osdep.h and the trace functions generated from trace-events; in
 * the standalone build (CHIMNEY_STANDALONE) the same calls are empty
 * inline functions (chimney_trace_stub.h, scripts/gen-trace-stub.py).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_TRACE_H
#define CHIMNEY_TRACE_H

#ifdef CHIMNEY_STANDALONE
#include "chimney_trace_stub.h"
#else
#include "qemu/osdep.h"
#include "trace.h"
#endif

#endif /* CHIMNEY_TRACE_H */
