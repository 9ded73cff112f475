#!/usr/bin/python3
"""pcap-check.py FILE PORT GUEST_MAC PEER_MAC GUEST_IP PEER_IP MIN_BYTES [RST_PORTS [PEER_OUTRSTS [CLOSED_PORTS]]]

Checks a filter-dump pcap (classic pcap, Ethernet) of the tap variant
(run-offload.sh --net tap): the link carried only the guest's and the
tap peer's frames, the IPv4 traffic was between GUEST_IP and PEER_IP,
the peer answered the guest's ARP request with PEER_MAC, the TCP traffic
with server port PORT moved at least MIN_BYTES of payload each way with
valid TCP checksums (spec "Segmentation offload": a super-segment of the
device, an IP datagram above the link MTU that the tap cuts, carries the
pseudo-header sum the host completes; the peer's frames, which the host
kernel hands to the device with receive offloads on, may carry it on any
frame), and the RSTs were the expected ones:

* from the guest RSTs on each connection the host server saw end with a
  reset (RST_PORTS: their guest ports, comma-separated, a port once per
  such connection: a port can be reused after a reset): one (an abortive
  close, or the answer to a segment that found the connection closing),
  then one more only for each segment of the peer in flight behind it
  that finds the connection gone (RFC 9293 3.10.7.1, as the kernel
  answers them: each RST after the first answers its own segment of the
  peer that came after the guest's last other segment), none on any
  other connection; and on each connection of CLOSED_PORTS
  (guest ports, comma-separated: connections whose program close()d its
  socket, FIN sent, before the peer sent more data) the guest's FIN, then
  its RST, and none of the peer's data acknowledged after that FIN (RFC
  1122 4.2.2.13, tcp_rcv_state_process(): after close() new data is
  answered with the RST);
* from the peer only the reset of a closed connection answering a
  segment that arrived after the normal close (RFC 9293 3.10.7.1, CLOSED:
  <SEQ=SEG.ACK><CTL=RST>), and only when that segment was the guest's
  TIME-WAIT acknowledgement of a retransmission of the peer's FIN
  (3.10.7.4: "Acknowledge it, and restart the 2 MSL timeout"): both FINs
  acknowledged before, the peer's FIN sent again (its retransmission timer
  or tail loss probe fired before the guest's ACK of it came; the two may
  cross on the wire), then a pure ACK from the guest with nothing new
  (the guest kernel's TIME-WAIT socket, once the device has handed the
  connection back, answering the retransmission), answered by an
  RST without ACK whose sequence number is that ACK's.  Any other guest
  segment after the close (a window update, data) answered by the peer's
  RST fails.  PEER_OUTRSTS (the growth of the peer's Tcp OutRsts) must be
  the number of the peer's RSTs on the wire.

Prints TAP-style "ok - ..." / "not ok - ..." lines and "# ..." notes;
exit status 1 when a check failed."""

import collections
import socket
import struct
import sys


class Conn:
    """One connection of the server port, from the guest's SYN on (a
    guest port is used again after a reset: no TIME-WAIT)."""

    def __init__(self, gport):
        self.gport = gport
        self.gfin = None        # sequence number after the guest's FIN
        self.pfin = None        # after the peer's FIN
        self.gfin_acked = False
        self.pfin_acked = False
        self.refin = False      # the peer's FIN again after the guest's ACK
        self.late = None        # ACK field of the guest's TIME-WAIT ACK
        self.grst = 0           # RSTs from the guest
        self.unanswered = 0     # peer segments since the guest's last
        self.unprovoked = 0     # guest RSTs after the first, beyond those
        self.fin_ack = None     # ACK field of the guest's FIN
        self.late_acked = 0     # peer data the guest acked after its FIN
        self.prst = 0           # RSTs from the peer answering self.late
        self.bad = []           # frames of the peer's other RSTs


