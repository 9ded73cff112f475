#!/usr/bin/env bash
# chimney-nic TCP offload guest test.
#
# Boots the guest of run-l2-boot.sh (Debian bookworm kernel, busybox
# initramfs, guest-driver/linux) with one chimney-nic on -netdev user and
# moves live TCP connections of an unmodified program (tests/guest/xfer.c:
# a non-blocking poll() loop that sends a file and stores what it
# receives; it knows nothing about chimney) onto the NIC's offload engine
# and back with guest-driver/tools/chimneyctl:
#   1. a 70 MiB-each-way transfer with host-server.py (PUMP, gated by
#      GATE), offloaded after 256 KiB, 64 MiB and more each way through
#      the engine, uploaded mid-stream, finished on the kernel stack;
#      SHA-256 at both ends, FIN at the end;
#   2. transfers that end while offloaded: the host's FIN as EOF, then
#      shutdown and close; close() alone (graceful DISCONNECT, the socket
#      an orphan until the device hands the connection back);
#      shutdown(SHUT_WR) mid-stream (the device's FIN, FIN_WAIT_2 while the
#      host keeps sending, TIME_WAIT handed to the kernel); an upload in
#      FIN_WAIT_2; data after close() (the device's RST); close() with
#      SO_LINGER 0 and with unread data (the device's RST); close() with
#      SO_LINGER and a time (the FIN; close() waits for its ACK, at most
#      that time);
#   3. two connections offloaded at once (the second links to the
#      first one's neighbor and path objects), uploaded one by one;
#   4. 100 offload/upload cycles on one connection, 16 KiB each way in
#      each state;
#   5. 1,000 connections of one program offloaded at once, 16 KiB each way
#      on each (the host echoes), every byte checked;
# then: no TCP reset from the guest's kernel (the resets of 2. are the
# device's), rmmod, no kernel warnings, no guest
# errors logged by QEMU.
#
# --net tap runs it against a Linux TCP peer instead of libslirp: a tap
# device in a private network namespace (lib.sh CG_NET=tap), QEMU and the
# host server inside it, the guest at 192.168.77.2 talking to the
# namespace's TCP stack at 192.168.77.1; then also: the namespace's Tcp
# counters (no error, no established connection reset but the test's)
# and the wire (pcap-check.py: only the guest's and the tap's MACs and
# addresses, ARP answered, the pumps' bytes, valid checksums, the guest's
# RST on each connection the host server saw reset and no other RST but
# the peer's answers to a TIME-WAIT ACK of its retransmitted FIN).
#
# Output: TAP on stdout, the serial console as "# " lines on stderr
# (unless --quiet).  Exit status: 0 all passed, 1 a check failed, 77 QEMU
# has no chimney-nic (or, --net tap, the machine has no network
# namespaces or tap devices).
#
# Usage: run-offload.sh [--quiet] [--net user|tap]
# Environment: see lib.sh; CHIMNEY_GUEST_LOGDIR sets the log directory,
# CHIMNEY_GUEST_PCAP=1 records the NIC's frames (QEMU filter-dump) there.
set -euo pipefail

# shellcheck source=tests/guest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

quiet=0 net=user
while [ $# -gt 0 ]; do
    a=$1
    shift
    case $a in
    --quiet) quiet=1 ;;
    --net) net=${1:-}; shift || true ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) cg_die "unknown argument $a" ;;
    esac
done

t_start=$(cg_now)
logdir=${CHIMNEY_GUEST_LOGDIR:-$CG_CACHE/logs/offload-$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$logdir"
serial="$logdir/serial.log"

cg_qemu_setup
if ! cg_have_chimney_device; then
    echo "1..0 # SKIP $CG_QEMU has no chimney-nic device"
    exit 77
fi
case $net in user|tap) ;; *) cg_die "--net user|tap, not '$net'" ;; esac
cg_prepare

cleanup() { cg_server_stop; cg_tap_cleanup; }
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
CG_NET=$net
if [ "$net" = tap ]; then
    rc=0
    cg_tap_setup || rc=$?
    [ $rc = 77 ] && { echo "1..0 # SKIP $CG_TAP_SKIP"; exit 77; }
    [ $rc = 0 ] || cg_die "tap setup failed"
    tcp0=$(cg_tap_tcp_counters)
