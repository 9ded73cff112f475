#!/bin/sh
# /init of the chimney-nic guest initramfs (busybox ash).
#
# Kernel command line parameters:
#   chimney.mode=test|demo|nodev|offload
#                            offload: the TCP offload test (run-offload.sh)
#                            test: the L2 boot test (run-l2-boot.sh)
#                            demo: the walk-through (boot-demo.sh)
#                            nodev: module load/unload without the device
#                            (run-l2-boot.sh --nodev)
#   chimney.port=N           host TCP server port, reached at 10.0.2.2:N
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
PORT=$(arg port 0)
FLAP=$(arg flap 1)
INTX=$(arg intx 1)
SMALL=$(arg small 1)
MODPARAMS=$(arg modparams "" | tr ',' ' ')
STRESS=$(arg stress 0)
NICS=$(arg nics 1)
HUB=$(arg hub 0)
HOST=10.0.2.2
GUEST_IP=10.0.2.15/24
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

no_kernel_warnings() {
	! dmesg | grep -E 'BUG:|WARNING:|Oops|Call Trace|chimney.*(error|timeout)' 
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

# wait_pump NAME RXFILE BYTES: until the host has received BYTES of pump
# NAME and the guest program has written BYTES into RXFILE
wait_pump() {
	local i=0 st
	while [ $i -lt 900 ]; do
		st=$(ctl "PSTAT $1")
		# shellcheck disable=SC2086
		set -- "$1" "$2" "$3" $st
		case ${7:-x} in
		*[!0-9]*) ;;
		*) [ "$7" -ge "$3" ] && [ "$(file_size "$2")" -ge "$3" ] && return 0 ;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	echo "  pump $1 stuck: host '$st', guest received $(file_size "$2")"
	return 1
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

# pump_done NAME PID RXFILE WANT_UP(sha of what we sent): the program
# finished, both sides have all bytes with the right checksums, the
# connection ended with FIN (no RST)
pump_done() {
	local name=$1 pid=$2 rx=$3 up=$4 down got st rc=0 i
	wait "$pid" || rc=$?
	cat "/tmp/xfer.$name.out" | sed 's/^/  /'
	down=$(ctl "DLSUM $PUMP_N")
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
		[ "$st" = "sent $PUMP_N rcvd $PUMP_N done 1 end fin sha256 $up" ]
}

