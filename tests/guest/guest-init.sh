#!/bin/sh
# /init of the chimney-nic guest initramfs (busybox ash).
#
# Kernel command line parameters:
#   chimney.mode=test|demo|nodev|offload|offload-net
#                            offload: the TCP offload test (run-offload.sh)
#                            offload-net: network changes, counters, reset,
#                            unbind, ifdown, rmmod (run-offload-net.sh)
#                            test: the L2 boot test (run-l2-boot.sh)
#                            demo: the walk-through (boot-demo.sh)
#                            nodev: module load/unload without the device
#                            (run-l2-boot.sh --nodev)
#   chimney.port=N           host TCP server port, reached at 10.0.2.2:N
#   chimney.host=A.B.C.D     the peer (server and gateway), default 10.0.2.2
#   chimney.ip=A.B.C.D/LEN   the interface's static address, default
#                            10.0.2.15/24 (-netdev user: slirp's network)
#   chimney.peermac=MAC      offload: the MAC the peer's neighbour entry
#                            must resolve to (the tap peer's; lib.sh CG_NET)
#   chimney.flap=0|1         test: ask the host to flap the link (needs QMP)
#   chimney.intx=0|1         test: also run the INTx (msix=0) pass
#   chimney.small=0|1        test: also run the small-ring pass
#                            (tx_ring=32 rx_ring=8: queue stop/wake, RX_NOBUF)
#   chimney.stress=N         test: also run 4 uploads and 4 downloads of
#                            N MiB each at the same time (0 = skip)
#   chimney.nics=1|2         test: 2 = a second chimney-nic on its own slirp
#                            network 10.0.3.0/24 (host 10.0.3.2)
#   chimney.hub=0|1          test: 1 = two more chimney-nics joined by a QEMU
#                            hub (MACs 52:54:00:12:34:58/59): jumbo frames,
#                            VLAN, RX filter and promiscuous mode, with one
#                            end in its own network namespace
#   chimney.modparams=a=1,b=2
#                            module parameters for the first insmod
#
# Output contract (read by the host scripts):
#   CHECK: ok - <name>        / CHECK: not ok - <name>   one per check
#   GUEST-RESULT: PASS|FAIL   last line; the exit status also goes out
#                             through isa-debug-exit (qexit).

/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp && mount -t tmpfs tmpfs /tmp

arg() {
	# shellcheck disable=SC2013
	for w in $(cat /proc/cmdline); do
		case $w in
		"chimney.$1="*) echo "${w#*=}"; return ;;
		esac
	done
	echo "$2"
}

MODE=$(arg mode test)
ONLY=$(arg only "" | tr , " ")
# OutRsts the kernel sends on purpose (offload_orphan_data_shut fallback)
KERNEL_RSTS=0
PORT=$(arg port 0)
FLAP=$(arg flap 1)
INTX=$(arg intx 1)
SMALL=$(arg small 1)
MODPARAMS=$(arg modparams "" | tr ',' ' ')
STRESS=$(arg stress 0)
NICS=$(arg nics 1)
HUB=$(arg hub 0)
HOST=$(arg host 10.0.2.2)
GUEST_IP=$(arg ip 10.0.2.15/24)
PEERMAC=$(arg peermac "")
MOD=/lib/modules/chimney_nic.ko
FAILS=0
IF=

check() {
	local what=$1
	shift
	if "$@"; then
		echo "CHECK: ok - $what"
	else
		echo "CHECK: not ok - $what"
		FAILS=$((FAILS + 1))
		return 1
	fi
}

finish() {
	if [ "$FAILS" -eq 0 ]; then
		echo "GUEST-RESULT: PASS"
		rc=0
	else
		echo "GUEST-RESULT: FAIL ($FAILS failed)"
		rc=1
	fi
	/bin/qexit "$rc"
	poweroff -f
}

section() { echo; echo "=== $* ==="; }

# the interface the chimney_nic driver registered
find_if() {
	IF=
	for d in /sys/class/net/*; do
		drv=$(readlink "$d/device/driver" 2>/dev/null)
		if [ "${drv##*/}" = chimney_nic ]; then
			IF=${d##*/}
			return 0
		fi
	done
	return 1
}

device_present() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1b36 ] && [ "$(cat "$d/device")" = 0x00c1 ] &&
			return 0
	done
	return 1
}

# wait_carrier 1|0 SECONDS
wait_carrier() {
	i=0
	while [ $i -lt $(($2 * 10)) ]; do
		[ "$(cat "/sys/class/net/$IF/carrier" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

ifup() {
	ip link set lo up &&
	ip link set "$IF" up &&
	ip addr add "$GUEST_IP" dev "$IF" &&
	ip route add default via "$HOST"
}

# request LINE -> the server's reply (one connection)
request() { echo "$1" | timeout 30 nc "$HOST" "$PORT"; }

hello() {
	tok=$1-$$-$(cut -c1-8 /proc/sys/kernel/random/uuid)
	got=$(request "HELLO $tok")
	echo "  sent 'HELLO $tok', got '$got'"
	[ "$got" = "HELLO-ACK $tok" ]
}

tmpname() { echo "/tmp/$1.$(cut -c1-8 /proc/sys/kernel/random/uuid)"; }

# upload BYTES: the host's checksum must match ours
upload() {
	local f want got t0 t1
	f=$(tmpname up)
	dd if=/dev/urandom of="$f" bs=1024 count=$(($1 / 1024)) 2>/dev/null
	want=$(sha256sum "$f" | cut -d' ' -f1)
	t0=$(cut -d' ' -f1 /proc/uptime)
	got=$({ echo "UPLOAD $1"; cat "$f"; } | timeout 120 nc "$HOST" "$PORT")
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "  upload $1 bytes in $(awk "BEGIN{print $t1 - $t0}") s: sha256 $want, host says $got"
	rm -f "$f"
	[ -n "$want" ] && [ "$got" = "$want" ]
}

# download BYTES: size and checksum must match the host's
download() {
	local f want got size t0 t1
	f=$(tmpname down)
	t0=$(cut -d' ' -f1 /proc/uptime)
	echo "DOWNLOAD $1" | timeout 120 nc "$HOST" "$PORT" >"$f"
	t1=$(cut -d' ' -f1 /proc/uptime)
	size=$(wc -c <"$f")
	got=$(sha256sum "$f" | cut -d' ' -f1)
	want=$(request "DLSUM $1")
	echo "  download $size bytes in $(awk "BEGIN{print $t1 - $t0}") s: sha256 $got, host says $want"
	rm -f "$f"
	[ "$size" -eq "$1" ] && [ -n "$want" ] && [ "$got" = "$want" ]
}

msix_vectors() {
	n=0
	for v in misc tx rx cmd evt; do
		grep -q " $IF-$v\$" /proc/interrupts && n=$((n + 1))
	done
	grep " $IF-" /proc/interrupts | sed 's/^/  /'
	[ $n -eq 5 ]
}

intx_vector() {
	grep " $IF\$" /proc/interrupts | sed 's/^/  /'
	grep -q " $IF\$" /proc/interrupts
}

counter() { cat "/sys/class/net/$IF/statistics/$1"; }

counters_sane() {
	for c in rx_packets tx_packets rx_bytes tx_bytes rx_errors tx_errors tx_dropped; do
		printf '  %s=%s' $c "$(counter $c)"
	done
	echo
	[ "$(counter rx_packets)" -gt 0 ] && [ "$(counter tx_packets)" -gt 0 ] &&
		[ "$(counter rx_errors)" -eq 0 ] && [ "$(counter tx_errors)" -eq 0 ]
}

ping_host() { ping -c 3 -W 5 "$HOST"; }

# neigh_resolved: $HOST's neighbour entry on $IF holds a MAC (ARP
# answered on the link), chimney.peermac's when given
neigh_resolved() {
	local e
	e=$(ip neigh show "$HOST" dev "$IF")
	echo "  neighbour: $e"
	case $e in *FAILED*|*INCOMPLETE*|"") return 1 ;; esac
	case $e in *" lladdr ${PEERMAC:-}"*) return 0 ;; esac
	return 1
}

stat() { ethstats "$IF" "$1"; }

ethtool_stats() {
	ethstats "$IF" | sed 's/^/  /'
	[ -n "$(stat hw_tx_frames)" ]
}

# the device's frame counters against the driver's, sampled while no frame
# moved in between (retried: the stack may send or receive meanwhile)
counters_agree() {
	local i=0 tx1 tx2 rx1 rx2 hw_tx hw_rx rxe
	while [ $i -lt 20 ]; do
		tx1=$(counter tx_packets)
		rx1=$(counter rx_packets)
		rxe=$(counter rx_errors)
		hw_tx=$(stat hw_tx_frames)
		hw_rx=$(stat hw_rx_frames)
		tx2=$(counter tx_packets)
		rx2=$(counter rx_packets)
		if [ "$tx1" = "$tx2" ] && [ "$rx1" = "$rx2" ]; then
			echo "  device tx $hw_tx rx $hw_rx; driver tx $tx1 rx $rx1 (+$rxe errors)"
			[ "$hw_tx" -eq "$tx1" ] && [ "$hw_rx" -eq $((rx1 + rxe)) ]
			return
		fi
		sleep 0.2
		i=$((i + 1))
	done
	echo "  counters never stable"
	return 1
}

mac_change() {
	old=$(cat "/sys/class/net/$IF/address")
	new=52:54:00:c1:00:01
	ip link set "$IF" address $new || return 1
	# slirp learns the guest MAC from its ARP requests
	ip neigh flush dev "$IF"
	echo "  MAC $old -> $(cat "/sys/class/net/$IF/address")"
	hello mac
	ok=$?
	ip link set "$IF" address "$old"
	ip neigh flush dev "$IF"
	echo "  MAC back to $(cat "/sys/class/net/$IF/address")"
	[ $ok -eq 0 ] && hello macback
}

promisc() {
	ip link set "$IF" promisc on || return 1
	hello promisc
	ok=$?
	ip link set "$IF" promisc off
	[ $ok -eq 0 ]
}

# stress MIB: 4 uploads and 4 downloads of MIB MiB each, concurrently
stress() {
	local bytes=$(($1 * 1048576)) i pids="" rc=0 t0 t1
	t0=$(cut -d' ' -f1 /proc/uptime)
	for i in 1 2 3 4; do
		(upload $bytes >/tmp/stress-up$i.log 2>&1) &
		pids="$pids $!"
		(download $bytes >/tmp/stress-down$i.log 2>&1) &
		pids="$pids $!"
	done
	for i in $pids; do
		wait "$i" || rc=1
	done
	t1=$(cut -d' ' -f1 /proc/uptime)
	sed 's/^/ /' /tmp/stress-*.log
	echo "  8 streams x $1 MiB in $(awk "BEGIN{print $t1 - $t0}") s"
	rm -f /tmp/stress-*.log
	return $rc
}

# the second chimney-nic, on slirp network 10.0.3.0/24
second_nic() {
	local if1 rc=0 ohost=$HOST
	if1=$(if_by_mac 52:54:00:12:34:57) ||
		{ echo "  no interface with MAC 52:54:00:12:34:57"; return 1; }
	echo "  second interface: $if1 ($(cat "/sys/class/net/$if1/address"))"
	ip link set "$if1" up && ip addr add 10.0.3.15/24 dev "$if1" || return 1
	grep " $if1-" /proc/interrupts | sed 's/^/  /'
	[ "$(grep -c " $if1-" /proc/interrupts)" -eq 5 ] || rc=1
	HOST=10.0.3.2
	hello nic2 && upload 262144 && download 262144 || rc=1
	HOST=$ohost
	ip link set "$if1" down
	return $rc
}

# the interface with MAC $1
if_by_mac() {
	local d
	for d in /sys/class/net/*; do
		[ "$(cat "$d/address")" = "$1" ] && { echo "${d##*/}"; return 0; }
	done
	return 1
}

ns() { nsenter -t "$NSPID" -n "$@"; }

