// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ethstats IFACE [NAME]: a minimal `ethtool -i` + `ethtool -S` for the
 * busybox guest (built static, no ethtool in the initramfs).
 * ethstats IFACE --reset: `ethtool --reset IFACE all` (ETHTOOL_RESET with
 * ETH_RESET_ALL); prints the flags the driver left ("reset: left 0x...").
 *
 * Prints "driver: ...", "version: ...", "firmware-version: ...",
 * "bus-info: ..." and then one "NAME: VALUE" line per statistic.  With NAME,
 * prints only that statistic's value (exit status 1 if it does not exist).
 */
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd;
static struct ifreq ifr;

static int eth_ioctl(void *data)
{
	ifr.ifr_data = data;
	return ioctl(fd, SIOCETHTOOL, &ifr);
}

int main(int argc, char **argv)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct {
		struct ethtool_sset_info hdr;
		uint32_t len;
	} sset = { .hdr = { .cmd = ETHTOOL_GSSET_INFO,
			    .sset_mask = 1ULL << ETH_SS_STATS } };
	struct ethtool_gstrings *strings;
	struct ethtool_stats *stats;
	uint32_t i, n;

	if (argc < 2) {
		fprintf(stderr, "usage: ethstats IFACE [NAME]\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 2;
	}
	strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
	if (argc > 2 && !strcmp(argv[2], "--reset")) {
		struct ethtool_value rst = { .cmd = ETHTOOL_RESET,
					     .data = ETH_RESET_ALL };

		if (eth_ioctl(&rst)) {
			perror("ETHTOOL_RESET");
			return 2;
		}
		printf("reset: left 0x%x\n", rst.data);
		return 0;
	}
	if (eth_ioctl(&info)) {
		perror("ETHTOOL_GDRVINFO");
		return 2;
	}
	if (eth_ioctl(&sset) || !sset.hdr.sset_mask) {
		perror("ETHTOOL_GSSET_INFO");
		return 2;
	}
	n = sset.len;
	strings = calloc(1, sizeof(*strings) + n * ETH_GSTRING_LEN);
	stats = calloc(1, sizeof(*stats) + n * sizeof(uint64_t));
	if (!strings || !stats)
		return 2;
	strings->cmd = ETHTOOL_GSTRINGS;
	strings->string_set = ETH_SS_STATS;
	strings->len = n;
	stats->cmd = ETHTOOL_GSTATS;
	stats->n_stats = n;
	if (eth_ioctl(strings) || eth_ioctl(stats)) {
		perror("ETHTOOL_GSTRINGS/GSTATS");
		return 2;
	}
	for (i = 0; i < n; i++) {
		const char *name = (const char *)strings->data + i * ETH_GSTRING_LEN;

		if (argc > 2) {
			if (!strncmp(name, argv[2], ETH_GSTRING_LEN)) {
				printf("%llu\n", (unsigned long long)stats->data[i]);
				return 0;
			}
			continue;
		}
		if (!i)
			printf("driver: %s\nversion: %s\nfirmware-version: %s\n"
			       "bus-info: %s\n", info.driver, info.version,
			       info.fw_version, info.bus_info);
		printf("%.*s: %llu\n", ETH_GSTRING_LEN, name,
		       (unsigned long long)stats->data[i]);
	}
	return argc > 2 ? 1 : 0;
}
