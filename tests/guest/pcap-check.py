#!/usr/bin/python3
"""pcap-check.py FILE PORT GUEST_MAC PEER_MAC GUEST_IP PEER_IP MIN_BYTES [RST_PORTS]

Checks a filter-dump pcap (classic pcap, Ethernet) of the tap variant
(run-offload.sh --net tap): the link carried only the guest's and the
tap peer's frames, the IPv4 traffic was between GUEST_IP and PEER_IP,
the peer answered the guest's ARP request with PEER_MAC, the TCP traffic
with server port PORT moved at least MIN_BYTES of payload each way with
valid TCP checksums (spec "Segmentation offload": a super-segment of the
device, an IP datagram above the link MTU that the tap cuts, carries the
pseudo-header sum the host completes; the peer's frames, which the host
kernel hands to the device with receive offloads on, may carry it on any
frame), and no TCP segment between them was a RST, except
from the guest on the connections (guest ports, comma-separated RST_PORTS)
the host server saw end with a reset: those each had one.  Prints TAP-style
"ok - ..." / "not ok - ..." lines and "# ..." notes; exit status 1 when a
check failed."""

import socket
import struct
import sys


def tcp_csum_ok(ip, tcp):
    """the ones' complement sum of pseudo header and segment is 0 (mod
    0xffff: 2^16 = 1, so the big-endian number of the padded bytes is
    congruent to the sum of their 16-bit words)"""
    data = ip[12:20] + struct.pack('>BBH', 0, 6, len(tcp)) + tcp
    if len(data) & 1:
        data += b'\0'
    return int.from_bytes(data, 'big') % 0xffff == 0


MTU = 1500      # the tap link's; the guest's own frames never exceed it


