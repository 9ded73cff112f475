// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * qexit RC: end the QEMU run with an exit status through isa-debug-exit
 * (-device isa-debug-exit,iobase=0xf4,iosize=4).  QEMU exits with
 * (RC << 1) | 1, so 1 means RC 0 (PASS) and 3 means RC 1 (FAIL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>

int main(int argc, char **argv)
{
	unsigned int rc = argc > 1 ? (unsigned int)atoi(argv[1]) : 0;

	if (ioperm(0xf4, 4, 1)) {
		perror("qexit: ioperm");
		return 1;
	}
	outl(rc, 0xf4);
	return 1;	/* not reached when the device is present */
}