hub_setup() {
	HA=$(if_by_mac 52:54:00:12:34:58) && HB=$(if_by_mac 52:54:00:12:34:59) ||
		return 1
	unshare -n sleep 100000 &
	NSPID=$!
	sleep 0.2
	ip link set "$HB" netns "$NSPID" || return 1
	ip link set "$HA" mtu 9000 up &&
	ip addr add 192.168.50.1/24 dev "$HA" &&
	ns ip link set lo up &&
	ns ip link set "$HB" mtu 9000 up &&
	ns ip addr add 192.168.50.2/24 dev "$HB" || return 1
	echo "  $HA 192.168.50.1 <-> hub <-> $HB 192.168.50.2 (netns of pid $NSPID), MTU 9000"
	local i=0
	while [ $i -lt 100 ]; do
		# (/sys shows the root namespace: ask ip inside the other one)
		[ "$(cat "/sys/class/net/$HA/carrier")" = 1 ] &&
			ns ip link show "$HB" | grep -q LOWER_UP && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# hub_tcp BYTES: HA -> HB over TCP (MSS from MTU 9000)
hub_tcp() {
	local f want got lpid
	f=$(tmpname hub)
	dd if=/dev/urandom of="$f" bs=1024 count=$(($1 / 1024)) 2>/dev/null
	want=$(sha256sum "$f" | cut -d' ' -f1)
	# busybox nc quits when its peer closes: keep the listener's stdin
	# open (a background job's stdin is /dev/null) so it never sends FIN
	# first.  fd 8 holds the fifo's write end until the end.
	rm -f "$f.fifo"
	mkfifo "$f.fifo"
	ns timeout 60 nc -l -p 5001 <"$f.fifo" >"$f.rx" &
	lpid=$!
	exec 8>"$f.fifo"
	sleep 0.5
	timeout 60 nc 192.168.50.2 5001 <"$f"
	echo "  sender nc: exit status $?"
	wait $lpid
	echo "  receiver nc: exit status $?"
	exec 8>&-
	rm -f "$f.fifo"
	got=$(sha256sum "$f.rx" | cut -d' ' -f1)
	echo "  sent $(wc -c <"$f") bytes sha256 $want; received $(wc -c <"$f.rx") bytes sha256 $got"
	rm -f "$f" "$f.rx"
	[ "$got" = "$want" ]
}

hub_vlan() {
	local m
	for m in /lib/modules/extra/*.ko; do
		insmod "$m" || return 1
	done
	vconfig add "$HA" 100 >/dev/null && ns vconfig add "$HB" 100 >/dev/null &&
	ip link set "$HA.100" up && ip addr add 192.168.51.1/24 dev "$HA.100" &&
	ns ip link set "$HB.100" up && ns ip addr add 192.168.51.2/24 dev "$HB.100" ||
		return 1
	ping -c 2 -W 5 192.168.51.2 && ping -c 2 -W 5 -s 4000 192.168.51.2
}

# frames to a MAC nobody owns: filtered by HB's device unless promiscuous
hub_filter() {
	local f0 f1 r0 r1 p0 p1
	arp -s 192.168.50.3 52:54:00:de:ad:01 -i "$HA" || return 1
	f0=$(ns ethstats "$HB" hw_rx_filtered)
	r0=$(ns ethstats "$HB" hw_rx_frames)
	ping -c 3 -W 1 192.168.50.3 >/dev/null
	f1=$(ns ethstats "$HB" hw_rx_filtered)
	r1=$(ns ethstats "$HB" hw_rx_frames)
	echo "  not promiscuous: hw_rx_filtered +$((f1 - f0)), hw_rx_frames +$((r1 - r0))"
	[ $((f1 - f0)) -ge 3 ] || return 1
	ns ip link set "$HB" promisc on || return 1
	p0=$(ns ethstats "$HB" hw_rx_filtered)
	r0=$(ns ethstats "$HB" hw_rx_frames)
	ping -c 3 -W 1 192.168.50.3 >/dev/null
	p1=$(ns ethstats "$HB" hw_rx_filtered)
	r1=$(ns ethstats "$HB" hw_rx_frames)
	ns ip link set "$HB" promisc off
	echo "  promiscuous:     hw_rx_filtered +$((p1 - p0)), hw_rx_frames +$((r1 - r0))"
	[ "$p1" = "$p0" ] && [ $((r1 - r0)) -ge 3 ]
}

hub_tests() {
	check "hub: two chimney-nics, one in a netns, MTU 9000, carrier" hub_setup || return
	check "hub: ping" ping -c 2 -W 5 192.168.50.2
	check "hub: ping -s 8000 (jumbo frames over several RX descriptors)" ping -c 3 -W 5 -s 8000 192.168.50.2
	check "hub: TCP 2 MiB at MTU 9000" hub_tcp 2097152
	check "hub: 802.1Q VLAN 100 (ping, ping -s 4000)" hub_vlan
	check "hub: RX filter drops foreign unicast; promiscuous accepts it" hub_filter
	echo "  $HA: $(ethstats "$HA" | grep -E 'hw_(rx|tx)_(frames|errors)' | tr '\n' ' ')"
	echo "  $HB: $(ns ethstats "$HB" | grep -E 'hw_(rx|tx)_(frames|errors)' | tr '\n' ' ')"
	ip link set "$HA" down
	kill "$NSPID"
	wait "$NSPID" 2>/dev/null
}

# write_byte FILE OFFSET VALUE
write_byte() {
	# shellcheck disable=SC2059
	printf "\\$(printf %03o "$3")" |
		dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}

# Clear PCI bus mastering, start an exchange (its SYN waits in the TX ring),
# set bus mastering again: the device must pick up where it stopped.
busmaster_toggle() {
	local dev cfg cmd pid rc=0
	dev=$(readlink "/sys/class/net/$IF/device")
	cfg=/sys/bus/pci/devices/${dev##*/}/config
	cmd=$(dd if="$cfg" bs=1 skip=4 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
	echo "  PCI command register (low byte) 0x$(printf %02x "$cmd"): clearing bus master"
	write_byte "$cfg" 4 $((cmd & ~4))
	hello busmaster-off &
	pid=$!
	sleep 1
	write_byte "$cfg" 4 "$cmd"
	echo "  bus master on again"
	wait $pid || rc=1
	[ $rc -eq 0 ] && hello busmaster-on
}

# reload NAME ARGS...: reload the module with ARGS and bring it up again
reload() {
	local pass=$1
	shift
	ip link set "$IF" down
	check "$pass: rmmod chimney_nic" rmmod chimney_nic
	check "$pass: insmod chimney_nic.ko $*" insmod "$MOD" "$@"
	check "$pass: driver bound again" find_if || return 1
	check "$pass: interface up" ifup
	check "$pass: carrier up" wait_carrier 1 10
}


dmesg_has() { dmesg | grep -q "$1"; }

# (a SEND_DONE that is not the oldest request's: the driver's send list
# and the device's disagree, and the writer would wait for good)
no_kernel_warnings() {
	! dmesg | grep -E 'BUG:|WARNING:|Oops|Call Trace|chimney.*(error|timeout|out of order)'
}

link_flap() {
	got=$(request "LINKFLAP 3")
	echo "  host: $got"
	[ "$got" = OK ] || return 1
	wait_carrier 0 15 || { echo "  carrier never went down"; return 1; }
	echo "  carrier down"
	wait_carrier 1 20 || { echo "  carrier never came back"; return 1; }
	echo "  carrier up again"
	dmesg | grep -E "$IF: link (up|down)" | tail -n 3 | sed 's/^/  /'
}

# ---------------------------------------------------------------------------

run_test() {
	echo "chimney-nic L2 boot test, kernel $(uname -r)"
	check "chimney-nic PCI device present (1b36:00c1)" device_present
	# shellcheck disable=SC2086
	check "insmod chimney_nic.ko${MODPARAMS:+ $MODPARAMS}" insmod "$MOD" $MODPARAMS
	check "driver bound, netdev registered" find_if
	if [ -z "$IF" ]; then
		dmesg | grep -i chimney
		finish
	fi
	echo "  interface: $IF"
	dmesg | grep -E 'chimney_nic|'"$IF"':' | sed 's/^/  dmesg: /'
	check "interface up with 10.0.2.15/24, default via $HOST" ifup
	check "carrier up" wait_carrier 1 10
	check "5 MSI-X vectors requested" msix_vectors
	check "NOP command completed through the event ring" dmesg_has "$IF: command/event path ok"
	check "ping $HOST" ping_host
	check "TCP exchange with the host server" hello msix
	check "upload 1 MiB, checksum matches" upload 1048576
	check "download 1 MiB, checksum matches" download 1048576
	check "interface counters" counters_sane
	if [ "$FLAP" = 1 ]; then
		check "link down/up seen through INT_LINK" link_flap
		check "TCP exchange after the link flap" hello flap
	fi
	if [ "$STRESS" -gt 0 ]; then
		check "stress: 4 uploads + 4 downloads of $STRESS MiB at once" stress "$STRESS"
		check "stress: device frame counters agree" counters_agree
	fi
	if [ "$NICS" = 2 ]; then
		check "second chimney-nic: 10.0.3.15/24 talks to 10.0.3.2" second_nic
	fi
	[ "$HUB" = 1 ] && hub_tests
	check "MAC address change: traffic to the new address" mac_change
	check "promiscuous mode: TCP exchange" promisc
	check "bus mastering off then on: the queued exchange completes" busmaster_toggle
	check "ethtool statistics (device registers + driver)" ethtool_stats
	check "device frame counters agree with the driver's" counters_agree
	if [ "$SMALL" = 1 ] && reload "small rings" tx_ring=32 rx_ring=8; then
		check "small rings: upload 1 MiB" upload 1048576
		check "small rings: download 1 MiB" download 1048576
		if [ "$STRESS" -gt 0 ]; then
			check "small rings: stress, 8 streams of $STRESS MiB" stress "$STRESS"
		fi
		# An exhausted RX ring makes the device refuse frames (QEMU
		# queues them) until TAIL moves: nothing may be lost.
		ethstats "$IF" | grep -E 'nobuf|queue|alloc' | sed 's/^/  /'
		check "small rings: device frame counters agree" counters_agree
	fi
	if [ "$INTX" = 1 ] && reload INTx msix=0; then
		check "INTx: one shared vector" intx_vector
		check "INTx: TCP exchange" hello intx
		check "INTx: upload 256 KiB" upload 262144
		check "INTx: download 256 KiB" download 262144
		check "INTx: device frame counters agree" counters_agree
	fi
	check "no kernel warnings or driver errors in dmesg" no_kernel_warnings
	request BYE >/dev/null
	finish
}

run_demo() {
	section "chimney-nic demo: guest kernel $(uname -r)"
	section "PCI devices (1b36:00c1 is chimney-nic)"
	for d in /sys/bus/pci/devices/*; do
		echo "  ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") class $(cat "$d/class")"
	done
	section "insmod chimney_nic.ko dyndbg=+p${MODPARAMS:+ $MODPARAMS}"
	# shellcheck disable=SC2086
	insmod "$MOD" dyndbg=+p $MODPARAMS || FAILS=$((FAILS + 1))
	find_if || { echo "no chimney-nic interface"; FAILS=$((FAILS + 1)); finish; }
	section "driver messages (dmesg)"
	dmesg | grep -E 'chimney_nic|'"$IF"':'
	section "ip link"
	ip link
	section "bring $IF up: 10.0.2.15/24, default via $HOST (slirp)"
	ifup || FAILS=$((FAILS + 1))
	wait_carrier 1 10 || FAILS=$((FAILS + 1))
	ip addr show dev "$IF"
	ip route
	section "driver messages after ifup"
	dmesg | grep -E "$IF:"
	section "interrupts"
	grep -E " $IF" /proc/interrupts
	section "ping $HOST"
	ping_host || FAILS=$((FAILS + 1))
	section "TCP exchange with the host server at $HOST:$PORT (host 127.0.0.1:$PORT)"
	hello demo || FAILS=$((FAILS + 1))
	upload 262144 || FAILS=$((FAILS + 1))
	download 262144 || FAILS=$((FAILS + 1))
	section "interface counters"
	counters_sane || FAILS=$((FAILS + 1))
	section "ethtool -i / -S $IF (device statistics registers, driver counters)"
	ethstats "$IF"
	demo_offload
	request BYE >/dev/null
	section "done"
	finish
}

# hex_ip HEX: the dotted address of a /proc/net/tcp address (little endian)
hex_ip() {
	printf '%d.%d.%d.%d' "0x$(echo "$1" | cut -c7-8)" "0x$(echo "$1" | cut -c5-6)" \
		"0x$(echo "$1" | cut -c3-4)" "0x$(echo "$1" | cut -c1-2)"
}

# tcp_conns PORT: the established connections to remote port PORT from
# /proc/net/tcp, decoded
tcp_conns() {
	local sl la ra st q rest l r
	# shellcheck disable=SC2034
	grep ":$(printf '%04X' "$1") 01 " /proc/net/tcp |
	while read -r sl la ra st q rest; do
		l=${la%:*} r=${ra%:*}
		echo "$(hex_ip "$l"):$((0x${la#*:})) -> $(hex_ip "$r"):$((0x${ra#*:}))" \
			"ESTABLISHED tx_queue $((0x${q%:*})) rx_queue $((0x${q#*:}))"
	done
}

# snap_field NAME: the first value after NAME in $SNAP (a chimneyctl list)
snap_field() { echo "$SNAP" | tr ' ' '\n' | sed -n "/^$1\$/{n;p;q}"; }

# snap_list: chimneyctl list into SNAP, shown indented
snap_list() {
	SNAP=$(chimneyctl list)
	echo "$SNAP" | sed 's/^/  /'
}

# demo_offload: the offload walk-through of run_demo (the pump of
# run-offload.sh's first test, narrated)
demo_offload() {
	local pid sent0 rcvd0 sport rst0 rst1 tx0 rx0 c0 e0 off_snd off_rcv up_snd up_rcv
	section "TCP Chimney offload of a live connection"
	echo "  (chimney_nic.ko registered the TCP ULP \"chimney\" and /dev/chimney)"
	echo "  tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
	ls -l /dev/chimney | sed 's/^/  /'
	dd if=/dev/urandom of=/tmp/tx bs=1024 count=1024 2>/dev/null
	UP_SUM=$(sha256sum /tmp/tx | cut -d' ' -f1)
	rst0=$(out_rsts)
	echo "  program: xfer pump (an ordinary poll() loop, knows nothing about"
	echo "  chimney) sends /tmp/tx (1 MiB, sha256 $UP_SUM)"
	echo "  to $HOST:$PORT at 128 KiB/s and stores the host's 1 MiB in /tmp/rx.demo;"
	echo "  the host holds both directions at 256 KiB until we raise its gate"
	start_pump demo $((128 * KIB))
	pid=$PUMP_PID
	check "the program moved 256 KiB each way on the kernel stack" \
		wait_pump demo "$PUMP_RX" $((256 * KIB))
	sleep 0.5

	section "before: a kernel TCP connection, nothing offloaded"
	echo "  /proc/net/tcp:"
	tcp_conns "$PORT" | sed 's/^/    /'
	echo "  chimneyctl list:"
	show_list

	section "chimneyctl offload $pid --dport $PORT (pidfd_getfd + setsockopt TCP_ULP \"chimney\")"
	check "chimneyctl offload" ctl_conn offload "$pid"
	echo "  chimneyctl list (the device's state from a QUERY, the driver's counters):"
	snap_list
	check "the connection is ESTABLISHED on the NIC's TCP engine" \
		eval 'echo "$SNAP" | grep -q "state ESTABLISHED"'
	sport=$(echo "$SNAP" | sed -n 's/^conn [0-9]* [0-9.]*:\([0-9]*\) .*/\1/p' | head -n 1)
	off_snd=$(snap_field snd_nxt)
	off_rcv=$(snap_field rcv_nxt)
	echo "  /proc/net/tcp still lists the socket (the program keeps it; its"
	echo "  queues are now the driver's):"
	tcp_conns "$PORT" | sed 's/^/    /'
	if chimneyctl 2>&1 | grep -q 'chimneyctl show'; then
		section "chimneyctl show (the offloaded state tree: neighbor -> path -> TCP)"
		chimneyctl show --sport "$sport" | sed 's/^/  /'
		echo "  --dot (Graphviz):"
		chimneyctl show --sport "$sport" --dot | sed 's/^/  /'
	fi

	section "offloaded: the host lets 384 KiB more through each way, all on the NIC"
	tx0=$(stat hw_tx_frames) rx0=$(stat hw_rx_frames)
	c0=$(stat hw_cmds) e0=$(stat hw_events)
	ctl "GATE demo $((640 * KIB)) $((640 * KIB))" >/dev/null
	check "the program moved 640 KiB each way (384 KiB through the engine)" \
		wait_pump demo "$PUMP_RX" $((640 * KIB))
	sleep 0.5
	echo "  meanwhile, the NIC's L2 rings carried tx +$(($(stat hw_tx_frames) - tx0))" \
		"rx +$(($(stat hw_rx_frames) - rx0)) frames (the engine's TCP segments"
	echo "  bypass them); the command/event rings: commands +$(($(stat hw_cmds) - c0))," \
		"events +$(($(stat hw_events) - e0)) (SEND/RECV requests, data indications)"
	snap_list
	sent0=$(snap_field sent)
	rcvd0=$(snap_field rcvd)
	check "bytes on the offloaded path: sent $sent0, received $rcvd0 (> 256 KiB each)" \
		test "${sent0:-0}" -gt $((256 * KIB)) -a "${rcvd0:-0}" -gt $((256 * KIB))

	up_snd=$(snap_field snd_max)
	up_rcv=$(snap_field rcv_nxt)
	# for the host's pcap summary: the sequence ranges the engine handled
	echo "DEMO-CONN sport ${sport:-0} snd ${off_snd:-0} ${up_snd:-0} rcv ${off_rcv:-0} ${up_rcv:-0}"
	section "chimneyctl upload $pid --dport $PORT (back to the kernel stack, mid-stream)"
	check "chimneyctl upload" ctl_conn upload "$pid"
	show_list
	check "no connection offloaded any more" test "$(offloaded_count)" = 0
	echo "  /proc/net/tcp (the kernel's TCP runs it again):"
	tcp_conns "$PORT" | sed 's/^/    /'

	section "after: the rest (384 KiB each way) on the kernel stack, then FIN"
	ctl "GATE demo -1 -1" >/dev/null
	check "1 MiB each way, SHA-256 at both ends, FIN" \
		pump_done demo "$pid" "$PUMP_RX" "$UP_SUM"
	rst1=$(out_rsts)
	check "no TCP reset from the guest (OutRsts $rst0 -> $rst1)" \
		test "$rst0" = "$rst1"
	echo "  driver messages:"
	dmesg | grep -E 'offloaded|upload conn' | sed 's/^/    /'
	echo "  sent by the program:     sha256 $UP_SUM"
	echo "  received by the program: sha256 $(sha256sum "$PUMP_RX" | cut -d' ' -f1)"
}

# QEMU without the device: the module must load, bind nothing, unload.
run_nodev() {
	echo "chimney-nic pipeline smoke test (no device), kernel $(uname -r)"
	check "no chimney-nic PCI device" eval '! device_present'
	check "insmod chimney_nic.ko" insmod "$MOD"
	check "module registered its PCI driver" test -d /sys/bus/pci/drivers/chimney_nic
	check "no interface bound" eval '! find_if'
	check "rmmod chimney_nic" rmmod chimney_nic
	check "no kernel warnings or driver errors in dmesg" no_kernel_warnings
	finish
}

# only the hub tests (chimney.mode=hub; debugging aid)
run_hub() {
	# shellcheck disable=SC2086
	check "insmod chimney_nic.ko${MODPARAMS:+ $MODPARAMS}" insmod "$MOD" $MODPARAMS
	hub_tests
	dmesg | grep -E 'chimney|eth[0-9]' | tail -n 20
	check "no kernel warnings or driver errors in dmesg" no_kernel_warnings
	finish
}

# ---- offload mode (run-offload.sh) -----------------------------------------

KIB=1024
PUMP_N=$((1024 * KIB))

ctl() { xfer ctl "$HOST" "$PORT" "$*"; }

file_size() { if [ -f "$1" ]; then wc -c <"$1"; else echo 0; fi; }

# wait_pump NAME RXFILE BYTES [TENTHS]: until the host has received BYTES
# of pump NAME and the guest program has written BYTES into RXFILE (-:
# the host only; at most TENTHS tenths of a second, default 900)
wait_pump() {
	local i=0 st n=${4:-900}
	while [ $i -lt "$n" ]; do
		st=$(ctl "PSTAT $1")
		# shellcheck disable=SC2086
		set -- "$1" "$2" "$3" $st
		case ${7:-x} in
		*[!0-9]*) ;;
		*) [ "$7" -ge "$3" ] && { [ "$2" = - ] ||
			[ "$(file_size "$2")" -ge "$3" ]; } && return 0 ;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	echo "  pump $1 stuck: host '$st', guest received $(file_size "$2")"
	stuck_state
	return 1
}