# start_pump NAME RATE: sets PUMP_PID, PUMP_RX.  The host gates what it
# sends; the program sends at RATE bytes/s (slirp takes whatever it gets
# into the host's socket buffers, so the guest->host direction cannot be
# held by the host's gate).
start_pump() {
	PUMP_RX=/tmp/rx.$1
	rm -f "$PUMP_RX"
	xfer pump "$HOST" "$PORT" "$1" "$PUMP_N" /tmp/tx "$PUMP_RX" "$2" \
		>"/tmp/xfer.$1.out" 2>&1 &
	PUMP_PID=$!
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

# ctl_conn offload|upload PID: chimneyctl on the pump's connection
ctl_conn() {
	chimneyctl "$1" "$2" --dport "$PORT" && return 0
	echo "  /proc/$2/net/tcp:"
	sed 's/^/    /' "/proc/$2/net/tcp"
	ls -l "/proc/$2/fd" | sed 's/^/    /'
	return 1
}

offload_main() {
	local sent0 rcvd0
	section "offload: one connection, offload and upload mid-stream"
	start_pump main $((128 * KIB))
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump main "$PUMP_RX" $((256 * KIB))
	sleep 0.5	# the guest's send queue fills (the host reads no more)
	check "chimneyctl offload (pid $PUMP_PID, port $PORT)" \
		ctl_conn offload "$PUMP_PID"
	show_list
	check "one connection offloaded, ESTABLISHED on the device" \
		list_has 'state ESTABLISHED'
	ctl "GATE main $((640 * KIB)) $((640 * KIB))" >/dev/null
	check "pump: 640 KiB each way (384 KiB through the NIC engine)" \
		wait_pump main "$PUMP_RX" $((640 * KIB))
	sleep 0.5
	show_list
	sent0=$(list_field sent)
	rcvd0=$(list_field rcvd)
	check "the driver moved data both ways (sent $sent0, received $rcvd0)" \
		test "${sent0:-0}" -gt $((256 * KIB)) -a "${rcvd0:-0}" -gt $((256 * KIB))
	check "chimneyctl upload mid-stream" \
		ctl_conn upload "$PUMP_PID"
	check "no connection offloaded after the upload" \
		test "$(offloaded_count)" = 0
	ctl "GATE main -1 -1" >/dev/null
	check "pump finished on the kernel stack: 1 MiB each way, SHA-256 both ends, FIN" \
		pump_done main "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
}

offload_close() {
	section "offload: EOF and close while offloaded"
	start_pump close $((256 * KIB))
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump close "$PUMP_RX" $((256 * KIB))
	check "chimneyctl offload" ctl_conn offload "$PUMP_PID"
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

offload_cycles() {
	local i g ok
	section "offload: 10 offload/upload cycles on one connection"
	start_pump cyc $((80 * KIB))
	check "pump: 256 KiB each way on the kernel stack" \
		wait_pump cyc "$PUMP_RX" $((256 * KIB))
	g=$((256 * KIB))
	for i in 1 2 3 4 5 6 7 8 9 10; do
		ok=1
		ctl_conn offload "$PUMP_PID" >/dev/null || ok=0
		[ "$(offloaded_count)" = 1 ] || ok=0
		g=$((g + 32 * KIB))
		ctl "GATE cyc $g $g" >/dev/null
		wait_pump cyc "$PUMP_RX" $g || ok=0
		ctl_conn upload "$PUMP_PID" >/dev/null || ok=0
		[ "$(offloaded_count)" = 0 ] || ok=0
		g=$((g + 32 * KIB))
		ctl "GATE cyc $g $g" >/dev/null
		wait_pump cyc "$PUMP_RX" $g || ok=0
		check "cycle $i: offload, 32 KiB each way on the NIC, upload, 32 KiB each way on the kernel stack" \
			test $ok = 1
	done
	ctl "GATE cyc -1 -1" >/dev/null
	check "pump finished: 1 MiB each way, SHA-256 both ends, FIN" \
		pump_done cyc "$PUMP_PID" "$PUMP_RX" "$UP_SUM"
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
	dd if=/dev/urandom of=/tmp/tx bs=1024 count=1024 2>/dev/null
	UP_SUM=$(sha256sum /tmp/tx | cut -d' ' -f1)
	rst0=$(out_rsts)
	offload_main
	offload_close
	offload_two
	offload_cycles
	rst1=$(out_rsts)
	check "no TCP reset sent by the guest (OutRsts $rst0 -> $rst1)" \
		test "$rst0" = "$rst1"
	check "rmmod chimney_nic (no connection holds it)" rmmod chimney_nic
	check "no kernel warnings or driver errors" no_kernel_warnings
	dmesg | grep -E 'offloaded|upload conn' | sed 's/^/  dmesg: /'
	finish
}

# ---- bench mode (tests/bench/guest-bench.sh) -------------------------------
# One guest->host and one host->guest bulk transfer with gbench (64 KiB
# writes and reads; tests/bench/guest/gbench.c).  Parameters:
#   chimney.nic=chimney|virtio|e1000e   the NIC's driver to load
#   chimney.offload=0|1                 chimney: each connection is moved
#                                       onto the NIC (chimneyctl offload)
#                                       between connect() and the data
#   chimney.bhost=ADDR  chimney.bip=ADDR/LEN   host and guest addresses
#   chimney.bports=SINK:SRC             the host's two listeners
#   chimney.bbytes=N                    bytes each way
# Output: BENCH-NIC, GBENCH (one per transfer), BENCH-IRQ (the NIC's
# interrupts during the transfer), BENCH-L2 (chimney: the L2 rings'
# frames during the transfer), CHECK lines, GUEST-RESULT.

bench_load() {
	local m
	case $1 in
	chimney) insmod "$MOD" ;;
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
	if [ "$BOFFLOAD" = 1 ]; then
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
		[ "$BOFFLOAD" = 1 ] &&
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
	bench_xfer send "${BPORTS%:*}"
	bench_xfer recv "${BPORTS#*:}"
	check "no kernel warnings or driver errors" no_kernel_warnings
	dmesg | grep -E "chimney|$IF" | tail -n 20 | sed 's/^/  dmesg: /'
	finish
}

case $MODE in
offload) run_offload ;;
bench) run_bench ;;
demo) run_demo ;;
hub) run_hub ;;
nodev) run_nodev ;;
*) run_test ;;
esac
