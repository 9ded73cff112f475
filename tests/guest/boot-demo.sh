#!/usr/bin/env bash
# chimney-nic demo: boot a Linux guest with -device chimney-nic, watch the
# L2 path work, then move a live TCP connection of an unmodified program
# onto the NIC's TCP offload engine and back.
#
# Boots Debian bookworm's kernel with a busybox initramfs and the
# guest-driver/linux module under QEMU (-netdev user), then, in the guest:
#   L2:      lists the PCI devices, loads the driver, shows its dmesg lines,
#            `ip link`, brings the interface up at 10.0.2.15/24 via
#            10.0.2.2, shows the interrupt vectors, pings the host side of
#            slirp and exchanges data over TCP with a server this script
#            runs on the host at 127.0.0.1:<free port>;
#   offload: starts tests/guest/xfer (an ordinary poll() program) moving
#            1 MiB each way with the host server; after 256 KiB each way
#            shows the connection in /proc/net/tcp and `chimneyctl list`
#            (nothing offloaded), offloads it with `chimneyctl offload`,
#            shows its device state and counters (`chimneyctl list`, and
#            `chimneyctl show` when chimneyctl has it), lets 384 KiB each
#            way through the NIC's engine, uploads it mid-stream with
#            `chimneyctl upload`, lets the rest run on the kernel stack and
#            compares SHA-256 sums at both ends.
# The guest then powers off.  QEMU's filter-dump records the frames of the
# NIC's netdev into n0.pcap in the log directory; the script summarises the
# demo connection's segments from it (tests/guest/pcap-summary.py) and
# checks the host server's view of the transfer.
#
# Usage: boot-demo.sh
# Exit status: 0 when every step of the demo worked and the data checked
# out at both ends (guest and host server), 1 otherwise.
# Environment: see lib.sh; CHIMNEY_GUEST_LOGDIR sets the log directory.
set -euo pipefail

# shellcheck source=tests/guest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) cg_die "unknown argument $1" ;;
esac

t_start=$(cg_now)
logdir=${CHIMNEY_GUEST_LOGDIR:-$CG_CACHE/logs/demo-$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$logdir"

cg_qemu_setup
cg_have_chimney_device ||
    cg_die "$CG_QEMU has no chimney-nic device (build it: scripts/build-qemu.sh)"
cg_log "QEMU: $CG_QEMU (accel $CG_ACCEL)"
cg_prepare
cg_log "kernel: $CG_KV, module: $CG_MODULE"

trap cg_server_stop EXIT
cg_server_start "$logdir/server.log"
cg_log "host TCP server: 127.0.0.1:$CG_PORT (the guest sees it as 10.0.2.2:$CG_PORT)"

pcap="$logdir/n0.pcap"
echo
echo "===== guest console ====="
cg_timed boot cg_boot demo "$logdir/serial.log" \
    -object "filter-dump,id=fd0,netdev=n0,file=$pcap"
echo "===== end of guest console ====="
cg_server_stop

echo
echo "===== host server log ====="
sed 's/^/  /' "$logdir/server.log"

# The host's view of the offloaded connection ("PUMP demo") against the
# guest's checksums.
ok=1
pump=$(grep 'EVENT pump name=demo ' "$logdir/server.log" | tail -n 1 || true)
host_rcvd=$(sed -n 's/.* sha256=\([0-9a-f]*\) .*/\1/p' <<<"$pump")
host_sent=$(sed -n 's/.* sent_sha256=\([0-9a-f]*\) .*/\1/p' <<<"$pump")
console=$(tr -d '\r' <"$logdir/serial.log")
guest_sent=$(sed -n 's/^  sent by the program: *sha256 \([0-9a-f]*\).*/\1/p' <<<"$console" | tail -n 1)
guest_rcvd=$(sed -n 's/^  received by the program: *sha256 \([0-9a-f]*\).*/\1/p' <<<"$console" | tail -n 1)
echo
echo "===== the offloaded connection, end to end ====="
if grep -q ' n=1048576 sent=1048576 rcvd=1048576 .* end=fin ' <<<"$pump" &&
   [ -n "$guest_sent" ] && [ "$host_rcvd" = "$guest_sent" ] &&
   [ -n "$guest_rcvd" ] && [ "$host_sent" = "$guest_rcvd" ]; then
    echo "  guest -> host: 1 MiB, sha256 $guest_sent at both ends"
    echo "  host -> guest: 1 MiB, sha256 $guest_rcvd at both ends"
    echo "  the connection ended with FIN"
else
    ok=0
    echo "  MISMATCH or incomplete transfer:"
    echo "    host:  ${pump:-no 'EVENT pump name=demo' line}"
    echo "    guest: sent sha256 ${guest_sent:-?}, received sha256 ${guest_rcvd:-?}"
fi
if [ -s "$pcap" ]; then
    echo "  wire capture: $pcap"
    echo "  (read it with tcpdump -nr or wireshark)"
    # shellcheck disable=SC2046
    "$CG_PY" "$CG_DIR/pcap-summary.py" "$pcap" "$CG_PORT" \
        $(sed -n 's/^DEMO-CONN sport \([0-9]*\) snd \([0-9]*\) \([0-9]*\) rcv \([0-9]*\) \([0-9]*\)$/\1 \2 \3 \4 \5/p' <<<"$console" | tail -n 1) ||
        true
else
    echo "  no wire capture ($pcap missing)"
fi

echo
cg_log "timings: ${CG_TIMINGS[*]} total=$(cg_elapsed "$t_start")s"
cg_log "logs: $logdir (serial.log, server.log, n0.pcap)"
if [ "$CG_QEMU_RC" = 1 ] && [ $ok = 1 ] &&
   grep -q '^GUEST-RESULT: PASS' <<<"$console"; then
    cg_log "demo: PASS"
    exit 0
fi
cg_log "demo: FAIL (QEMU exit status $CG_QEMU_RC)"
exit 1