# stuck_state: what the driver and the device hold, for a stuck transfer's
# log (connections with flags and counters, the NIC's interrupts)
stuck_state() {
	{
		chimneyctl list
		ethstats "$IF" | grep -E '^ofl_(upload|send|tx|sbuf|conn)'
		# the kernel's view after an upload: queues, timer, retransmits
		cat /proc/net/tcp
		# the kernel's last lines; of SEND_DONEs out of order the first
		dmesg | grep -v ' out of order' | tail -n 25
		dmesg | grep ' out of order' | head -n 3
	} 2>&1 | sed 's/^/    /'
}

offloaded_count() { chimneyctl list | sed -n 's/^\([0-9]*\) offloaded connection.*/\1/p'; }

# list_field NAME: the first value after NAME in chimneyctl list
list_field() { chimneyctl list | tr ' ' '\n' | sed -n "/^$1\$/{n;p;q}"; }

list_has() { chimneyctl list | grep -q "$1"; }

# the Tcp OutRsts counter of /proc/net/snmp
out_rsts() {
	awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "OutRsts") c = i; h = 1 }
		       else print $c }' /proc/net/snmp
}

# pump_done NAME PID RXFILE WANT_UP(sha of what we sent) [N]: the program
# finished, both sides have all N bytes (default PUMP_N) with the right
# checksums, the connection ended with FIN (no RST)
pump_done() {
	local name=$1 pid=$2 rx=$3 up=$4 n=${5:-$PUMP_N} down got st rc=0 i
	wait "$pid" || rc=$?
	cat "/tmp/xfer.$name.out" | sed 's/^/  /'
	down=$(ctl "DLSUM $n")
	got=$(sha256sum "$rx" | cut -d' ' -f1)
	# the host may still be reading what it had held back
	i=0
	while [ $i -lt 300 ]; do
		st=$(ctl "PSTAT $name")
		case $st in *" done 1 "*) break ;; esac
		sleep 0.1
		i=$((i + 1))
	done
	echo "  guest rx sha256 $got, host sent $down; host: $st"
	[ $rc -eq 0 ] && [ "$got" = "$down" ] &&
		[ "$st" = "sent $n rcvd $n done 1 end fin sha256 $up" ]
}

# pump_cut NAME PID [RC]: the program ended (exit status RC, default 0)
# and so did the connection: the host saw a reset.  Through slirp the
# host cannot: slirp closes its host socket on a reset (and takes what
# the host sends before); there the evidence is the guest's (disc_done:
# the device's RST; out_rsts: none from the kernel).
pump_cut() {
	local name=$1 pid=$2 want=${3:-0} st rc=0 i=0
	wait "$pid" || rc=$?
	cat "/tmp/xfer.$name.out" | sed 's/^/  /'
	while [ $i -lt 300 ]; do
		st=$(ctl "PSTAT $name")
		case $st in *" done 1 "*) break ;; esac
		sleep 0.1
		i=$((i + 1))
	done
	echo "  host: $st (program exit status $rc)"
	[ $rc -eq "$want" ] || return 1
	[ "$HOST" = 10.0.2.2 ] && return 0	# slirp: not observable
	case $st in *" done 1 end rst "*) true ;; *) false ;; esac
}

# disc_done: DISCONNECTs the device completed with SUCCESS (a FIN
# acknowledged, or an RST sent)
disc_done() { dmesg | grep -c 'DISC_DONE 0$'; }
# EVT_TCP_ABORT (0x11) with info ABORT_DATA_AFTER_CLOSE (1), as logged
abort_after_close() { dmesg | grep -c ': event 11 (1): upload$'; }
# tcp_ext FIELD: the TcpExt counter FIELD of /proc/net/netstat
tcp_ext() {
	awk -v f="$1" '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == f) k = i; n = 1 } else print $k + 0 }' /proc/net/netstat
}

# start_pump NAME RATE [N [END]]: sets PUMP_PID, PUMP_RX.  The host gates
# what it sends; the program sends at RATE bytes/s (slirp takes whatever
# it gets into the host's socket buffers, so the guest->host direction
# cannot be held by the host's gate); N bytes each way (default PUMP_N),
# END: how the program ends (xfer pump).
start_pump() {
	PUMP_RX=/tmp/rx.$1
	rm -f "$PUMP_RX"
	XFER_SENDFILE=${PUMP_SENDFILE:-0} \
		xfer pump "$HOST" "$PORT" "$1" "${3:-$PUMP_N}" /tmp/tx "$PUMP_RX" \
		"$2" ${4:+"$4"} >"/tmp/xfer.$1.out" 2>&1 &
	PUMP_PID=$!
}

# tx_sum N: SHA-256 of N bytes of /tmp/tx read round (what xfer sends)
tx_sum() {
	local i=0 n=$(($1 / (1024 * KIB)))
	while [ $i -lt $n ]; do cat /tmp/tx; i=$((i + 1)); done | sha256sum |
		cut -d' ' -f1
}

show_list() { chimneyctl list | sed 's/^/  /'; }

