#!/usr/bin/python3
"""pcap-offload-net.py FILE PORT BOGUS_MAC

The wire side of run-offload-net.sh's network-change test: what the NIC
sent for the offloaded connection between the guest's marker pings
(ICMP echo requests with 401..410 payload bytes, sent after each change
took effect).  The connection is the guest port with the most frames to
PORT between markers 401 and 409.  Prints one "PCAP: ok - ..." or
"PCAP: not ok - ..." line per check and a summary per phase."""

import struct
import sys

GUEST = bytes([10, 0, 2, 15])
ALT_IP = bytes([10, 0, 2, 3])


def mac(b):
    return ':'.join(f'{x:02x}' for x in b)


def frames(path):
    data = open(path, 'rb').read()
    if data[:4] == b'\xd4\xc3\xb2\xa1':
        e = '<'
    elif data[:4] == b'\xa1\xb2\xc3\xd4':
        e = '>'
    else:
        sys.exit(f'{path}: not a classic pcap file')
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack(e + 'I', data[off + 8:off + 12])[0]
        yield data[off + 16:off + 16 + caplen]
        off += 16 + caplen


def main():
    path, port, bogus = sys.argv[1], int(sys.argv[2]), sys.argv[3].lower()
    phase = 0
    segs = []           # (phase, sport, dst mac, payload, flags)
    alt = '52:55:0a:00:02:03'
    rst = 0
    for f in frames(path):
        if len(f) < 34:
            continue
        if f[12:14] == b'\x08\x06' and len(f) >= 42 and f[20:22] == b'\x00\x02' \
                and f[28:32] == ALT_IP:
            alt = mac(f[22:28])     # ARP reply for the second next hop
            continue
        if f[12:14] != b'\x08\x00' or f[26:30] != GUEST:
            continue
        ihl = (f[14] & 15) * 4
        tot = struct.unpack('>H', f[16:18])[0]
        t = 14 + ihl
        if f[23] == 1 and len(f) > t and f[t] == 8:
            n = tot - ihl - 8
            if 401 <= n <= 410:
                phase = n
            continue
        if f[23] != 6 or len(f) < t + 14:
            continue
        sp, dp = struct.unpack('>HH', f[t:t + 4])
        if dp != port:
            continue
        fl = f[t + 13]
        if fl & 4:
            rst += 1
        n = tot - ihl - (f[t + 12] >> 4) * 4
        segs.append((phase, sp, mac(f[0:6]), n))
    count = {}
    for ph, sp, _, _ in segs:
        if 401 <= ph < 409:
            count[sp] = count.get(sp, 0) + 1
    if not count:
        print('PCAP: not ok - the offloaded connection is in the capture')
        return
    conn = max(count, key=count.get)
    mine = [s for s in segs if s[1] == conn]
    real = mine[0][2]
    print(f'  connection guest:{conn} -> host:{port}; host MAC {real}, '
          f'bogus {bogus}, {alt} for 10.0.2.3')

    def sel(*phases):
        return [s for s in mine if s[0] in phases]

    for ph in (0, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410):
        s = sel(ph)
        macs = sorted({x[2] for x in s})
        big = max((x[3] for x in s), default=0)
        print(f'    after marker {ph or "-"}: {len(s)} frames, '
              f'max payload {big}, to {" ".join(macs)}')

    def check(ok, what):
        print(f'PCAP: {"ok" if ok else "not ok"} - {what}')

    def all_to(phases, m, what):
        s = sel(*phases)
        check(s and all(x[2] == m for x in s),
              f'{what}: {len(s)} frames, all to {m}')

    all_to((0,), real, 'before the MAC change, frames go to the host MAC')
    all_to((402,), bogus, 'after the MAC UPDATE the device sends to the bogus MAC')
    all_to((404,), real, 'after the MAC is restored the device sends to the host MAC')
    before = [x[3] for x in sel(404)]
    check(before and max(before) > 960,
          f'before the MTU change the device sends data segments over 960 '
          f'bytes (max {max(before, default=0)})')

    def mtu1000(ph, what):
        s = [x[3] for x in sel(ph) if x[3] > 0]
        check(s and 900 < max(s) <= 960,
              f'after {what} the data segments are cut to <= 960 bytes, a '
              f'burst fills them (> 900) ({len(s)} segments, max '
              f'{max(s, default=0)})')

    mtu1000(405, 'the path MTU UPDATE (route mtu lock 1000)')
    all_to((407,), alt, 'after the relink the device sends to the 10.0.2.3 neighbor')
    all_to((409,), real, 'after the relink back the device sends to the host MAC')
    mtu1000(410, 'the ICMP frag-needed (MTU 1000)')
    check(rst == 0, f'no RST from the guest to port {port} ({rst})')


if __name__ == '__main__':
    main()
