/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * include/hw/net/chimney_hw.h includes <stdint.h>.  Kernel code is built
 * with -nostdinc, and gcc's own stdint.h would define uint64_t as unsigned
 * long, clashing with the kernel's unsigned long long.  This directory is
 * first on the module's include path, so the header gets the kernel's
 * fixed-width types instead.
 */
#ifndef CHIMNEY_COMPAT_STDINT_H
#define CHIMNEY_COMPAT_STDINT_H
#include <linux/types.h>
#endif