def track(c, d, fr, fl, seq, ack, plen, bad_rst):
    """One segment of connection c (d 0: from the guest, 1: from the
    peer); the RST rules of the module's docstring."""
    closed = c.gfin_acked and c.pfin_acked
    if d == 0:
        if fl & 0x10 and c.fin_ack is not None:
            adv = (ack - c.fin_ack) & 0xffffffff
            if adv < 0x80000000:
                if c.pfin is not None and ack == c.pfin:
                    adv -= 1    # the peer's FIN, not data
                c.late_acked = max(c.late_acked, adv)
        if fl & 4:
            # the first may be the guest's own (an abortive close)
            if c.unanswered:
                c.unanswered -= 1
            elif c.grst:
                c.unprovoked += 1
            c.grst += 1
            return
        c.unanswered = 0
        # after the close only the ACK of a retransmitted FIN: the same
        # ACK again, nothing new (a window update or data is not one)
        c.late = ack if closed and c.refin and fl == 0x10 and \
            plen == 0 and seq == c.gfin and ack == c.pfin else None
        if fl & 1:
            c.gfin = (seq + plen + 1) & 0xffffffff
            if c.fin_ack is None and fl & 0x10:
                c.fin_ack = ack
        if fl & 0x10 and c.pfin is not None and ack == c.pfin:
            c.pfin_acked = True
        return
    c.unanswered += 1
    if fl & 4:
        if fl == 4 and c.late is not None and seq == c.late:
            c.prst += 1
        else:
            c.bad.append(fr)
            bad_rst.append(fr)
        c.late = None
        return
    if fl & 1:
        # the same FIN again: retransmitted, before or after the guest's
        # ACK of it (the two may cross on the wire)
        c.refin = c.refin or c.pfin == (seq + plen + 1) & 0xffffffff
        c.pfin = (seq + plen + 1) & 0xffffffff
    if fl & 0x10 and c.gfin is not None and ack == c.gfin:
        c.gfin_acked = True


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
    # guest port -> connections the server saw reset
    want_rst = collections.Counter(int(x) for x in sys.argv[8].split(',')
                                   if x) if len(sys.argv) > 8 else {}
    peer_outrsts = int(sys.argv[9]) if len(sys.argv) > 9 else 0
    closed_ports = set(int(x) for x in sys.argv[10].split(',')
                       if x) if len(sys.argv) > 10 else set()
    cur, all_conns, bad_rst = {}, [], []
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
        sp, dp, seq, ack = struct.unpack('>HHII', tcp[0:12])
        if tcp[13] & 4:             # on any port
            rst += 1
        if port not in (sp, dp):
            if tcp[13] & 4:
                bad_rst.append(frames)
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
        g = sp if d == 0 else dp
        if g not in cur or (d == 0 and fl & 0x12 == 2):
            cur[g] = Conn(g)
            all_conns.append(cur[g])
        track(cur[g], d, frames, fl, seq, ack,
              tcplen - (tcp[12] >> 4) * 4, bad_rst)
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
    reset = [c for c in all_conns if c.grst]
    grst = sum(c.grst for c in reset)
    nwant = sum(want_rst.values())
    extra = [c for c in reset if c.unprovoked]
    check(segs > 0 and
          collections.Counter(c.gport for c in reset) == want_rst and
          not extra,
          f'pcap: TCP RSTs from the guest: one on each of the {nwant}'
          f' connections the server saw reset (more only for the peer\'s'
          f' segments in flight), none elsewhere ({grst} RSTs on'
          f' {len(reset)} connections)')
    for c in reset:
        if c.grst != 1 or want_rst.get(c.gport, 0) == 0:
            print(f'# guest port {c.gport}: {c.grst} RSTs from the guest,'
                  f' {c.unprovoked} without a segment of the peer to answer'
                  f' ({want_rst.get(c.gport, 0)} resets of the port logged'
                  f' by the server)')
    # RFC 1122 4.2.2.13, tcp_rcv_state_process(): after close() new data
    # is answered with an RST, not acknowledged
    # (a port may carry other connections before or after: the ephemeral
    # port range is reused over a run of ~1,800 connections; one of the
    # port's connections must be this one)
    if closed_ports:
        cl = [c for c in all_conns if c.gport in closed_ports]

        def closed_ok(c):
            return c.fin_ack is not None and c.grst and not c.late_acked
        good = {c.gport for c in cl if closed_ok(c)}
        bad = [c for c in cl if c.gport not in good]
        check(good == set(closed_ports),
              f'pcap: after close() (guest ports'
              f' {",".join(map(str, sorted(closed_ports)))}) the guest\'s'
              f' FIN, then its RST for the peer\'s next data, none of which'
              f' it acknowledged ({len(cl)} connections on those ports)')
        for c in bad:
            print(f'# guest port {c.gport}: FIN'
                  f' {"sent" if c.fin_ack is not None else "missing"},'
                  f' {c.grst} RSTs, {c.late_acked} bytes acknowledged after'
                  f' the FIN')
    prst = sum(c.prst for c in all_conns)
    check(not bad_rst and rst == grst + prst and prst == peer_outrsts,
          f'pcap: TCP RSTs from the peer only answer the guest\'s TIME-WAIT'
          f' ACK of a retransmitted FIN after the close (RFC 9293'
          f' 3.10.7.1/3.10.7.4: {prst}), none else ({len(bad_rst)}; RSTs'
          f' on any port {rst}), as many as the peer\'s OutRsts'
          f' (+{peer_outrsts})')
    for c in all_conns:
        if c.prst:
            print(f'# guest port {c.gport}: the peer reset the closed'
                  f' connection {c.prst} time(s), answering the guest\'s'
                  f' ACK of its retransmitted FIN')
    for fr in bad_rst[:5]:
        print(f'# frame {fr}: an RST that is not one of these')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