# show_shared: the state tree of two connections on one path: each names
# its shared path and neighbor; the DOT graph has one node of each
show_shared() {
	[ "$(chimneyctl show | grep -c '(2 connections)')" = 2 ] &&
	[ "$(chimneyctl show | grep -c 'neighbor 0x.*(1 path)')" = 2 ] &&
	[ "$(chimneyctl show --dot | grep -c 'label="TCP')" = 2 ] &&
	[ "$(chimneyctl show --dot | grep -c 'label="path')" = 1 ] &&
	[ "$(chimneyctl show --dot | grep -c 'label="neighbor')" = 1 ]
}

# pump_offloaded NAME [ARGS]: pump NAME (start_pump NAME 256 KiB ARGS)
# moves 256 KiB each way on the kernel stack, then is offloaded
pump_offloaded() {
	local name=$1
	shift
	start_pump "$name" $((256 * KIB)) "$@"
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump "$name" "$PUMP_RX" $((256 * KIB))
	check "chimneyctl offload" ctl_conn offload "$PUMP_PID"
}

# ctl_conn offload|upload PID: chimneyctl on the pump's connection
ctl_conn() {
	chimneyctl "$1" "$2" --dport "$PORT" && return 0
	echo "  /proc/$2/net/tcp:"
	sed 's/^/    /' "/proc/$2/net/tcp"
	ls -l "/proc/$2/fd" | sed 's/^/    /'
	return 1
}

BIG_N=$((70 * 1024 * KIB))	# main pump: 64 MiB each way through the NIC
BIG_GATE=$((68 * 1024 * KIB))

# list_sport: the local port of the (only) offloaded connection
list_sport() { chimneyctl list | sed -n 's/^conn [0-9]* [0-9.]*:\([0-9]*\) .*/\1/p' | head -n 1; }

# kernel_state SPORT: the guest kernel's state of the connection from
# local port SPORT (/proc/net/tcp "st", hex: 01 ESTABLISHED, 05 FIN_WAIT2,
# 06 TIME_WAIT, 07 CLOSE), "-" when there is none
kernel_state() {
	local st
	st=$(awk -v p="$(printf '%04X' "$1")" 'NR > 1 { split($2, l, ":");
		if (l[2] == p) { print $4; exit } }' /proc/net/tcp)
	echo "${st:--}"
}

# wait_list_state STATE: the offloaded connection reaches STATE (10 s)
wait_list_state() {
	local i=0
	while [ $i -lt 100 ]; do
		list_has "state $1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	show_list
	return 1
}

offload_main() {
	local sent0 rcvd0 mib=$((1024 * KIB)) zc0 zc s0 r0 s r
	section "offload: one connection, 64 MiB each way through the NIC, offload and upload mid-stream"
	zc0=$(stat ofl_rx_zc_bytes)
	s0=$(stat ofl_send_requests)
	r0=$(stat ofl_sbuf_reused)
	start_pump main 0 $BIG_N
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump main "$PUMP_RX" $((256 * KIB))
	sleep 0.5	# the guest's send queue fills (the host reads no more)
	check "chimneyctl offload (pid $PUMP_PID, port $PORT)" \
		ctl_conn offload "$PUMP_PID"
	show_list
	check "one connection offloaded, ESTABLISHED on the device" \
		list_has 'state ESTABLISHED'
	ctl "GATE main $BIG_GATE $BIG_GATE" >/dev/null
	check "pump: 68 MiB each way (64 MiB and more through the NIC engine)" \
		wait_pump main "$PUMP_RX" $BIG_GATE 6000
	sleep 0.5
	show_list
	sent0=$(list_field sent)
	rcvd0=$(list_field rcvd)
	check "the driver moved 64 MiB each way (sent $sent0, received $rcvd0)" \
		test "${sent0:-0}" -ge $((64 * mib)) -a "${rcvd0:-0}" -ge $((64 * mib))
	# IND buffers of a page and more than a quarter full: the page itself
	zc=$(($(stat ofl_rx_zc_bytes) - zc0))
	check "received data went to the socket in the IND pages, no copy: ofl_rx_zc_bytes +$zc (>= 32 MiB)" \
		test $zc -ge $((32 * mib))
	# a finished SEND's buffer serves the next one (no allocation)
	s=$(($(stat ofl_send_requests) - s0))
	r=$(($(stat ofl_sbuf_reused) - r0))
	check "SEND buffers reused: ofl_sbuf_reused +$r of $s requests (>= 2/3)" \
		test "$s" -gt 0 -a $((r * 3)) -ge $((s * 2))
	check "chimneyctl upload mid-stream" \
		ctl_conn upload "$PUMP_PID"
	check "no connection offloaded after the upload" \
		test "$(offloaded_count)" = 0
	ctl "GATE main -1 -1" >/dev/null
	check "pump finished on the kernel stack: 70 MiB each way, SHA-256 both ends, FIN" \
		pump_done main "$PUMP_PID" "$PUMP_RX" "$(tx_sum $BIG_N)" $BIG_N
	rm -f "$PUMP_RX"
}

# The window between the INITIATE's completion (the device owns the
# connection) and the socket's switch-over, widened to 1 s with the
# driver's test aid offload_hold_ms: the host's gates open inside it, so
# the device sends the send list the offload handed over, the host's ACKs
# complete those SENDs and the host's data is indicated, all before the
# switch-over.  A SEND_DONE the driver cannot match with its oldest
# request ("out of order") leaves the writer waiting; an indication it
# neither takes nor resumes, the reader.
hold_count() { dmesg | grep -c ': offload hold '; }
# wait_hold N: until the kernel log has N offload holds (at most 10 s)
wait_hold() {
	local i=0
	while [ $i -lt 100 ]; do
		[ "$(hold_count)" -ge "$1" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# offload_held NAME GATE: chimneyctl offload of pump NAME with the 1 s
# hold, the host's gate set to GATE ("S R F") inside it
offload_held() {
	local h0 cpid rc=0
	h0=$(hold_count)
	echo 1000 >/sys/module/chimney_nic/parameters/offload_hold_ms
	ctl_conn offload "$PUMP_PID" >"/tmp/$1.ctl" 2>&1 &
	cpid=$!
	check "the driver holds the connection the device took (offload hold)" \
		wait_hold $((h0 + 1))
	ctl "GATE $1 $2" >/dev/null
	wait $cpid || rc=$?
	echo 0 >/sys/module/chimney_nic/parameters/offload_hold_ms
	sed 's/^/  /' "/tmp/$1.ctl"
	check "chimneyctl offload (held 1 s)" test $rc = 0
}
offload_window() {
	local n=$((16 * 1024 * KIB)) up0
	section "offload: SEND_DONEs and indications between the INITIATE and the switch-over (offload_hold_ms)"
	up0=$(stat ofl_uploads)
	start_pump window 0 $n
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump window "$PUMP_RX" $((256 * KIB))
	sleep 0.5	# the guest's send queue fills (the host reads no more)
	# everything, but the host's FIN held: the connection stays offloaded
	offload_held window "-1 -1 0"
	check "pump: 16 MiB each way" wait_pump window "$PUMP_RX" $n
	check "still offloaded: ofl_uploads +$(($(stat ofl_uploads) - up0)), $(offloaded_count) connection(s) offloaded" \
		test "$(stat ofl_uploads)" = "$up0" -a "$(offloaded_count)" = 1
	check "every SEND_DONE matched the oldest request (none out of order)" \
		sh -c "! dmesg | grep -q 'SEND_DONE .* out of order'"
	ctl "GATE window -1 -1 1" >/dev/null
	check "pump finished while offloaded: 16 MiB each way, SHA-256 both ends, FIN" \
		pump_done window "$PUMP_PID" "$PUMP_RX" "$(tx_sum $n)" $n
}

# The peer's FIN in that window (EVT_TCP_DISCONNECT before the
# switch-over, nothing unread before it) is the program's EOF
offload_window_fin() {
	local n=$((1024 * KIB))
	section "offload: the peer's FIN between the INITIATE and the switch-over (offload_hold_ms) is the program's EOF"
	# (END eof: the program's send side stays open, so it can be offloaded)
	start_pump winfin 0 $n eof
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump winfin "$PUMP_RX" $((256 * KIB))
	ctl "GATE winfin -1 -1 0" >/dev/null
	check "pump: 1 MiB each way on the kernel stack, the host's FIN held" \
		wait_pump winfin "$PUMP_RX" $n
	offload_held winfin "-1 -1 1"
	check "pump finished: the FIN was the program's EOF, SHA-256 both ends, FIN" \
		pump_done winfin "$PUMP_PID" "$PUMP_RX" "$(tx_sum $n)" $n
}

# one way only: nothing arrives for the connection, so only SEND_DONE
# can wake the writer (poll for POLLOUT)
offload_oneway() {
	local n=$((8 * 1024 * KIB)) zc0 zc
	zc0=$(stat ofl_tx_zc_bytes)
	section "offload: 8 MiB guest->host with nothing coming back (SEND_DONE wakes the writer), half of it with sendfile"
	# every other 64 KiB chunk through sendfile: the driver's sendpage
	PUMP_SENDFILE=1
	start_pump oneway 0 $n
	PUMP_SENDFILE=0
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump oneway "$PUMP_RX" $((256 * KIB))
	check "chimneyctl offload" ctl_conn offload "$PUMP_PID"
	ctl "GATE oneway $((256 * KIB)) -1" >/dev/null
	check "the host received all 8 MiB while it sent nothing" \
		wait_pump oneway - $n 1200
	ctl "GATE oneway -1 -1" >/dev/null
	check "pump finished: 8 MiB each way, SHA-256 both ends, FIN" \
		pump_done oneway "$PUMP_PID" "$PUMP_RX" "$(tx_sum $n)" $n
	# (what the program wrote before the offload, up to the kernel's
	# send buffer, was copied at the offload: about half of the rest)
	zc=$(($(stat ofl_tx_zc_bytes) - zc0))
	check "sendfile went out from the file's pages, no copy: ofl_tx_zc_bytes +$zc (>= 1 MiB)" \
		test $zc -ge $((1024 * KIB))
}

# shutdown(SHUT_WR) while offloaded: the device's FIN (spec DISCONNECT,
# graceful); the peer keeps sending; the device hands TIME_WAIT over
offload_halfclose() {
	local sport
	section "offload: shutdown(SHUT_WR) is the device's FIN, reception goes on, TIME_WAIT goes to the kernel"
	pump_offloaded half
	sport=$(list_sport)
	ctl "GATE half $((512 * KIB)) -1" >/dev/null
	check "the program sent everything and shut down: the device sent a FIN, acknowledged (FIN_WAIT_2)" \
		wait_list_state FIN_WAIT_2
	show_list
	check "the kernel sent nothing: its socket is still ESTABLISHED (port $sport)" \
		test "$(kernel_state "$sport")" = 01
	ctl "GATE half $((768 * KIB)) -1" >/dev/null
	check "reception goes on after the FIN: 768 KiB received" \
		wait_pump half "$PUMP_RX" $((768 * KIB))
	ctl "GATE half -1 -1" >/dev/null
	check "pump finished: 1 MiB each way, SHA-256 both ends, FIN both ways" \
		pump_done half "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "the device handed TIME_WAIT over: the kernel holds the connection in TIME_WAIT" \
		test "$(kernel_state "$sport")" = 06
	check "no connection offloaded" test "$(offloaded_count)" = 0
}

# an upload after the device's FIN was acknowledged: the kernel goes on
# in FIN_WAIT2 and receives the rest and the peer's FIN itself
offload_finwait2_upload() {
	local sport
	section "offload: upload in FIN_WAIT_2, the kernel receives the rest"
	pump_offloaded fw2
	sport=$(list_sport)
	ctl "GATE fw2 $((512 * KIB)) -1" >/dev/null
	check "the device's FIN acknowledged (FIN_WAIT_2)" \
		wait_list_state FIN_WAIT_2
	check "chimneyctl upload in FIN_WAIT_2" ctl_conn upload "$PUMP_PID"
	check "the kernel's socket is in FIN_WAIT2 (port $sport)" \
		test "$(kernel_state "$sport")" = 05
	ctl "GATE fw2 -1 -1" >/dev/null
	check "pump finished on the kernel stack: 1 MiB each way, SHA-256 both ends, FIN" \
		pump_done fw2 "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "the kernel went from FIN_WAIT2 to TIME_WAIT" \
		test "$(kernel_state "$sport")" = 06
}

# an upload after shutdown(SHUT_WR) whose FIN waits in the device behind
# unsent data (the host reads no more: its window is closed): the kernel
# gets the data back as its write queue and the shutdown, sends them
# itself (FIN_WAIT1), and the stream ends intact
offload_finwait1_upload() {
	local sport st i=0
	section "offload: upload with the program's last 256 KiB and its FIN waiting in the device: the kernel sends them (FIN_WAIT1)"
	pump_offloaded fw1
	sport=$(list_sport)
	# the host sends everything (its FIN held), reads only 768 KiB
	ctl "GATE fw1 -1 $((768 * KIB)) 0" >/dev/null
	check "the program wrote all 1 MiB and shut down; at least 128 KiB of it wait in the device (inflight; tap)" \
		wait_fw1_blocked
	show_list
	check "chimneyctl upload with data and the FIN waiting" \
		ctl_conn upload "$PUMP_PID"
	st=$(kernel_state "$sport")
	# slirp takes the data into its own buffers: there the FIN may have
	# gone out and been acknowledged before the upload (FIN_WAIT2)
	if [ -n "$PEERMAC" ]; then
		check "the kernel's socket is in FIN_WAIT1 (port $sport: $st)" \
			test "$st" = 04
	else
		check "the kernel's socket is in FIN_WAIT1 or FIN_WAIT2 (port $sport: $st; slirp)" \
			test "$st" = 04 -o "$st" = 05
	fi
	ctl "GATE fw1 -1 -1 1" >/dev/null
	check "pump finished on the kernel stack: 1 MiB each way, SHA-256 both ends, FIN both ways" \
		pump_done fw1 "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	while [ $i -lt 50 ] && [ "$(kernel_state "$sport")" != 06 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	check "the kernel went on to TIME_WAIT" \
		test "$(kernel_state "$sport")" = 06
}

# wait_fw1_blocked: the host has read 768 KiB, and the device holds
# most of the program's last 256 KiB unacknowledged (the host's 32 KiB
# socket buffer takes the rest); the program's shutdown() followed its
# last write at once
wait_fw1_blocked() {
	local i=0 f
	while [ $i -lt 100 ] && [ "$(host_rcvd fw1)" -lt $((768 * KIB)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sleep 1
	f=$(chimneyctl list | sed -n 's/.* inflight \([0-9]*\) .*/\1/p' | head -n 1)
	echo "  host read $(host_rcvd fw1) bytes; the device holds ${f:-?} unacknowledged"
	# (slirp takes data into its own buffers: no amount is sure there)
	[ "$(host_rcvd fw1)" = $((768 * KIB)) ] &&
		{ [ -z "$PEERMAC" ] || [ "${f:-0}" -ge $((128 * KIB)) ]; }
}

# close() without shutdown while offloaded: a graceful DISCONNECT, the
# socket orphaned until the device hands the connection back
offload_closeonly() {
	section "offload: close() while offloaded (graceful: the device's FIN, the orphan finished by the kernel)"
	pump_offloaded conly "$PUMP_N" close
	ctl "GATE conly -1 -1" >/dev/null
	check "pump finished while offloaded: 1 MiB each way, SHA-256 both ends, close(), FIN" \
		pump_done conly "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "no connection offloaded after the device's FIN" \
		wait_count 0
}

# wait_count N: N connections offloaded (30 s; else the list is shown)
wait_count() {
	local i=0
	while [ $i -lt 300 ]; do
		[ "$(offloaded_count)" = "$1" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	show_list
	return 1
}

# fw2_timeout MS: the device's FIN_WAIT_2 timeout (the driver's
# fin_wait2_ms, given to the device when the interface comes up)
fw2_timeout() {
	local n i=0
	n=$(dmesg | grep -c 'TCP offload ready')
	ip link set "$IF" down &&
		echo "$1" > /sys/module/chimney_nic/parameters/fin_wait2_ms &&
		ip link set "$IF" up && wait_carrier 1 10 &&
		ip route replace default via "$HOST" || return 1
	while [ "$(dmesg | grep -c 'TCP offload ready')" -le "$n" ]; do
		[ $i -lt 100 ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
	ping -c 1 -W 5 "$HOST" >/dev/null
}

# shutdown(SHUT_WR) on a socket its program keeps: Linux lets it wait in
# FIN_WAIT2 for as long as the peer likes; the device's FIN_WAIT_2 timer
# (rule 126: CLOSED, upload) must not end it: the driver hands the
# connection to the kernel before (3/4 of the timeout after the FIN's
# acknowledgement)
offload_finwait2_held() {
	local sport u0
	section "offload: a half-closed socket its program holds outlives the device's FIN_WAIT_2 timeout"
	check "the device's FIN_WAIT_2 timeout set to 4 s" fw2_timeout 4000
	pump_offloaded fw2h
	sport=$(list_sport)
	u0=$(stat ofl_uploads)
	ctl "GATE fw2h $((512 * KIB)) -1" >/dev/null
	check "the program sent everything and shut down: the device's FIN acknowledged (FIN_WAIT_2)" \
		wait_list_state FIN_WAIT_2
	# the peer is silent for longer than the device's timeout
	sleep 6
	check "the driver handed it to the kernel in time: FIN_WAIT2 there (port $sport), ofl_uploads +1" \
		test "$(kernel_state "$sport")" = 05 -a \
		"$(($(stat ofl_uploads) - u0))" = 1
	ctl "GATE fw2h -1 -1" >/dev/null
	check "reception goes on: 1 MiB each way, SHA-256 both ends, FIN both ways" \
		pump_done fw2h "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "the device's FIN_WAIT_2 timeout back to 60 s" fw2_timeout 60000
}

# data after close(): the kernel would reset the connection; so does
# the device, with the first segment of it, not acknowledging a byte
# (spec DISCONNECT "Receive side closed"; the tap run's pcap-check.py
# checks the wire)
offload_orphan_data() {
	local d0 a0 e0
	section "offload: data arriving after close() resets the connection (the device's RST, nothing of it acknowledged)"
	pump_offloaded orph "$PUMP_N" close
	# the host takes everything but sends 64 KiB less than 1 MiB: the
	# program cannot finish; it is killed (close() at exit)
	ctl "GATE orph $((960 * KIB)) -1" >/dev/null
	check "pump: 960 KiB received by the program, 1 MiB by the host" \
		wait_pump orph "$PUMP_RX" $((960 * KIB)) &&
		wait_pump orph - "$PUMP_N"
	d0=$(disc_done)
	a0=$(tcp_ext TCPAbortOnData)
	e0=$(abort_after_close)
	kill "$PUMP_PID"
	check "the killed program's socket stays offloaded as an orphan: the device's FIN acknowledged (FIN_WAIT_2)" \
		wait_list_state FIN_WAIT_2
	# 40 KiB more, not the host's FIN (with it the device would go to
	# TIME_WAIT and ask for the upload: the kernel would send the RST)
	ctl "GATE orph $((1000 * KIB)) -1" >/dev/null
	check "the host's next data ends the connection" \
		pump_cut orph "$PUMP_PID" 143
	check "no connection offloaded" wait_count 0
	check "the device sent the RST (EVT_TCP_ABORT, ABORT_DATA_AFTER_CLOSE); one DISCONNECT done, the FIN at close()" \
		test "$(abort_after_close)" = $((e0 + 1)) -a \
		"$(disc_done)" = $((d0 + 1))
	check "TcpExt TCPAbortOnData +1, as the kernel counts it" \
		test "$(tcp_ext TCPAbortOnData)" = $((a0 + 1))
}

# shutdown(SHUT_WR), then close(), then data: close() closes the device's
# receive side alone (DISC_RCV_CLOSED after the graceful DISCONNECT), so
# the device resets; with "fallback" the driver does not use the flag
# (disc_rcv_closed=0, as on a device without CAP_DISC_RCV_CLOSED):
# close() uploads the connection and the kernel resets (the tap run's
# pcap-check.py checks that nothing after the close was acknowledged)
offload_orphan_data_shut() {
	local d0 a0 e0 u0 k0 name=orphs fb=${1:-}
	[ -n "$fb" ] && name=orphf
	section "offload: data after shutdown(SHUT_WR) and close() resets the connection (${fb:+without DISC_RCV_CLOSED: }the ${fb:+kernel's RST after an upload at close()}${fb:-device's RST})"
	if [ -n "$fb" ]; then
		echo 0 > /sys/module/chimney_nic/parameters/disc_rcv_closed
	fi
	start_pump $name $((256 * KIB))
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump $name "$PUMP_RX" $((256 * KIB))
	check "chimneyctl offload" ctl_conn offload "$PUMP_PID"
	ctl "GATE $name $((960 * KIB)) -1" >/dev/null
	check "pump: 960 KiB received by the program, 1 MiB by the host; its FIN acknowledged (FIN_WAIT_2)" \
		wait_pump $name "$PUMP_RX" $((960 * KIB)) &&
		wait_pump $name - "$PUMP_N" && wait_list_state FIN_WAIT_2
	d0=$(disc_done)
	a0=$(tcp_ext TCPAbortOnData)
	e0=$(abort_after_close)
	u0=$(stat ofl_uploads)
	k0=$(out_rsts)
	kill "$PUMP_PID"
	if [ -n "$fb" ]; then
		# the kernel's orphan (FIN_WAIT_2), not the device's
		check "close() uploaded the connection (ofl_uploads +1)" \
			wait_count 0
		check "ofl_uploads +1, no DISCONNECT done at close()" \
			test "$(($(stat ofl_uploads) - u0))" = 1 -a \
			"$(disc_done)" = "$d0"
	fi
	ctl "GATE $name $((1000 * KIB)) -1" >/dev/null
	check "the host's next data ends the connection" \
		pump_cut $name "$PUMP_PID" 143
	check "no connection offloaded" wait_count 0
	if [ -n "$fb" ]; then
		# one RST for each of the host's segments in flight
		KERNEL_RSTS=$(($(out_rsts) - k0))
		check "the kernel's RST (OutRsts +$KERNEL_RSTS): no DISCONNECT done, no EVT_TCP_ABORT of the device" \
			test "$KERNEL_RSTS" -ge 1 -a "$(disc_done)" = "$d0" -a \
			"$(abort_after_close)" = "$e0"
		echo 1 > /sys/module/chimney_nic/parameters/disc_rcv_closed
	else
		check "the device's RST (EVT_TCP_ABORT, ABORT_DATA_AFTER_CLOSE), no DISCONNECT done" \
			test "$(abort_after_close)" = $((e0 + 1)) -a \
			"$(disc_done)" = "$d0"
		check "TcpExt TCPAbortOnData +1" \
			test "$(tcp_ext TCPAbortOnData)" = $((a0 + 1))
	fi
}

# close() with SO_LINGER 0, and close() with unread data: resets, sent
# by the device (spec DISCONNECT, abortive), not by the kernel
offload_abort() {
	local d0
	section "offload: close() with SO_LINGER 0 is the device's RST"
	d0=$(disc_done)
	pump_offloaded lin0 "$PUMP_N" "abort@$((512 * KIB))"
	ctl "GATE lin0 $((512 * KIB)) -1" >/dev/null
	check "the program closed with SO_LINGER 0 after 512 KiB: the connection ended early" \
		pump_cut lin0 "$PUMP_PID"
	check "no connection offloaded" wait_count 0
	check "the device sent the RST (an abortive DISCONNECT done)" \
		test "$(disc_done)" = $((d0 + 1))

	section "offload: close() with unread data is the device's RST"
	pump_offloaded unrd "$PUMP_N" "unread@$((512 * KIB))"
	ctl "GATE unrd $((512 * KIB)) -1" >/dev/null
	check "pump: 512 KiB each way" wait_pump unrd "$PUMP_RX" $((512 * KIB))
	ctl "GATE unrd $((576 * KIB)) -1" >/dev/null
	check "the program closed with 64 KiB unread: the connection ended early" \
		pump_cut unrd "$PUMP_PID"
	check "no connection offloaded" wait_count 0
	check "the device sent the RST (an abortive DISCONNECT done)" \
		test "$(disc_done)" = $((d0 + 2))
}

# linger_ms NAME: how long the program's close() took (its XFER-LINGER line)
linger_ms() { sed -n 's/^XFER-LINGER .* ms=\([0-9]*\) .*/\1/p' "/tmp/xfer.$1.out"; }

# fin_unacked: the offloaded connection's FIN, if any, is not acknowledged
fin_unacked() { chimneyctl list | grep -Eq 'state (ESTABLISHED|FIN_WAIT_1)( |$)'; }

# close() with SO_LINGER on and a time (l_linger > 0), as tcp_close()
# does it: graceful (the device's FIN after the queued data, no reset),
# close() waits until the FIN is acknowledged, at most the linger time
# (sk_stream_wait_close), then the socket is an orphan the device ends
offload_linger() {
	local ms d0
	section "offload: close() with SO_LINGER 8 s, the FIN acknowledged at once: close() returns soon, FIN"
	d0=$(disc_done)
	pump_offloaded lgack "$PUMP_N" "linger8@$PUMP_N"
	# everything both ways, the host's FIN held: the program's FIN is
	# the first, the device then waits in FIN_WAIT_2
	ctl "GATE lgack -1 -1 0" >/dev/null
	check "the program sent and received 1 MiB and closed with SO_LINGER 8 s" \
		wait_line /tmp/xfer.lgack.out XFER-LINGER
	ms=$(linger_ms lgack)
	check "close() returned 0 in ${ms:-?} ms: the FIN acknowledged, not the linger time (< 4000 ms)" \
		test "${ms:-99999}" -lt 4000 -a -n "$(grep 'XFER-LINGER .* rc=0 ' /tmp/xfer.lgack.out)"
	check "the orphan stays on the device, its FIN acknowledged (FIN_WAIT_2)" \
		wait_list_state FIN_WAIT_2
	check "one DISCONNECT done (DISC_DONE SUCCESS: the FIN acknowledged)" \
		test "$(disc_done)" = $((d0 + 1))
	ctl "GATE lgack -1 -1 1" >/dev/null
	check "pump finished while offloaded: 1 MiB each way, SHA-256 both ends, FIN (no reset)" \
		pump_done lgack "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "no connection offloaded" wait_count 0

	section "offload: close() with SO_LINGER 4 s, the host reads no more (the tap peer: the FIN not acknowledged): close() waits 4 s, no reset"
	d0=$(disc_done)
	pump_offloaded lgwait "$PUMP_N" "linger4@$PUMP_N"
	# the host sends everything (its FIN held) but reads only 768 KiB:
	# its window closes, the program's last 256 KiB and FIN wait in the
	# device, unacknowledged
	ctl "GATE lgwait -1 $((768 * KIB)) 0" >/dev/null
	check "the program sent and received 1 MiB and closed with SO_LINGER 4 s" \
		wait_line /tmp/xfer.lgwait.out XFER-LINGER
	ms=$(linger_ms lgwait)
	show_list
	if [ "$HOST" = 10.0.2.2 ]; then
		# slirp acknowledges what the guest sends at once (into the
		# host's socket buffers): nothing holds the FIN's ACK back
		check "close() returned 0 in ${ms:-?} ms (<= 15000; slirp acknowledged the FIN: the wait is seen only with the tap peer)" \
			test "${ms:-99999}" -le 15000 -a \
			-n "$(grep 'XFER-LINGER .* rc=0 ' /tmp/xfer.lgwait.out)"
	else
		check "close() returned 0 after the linger time: ${ms:-?} ms (3500 to 15000)" \
			test "${ms:-0}" -ge 3500 -a "${ms:-0}" -le 15000 -a \
			-n "$(grep 'XFER-LINGER .* rc=0 ' /tmp/xfer.lgwait.out)"
		# (the device's state stays ESTABLISHED until the FIN goes out)
		check "the orphan stays on the device, its FIN not acknowledged (ESTABLISHED or FIN_WAIT_1)" \
			fin_unacked
		check "the host has read 768 KiB, no DISCONNECT done yet" \
			test "$(host_rcvd lgwait)/$(disc_done)" = "$((768 * KIB))/$d0"
	fi
	ctl "GATE lgwait -1 -1 1" >/dev/null
	check "pump finished while offloaded: 1 MiB each way, SHA-256 both ends, FIN (no reset)" \
		pump_done lgwait "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "no connection offloaded" wait_count 0
	check "the DISCONNECT done after all (DISC_DONE SUCCESS: the FIN acknowledged)" \
		test "$(disc_done)" = $((d0 + 1))
}

offload_close() {
	section "offload: EOF and close while offloaded"
	pump_offloaded close
	ctl "GATE close -1 -1" >/dev/null
	# the rest, the host's FIN (EOF), the program's shutdown and close
	check "pump finished while offloaded: EOF seen, shutdown and close uploaded, FIN" \
		pump_done close "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "no connection offloaded after close" test "$(offloaded_count)" = 0
}

offload_two() {
	local pa ra pb rb
	section "offload: two connections at once (shared neighbor and path)"
	start_pump two-a $((128 * KIB))
	pa=$PUMP_PID ra=$PUMP_RX
	start_pump two-b $((128 * KIB))
	pb=$PUMP_PID rb=$PUMP_RX
	check "pumps: 256 KiB each way on the kernel stack" \
		wait_pump two-a "$ra" $((256 * KIB)) &&
		wait_pump two-b "$rb" $((256 * KIB))
	check "offload both (the second links to the first one's neighbor and path)" \
		chimneyctl offload "$pa" --dport "$PORT" &&
		chimneyctl offload "$pb" --dport "$PORT"
	show_list
	check "two connections offloaded" test "$(offloaded_count)" = 2
	chimneyctl show --dot | sed 's/^/  /'
	check "chimneyctl show: both connections on one shared path and neighbor" \
		show_shared
	ctl "GATE two-a $((512 * KIB)) $((512 * KIB))" >/dev/null
	ctl "GATE two-b $((512 * KIB)) $((512 * KIB))" >/dev/null
	check "pumps: 512 KiB each way (256 KiB each through the engine)" \
		wait_pump two-a "$ra" $((512 * KIB)) &&
		wait_pump two-b "$rb" $((512 * KIB))
	check "upload the first; the second stays offloaded" \
		chimneyctl upload "$pa" --dport "$PORT"
	check "one connection offloaded" test "$(offloaded_count)" = 1
	check "upload the second (neighbor and path terminated)" \
		chimneyctl upload "$pb" --dport "$PORT"
	ctl "GATE two-a -1 -1" >/dev/null
	ctl "GATE two-b -1 -1" >/dev/null
	check "pump two-a finished: 1 MiB each way, SHA-256 both ends, FIN" \
		pump_done two-a "$pa" "$ra" "$UP_SUM"
	check "pump two-b finished: 1 MiB each way, SHA-256 both ends, FIN" \
		pump_done two-b "$pb" "$rb" "$UP_SUM"
}

CYC_N=$((4 * 1024 * KIB))

offload_cycles() {
	local i=0 g bad=""
	section "offload: 100 offload/upload cycles on one connection (half of the data with sendfile)"
	# sendpage requests in flight at the uploads: their pages go back.
	# END close: the program keeps sending open until it has received
	# everything, which the host's gates hold back until the cycles are
	# done.  Shut down after its last write (80 KiB/s), it left
	# ESTABLISHED mid-way through slirp (the host's socket takes all it
	# sends), and chimneyctl offloads only ESTABLISHED and CLOSE_WAIT.
	PUMP_SENDFILE=1
	start_pump cyc $((80 * KIB)) $CYC_N close
	PUMP_SENDFILE=0
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump cyc "$PUMP_RX" $((256 * KIB))
	g=$((256 * KIB))
	while [ $i -lt 100 ]; do
		i=$((i + 1))
		ok=1
		ctl_conn offload "$PUMP_PID" >/dev/null || ok=0
		[ "$(offloaded_count)" = 1 ] || ok=0
		g=$((g + 16 * KIB))
		ctl "GATE cyc $g $g" >/dev/null
		wait_pump cyc "$PUMP_RX" $g || ok=0
		ctl_conn upload "$PUMP_PID" >/dev/null || ok=0
		[ "$(offloaded_count)" = 0 ] || ok=0
		g=$((g + 16 * KIB))
		ctl "GATE cyc $g $g" >/dev/null
		wait_pump cyc "$PUMP_RX" $g || ok=0
		[ $ok = 1 ] || bad="$bad $i"
	done
	check "100 cycles: offload, 16 KiB each way on the NIC, upload, 16 KiB each way on the kernel stack (failed:${bad:- none})" \
		test -z "$bad"
	ctl "GATE cyc -1 -1" >/dev/null
	check "pump finished: 4 MiB each way, SHA-256 both ends, FIN" \
		pump_done cyc "$PUMP_PID" "$PUMP_RX" "$(tx_sum $CYC_N)" $CYC_N
}

# offload_many COUNT: COUNT connections of one program offloaded at once,
# data on each
offload_many() {
	local n=$1 pid fds k=0 fd es
	section "offload: $n connections offloaded at once, data on each"
	rm -f /tmp/many.go
	xfer many "$HOST" "$PORT" "$n" $((16 * KIB)) /tmp/many.go \
		>/tmp/xfer.many.out 2>&1 &
	pid=$!
	i=0
	while [ $i -lt 1200 ] && ! grep -q READY /tmp/xfer.many.out; do
		sleep 0.1
		i=$((i + 1))
	done
	check "$n connections established on the kernel stack" \
		grep -q READY /tmp/xfer.many.out
	fds=$(ls -l "/proc/$pid/fd" | sed -n 's/.* \([0-9]*\) -> socket:.*/\1/p')
	[ "${2:-}" = kernel ] && fds=	# control run: no offload
	for fd in $fds; do
		chimneyctl offload "$pid" "$fd" >/dev/null 2>&1 && k=$((k + 1))
	done
	check "chimneyctl offloaded all $n connections ($k)" test "$k" = "$n"
	check "$n connections offloaded on the device" \
		test "$(offloaded_count)" = "$n"
	check "one shared path and neighbor for all of them" \
		chimneyctl show | grep -q "($n connections)"
	touch /tmp/many.go
	wait "$pid"
	cat /tmp/xfer.many.out | sed 's/^/  /'
	check "16 KiB each way on each of the $n connections, every byte checked, FIN" \
		grep -q "MANY count=$n ok=$n bad=0" /tmp/xfer.many.out
	i=0
	while [ $i -lt 300 ]; do
		es=$(ctl ECHOSTAT)
		case $es in *" done $n "*) break ;; esac
		sleep 0.1
		i=$((i + 1))
	done
	echo "  host: $es"
	check "the host saw $n clean ends (FIN), no reset" \
		test "$es" = "echo started $n done $n fin $n rst 0"
	check "no connection offloaded" wait_count 0
}

# ---- Direct reads (guest-driver/linux/chimney_ofl_direct.c) ----------------
# xfer bpump reads with blocking recv() on one thread and writes on
# another; its connection is offloaded before the threads start, so every
# read goes through the module.  A blocking read with an empty receive
# queue posts the program's buffer to the device (ofl_rx_direct_reqs);
# a signal or SO_RCVTIMEO ends it with RECV_FLUSH (ofl_rx_direct_flush).

# start_bpump NAME RATE N [VAR=VALUE...]: xfer bpump with the environment
# given, connected, offloaded, started; sets PUMP_PID, PUMP_RX
start_bpump() {
	local name=$1 rate=$2 n=$3 i=0
	shift 3
	PUMP_RX=/tmp/rx.$name
	rm -f "$PUMP_RX" "/tmp/go.$name"
	env "$@" xfer bpump "$HOST" "$PORT" "$name" "$n" /tmp/tx "$PUMP_RX" \
		"$rate" "/tmp/go.$name" >"/tmp/xfer.$name.out" 2>&1 &
	PUMP_PID=$!
	while [ $i -lt 300 ] && ! grep -q READY "/tmp/xfer.$name.out"; do
		sleep 0.1
		i=$((i + 1))
	done
	grep -q READY "/tmp/xfer.$name.out" && ctl_conn offload "$PUMP_PID" &&
		touch "/tmp/go.$name"
}

# wait_rx_blocked RXFILE BYTES REQS0: the program has BYTES (all the host
# sent so far), direct requests were posted since REQS0, and it reads on:
# the read it is in now waits in a direct request (its queue is empty)
wait_rx_blocked() {
	local i=0
	while [ $i -lt 300 ]; do
		[ "$(file_size "$1")" -ge "$2" ] &&
			[ "$(stat ofl_rx_direct_reqs)" -gt "$3" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	sleep 0.5
	[ "$(file_size "$1")" -eq "$2" ] &&
		[ "$(stat ofl_rx_direct_reqs)" -gt "$3" ] && return 0
	echo "  the program has $(file_size "$1") bytes, ofl_rx_direct_reqs $3 -> $(stat ofl_rx_direct_reqs), ofl_indications $(stat ofl_indications)"
	show_list
	dmesg | tail -n 20 | sed 's/^/  dmesg: /'
	return 1
}

# wait_out NAME TEXT: xfer NAME printed TEXT (10 s); else where its
# threads wait
wait_out() {
	local i=0 t
	while [ $i -lt 100 ]; do
		grep -q "$2" "/tmp/xfer.$1.out" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	cat "/tmp/xfer.$1.out" | sed 's/^/  /'
	for t in /proc/"$PUMP_PID"/task/*; do
		echo "  thread ${t##*/}:"
		sed 's/^/    /' "$t/stack"
	done
	ethstats "$IF" | grep -E 'ofl_(rx|ind|bytes_rcvd)' | sed 's/^/  /'
	dmesg | tail -n 20 | sed 's/^/  dmesg: /'
	return 1
}

# out_field NAME FIELD: FIELD=value of the program's XFER line
out_field() { sed -n "s/^XFER name=.* $2=\([0-9]*\).*/\1/p" "/tmp/xfer.$1.out"; }

# a bulk host->guest transfer read with blocking 64 KiB reads: the device
# places most of it in the program's buffer
offload_direct_bulk() {
	local n=$((32 * 1024 * KIB)) b0 r0 b i i0 zc0 w
	section "offload: 32 MiB host->guest with blocking 64 KiB reads, placed by the device in the program's buffer"
	b0=$(stat ofl_rx_direct_bytes)
	r0=$(stat ofl_rx_direct_reqs)
	i0=$(stat ofl_indications)
	zc0=$(stat ofl_rx_zc_bytes)
	check "bpump dbulk connected, offloaded, started" \
		start_bpump dbulk $((1024 * KIB)) $n
	# offloaded right after connect(), SO_RCVBUF not set: the window the
	# kernel's auto-tuning would reach (tcp_rmem[2] / 2), not today's;
	# slirp's TCP does not scale windows: then the most without (64 KiB)
	# shellcheck disable=SC2046 # the three numbers, split on purpose
	set -- $(cat /proc/sys/net/ipv4/tcp_rmem)
	w=$(chimneyctl list dport = ":$PORT" | sed -n 's/.* rcv_wnd \([0-9]*\) .*/\1/p' | head -n 1)
	if [ -n "$PEERMAC" ]; then
		check "receive window taken to the device ${w:-?}: at least tcp_rmem[2] / 2 = $(($3 / 2)) (auto-tuning's ceiling)" \
			test "${w:-0}" -ge $(($3 / 2))
	else
		check "receive window taken to the device ${w:-?}: at least 65535 (slirp: no window scaling)" \
			test "${w:-0}" -ge 65535
	fi
	ctl "GATE dbulk -1 -1" >/dev/null
	check "pump finished while offloaded: 32 MiB each way, SHA-256 both ends, FIN" \
		pump_done dbulk "$PUMP_PID" "$PUMP_RX" "$(tx_sum $n)" $n
	b=$(($(stat ofl_rx_direct_bytes) - b0))
	i=$(($(stat ofl_indications) - i0))
	echo "  direct: +$b bytes in +$(($(stat ofl_rx_direct_reqs) - r0)) requests; indications +$i, ofl_rx_zc_bytes +$(($(stat ofl_rx_zc_bytes) - zc0))"
	# (the rest: data indicated before the reader's queue was empty)
	check "ofl_rx_direct_bytes +$b: at least 90% of the 32 MiB went straight into the program's buffer" \
		test $b -ge $((n / 10 * 9))
	# data between two reads waits in the device (RECVF_HOLD, or
	# declined indications on a device without CAP_RECV_HOLD: one per read)
	check "indications +$i: at most 64 (the data between reads waited in the device for the next read)" \
		test $i -le 64
	check "no connection offloaded" wait_count 0
	rm -f "$PUMP_RX"
}

# offload_direct_signal [restart]: a signal while the reader waits in a
# direct read on an idle connection: RECV_FLUSH, EINTR (or, with
# SA_RESTART, the read starts again), then the rest arrives intact
offload_direct_signal() {
	local name=dsig env="" f0 r0 what="read() fails with EINTR"
	[ "${1:-}" = restart ] && name=dsigr env=XFER_SARESTART=1 \
		what="the read restarts (SA_RESTART)"
	section "offload: a signal interrupts a direct read on an idle connection: $what, the stream goes on intact"
	f0=$(stat ofl_rx_direct_flush)
	r0=$(stat ofl_rx_direct_reqs)
	check "bpump $name connected, offloaded, started" \
		start_bpump $name $((256 * KIB)) "$PUMP_N" $env
	check "256 KiB received, the reader waits in a direct read" \
		wait_rx_blocked "$PUMP_RX" $((256 * KIB)) "$r0"
	r0=$(stat ofl_rx_direct_reqs)
	kill -USR2 "$PUMP_PID"
	if [ -z "$env" ]; then
		check "read() failed with EINTR, nothing delivered twice or lost: XFER-EINTR rcvd=$((256 * KIB))" \
			wait_out $name "XFER-EINTR rcvd=$((256 * KIB)) "
	else
		check "the reader waits in a direct read again (restarted, no EINTR)" \
			wait_rx_blocked "$PUMP_RX" $((256 * KIB)) "$r0"
	fi
	check "the driver ended the request with RECV_FLUSH: ofl_rx_direct_flush +1" \
		test "$(stat ofl_rx_direct_flush)" = $((f0 + 1))
	ctl "GATE $name -1 -1" >/dev/null
	check "pump finished while offloaded: 1 MiB each way, SHA-256 both ends (in order), FIN" \
		pump_done $name "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	if [ -z "$env" ]; then
		check "one signal, one EINTR" \
			test "$(out_field $name signals)/$(out_field $name eintr)" = 1/1
	else
		check "one signal, no EINTR" \
			test "$(out_field $name signals)/$(out_field $name eintr)" = 1/0
	fi
	check "no connection offloaded" wait_count 0
}

# SO_RCVTIMEO on an idle offloaded connection: each expiry flushes the
# direct request and read() fails with EAGAIN; the stream stays intact
offload_direct_timeout() {
	local f0 r0 f
	section "offload: SO_RCVTIMEO expires in a direct read: EAGAIN (RECV_FLUSH), the stream stays intact"
	f0=$(stat ofl_rx_direct_flush)
	r0=$(stat ofl_rx_direct_reqs)
	check "bpump dtmo (SO_RCVTIMEO 300 ms) connected, offloaded, started" \
		start_bpump dtmo $((256 * KIB)) "$PUMP_N" XFER_RCVTIMEO=300
	check "256 KiB received, the reader waits in a direct read" \
		wait_rx_blocked "$PUMP_RX" $((256 * KIB)) "$r0"
	sleep 1
	check "read() failed with EAGAIN at the timeout, at 256 KiB" \
		wait_out dtmo "XFER-EAGAIN rcvd=$((256 * KIB)) "
	ctl "GATE dtmo -1 -1" >/dev/null
	check "pump finished while offloaded: 1 MiB each way, SHA-256 both ends (in order), FIN" \
		pump_done dtmo "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	f=$(($(stat ofl_rx_direct_flush) - f0))
	check "every EAGAIN was a flushed direct request (ofl_rx_direct_flush +$f, EAGAIN $(out_field dtmo eagain))" \
		test "$f" -ge 1 -a "$f" -ge "$(out_field dtmo eagain)"
	check "no connection offloaded" wait_count 0
}

# chimneyctl upload while the reader waits in a direct read: TERMINATE
# completes the request, the reader goes on on the kernel stack
offload_direct_upload() {
	local r0 b0
	section "offload: upload while a reader waits in a direct read (TERMINATE completes it; the kernel has the rest)"
	r0=$(stat ofl_rx_direct_reqs)
	check "bpump dupl connected, offloaded, started" \
		start_bpump dupl $((256 * KIB)) "$PUMP_N"
	check "256 KiB received, the reader waits in a direct read" \
		wait_rx_blocked "$PUMP_RX" $((256 * KIB)) "$r0"
	check "chimneyctl upload with the request posted" \
		ctl_conn upload "$PUMP_PID"
	check "no connection offloaded after the upload" \
		test "$(offloaded_count)" = 0
	r0=$(stat ofl_rx_direct_reqs)
	b0=$(stat ofl_rx_direct_bytes)
	ctl "GATE dupl -1 -1" >/dev/null
	check "pump finished on the kernel stack: 1 MiB each way, SHA-256 both ends (nothing lost or twice), FIN" \
		pump_done dupl "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "no direct read after the upload (ofl_rx_direct_reqs, _bytes unchanged)" \
		test "$(stat ofl_rx_direct_reqs)/$(stat ofl_rx_direct_bytes)" = "$r0/$b0"
}

# the host's FIN while the reader waits in a direct read: the request
# completes empty (INVALID_STATE), read() returns 0 (EOF)
offload_direct_eof() {
	local r0
	section "offload: the peer's FIN while a reader waits in a direct read: EOF"
	r0=$(stat ofl_rx_direct_reqs)
	check "bpump deof connected, offloaded, started" \
		start_bpump deof 0 "$PUMP_N"
	# all the data, the host's FIN held back
	ctl "GATE deof -1 -1 0" >/dev/null
	check "all 1 MiB received, the reader waits in a direct read" \
		wait_rx_blocked "$PUMP_RX" "$PUMP_N" "$r0"
	ctl "GATE deof -1 -1 1" >/dev/null
	check "pump finished while offloaded: EOF seen by read(), SHA-256 both ends, FIN" \
		pump_done deof "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "the reader saw EOF after exactly 1 MiB" \
		test "$(out_field deof rcvd)/$(grep -o 'eof=[01]' /tmp/xfer.deof.out)" = "$PUMP_N/eof=1"
	check "no connection offloaded" wait_count 0
}

# MSG_WAITALL of 1 MiB: several direct requests per read (each ends at
# the sender's PSH), no short read
offload_direct_waitall() {
	local n=$((4 * 1024 * KIB)) r0 r k
	section "offload: recv(MSG_WAITALL) of 1 MiB: several direct requests per read, no short read"
	r0=$(stat ofl_rx_direct_reqs)
	check "bpump dwall connected, offloaded, started" \
		start_bpump dwall $((1024 * KIB)) $n XFER_RXBUF=$((1024 * KIB)) \
		XFER_WAITALL=1
	ctl "GATE dwall -1 -1" >/dev/null
	check "pump finished while offloaded: 4 MiB each way in full 1 MiB reads, SHA-256 both ends, FIN" \
		pump_done dwall "$PUMP_PID" "$PUMP_RX" "$(tx_sum $n)" $n
	r=$(($(stat ofl_rx_direct_reqs) - r0))
	k=$(out_field dwall reads)
	check "more direct requests ($r) than reads ($k): WAITALL posted again for the rest" \
		test "$r" -gt "${k:-0}" -a "${k:-0}" -ge 4
	check "no connection offloaded" wait_count 0
}

# an upload while recv(MSG_WAITALL) of 1 MiB has 256 KiB of it: the read
# goes on in the kernel and returns the whole 1 MiB, not a short read (a
# program would take a short MSG_WAITALL read for the end of the stream)
offload_direct_waitall_upload() {
	local n=$((2 * 1024 * KIB)) r0
	section "offload: upload while recv(MSG_WAITALL) of 1 MiB has 256 KiB of it: the read goes on in the kernel, not short"
	r0=$(stat ofl_rx_direct_reqs)
	check "bpump dwupl connected, offloaded, started" \
		start_bpump dwupl 0 $n XFER_RXBUF=$((1024 * KIB)) XFER_WAITALL=1
	# the host sends 256 KiB first: the read has them, and waits
	check "the reader waits in recv(MSG_WAITALL) with part of its 1 MiB (direct requests posted)" \
		wait_rx_blocked "$PUMP_RX" 0 "$r0"
	check "chimneyctl upload with the read in progress" \
		ctl_conn upload "$PUMP_PID"
	ctl "GATE dwupl -1 -1" >/dev/null
	check "pump finished on the kernel stack: 2 MiB each way in full 1 MiB reads (none short), SHA-256 both ends, FIN" \
		pump_done dwupl "$PUMP_PID" "$PUMP_RX" "$(tx_sum $n)" $n
	check "the program's reads: 2 (no short read)" \
		test "$(out_field dwupl reads)/$(out_field dwupl short)" = 2/0
}

# wait_host_sent NAME BYTES: until the host has sent BYTES of pump NAME
wait_host_sent() {
	local i=0
	while [ $i -lt 300 ]; do
		# shellcheck disable=SC2046
		set -- "$1" "$2" $(ctl "PSTAT $1")
		case ${4:-x} in
		*[!0-9]*) ;;
		*) [ "$4" -ge "$2" ] && return 0 ;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# SO_RCVBUF set by the program: the window the device gets is that
# buffer's (tcp_full_space), not auto-tuning's ceiling; the stream intact
offload_rcvbuf() {
	local w
	section "offload: a program's SO_RCVBUF of 128 KiB bounds the window the device advertises"
	check "bpump drcvb (SO_RCVBUF 128 KiB) connected, offloaded, started" \
		start_bpump drcvb 0 "$PUMP_N" XFER_RCVBUF=$((128 * KIB))
	w=$(chimneyctl list dport = ":$PORT" | sed -n 's/.* rcv_wnd \([0-9]*\) .*/\1/p' | head -n 1)
	check "receive window taken to the device ${w:-?}: 64 KiB (already advertised) to 128 KiB" \
		test "${w:-0}" -ge $((64 * KIB)) -a "${w:-0}" -le $((128 * KIB))
	ctl "GATE drcvb -1 -1" >/dev/null
	check "pump finished while offloaded: SHA-256 both ends, FIN" \
		pump_done drcvb "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "no connection offloaded" wait_count 0
}

# inq_field NAME FIELD: FIELD=value of the program's XFER-INQ line
inq_field() { sed -n "s/^XFER-INQ .*$2=\([0-9]*\).*/\1/p" "/tmp/xfer.$1.out"; }

# SIOCINQ (FIONREAD) after direct reads: the device holds what came after
# the last one for the next (RECVF_HOLD), and the receive queue is empty;
# FIONREAD on the empty queue lets the device indicate it again
# (chimney_ioctl: chimney_direct_leave()), so a later FIONREAD and poll()
# see the bytes and non-blocking reads get exactly them
offload_direct_inq() {
	local r0 r1 i0 i1
	section "offload: FIONREAD after direct reads: the data the device held for the next read is indicated and seen"
	check "bpump dinq connected, offloaded, started" \
		start_bpump dinq 0 "$PUMP_N" XFER_INQAT=$((512 * KIB))
	ctl "GATE dinq $((256 * KIB)) -1" >/dev/null
	check "the program read the first 256 KiB" \
		wait_file_size "$PUMP_RX" $((256 * KIB))
	r0=$(stat ofl_rx_direct_reqs)
	ctl "GATE dinq $((512 * KIB)) -1" >/dev/null
	check "512 KiB read, the program stopped reading" \
		wait_line /tmp/xfer.dinq.out "XFER-INQWAIT rcvd=$((512 * KIB))\$"
	r1=$(stat ofl_rx_direct_reqs)
	check "the reads after the first 256 KiB were direct ($r0 -> $r1 requests)" \
		test "$r1" -gt "$r0"
	i0=$(stat ofl_indications)
	ctl "GATE dinq $((576 * KIB)) -1" >/dev/null
	check "the host sent 64 KiB more" wait_host_sent dinq $((576 * KIB))
	sleep 1
	i1=$(stat ofl_indications)
	check "the device held them for the next read: no indication (ofl_indications $i0 -> $i1)" \
		test "$i1" = "$i0"
	touch /tmp/go.dinq.inq
	check "the program called FIONREAD, poll() and read" \
		wait_line /tmp/xfer.dinq.out "^XFER-INQ "
	grep '^XFER-INQ ' /tmp/xfer.dinq.out | sed 's/^/  /'
	check "FIONREAD reported the held bytes: $(inq_field dinq first) (1 to 64 KiB) after $(inq_field dinq tries) call(s)" \
		test "$(inq_field dinq first)" -ge 1 -a \
		"$(inq_field dinq first)" -le $((64 * KIB))
	check "poll() right after it: readable" \
		test "$(inq_field dinq pollin)" = 1
	check "non-blocking reads then got exactly the 64 KiB the host sent: $(inq_field dinq rest)" \
		test "$(inq_field dinq rest)" = $((64 * KIB))
	ctl "GATE dinq -1 -1" >/dev/null
	check "pump finished while offloaded: 1 MiB each way, SHA-256 both ends (in order), FIN" \
		pump_done dinq "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "no connection offloaded" wait_count 0
}

# SO_SNDBUF locked by the program: the bytes the device holds for the
# connection (sent, not yet acknowledged, and queued) stay within the
# kernel's sk_sndbuf (twice the value set), as the kernel's write queue
# would (guest-driver/README.md, sendmsg)
offload_sndbuf() {
	local inf st
	section "offload: a program's SO_SNDBUF of 32 KiB bounds what the device holds for it (64 KiB)"
	check "bpump dsndb (SO_SNDBUF 32 KiB) connected, offloaded, started" \
		start_bpump dsndb 0 $((8 * 1024 * KIB)) XFER_SNDBUF=$((32 * KIB))
	# the host reads 256 KiB and stops: its window closes, the writer blocks
	sleep 3
	inf=$(list_field inflight)
	st=$(ctl "PSTAT dsndb")
	echo "  device holds ${inf:-?} bytes; host: $st"
	check "the writer waits with 1 to 65536 bytes on the device (${inf:-?})" \
		test "${inf:-0}" -gt 0 -a "${inf:-0}" -le 65536
	ctl "GATE dsndb -1 -1" >/dev/null
	check "pump finished while offloaded: 8 MiB each way, SHA-256 both ends, FIN" \
		pump_done dsndb "$PUMP_PID" "$PUMP_RX" "$(tx_sum $((8 * 1024 * KIB)))" \
		$((8 * 1024 * KIB))
	check "no connection offloaded" wait_count 0
}

# close() after direct reads while the device holds more data back for
# the next read (chimney_ofl_direct.c): unread data, a reset as
# tcp_close() sends it.  Only the upload tells whether the device holds
# any: the connection is uploaded and the kernel resets it.
offload_direct_unread() {
	local r0 r1 u0 k0
	section "offload: close() with data held in the device after direct reads: a reset"
	u0=$(stat ofl_uploads)
	k0=$(out_rsts)
	check "bpump dunrd connected, offloaded, started" \
		start_bpump dunrd 0 "$PUMP_N" XFER_UNREADAT=$((512 * KIB))
	# the host takes all the program sends; the first 256 KiB it sent
	# came before the offload, with the kernel's receive queue
	ctl "GATE dunrd $((256 * KIB)) -1" >/dev/null
	check "the program read the first 256 KiB" \
		wait_file_size "$PUMP_RX" $((256 * KIB))
	r0=$(stat ofl_rx_direct_reqs)
	ctl "GATE dunrd $((512 * KIB)) -1" >/dev/null
	check "512 KiB read, 1 MiB written: the program stopped reading" \
		wait_line /tmp/xfer.dunrd.out XFER-STOPPED
	r1=$(stat ofl_rx_direct_reqs)
	check "the reads after the first 256 KiB were direct ($r0 -> $r1 requests)" \
		test "$r1" -gt "$r0"
	ctl "GATE dunrd $((576 * KIB)) -1" >/dev/null
	check "the host sent 64 KiB more, left unread" \
		wait_host_sent dunrd $((576 * KIB))
	sleep 0.5
	touch /tmp/go.dunrd.close
	check "the program closed with 64 KiB unread: the connection ended with a reset" \
		pump_cut dunrd "$PUMP_PID"
	check "uploaded at close() (ofl_uploads +1)" \
		test $(($(stat ofl_uploads) - u0)) = 1
	check "the reset came from the kernel after the upload (OutRsts +1)" \
		test $(($(out_rsts) - k0)) = 1
	check "no connection offloaded" wait_count 0
}

run_offload() {
	local rst0 rst1
	section "offload: bring-up"
	check "insmod chimney_nic.ko" insmod $MOD dyndbg=+p
	check "netdev bound" find_if
	check "interface up at $GUEST_IP via $HOST" ifup
	check "carrier" wait_carrier 1 10
	check "TCP offload ready (SET_PARAMS, IND ring)" dmesg_has "TCP offload ready"
	check "TCP ULP \"chimney\" registered" \
		grep -qw chimney /proc/sys/net/ipv4/tcp_available_ulp
	check "/dev/chimney present" test -c /dev/chimney
	check "ping $HOST (neighbour entry)" ping -c 1 -W 5 "$HOST"
	check "neighbour $HOST resolved${PEERMAC:+ to $PEERMAC}" neigh_resolved
	dd if=/dev/urandom of=/tmp/tx bs=1024 count=1024 2>/dev/null
	UP_SUM=$(sha256sum /tmp/tx | cut -d' ' -f1)
	rst0=$(out_rsts)
	if [ -n "$ONLY" ]; then	# chimney.only=FUNCTION ARG (debugging aid)
		$ONLY
		finish
	fi
	offload_main
	offload_oneway
	offload_window
	offload_window_fin
	offload_close
	offload_closeonly
	offload_halfclose
	offload_finwait2_upload
	offload_finwait2_held
	offload_finwait1_upload
	offload_orphan_data
	offload_orphan_data_shut
	offload_orphan_data_shut fallback
	offload_abort
	offload_linger
	offload_two
	offload_cycles
	offload_many "$(arg many 1000)"
	offload_direct_bulk
	offload_direct_signal
	offload_direct_signal restart
	offload_direct_timeout
	offload_direct_upload
	offload_direct_eof
	offload_direct_waitall
	offload_direct_waitall_upload
	offload_rcvbuf
	offload_sndbuf
	offload_direct_inq
	rst1=$(out_rsts)
	check "no TCP reset sent by the guest but the kernel's for pump orphf's late data (OutRsts $rst0 -> $rst1, $KERNEL_RSTS expected)" \
		test $((rst1 - rst0)) = "$KERNEL_RSTS"
	# (after that check: the kernel sends its reset)
	offload_direct_unread
	check "rmmod chimney_nic (no connection holds it)" rmmod chimney_nic
	check "no kernel warnings or driver errors" no_kernel_warnings
	dmesg | grep -E 'offloaded|upload conn' | sed 's/^/  dmesg: /'
	finish
}

# ---- offload-net mode (run-offload-net.sh) ---------------------------------
# Network changes, counters, reset, unbind, ifdown and rmmod with offloaded
# connections.  Uses the offload mode's helpers (ctl, wait_pump, pump_done,
# start_pump, ctl_conn, offloaded_count, out_rsts).  The pings with payload
# sizes 401..410 are markers for the host's pcap check (what the device
# sent between two of them).

NET_BOGUS=02:00:00:00:be:ef
NET_ALT=10.0.2.3	# slirp's DNS address: answers ARP, a second next hop

marker() { ping -c 1 -W 1 -s "$1" "$HOST" >/dev/null 2>&1; true; }

ostat() { ethstats "$IF" "$1"; }

# wait_stat NAME MIN: until the ethtool counter NAME reaches MIN
wait_stat() {
	local i=0
	while [ $i -lt 150 ]; do
		[ "$(ostat "$1")" -ge "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "  $1 = $(ostat "$1"), want >= $2"
	return 1
}

# the host's received byte count of pump NAME
host_rcvd() {
	# shellcheck disable=SC2046
	set -- $(ctl "PSTAT $1")
	echo "${4:-0}"
}

# step NAME: the host sends 64 KiB more (gate NET_G), and receives 8 KiB
# more; both arrive
step() {
	local r0 i=0
	r0=$(host_rcvd "$1")
	NET_G=$((NET_G + 64 * KIB))
	ctl "GATE $1 $NET_G -1" >/dev/null
	while [ $i -lt 300 ]; do
		[ "$(file_size "$PUMP_RX")" -ge "$NET_G" ] &&
			[ "$(host_rcvd "$1")" -ge $((r0 + 8 * KIB)) ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "  pump $1 stuck: host received $(host_rcvd "$1") (from $r0), guest $(file_size "$PUMP_RX") of $NET_G"
	return 1
}

# burst PID: the rate-limited program stopped for 1 s sends 16 KiB at once
# when it continues (the engine sends full-sized segments)
burst() {
	kill -STOP "$1"
	sleep 1
	kill -CONT "$1"
}

# wait_dmesg PATTERN: until the kernel log has it
wait_dmesg() {
	local i=0
	while [ $i -lt 100 ]; do
		dmesg | grep -q "$1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# quiet_una: the device's snd_una once it equals snd_max (nothing in flight)
quiet_una() {
	local i=0 una max
	while [ $i -lt 100 ]; do
		una=$(chimneyctl show | sed -n 's/.*snd_una \([0-9]*\) .*/\1/p' | head -n 1)
		max=$(chimneyctl show | sed -n 's/.*snd_max \([0-9]*\) .*/\1/p' | head -n 1)
		[ -n "$una" ] && [ "$una" = "$max" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	echo "$una"
}

# icmp_ignored LPORT SEQ: an ICMP frag-needed (MTU 900) the driver rejects
icmp_ignored() {
	xfer icmpfrag "${GUEST_IP%/*}" "$1" "$HOST" "$PORT" 900 "$2" &&
		wait_dmesg 'ICMP frag-needed ignored'
}

neigh_mac() {
	ip neigh show "$1" dev "$IF" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p' | head -n 1
}

# delta FILE0 FILE1 NAME: NAME's increase between two ethstats dumps
delta() {
	echo $(($(sed -n "s/^$3: //p" "$2") - $(sed -n "s/^$3: //p" "$1")))
}

net_changes() {
	local mac u0 l0 q0 pid sent rcvd lport una
	section "offload-net: neighbor MAC, path MTU, next hop, ICMP while offloaded"
	start_pump net $((16 * KIB))
	pid=$PUMP_PID
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump net "$PUMP_RX" $((256 * KIB))
	NET_G=$((256 * KIB))
	mac=$(neigh_mac "$HOST")
	echo "  $HOST is at $mac"
	ethstats "$IF" >/tmp/stats.0
	check "chimneyctl offload" ctl_conn offload "$pid"
	check "ethtool -S: ofl_conns 1, the device counts 1 established connection" \
		test "$(ostat ofl_conns)" = 1 -a "$(ostat dev_tcp4_established)" = 1
	marker 401
	check "stream offloaded" step net
	u0=$(ostat ofl_updates)
	l0=$(ostat ofl_relinks)

	check "arp -s $HOST $NET_BOGUS (neighbour entry replaced)" \
		arp -i "$IF" -s "$HOST" "$NET_BOGUS"
	check "UPDATE of the neighbor's cached state pushed (ofl_updates +1)" \
		wait_stat ofl_updates $((u0 + 1))
	check "chimneyctl show: the neighbor has MAC $NET_BOGUS" \
		sh -c "chimneyctl show | grep -q 'neighbor .* $NET_BOGUS'"
	marker 402
	check "stream continues (the device sends to $NET_BOGUS: pcap)" step net
	marker 403
	check "arp -s $HOST $mac temp (restored)" \
		arp -i "$IF" -s "$HOST" "$mac" temp
	check "UPDATE pushed the MAC back" wait_stat ofl_updates $((u0 + 2))
	marker 404
	check "stream continues to $mac" step net
	burst "$pid"
	check "a burst through the engine (full-sized segments: pcap)" step net

	check "ip route add $HOST/32 dev $IF mtu lock 1000" \
		ip route add "$HOST/32" dev "$IF" mtu lock 1000
	check "UPDATE of the path's cached state pushed (MTU 1000)" \
		wait_stat ofl_updates $((u0 + 3))
	check "chimneyctl show: path MTU 1000" \
		sh -c "chimneyctl show | grep -q 'path .* mtu 1000 '"
	marker 405
	burst "$pid"
	check "a burst with MTU 1000 (segments <= 960 bytes: pcap)" step net
	marker 406
	check "ip route del $HOST/32 (MTU back to 1500)" \
		ip route del "$HOST/32" dev "$IF"
	check "UPDATE pushed MTU 1500" wait_stat ofl_updates $((u0 + 4))
	check "chimneyctl show: path MTU 1500" \
		sh -c "chimneyctl show | grep -q 'path .* mtu 1500 '"

	check "ip route add $HOST/32 via $NET_ALT (a new next hop)" \
		ip route add "$HOST/32" via "$NET_ALT" dev "$IF"
	check "path relinked under a neighbor for $NET_ALT (UPDATE)" \
		wait_stat ofl_relinks $((l0 + 1))
	check "chimneyctl show: neighbor $NET_ALT" \
		sh -c "chimneyctl show | grep -q 'neighbor .* $NET_ALT '"
	marker 407
	check "stream continues through $NET_ALT" step net
	marker 408
	check "ip route del $HOST/32 via $NET_ALT" \
		ip route del "$HOST/32" via "$NET_ALT" dev "$IF"
	check "path relinked back under $HOST" wait_stat ofl_relinks $((l0 + 2))
	check "chimneyctl show: neighbor $HOST $mac" \
		sh -c "chimneyctl show | grep -q 'neighbor .* $HOST  $mac'"
	marker 409
	check "stream continues to $HOST" step net

	# a router's ICMP "fragmentation needed" for the offloaded connection;
	# the quoted sequence number must be one the device has in flight
	lport=$(chimneyctl show |
		sed -n "s/^TCP .* ${GUEST_IP%/*}:\([0-9]*\) -> .*/\1/p" | head -n 1)
	# the program stopped: everything sent is acknowledged, snd_una =
	# snd_max, and the quoted number stays in the window until the work
	# checks it
	kill -STOP "$pid"
	una=$(quiet_una)
	check "ICMP frag-needed (MTU 900) quoting a sequence number never sent: ignored" \
		icmp_ignored "$lport" $(((una + 2147483648) % 4294967296))
	check "nothing pushed for it (ofl_updates +6, path MTU 1500)" \
		test "$(ostat ofl_updates)" = $((u0 + 6)) -a \
		"$(chimneyctl show | grep -c 'path .* mtu 1500 ')" = 1
	check "ICMP frag-needed (MTU 1000) quoting snd_una $una (port $lport)" \
		xfer icmpfrag "${GUEST_IP%/*}" "$lport" "$HOST" "$PORT" 1000 "$una"
	check "the new path MTU pushed with UPDATE" \
		wait_stat ofl_updates $((u0 + 7))
	check "chimneyctl show: path MTU 1000" \
		sh -c "chimneyctl show | grep -q 'path .* mtu 1000 '"
	kill -CONT "$pid"
	marker 410
	burst "$pid"
	check "a burst with MTU 1000 (segments <= 960 bytes: pcap)" step net

	# nce_stale_ms=200: after a silence the device asks before sending
	q0=$(ostat ofl_neigh_queries)
	burst "$pid"
	check "NEIGH_QUERY after a silence answered, the device took the answer" \
		wait_stat ofl_neigh_queries $((q0 + 1))
	check "stream continues" step net

	chimneyctl show | sed 's/^/  /'
	rcvd=$(list_field rcvd)
	sent=$(list_field sent)
	ethstats "$IF" >/tmp/stats.1
	check "ethtool -S: ofl_updates +7, ofl_relinks +2 (the changes above, nothing else)" \
		test "$(delta /tmp/stats.0 /tmp/stats.1 ofl_updates)" = 7 -a \
		"$(delta /tmp/stats.0 /tmp/stats.1 ofl_relinks)" = 2
	check "ethtool -S: ofl_bytes_rcvd +$rcvd (the connection's), ofl_indications > 0" \
		test "$(delta /tmp/stats.0 /tmp/stats.1 ofl_bytes_rcvd)" = "$rcvd" -a \
		"$(delta /tmp/stats.0 /tmp/stats.1 ofl_indications)" -gt 0
	check "ethtool -S: ofl_bytes_sent >= $sent, ofl_send_requests > 0" \
		test "$(delta /tmp/stats.0 /tmp/stats.1 ofl_bytes_sent)" -ge "$sent" -a \
		"$(delta /tmp/stats.0 /tmp/stats.1 ofl_send_requests)" -gt 0
	check "ethtool -S: the device (QUERY_STATS) sent >= $sent bytes in > 0 segments" \
		test "$(delta /tmp/stats.0 /tmp/stats.1 dev_ip4_out_octets)" -ge "$sent" -a \
		"$(delta /tmp/stats.0 /tmp/stats.1 dev_tcp4_out_segs)" -gt 0
	check "chimneyctl upload" ctl_conn upload "$pid"
	ethstats "$IF" >/tmp/stats.2
	check "ethtool -S: ofl_offloads +1, ofl_uploads +1, no failure, ofl_conns 0, device 0 established" \
		test "$(delta /tmp/stats.0 /tmp/stats.2 ofl_offloads)" = 1 -a \
		"$(delta /tmp/stats.0 /tmp/stats.2 ofl_uploads)" = 1 -a \
		"$(delta /tmp/stats.0 /tmp/stats.2 ofl_offload_failed)" = 0 -a \
		"$(ostat ofl_conns)" = 0 -a "$(ostat dev_tcp4_established)" = 0
	ctl "GATE net -1 -1" >/dev/null
	check "pump net finished: 1 MiB each way, SHA-256 both ends, FIN" \
		pump_done net "$pid" "$PUMP_RX" "$UP_SUM"
}

# offload_half NAME: a pump offloaded after 256 KiB, 128 KiB more each way
# through the engine
offload_half() {
	start_pump "$1" $((128 * KIB))
	check "pump $1: 256 KiB each way on the kernel stack" \
		wait_pump "$1" "$PUMP_RX" $((256 * KIB))
	check "chimneyctl offload" ctl_conn offload "$PUMP_PID"
	ctl "GATE $1 $((384 * KIB)) $((384 * KIB))" >/dev/null
	check "pump $1: 384 KiB each way (128 KiB through the engine)" \
		wait_pump "$1" "$PUMP_RX" $((384 * KIB))
}

ready_count() { dmesg | grep -c "TCP offload ready"; }

net_reset() {
	local r0 n0
	section "offload-net: device reset (ethtool --reset) while offloaded"
	offload_half rst
	r0=$(ostat ofl_resets)
	n0=$(ready_count)
	check "ethtool --reset $IF all" ethstats "$IF" --reset
	check "reset done (ofl_resets +1), the connection uploaded first" \
		test "$(ostat ofl_resets)" = $((r0 + 1)) -a "$(offloaded_count)" = 0
	check "offload enabled again after the reset" test "$(ready_count)" -gt "$n0"
	check "carrier" wait_carrier 1 10
	check "offload again after the reset" ctl_conn offload "$PUMP_PID"
	ctl "GATE rst -1 -1" >/dev/null
	check "pump rst finished (offloaded; close uploads): SHA-256 both ends, FIN" \
		pump_done rst "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
}

net_unbind() {
	local bdf n0
	section "offload-net: PCI unbind and bind while offloaded"
	offload_half unb
	bdf=$(basename "$(readlink "/sys/class/net/$IF/device")")
	n0=$(ready_count)
	check "unbind $bdf" \
		sh -c "echo $bdf >/sys/bus/pci/drivers/chimney_nic/unbind"
	check "netdev gone, no connection offloaded (uploaded first)" \
		test ! -e "/sys/class/net/$IF" -a "$(offloaded_count)" = 0
	check "bind $bdf again" \
		sh -c "echo $bdf >/sys/bus/pci/drivers/chimney_nic/bind"
	check "netdev bound again" find_if
	check "interface up again" ifup
	check "carrier" wait_carrier 1 10
	check "offload ready again" test "$(ready_count)" -gt "$n0"
	ctl "GATE unb -1 -1" >/dev/null
	check "pump unb finished on the kernel stack: SHA-256 both ends, FIN" \
		pump_done unb "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
}

net_ifdown() {
	section "offload-net: ip link set down while offloaded"
	offload_half dn
	check "ip link set $IF down" ip link set "$IF" down
	check "no connection offloaded (uploaded first)" \
		test "$(offloaded_count)" = 0
	check "ip link set $IF up, default route again" \
		sh -c "ip link set $IF up && ip route replace default via $HOST"
	check "carrier" wait_carrier 1 10
	ctl "GATE dn -1 -1" >/dev/null
	check "pump dn finished on the kernel stack: SHA-256 both ends, FIN" \
		pump_done dn "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
}

net_rmmod() {
	section "offload-net: rmmod with and without offloaded connections"
	offload_half rm
	check "rmmod refused while a connection is offloaded (the ULP holds the module)" \
		sh -c '! rmmod chimney_nic'
	check "module loaded, the connection still offloaded" \
		test -e /sys/module/chimney_nic -a "$(offloaded_count)" = 1
	ctl "GATE rm $((512 * KIB)) $((512 * KIB))" >/dev/null
	check "pump rm: 512 KiB each way, still through the engine" \
		wait_pump rm "$PUMP_RX" $((512 * KIB))
	check "chimneyctl upload" ctl_conn upload "$PUMP_PID"
	ctl "GATE rm -1 -1" >/dev/null
	check "pump rm finished: SHA-256 both ends, FIN" \
		pump_done rm "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
	check "rmmod chimney_nic (no connection offloaded)" rmmod chimney_nic
	check "insmod again" insmod $MOD nce_stale_ms=200
	check "netdev bound (re-probe)" find_if
	check "interface up" ifup
	check "carrier" wait_carrier 1 10
	check "TCP offload ready" dmesg_has "TCP offload ready"
	start_pump re $((256 * KIB))
	check "pump re: 256 KiB each way on the kernel stack" \
		wait_pump re "$PUMP_RX" $((256 * KIB))
	check "offload after the re-probe" ctl_conn offload "$PUMP_PID"
	ctl "GATE re -1 -1" >/dev/null
	check "pump re finished while offloaded: SHA-256 both ends, FIN" \
		pump_done re "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
}

run_offload_net() {
	local rst0 rst1
	section "offload-net: bring-up"
	check "insmod chimney_nic.ko nce_stale_ms=200" \
		insmod $MOD dyndbg=+p nce_stale_ms=200
	check "netdev bound" find_if
	check "interface up at $GUEST_IP via $HOST" ifup
	check "carrier" wait_carrier 1 10
	check "TCP offload ready" dmesg_has "TCP offload ready"
	check "ping $HOST (neighbour entry)" ping -c 1 -W 5 "$HOST"
	dd if=/dev/urandom of=/tmp/tx bs=1024 count=1024 2>/dev/null
	UP_SUM=$(sha256sum /tmp/tx | cut -d' ' -f1)
	rst0=$(out_rsts)
	net_changes
	net_reset
	net_unbind
	net_ifdown
	net_rmmod
	rst1=$(out_rsts)
	check "no TCP reset sent by the guest (OutRsts $rst0 -> $rst1)" \
		test "$rst0" = "$rst1"
	check "rmmod chimney_nic" rmmod chimney_nic
	check "no kernel warnings or driver errors" no_kernel_warnings
	dmesg | grep -E 'chimney|eth0' | grep -E 'UPDATE|relinked|reset|upload|MTU' |
		sed 's/^/  dmesg: /'
	finish
}

# ---- offload-ctl mode (run-offload-ctl.sh) ---------------------------------
# The offload policy, the event log (chimneyctl monitor), ss-style filters.
# chimney.port2=N: a second host server (a port no rule names).

PORT2=$(arg port2 0)

# with_port P CMD...: run CMD with PORT=P (ctl, start_pump, pump_done use it)
with_port() {
	local p0=$PORT rc=0
	PORT=$1
	shift
	"$@" || rc=$?
	PORT=$p0
	return $rc
}

# policy_has REGEX: a line of chimneyctl policy list matches
policy_has() { chimneyctl policy list | grep -q "$1"; }

# list_first FILTER...: the first line of chimneyctl list FILTER
list_first() { chimneyctl list "$@" | head -n 1; }

policy_two_rules() {
	policy_has "^2 rules" && policy_has "^rule $1 dport 1-1023 offloaded" &&
		policy_has "^rule $2 sport 2000-3000 dst 10.9.0.0/16 after 1073741824 offloaded"
}

policy_flush_empty() { chimneyctl policy flush && policy_has "^0 rules"; }

# wait_scans N: until the policy has scanned every connection N more times
wait_scans() {
	local s0 i=0
	s0=$(chimneyctl policy list | sed -n 's/.* \([0-9]*\) scans.*/\1/p')
	while [ $i -lt 600 ]; do
		[ "$(chimneyctl policy list | sed -n 's/.* \([0-9]*\) scans.*/\1/p')" -ge $((s0 + $1)) ] &&
			return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "  policy scans stuck at $s0"
	return 1
}

# wait_file_size FILE BYTES
wait_file_size() {
	local i=0
	while [ $i -lt 900 ]; do
		[ "$(file_size "$1")" -ge "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "  $1: $(file_size "$1") bytes, wanted $2"
	return 1
}

wait_line() {	# wait_line FILE PATTERN
	local i=0
	while [ $i -lt 300 ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

ctl_malformed() {
	section "offload-ctl: malformed requests on /dev/chimney"
	ctlbad "$IF" >/tmp/ctlbad.out
	local rc=$?
	sed 's/^/  /' /tmp/ctlbad.out
	[ $rc = 0 ] && [ "$(grep -c '^CTLBAD ok' /tmp/ctlbad.out)" = 35 ]
}

# the slow reader: a queue of 4 records, nothing read while 10 events
# happen: a "lost" record, then the 4 newest
ctl_slow_reader() {
	local pid ids="" id i last
	section "offload-ctl: a slow monitor gets a lost record"
	rm -f /tmp/hold
	mkfifo /tmp/hold
	chimneyctl monitor --queue 4 --hold --count 5 </tmp/hold >/tmp/slow.out 2>&1 &
	pid=$!
	exec 3>/tmp/hold
	wait_line /tmp/slow.out monitoring || return 1
	for i in 1 2 3 4 5; do
		id=$(chimneyctl policy add dev "$IF" dport 9 | sed -n 's/^rule \([0-9]*\) added/\1/p')
		chimneyctl policy del "$id" || return 1
		last=$id
	done
	exec 3>&-
	wait $pid
	sed 's/^/  /' /tmp/slow.out
	sed -n 2p /tmp/slow.out | grep -Eq ' lost ([6-9]|[1-9][0-9]+) events$' &&
		[ "$(wc -l </tmp/slow.out)" = 6 ] &&
		tail -n 1 /tmp/slow.out | grep -q " policy-del rule $last\$"
}

# the order of the events of connection $1 (and of rule $2): their names
# (upload with its reason), policy failures and backlog changes left out
mon_order() {
	grep -E " $1( |\$)| policy-(add|del) rule $2\$" /tmp/mon.out |
		grep -Ev ' (backlog|policy-fail) ' |
		awk '{ n = $2; if (n == "upload") for (i = 1; i < NF; i++) if ($i == "reason") n = n ":" $(i + 1); printf "%s ", n }'
}

ctl_policy() {
	local mon rule pa ra pb rb tuple lport bytes order want id1 id2
	section "offload-ctl: policy 'dport $PORT after 768 KiB', monitor, filters"
	chimneyctl monitor >/tmp/mon.out 2>&1 &
	mon=$!
	check "chimneyctl monitor running" wait_line /tmp/mon.out monitoring
	rule=$(chimneyctl policy add dev "$IF" dport "$PORT" after 768k | sed -n 's/^rule \([0-9]*\) added/\1/p')
	check "chimneyctl policy add dev $IF dport $PORT after 768k (rule $rule)" \
		test -n "$rule"
	chimneyctl policy list | sed 's/^/  /'
	check "policy list shows the rule" \
		policy_has "^rule $rule dev $IF dport $PORT after 786432 offloaded 0 failed 0\$"

	# the program's connection and one to another port (no rule names it)
	start_pump pol $((32 * KIB))
	pa=$PUMP_PID ra=$PUMP_RX
	with_port "$PORT2" start_pump other $((256 * KIB))
	pb=$PUMP_PID rb=$PUMP_RX
	check "pump: the host's first 256 KiB reached the program" \
		wait_file_size "$ra" $((256 * KIB))
	# the host knows pump other once its first 256 KiB arrived: ungate it
	check "pump other: the host's first 256 KiB, then no gate" \
		wait_file_size "$rb" $((256 * KIB))
	with_port "$PORT2" ctl "GATE other -1 -1" >/dev/null
	check "two complete policy scans since" wait_scans 2
	show_list
	check "below 768 KiB moved: on the kernel stack, not offloaded" \
		test "$(offloaded_count)" = 0
	check "rule $rule: nothing offloaded yet" \
		policy_has "^rule $rule .* offloaded 0 "
	ctl "GATE pol $((768 * KIB)) $((768 * KIB))" >/dev/null
	check "past 768 KiB the policy offloads the connection by itself" \
		wait_count 1
	show_list
	tuple=$(chimneyctl list dport = ":$PORT" | sed -n 's/^conn [0-9]* \([0-9.:]*\) -> \([0-9.:]*\) .*/\1 -> \2/p')
	lport=${tuple%% *}
	lport=${lport##*:}
	echo "  connection: $tuple"
	check "chimneyctl list dport = :$PORT: the program's connection" \
		test "$(list_first dport = ":$PORT")" = "1 offloaded connection" -a -n "$lport"
	check "chimneyctl list dport = :$PORT2: none" \
		test "$(list_first dport = ":$PORT2")" = "0 offloaded connections"
	check "chimneyctl list src 10.0.2.15 and sport = :$lport (ss-style)" \
		test "$(list_first src 10.0.2.15 and sport = ":$lport")" = "1 offloaded connection"
	check "chimneyctl list dport != :$PORT: none" \
		test "$(list_first dport != ":$PORT")" = "0 offloaded connections"
	check "rule $rule: 1 connection offloaded" \
		policy_has "^rule $rule .* offloaded 1 "
	ctl "GATE pol $((896 * KIB)) $((896 * KIB))" >/dev/null
	check "pump: 896 KiB from the host (the last 128 KiB through the NIC engine)" \
		wait_file_size "$ra" $((896 * KIB))
	show_list
	check "the driver indicated >= 128 KiB (received $(list_field rcvd))" \
		test "$(list_field rcvd)" -ge $((128 * KIB))
	check "chimneyctl upload dst $HOST:$PORT and sport = :$lport (by id)" \
		chimneyctl upload dst "$HOST:$PORT" and sport = ":$lport"
	check "no connection offloaded after the upload" test "$(offloaded_count)" = 0
	check "two complete policy scans since" wait_scans 2
	check "the policy leaves the uploaded connection on the kernel stack" \
		test "$(offloaded_count)" = 0
	check "chimneyctl offload by 4-tuple ($tuple)" \
		chimneyctl offload "${tuple%% *}" "${tuple##* }"
	check "one connection offloaded" test "$(offloaded_count)" = 1
	# the host's rest and its FIN (EOF while offloaded), the program's
	# shutdown and close
	ctl "GATE pol -1 -1" >/dev/null
	check "pump pol: 1 MiB each way, SHA-256 both ends, FIN" \
		pump_done pol "$pa" "$ra" "$UP_SUM"
	check "pump other (port $PORT2): 1 MiB each way, SHA-256 both ends, FIN" \
		with_port "$PORT2" pump_done other "$pb" "$rb" "$UP_SUM"
	check "no connection offloaded at the end" test "$(offloaded_count)" = 0
	check "rule $rule: still 1 connection offloaded" \
		policy_has "^rule $rule .* offloaded 1 "
	check "chimneyctl policy del $rule" chimneyctl policy del "$rule"
	id1=$(chimneyctl policy add dport 1-1023 | sed -n 's/^rule \([0-9]*\) added/\1/p')
	id2=$(chimneyctl policy add dst 10.9.0.0/16 sport 2000-3000 after 1g | sed -n 's/^rule \([0-9]*\) added/\1/p')
	chimneyctl policy list | sed 's/^/  /'
	check "two rules listed (port range, prefix, size suffix)" \
		policy_two_rules "$id1" "$id2"
	check "chimneyctl policy flush: none left" policy_flush_empty
	check "a deleted rule: del fails" sh -c "! chimneyctl policy del $rule"
	wait_line /tmp/mon.out policy-flush
	kill $mon
	wait $mon
	sed 's/^/  mon: /' /tmp/mon.out
	bytes=$(grep " policy-offload rule $rule " /tmp/mon.out | sed -n 's/.* bytes \([0-9]*\)$/\1/p')
	check "the policy acted at $bytes bytes moved (>= 786432)" \
		test "${bytes:-0}" -ge 786432
	order=$(mon_order "$tuple" "$rule")
	# the program's shutdown is a DISCONNECT; the device hands the
	# closed connection back (retrieve, reason REQUESTED)
	want="policy-add offload policy-offload upload:user offload disconnect retrieve upload:retrieve policy-del "
	echo "  order: $order"
	check "monitor: policy-add, offload, policy-offload, upload (user), offload, disconnect (peer FIN), retrieve and upload (the device hands back the closed connection), policy-del of $tuple in order" \
		test "$order" = "$want"
	check "monitor: no event of the connection to port $PORT2" \
		sh -c "! grep -q ':$PORT2 ' /tmp/mon.out"
}

run_offload_ctl() {
	local rst0 rst1
	section "offload-ctl: bring-up"
	check "insmod chimney_nic.ko" insmod $MOD dyndbg=+p
	check "netdev bound" find_if
	check "interface up at $GUEST_IP via $HOST" ifup
	check "carrier" wait_carrier 1 10
	check "TCP offload ready (SET_PARAMS, IND ring)" dmesg_has "TCP offload ready"
	check "ping $HOST (neighbour entry)" ping -c 1 -W 5 "$HOST"
	dd if=/dev/urandom of=/tmp/tx bs=1024 count=1024 2>/dev/null
	UP_SUM=$(sha256sum /tmp/tx | cut -d' ' -f1)
	rst0=$(out_rsts)
	check "malformed ioctls get their errors (ctlbad)" ctl_malformed
	check "slow monitor: lost record, then the newest events" ctl_slow_reader
	ctl_policy
	rst1=$(out_rsts)
	check "no TCP reset sent by the guest (OutRsts $rst0 -> $rst1)" \
		test "$rst0" = "$rst1"
	check "rmmod chimney_nic" rmmod chimney_nic
	check "no kernel warnings or driver errors" no_kernel_warnings
	finish
}

# ---- bench mode (tests/bench/guest-bench.sh) -------------------------------
# One guest->host and one host->guest bulk transfer with gbench (64 KiB
# writes and reads; tests/bench/guest/gbench.c).  Parameters:
#   chimney.nic=chimney|virtio|e1000e   the NIC's driver to load
#   chimney.offload=0|1|policy          chimney: each connection is moved
#                                       onto the NIC (chimneyctl offload,
#                                       or policy: by an offload policy
#                                       rule for the host's address)
#                                       between connect() and the data
#   chimney.bhost=ADDR  chimney.bip=ADDR/LEN   host and guest addresses
#   chimney.bports=SINK:SRC             the host's two listeners
#   chimney.bbytes=N                    bytes each way
# Output: BENCH-NIC, GBENCH (one per transfer), BENCH-IRQ (the NIC's
# interrupts during the transfer), BENCH-L2 (chimney: the L2 rings'
# frames during the transfer), CHECK lines, STAT (chimney: the driver's
# ofl_* counters), KSYM (chimney.ksyms=1), GUEST-RESULT.

bench_load() {
	local m
	case $1 in
	chimney) insmod "$MOD" $MODPARAMS ;;
	virtio)
		for m in /lib/modules/nic/*.ko; do
			case $m in
			*-e1000e.ko) ;;
			*) insmod "$m" || return 1 ;;
			esac
		done
		;;
	e1000e) insmod /lib/modules/nic/*-e1000e.ko ;;
	*) return 1 ;;
	esac
}

# bench_if: IF = the first interface other than lo (waits up to 5 s)
bench_if() {
	local i=0 d
	while [ $i -lt 50 ]; do
		for d in /sys/class/net/*; do
			[ "${d##*/}" = lo ] && continue
			IF=${d##*/}
			return 0
		done
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# bench_irqs: the interrupts of the NIC so far (its vectors are named
# after the interface, or virtioN-*)
bench_irqs() {
	awk -v i="$IF" 'index($0, i) || /virtio/ {
		for (k = 2; k <= NF && $k ~ /^[0-9]+$/; k++) s += $k } END { print s + 0 }' \
		/proc/interrupts
}

# bench_xfer send|recv PORT: one gbench transfer, offloaded when asked
bench_xfer() {
	local dir=$1 port=$2 pid line rc=0 ctl=0 tx0=0 rx0=0 frames irq0
	irq0=$(bench_irqs)
	if [ "$BNIC" = chimney ]; then
		tx0=$(stat hw_tx_frames)
		rx0=$(stat hw_rx_frames)
	fi
	if [ "$BOFFLOAD" = policy ]; then
		# gbench waits until the policy has offloaded its socket
		gbench "$dir" "$BHOST" "$port" "$BBYTES" ulp >/tmp/gbench.out 2>&1 || rc=1
		check "$dir: offloaded by the policy (the socket's TCP_ULP is chimney)" \
			test $rc = 0
	elif [ "$BOFFLOAD" = 1 ]; then
		rm -f /tmp/hold
		mkfifo /tmp/hold
		exec 7<>/tmp/hold
		gbench "$dir" "$BHOST" "$port" "$BBYTES" /tmp/hold >/tmp/gbench.out 2>&1 &
		pid=$!
		# shellcheck disable=SC3045 # busybox ash has read -t
		read -t 60 -r line <&7 || line=
		exec 7<&-
		if [ -n "$line" ]; then
			chimneyctl offload "$pid" --dport "$port" >/tmp/ctl.out 2>&1 || ctl=1
			# the connection as the device took it (windows, RTT)
			chimneyctl list dport = "$port" 2>&1 | sed 's/^/  /'
			kill -USR1 "$pid"
		else
			ctl=1
		fi
		wait "$pid" || rc=1
		echo "  $line: $(cat /tmp/ctl.out 2>/dev/null)"
		check "$dir: chimneyctl offload $pid --dport $port" test $ctl = 0
	else
		gbench "$dir" "$BHOST" "$port" "$BBYTES" >/tmp/gbench.out 2>&1 || rc=1
	fi
	cat /tmp/gbench.out
	echo "BENCH-IRQ dir=$dir irqs=$(($(bench_irqs) - irq0))"
	check "$dir: gbench moved $BBYTES bytes" grep -q "^GBENCH .* bytes=$BBYTES " /tmp/gbench.out
	if [ "$BNIC" = chimney ]; then
		frames=$(($(stat hw_tx_frames) - tx0 + $(stat hw_rx_frames) - rx0))
		echo "BENCH-L2 dir=$dir frames=$frames"
		# the data (BBYTES / 1448 segments and their ACKs) went
		# through the engine, not through the L2 rings
		[ "$BOFFLOAD" != 0 ] &&
			check "$dir: offloaded: $frames frames on the L2 rings (< $((BBYTES / 1448 / 4)))" \
				test "$frames" -lt $((BBYTES / 1448 / 4))
	fi
	sleep 0.5
}

run_bench() {
	BNIC=$(arg nic chimney)
	BOFFLOAD=$(arg offload 0)
	BHOST=$(arg bhost 10.0.2.2)
	BBYTES=$(arg bbytes 67108864)
	BPORTS=$(arg bports 0:0)
	HOST=$BHOST
	GUEST_IP=$(arg bip 10.0.2.15/24)
	check "load the $BNIC driver" bench_load "$BNIC"
	check "interface" bench_if || finish
	check "interface up at $GUEST_IP via $HOST" ifup
	check "carrier" wait_carrier 1 10
	check "ping $HOST" ping -c 1 -W 5 "$HOST"
	echo "BENCH-NIC nic=$BNIC offload=$BOFFLOAD if=$IF driver=$(basename "$(readlink "/sys/class/net/$IF/device/driver")") mtu=$(cat "/sys/class/net/$IF/mtu")"
	if [ "$BOFFLOAD" = policy ]; then
		check "offload policy: every connection to $BHOST on $IF" \
			chimneyctl policy add dev "$IF" dst "$BHOST/32"
	fi
	bench_xfer send "${BPORTS%:*}"
	bench_xfer recv "${BPORTS#*:}"
	check "no kernel warnings or driver errors" no_kernel_warnings
	dmesg | grep -E "chimney|$IF" | tail -n 20 | sed 's/^/  dmesg: /'
	# the driver's offload counters (direct reads, indications, ...)
	[ "$BNIC" = chimney ] && ethstats "$IF" | grep ofl_ | sed 's/^/  STAT /'
	# chimney.ksyms=1: symbols for a -perfmap profile (tests/bench/README.md)
	[ "$(arg ksyms 0)" = 1 ] &&
		awk '$2 ~ /^[tT]$/ { print "KSYM", $1, $3, $4 }' /proc/kallsyms
	finish
}

case $MODE in
bench) run_bench ;;
offload-ctl) run_offload_ctl ;;
offload) run_offload ;;
offload-net) run_offload_net ;;
demo) run_demo ;;
hub) run_hub ;;
nodev) run_nodev ;;
*) run_test ;;
esac