fi

# before the server starts: it runs for as long (--timeout)
: "${CHIMNEY_GUEST_TIMEOUT:=900}"
export CHIMNEY_GUEST_TIMEOUT
cg_server_start "$logdir/server.log"
CG_NICS=1
CG_HUB=0
CG_MEM=512      # 70 MiB each way as files in the initramfs
# 1,000 offloaded connections at once (through slirp too: it crashed
# before the device deferred what it sends while slirp delivers to it)
CG_GUEST_APPEND="${CG_GUEST_APPEND:+$CG_GUEST_APPEND }chimney.many=1000"
ulimit -n 8192  # slirp: one host socket per guest connection (1,000 at once)
CG_SERIAL_PREFIX="# "
qemu_extra=(-d guest_errors -D "$logdir/qemu-guest-errors.log")
# CHIMNEY_GUEST_PCAP=1: the frames of the NIC's netdev into n0.pcap
{ [ "${CHIMNEY_GUEST_PCAP:-0}" = 1 ] || [ "$net" = tap ]; } &&
    qemu_extra+=(-object "filter-dump,id=fd0,netdev=n0,file=$logdir/n0.pcap")
if [ $quiet = 1 ]; then
    cg_timed boot cg_boot offload "$serial" "${qemu_extra[@]}" >/dev/null
else
    cg_timed boot cg_boot offload "$serial" "${qemu_extra[@]}" >&2
fi
[ "$net" = tap ] && tcp1=$(cg_tap_tcp_counters)
cg_server_stop

# ---- TAP ------------------------------------------------------------------
cg_tap_guest "$serial" "$logdir/qemu-guest-errors.log"
srv="$logdir/server.log"
for p in main:70 oneway:8 window:16 winfin:1 close:1 conly:1 half:1 fw2:1 fw2h:1 fw1:1 two-a:1 two-b:1 cyc:4 \
         lgack:1 lgwait:1 dbulk:32 dsig:1 dsigr:1 dtmo:1 dupl:1 deof:1 dwall:4 dwupl:2 \
         drcvb:1 dinq:1 dsndb:8; do
    b=$((${p#*:} << 20))
    p=${p%:*}
    if grep -Eq "EVENT pump name=$p n=$b sent=$b rcvd=$b .* end=fin " "$srv"; then
        tap ok "host: pump $p moved $((b >> 20)) MiB each way and ended with FIN"
    else
        tap fail "host: pump $p moved $((b >> 20)) MiB each way and ended with FIN"
        { grep "name=$p" "$srv" | tail -n 3 | sed "s/^/# /"; } || true
    fi
done
# closed after direct reads with 64 KiB held in the device: a reset
# (slirp does not pass a reset on to the host's socket)
if [ "$net" != tap ]; then
    :
elif grep -Eq "EVENT pump name=dunrd n=1048576 sent=589824 rcvd=1048576 .* end=rst " "$srv"; then
    tap ok "host: pump dunrd got 1 MiB, sent 576 KiB and ended with a reset"
else
    tap fail "host: pump dunrd got 1 MiB, sent 576 KiB and ended with a reset"
    { grep "name=dunrd" "$srv" | tail -n 3 | sed "s/^/# /"; } || true
fi
# the tap peer's counters and the wire; orph, orphs, orphf: the program
# closed its socket, then the server sent more (pcap-check.py
# CLOSED_PORTS)
if [ "$net" = tap ]; then
    while IFS= read -r line; do
        case $line in
        "ok - "*) tap ok "${line#ok - }" ;;
        "not ok - "*) tap fail "${line#not ok - }" ;;
        *) echo "$line" ;;
        esac
    done < <(cg_tap_checks "$logdir/n0.pcap" "$srv" "$CG_PORT" "$tcp0" "$tcp1" "orph orphs orphf")
fi
echo "1..$n"

cg_log "timings: ${CG_TIMINGS[*]} total=$(cg_elapsed "$t_start")s"
cg_log "logs: $logdir"
[ $failed -eq 0 ] || { cg_log "$failed check(s) failed"; exit 1; }