def tcp_csum_partial_ok(ip, tcp):
    """the checksum field holds the folded pseudo-header sum (virtio-net
    NEEDS_CSUM), over the whole super-segment's length"""
    data = ip[12:20] + struct.pack('>BBH', 0, 6, len(tcp))
    s = sum(struct.unpack('>6H', data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return struct.unpack('>H', tcp[16:18])[0] == s


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    gmac, pmac = (bytes.fromhex(m.replace(':', '')) for m in sys.argv[3:5])
    gip, pip = (socket.inet_aton(a.split('/')[0]) for a in sys.argv[5:7])
    need = int(sys.argv[7])
    want_rst = {int(x) for x in sys.argv[8].split(',') if x} \
        if len(sys.argv) > 8 else set()
    rst_guest = {}          # guest port -> RSTs the guest sent
    data = open(path, 'rb').read()
    if data[:4] == b'\xd4\xc3\xb2\xa1':
        e = '<'
    elif data[:4] == b'\xa1\xb2\xc3\xd4':
        e = '>'
    else:
        sys.exit(f'{path}: not a classic pcap file')
    off, frames = 24, 0
    foreign_mac, foreign_ip, ipv4 = [], [], 0
    arp_reply = False
    pay = {0: 0, 1: 0}
    segs, bad_csum, short, rst, syn, fin, conns = 0, 0, 0, 0, 0, 0, set()
    tso = [0, 0]            # super-segments from the guest, from the peer
    bcast = b'\xff' * 6
    while off + 16 <= len(data):
        caplen, wirelen = struct.unpack(e + 'II', data[off + 8:off + 16])
        f = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        frames += 1
        dst, src, et = f[0:6], f[6:12], f[12:14]
        # unicast only between the two; broadcast/multicast only from them
        if src not in (gmac, pmac) or \
                (not dst[0] & 1 and dst not in (gmac, pmac)) or \
                (dst != bcast and not dst[0] & 1 and dst == src):
            foreign_mac.append((frames, src.hex(':'), dst.hex(':')))
        if et == b'\x08\x06' and len(f) >= 42:
            op = struct.unpack('>H', f[20:22])[0]
            if op == 2 and src == pmac and f[22:28] == pmac and \
                    f[28:32] == pip and f[38:42] == gip and dst == gmac:
                arp_reply = True
            continue
        if et != b'\x08\x00':
            continue
        ipv4 += 1
        ihl = (f[14] & 15) * 4
        ip = f[14:14 + ihl]
        if {ip[12:16], ip[16:20]} != {gip, pip}:
            foreign_ip.append((frames, socket.inet_ntoa(ip[12:16]),
                               socket.inet_ntoa(ip[16:20])))
            continue
        if ip[9] != 6:
            continue
        tot = struct.unpack('>H', f[16:18])[0]
        tcp = f[14 + ihl:14 + tot]
        tcplen = tot - ihl      # from the IP header: also when truncated
        if len(tcp) < 20:
            continue
        sp, dp = struct.unpack('>HH', tcp[0:4])
        if tcp[13] & 4:             # on any port
            rst += 1
            if ip[12:16] == gip and port == dp:
                rst_guest[sp] = rst_guest.get(sp, 0) + 1
        if port not in (sp, dp):
            continue
        d = 0 if dp == port else 1
        # the source must be the side the direction says
        if (ip[12:16], src) != ((gip, gmac) if d == 0 else (pip, pmac)):
            foreign_ip.append((frames, socket.inet_ntoa(ip[12:16]),
                               socket.inet_ntoa(ip[16:20])))
        segs += 1
        pay[d] += tcplen - (tcp[12] >> 4) * 4
        fl = tcp[13]
        syn += bool(fl & 2)
        fin += bool(fl & 1)
        conns.add(sp if d == 0 else dp)
        if tot > MTU:
            tso[d] += 1
        if caplen < wirelen:
            short += 1      # filter-dump maxlen: no checksum to verify
        elif d == 0 and tot > MTU:
            bad_csum += not tcp_csum_partial_ok(ip, tcp)
        elif d == 0:
            bad_csum += not tcp_csum_ok(ip, tcp)
        else:
            bad_csum += not (tcp_csum_ok(ip, tcp) or
                             tcp_csum_partial_ok(ip, tcp))
    fails = 0

    def check(ok, what):
        nonlocal fails
        print(('ok - ' if ok else 'not ok - ') + what)
        fails += not ok

    print(f'# {frames} frames, {ipv4} IPv4; TCP port {port}: {segs} segments,'
          f' {len(conns)} connections, payload guest->peer {pay[0]},'
          f' peer->guest {pay[1]}; SYN {syn} FIN {fin}; RST (any port) {rst}')
    check(frames > 0 and not foreign_mac,
          f'pcap: every frame from the guest ({gmac.hex(":")}) or the tap'
          f' peer ({pmac.hex(":")}), unicast only between them')
    for x in foreign_mac[:5]:
        print(f'# frame {x[0]}: {x[1]} -> {x[2]}')
    check(ipv4 > 0 and not foreign_ip,
          f'pcap: all IPv4 between {socket.inet_ntoa(gip)} and'
          f' {socket.inet_ntoa(pip)} (no slirp addresses)')
    for x in foreign_ip[:5]:
        print(f'# frame {x[0]}: {x[1]} -> {x[2]}')
    check(arp_reply, f'pcap: the peer answered ARP for {socket.inet_ntoa(pip)}'
          f' with {pmac.hex(":")}')
    check(pay[0] >= need and pay[1] >= need,
          f'pcap: TCP port {port} carried >= {need} payload bytes each way'
          f' over the tap ({pay[0]} / {pay[1]})')
    print(f'# super-segments (segmentation offload): {tso[0]} from the'
          f' guest (cut by the tap), {tso[1]} from the peer (for the device)')
    check(segs > short and bad_csum == 0,
          f'pcap: every TCP segment has a valid checksum'
          f' ({bad_csum} bad of {segs - short} complete ones)')
    if not want_rst:
        check(segs > 0 and rst == 0,
              f'pcap: no TCP RST on the wire, any port ({rst})')
    else:
        check(segs > 0 and set(rst_guest) == want_rst and
              sum(rst_guest.values()) == rst,
              f'pcap: TCP RSTs only from the guest on the {len(want_rst)}'
              f' connections the server saw reset ({rst} RSTs,'
              f' {len(rst_guest)} connections)')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
