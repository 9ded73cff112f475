#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Table of tests/bench/guest-bench.sh: reads LOGDIR/runs.tsv (one line
per boot: rep netdev nic rundir qemu_rc) and each run directory's
serial.log (GBENCH, BENCH-L2, CHECK lines of the guest) and host.jsonl
(benchsrv.py), checks every transfer (bytes and SHA-256 at both ends,
the guest's checks, QEMU's exit status) and prints per cell the median
and min/max of host MB/s, guest CPU ms per MiB and QEMU CPU ms per MiB,
then the goal check.  A transfer that did not check out is an ERROR line,
never a figure.

  report.py LOGDIR MIB
"""
import json
import os
import re
import statistics
import sys

NIC_LABEL = {
    'offload': 'chimney-nic, offloaded',
    'policy': 'chimney-nic, offl. by policy',
    'l2': 'chimney-nic, L2 (no offload)',
    'virtio': 'virtio-net-pci',
    'e1000e': 'e1000e',
}
NETDEV_LABEL = {'tap': 'tap', 'user': 'user (slirp)'}
DIRS = (('g2h', 'send', 'guest->host'), ('h2g', 'recv', 'host->guest'))
JIFFY_MS = 10.0     # USER_HZ = 100


def parse_kv(line):
    return dict(kv.split('=', 1) for kv in line.split()[1:] if '=' in kv)


def load_run(rundir, qemu_rc, nbytes):
    """{dir: record or error string} for one boot."""
    serial = ''
    try:
        serial = open(os.path.join(rundir, 'serial.log'), errors='replace').read()
    except OSError:
        pass
    serial = serial.replace('\r', '')
    guest = {}
    l2 = {}
    irqs = {}
    bad_checks = []
    for line in serial.splitlines():
        if line.startswith('GBENCH '):
            kv = parse_kv(line)
            guest[kv.get('dir')] = kv
        elif line.startswith('BENCH-L2 '):
            kv = parse_kv(line)
            l2[{'send': 'g2h', 'recv': 'h2g'}.get(kv.get('dir'))] = int(kv.get('frames', '0'))
        elif line.startswith('BENCH-IRQ '):
            kv = parse_kv(line)
            irqs[{'send': 'g2h', 'recv': 'h2g'}.get(kv.get('dir'))] = int(kv.get('irqs', '0'))
        elif line.startswith('CHECK: not ok - '):
            bad_checks.append(line[len('CHECK: not ok - '):])
    host = {}
    try:
        for line in open(os.path.join(rundir, 'host.jsonl')):
            rec = json.loads(line)
            host[rec.get('dir')] = rec
    except (OSError, ValueError):
        pass
    out = {}
    for d, verb, _ in DIRS:
        g, h = guest.get(d), host.get(d)
        errs = [c for c in bad_checks if c.startswith(verb + ':')]
        if g is None:
            errs.append('no GBENCH line from the guest')
        if h is None:
            errs.append('no record from the host server')
        elif 'error' in h:
            errs.append('host server: ' + h['error'])
        if g is not None and h is not None and 'error' not in h:
            if int(g.get('bytes', -1)) != nbytes or int(h.get('bytes', -1)) != nbytes:
                errs.append('bytes: guest %s, host %s, want %d'
                            % (g.get('bytes'), h.get('bytes'), nbytes))
            if g.get('sha256') != h.get('sha256'):
                errs.append('SHA-256 differs: guest %s, host %s'
                            % (g.get('sha256'), h.get('sha256')))
            if h.get('unexpected_bytes'):
                errs.append('%d unexpected bytes from the guest' % h['unexpected_bytes'])
            if 'MBps' not in h:
                errs.append('no host timing')
        # QEMU status 1 = guest PASS, 3 = a guest check failed: then only
        # the checks of this transfer (send:/recv:) and the general ones
        # (driver load, interface, dmesg) count against it
        other = [c for c in bad_checks if not c.startswith(('send:', 'recv:'))]
        if qemu_rc not in ('1', '3') or (qemu_rc == '3' and other):
            errs.append('QEMU exit status %s (1 = guest PASS)%s'
                        % (qemu_rc, '; failed: ' + '; '.join(other) if other else ''))
        if errs:
            out[d] = '; '.join(errs)
            continue
        mib = nbytes / 1048576.0
        busy, total = int(g['busy_j']), int(g['total_j'])
        out[d] = dict(
            MBps=h['MBps'],
            guest_ms=busy * JIFFY_MS / mib,
            guest_busy_pct=100.0 * busy / total if total else 0.0,
            setup_ms=int(g['setup_busy_j']) * JIFFY_MS,
            qemu_ms=(h['qemu_cpu_s'] * 1000.0 / mib
                     if h.get('qemu_cpu_s') is not None else None),
            l2_frames=l2.get(d), irqs=irqs.get(d))
    return out


def fmt(vals, f='%.1f'):
    vals = [v for v in vals if v is not None]
    if not vals:
        return 'n/a'
    return (f + ' [' + f + '-' + f + ']') % (statistics.median(vals), min(vals), max(vals))


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def main():
    logdir, mib = sys.argv[1], float(sys.argv[2])
    nbytes = int(mib * 1048576)
    cells = {}      # (netdev, nic, dir) -> [records]
    errors = []
    order_nd, order_nic = [], []
    for line in open(os.path.join(logdir, 'runs.tsv')):
        rep, nd, nic, rundir, rc = line.rstrip('\n').split('\t')
        if nd not in order_nd:
            order_nd.append(nd)
        if nic not in order_nic:
            order_nic.append(nic)
        for d, rec in load_run(rundir, rc, nbytes).items():
            cells.setdefault((nd, nic, d), [])
            if isinstance(rec, str):
                errors.append('ERROR rep %s %s %s %s: %s (%s)'
                              % (rep, nd, nic, d, rec, rundir))
            else:
                cells[(nd, nic, d)].append(rec)

    print('%-6s %-30s %-11s %3s  %-24s %-22s %-22s %-7s %-8s %-7s %s' % (
        'netdev', 'NIC', 'direction', 'n', 'host MB/s med [min-max]',
        'guest CPU ms/MiB', 'QEMU CPU ms/MiB', 'guest%', 'setup ms', 'IRQs',
        'L2 frames'))
    for nd in order_nd:
        for nic in order_nic:
            for d, _, dlabel in DIRS:
                rs = cells.get((nd, nic, d))
                if rs is None:
                    continue
                l2 = med([r['l2_frames'] for r in rs])
                irq = med([r['irqs'] for r in rs])
                print('%-6s %-30s %-11s %3d  %-24s %-22s %-22s %-7s %-8s %-7s %s' % (
                    nd, NIC_LABEL.get(nic, nic), dlabel, len(rs),
                    fmt([r['MBps'] for r in rs]),
                    fmt([r['guest_ms'] for r in rs]),
                    fmt([r['qemu_ms'] for r in rs]),
                    fmt([r['guest_busy_pct'] for r in rs], '%.0f').split(' ')[0],
                    fmt([r['setup_ms'] for r in rs], '%.0f').split(' ')[0],
                    '-' if irq is None else '%d' % irq,
                    '-' if l2 is None else '%d' % l2))
    print()
    for e in errors:
        print(e)
    if errors:
        print()

    # the goal: offloaded vs virtio-net-pci over tap, medians of this run
    # (by chimneyctl, and by the offload policy if it ran)
    for ofl in ('offload', 'policy'):
        if ofl == 'policy' and 'policy' not in order_nic:
            continue
        print('goal (issue 8), %s vs virtio-net-pci, medians of this run:'
              % ('offloaded chimney-nic' if ofl == 'offload'
                 else 'chimney-nic offloaded by policy'))
        goal_lines(cells, ofl)
    return 0


def goal_lines(cells, ofl):
    for nd in ('tap', 'user'):
        for d, _, dlabel in DIRS:
            o = cells.get((nd, ofl, d))
            v = cells.get((nd, 'virtio', d))
            if not o or not v:
                if nd != 'tap' or (o is None and v is None):
                    continue
                if not o and v:
                    # every offloaded transfer failed (ERROR lines above)
                    print('  %s %s: no offloaded transfer completed: goal missed'
                          % (nd, dlabel))
                else:
                    print('  %s %s: no valid runs of both NICs: goal not measured'
                          % (nd, dlabel))
                continue
            tput = med([r['MBps'] for r in o]) / med([r['MBps'] for r in v])
            og, vg = med([r['guest_ms'] for r in o]), med([r['guest_ms'] for r in v])
            cpu = og / vg if vg else float('inf')
            tag = '' if nd == 'tap' else ' (for information; the goal is over tap)'
            print('  %s %s: throughput %.2fx virtio-net (goal >= 4x): %s%s'
                  % (nd, dlabel, tput, 'goal met' if tput >= 4 else 'goal missed', tag))
            print('  %s %s: guest CPU per MiB %.2f of virtio-net\'s (%.1f vs %.1f ms/MiB; goal <= 0.20): %s%s'
                  % (nd, dlabel, cpu, og, vg, 'goal met' if cpu <= 0.2 else 'goal missed', tag))


if __name__ == '__main__':
    sys.exit(main())
