/*
 * chimney-nic test support: hw/net/chimney/chimney_hdr.c compiled under
 * the names of chimney-test-hdr.h (see there why).
 *
 * Copyright (c) 2026 chimney-nic authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-test-hdr.h"
#include "../../hw/net/chimney/chimney_hdr.c"
