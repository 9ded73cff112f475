#!/usr/bin/env bash
# chimney-nic TCP offload guest test: network changes, counters, reset,
# unbind, ifdown and rmmod with offloaded connections.
#
# Boots the guest of run-offload.sh (mode offload-net of guest-init.sh,
# the module loaded with nce_stale_ms=200) with one chimney-nic on
# -netdev user, its frames recorded with QEMU's filter-dump, and with live
# transfers of tests/guest/xfer.c against host-server.py (PUMP/GATE/PSTAT;
# 1 MiB each way, SHA-256 checked at both ends, FIN at the end):
#   1. one offloaded connection while the network changes: the gateway's
#      MAC replaced in the neighbour table (arp -s, a bogus MAC) and
#      restored, a host route with "mtu lock 1000" added and removed, a
#      host route through another next hop (10.0.2.3) added and removed;
#      each change pushed with CMD_UPDATE (ethtool -S ofl_updates,
#      ofl_relinks; chimneyctl show) and seen on the wire (the pcap:
#      destination MACs, segment sizes <= 960 bytes, between the guest's
#      marker pings); a silence answered by a neighbor reachability query
#      (ofl_neigh_queries); the ethtool -S counters moved by what the
#      transfer did (bytes, indications, SENDs, offloads, uploads, the
#      device's QUERY_STATS);
#   2. ethtool --reset (device reset) while offloaded: uploaded first,
#      offload enabled again, offloaded again, finished while offloaded;
#   3. PCI unbind and bind while offloaded: uploaded first, finished on
#      the kernel stack;
#   4. ip link set down while offloaded, likewise;
#   5. rmmod while offloaded refused (the ULP holds the module), the
#      transfer goes on offloaded; after the upload rmmod, insmod, probe,
#      a new connection offloaded and finished;
# then: no TCP reset from the guest (Tcp OutRsts, and none in the pcap),
# no kernel warnings, no guest errors logged by QEMU.
#
# Output: TAP on stdout, the serial console as "# " lines on stderr
# (unless --quiet).  Exit status: 0 all passed, 1 a check failed, 77 QEMU
# has no chimney-nic.
#
# Usage: run-offload-net.sh [--quiet]
# Environment: see lib.sh; CHIMNEY_GUEST_LOGDIR sets the log directory
# (serial.log, server.log, n0.pcap).
set -euo pipefail
# shellcheck source=tests/guest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

quiet=0
while [ $# -gt 0 ]; do
    a=$1
    shift
    case $a in
    --quiet) quiet=1 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) cg_die "unknown argument $a" ;;
    esac
done

t_start=$(cg_now)
logdir=${CHIMNEY_GUEST_LOGDIR:-$CG_CACHE/logs/offload-net-$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$logdir"
serial="$logdir/serial.log"

cg_qemu_setup
if ! cg_have_chimney_device; then
    echo "1..0 # SKIP $CG_QEMU has no chimney-nic device"
    exit 77
fi
cg_prepare

cleanup() { cg_server_stop; }
trap cleanup EXIT

cg_server_start "$logdir/server.log"
CG_NICS=1
CG_HUB=0
CG_SERIAL_PREFIX="# "
qemu_extra=(-d guest_errors -D "$logdir/qemu-guest-errors.log")
# the frames of the NIC's netdev (the wire checks need them)
qemu_extra+=(-object "filter-dump,id=fd0,netdev=n0,file=$logdir/n0.pcap")
if [ $quiet = 1 ]; then
    cg_timed boot cg_boot offload-net "$serial" "${qemu_extra[@]}" >/dev/null
else
    cg_timed boot cg_boot offload-net "$serial" "${qemu_extra[@]}" >&2
fi
cg_server_stop

# ---- TAP ------------------------------------------------------------------
cg_tap_guest "$serial" "$logdir/qemu-guest-errors.log"
srv="$logdir/server.log"
for p in net rst unb dn rm re; do
    if grep -Eq "EVENT pump name=$p n=1048576 sent=1048576 rcvd=1048576 .* end=fin " "$srv"; then
        tap ok "host: pump $p moved 1 MiB each way and ended with FIN"
    else
        tap fail "host: pump $p moved 1 MiB each way and ended with FIN"
        grep "name=$p" "$srv" | tail -n 3 | sed 's/^/# /'
    fi
done
while IFS= read -r line; do
    case $line in
    "PCAP: ok - "*) tap ok "wire: ${line#PCAP: ok - }" ;;
    "PCAP: not ok - "*) tap fail "wire: ${line#PCAP: not ok - }" ;;
    *) echo "# $line" ;;
    esac
done < <(python3 "$CG_DIR/pcap-offload-net.py" "$logdir/n0.pcap" "$CG_PORT" \
             02:00:00:00:be:ef 2>&1 || echo "PCAP: not ok - pcap-offload-net.py ran")
echo "1..$n"

cg_log "timings: ${CG_TIMINGS[*]} total=$(cg_elapsed "$t_start")s"
cg_log "logs: $logdir"
[ $failed -eq 0 ] || { cg_log "$failed check(s) failed"; exit 1; }
