#!/usr/bin/env python3
"""Check that the spec's tables and the ABI header agree.

Usage: scripts/check-spec-abi.py [--spec FILE] [--header FILE] [-v]

docs/specs/chimney-nic.rst is the normative description of the chimney-nic
programming interface and include/hw/net/chimney_hw.h its C version.  This
script reads both and compares every value the spec states with the
header's:

  * constants in the spec's tables: registers (offsets, access types, reset
    values), ring registers, bit tables (CTRL, STATUS, RX_FILTER, CAP_FLAGS,
    interrupt causes, TCP cached flags), rings and entry sizes, statistics
    registers, MSI-X vectors, command opcodes and flags, event types, guest
    error codes, completion statuses, object kinds, TCP states, block types
    and roles, upload reasons, status indications;
  * structure tables (offset, size and name of every field, and that every
    header field is in the table) and the structure sizes the prose states;
  * values the prose gives inline (``CHIMNEY_RING_MIN`` = 8,
    ``TCP_CONST_SACK`` (0x2), ``0x1b36`` (``CHIMNEY_PCI_VENDOR_ID``),
    Bit 0 ``TXF_EOP``, ...);
  * that every member of the header's enums and every CHIMNEY_ST_*,
    CHIMNEY_REG_*, CHIMNEY_ERR_*, CHIMNEY_CMD_*, CHIMNEY_EVT_*,
    CHIMNEY_TYPE_*, CHIMNEY_INT_*, CHIMNEY_CAP_* and CHIMNEY_VEC_* constant
    is stated somewhere in the spec.

Output is TAP (one "ok"/"not ok" line per check); the exit status is 1 if
any check failed.  scripts/run-tests.sh runs it with the unit tests.

Copyright (c) 2026 chimney-nic authors
SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NUM = r'(?:0x[0-9a-fA-F]+|\d+)'


def to_int(text):
    return int(text, 16) if text.lower().startswith('0x') else int(text)


# ---------------------------------------------------------------------------
# The header
# ---------------------------------------------------------------------------

C_TYPES = {'uint8_t': 1, 'uint16_t': 2, 'uint32_t': 4, 'uint64_t': 8}


class Header:
    def __init__(self, path):
        self.path = path
        text = open(path).read()
        self.consts = {}        # name -> int
        self.access = {}        # register macro -> RO/RW/RW1C/WO (comment)
        self.enum_members = []  # names, in order
        self.structs = {}       # name -> (size, align, [(field, off, size)])
        self.asserts = {}       # struct -> size in CHIMNEY_ABI_ASSERT
        self._defines(text)
        nocomment = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
        self._enums(nocomment)
        self._structs(nocomment)
        for m in re.finditer(r'CHIMNEY_ABI_ASSERT\((\w+),\s*(\d+)\)',
                             nocomment):
            self.asserts[m.group(1)] = int(m.group(2))

    def eval(self, expr):
        expr = re.sub(r'/\*.*?\*/', '', expr, flags=re.S)
        expr = re.sub(r'\b(0x[0-9a-fA-F]+|\d+)[uUlL]+\b', r'\1', expr)
        expr = re.sub(r'\(uint\d+_t\)', '', expr)

        def ident(m):
            if m.group(0) not in self.consts:
                raise ValueError(m.group(0))
            return str(self.consts[m.group(0)])
        expr = re.sub(r'\b[A-Za-z_]\w*\b', ident, expr)
        if not re.fullmatch(r'[\s0-9a-fA-FxX()<>|&+\-*~]*', expr):
            raise ValueError(expr)
        return int(eval(expr, {'__builtins__': {}}))

    def _defines(self, text):
        for m in re.finditer(r'#define\s+(CHIMNEY_\w+)\s+[^/\n]*'
                             r'/\*\s*(RO|RW1C|RW|WO)\b', text):
            self.access[m.group(1)] = m.group(2)
        text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
        text = text.replace('\\\n', ' ')
        for line in text.splitlines():
            m = re.match(r'\s*#define\s+(CHIMNEY_\w+)(\(?)\s*(.*)$', line)
            if not m or m.group(2):
                continue            # function-like macros are not values
            name, body = m.group(1), m.group(3)
            try:
                self.consts[name] = self.eval(body)
            except (ValueError, SyntaxError):
                pass

    def _enums(self, text):
        for m in re.finditer(r'enum\s+\w+\s*\{(.*?)\}', text, flags=re.S):
            value = -1
            for item in m.group(1).split(','):
                item = item.strip()
                if not item:
                    continue
                if '=' in item:
                    name, expr = (x.strip() for x in item.split('=', 1))
                    value = self.eval(expr)
                else:
                    name, value = item, value + 1
                self.consts[name] = value
                self.enum_members.append(name)

    def _structs(self, text):
        for m in re.finditer(r'typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*\w+\s*;',
                             text, flags=re.S):
            off, align, fields = 0, 1, []
            for decl in m.group(2).split(';'):
                d = re.match(r'\s*(\w+)\s+(\w+)\s*(?:\[(\w+)\])?\s*$', decl)
                if not d:
                    continue
                ctype, fname, count = d.groups()
                if ctype in C_TYPES:
                    size = a = C_TYPES[ctype]
                else:
                    size, a, _ = self.structs[ctype]
                if count:
                    size *= self.eval(count)
                off = (off + a - 1) // a * a
                fields.append((fname, off, size))
                off += size
                align = max(align, a)
            size = (off + align - 1) // align * align
            self.structs[m.group(1)] = (size, align, fields)

    def resolve(self, name, prefixes=('CHIMNEY_',)):
        """The header constant a spec name stands for, or None."""
        if name.startswith('CHIMNEY_'):
            return name if name in self.consts else None
        for p in prefixes:
            if p + name in self.consts:
                return p + name
        return None


# ---------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------

class Table:
    def __init__(self, line, section, before):
        self.line = line            # line number of ".. list-table::"
        self.section = section      # title of the enclosing section
        self.before = before        # text between the previous table or
        self.header = []            # title and this table
        self.rows = []


def parse_spec(path):
    lines = open(path).read().splitlines()
    tables, prose = [], []
    section, before = '', []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ''
        if (line.strip() and re.fullmatch(r'([=\-~^])\1{2,}', nxt.strip())
                and len(nxt.strip()) >= len(line.strip())):
            section, before = line.strip(), []
            i += 2
            continue
        if line.strip() != '.. list-table::':
            before.append(line)
            prose.append(line)
            i += 1
            continue
        t = Table(i + 1, section, '\n'.join(before))
        before = []
        i += 1
        rows, row = [], None
        while i < len(lines):
            line = lines[i]
            if line.strip() and not line.startswith('   '):
                break
            s = line.strip()
            if s.startswith(':') and row is None:
                pass
            elif s.startswith('* - ') or s == '* -':
                row = [s[3:].strip()]
                rows.append(row)
            elif s.startswith('- ') or s == '-':
                row.append(s[1:].strip())
            elif s and row is not None:
                row[-1] = (row[-1] + ' ' + s).strip()
            i += 1
        t.header, t.rows = rows[0], rows[1:]
        tables.append(t)
    return tables, '\n'.join(prose)


def literals(cell):
    return re.findall(r'``([^`]+)``', cell)


def first_num(cell):
    m = re.search(r'(?<![\w.])(' + NUM + r')(?![\w])', cell.replace('``', ''))
    return to_int(m.group(1)) if m else None


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

class Checker:
    def __init__(self, hdr, verbose):
        self.hdr = hdr
        self.verbose = verbose
        self.results = []       # (ok, text)
        self.covered = set()    # header names some check compared
        self.cap_flags = 0      # CAP_FLAGS bits the spec sets (ABI column)
        self.cap_reset = None   # CAP_FLAGS reset value in the register map

    def check(self, ok, text):
        self.results.append((bool(ok), text))

    def value(self, name, spec_val, where):
        """Spec says constant `name` (a header name) is spec_val."""
        hv = self.hdr.consts.get(name)
        self.covered.add(name)
        if hv is None:
            self.check(False, '%s = 0x%x in spec (%s) but not in header'
                       % (name, spec_val, where))
        else:
            self.check(hv == spec_val,
                       '%s = 0x%x in spec (%s)%s' %
                       (name, spec_val, where,
                        ' and header' if hv == spec_val
                        else ', header has 0x%x' % hv))

    def unresolved(self, spec_name, where):
        self.check(False, '%s (%s) has no constant in the header'
                   % (spec_name, where))


def prefix_of(header_cell):
    lit = literals(header_cell)
    return lit[0] if lit and lit[0].endswith('_') else None


def check_struct_table(ck, t):
    hdr = ck.hdr
    names = re.findall(r'``(Chimney[A-Z]\w*)``', t.before)
    names = [n for n in names if n in hdr.structs]
    where = '"%s" table' % t.section
    if not names:
        ck.check(False, 'structure table at line %d: no structure named '
                 'before it' % t.line)
        return
    sname = names[-1]
    size, _, fields = hdr.structs[sname]
    cols = [c.lower() for c in t.header]
    io, isz, ifl = cols.index('offset'), cols.index('size'), cols.index('field')
    seen = set()
    for row in t.rows:
        lit = literals(row[ifl])
        if not lit:
            continue
        fname = re.sub(r'\[.*\]$', '', lit[0])
        off, fsize = to_int(row[io]), to_int(row[isz])
        hf = [f for f in fields if f[0] == fname]
        if not hf:
            ck.check(False, '%s.%s at 0x%02x (%s) is not a field of the '
                     'header struct' % (sname, fname, off, where))
            continue
        seen.add(fname)
        _, hoff, hsize = hf[0]
        ck.check(hoff == off and hsize == fsize,
                 '%s.%s offset 0x%02x size %d in spec (%s)%s' %
                 (sname, fname, off, fsize, where,
                  ' and header' if (hoff, hsize) == (off, fsize)
                  else ', header has 0x%02x size %d' % (hoff, hsize)))
    missing = [f[0] for f in fields if f[0] not in seen]
    ck.check(not missing, '%s: every header field is in the spec table (%s)%s'
             % (sname, where, '' if not missing
                else '; missing: ' + ', '.join(missing)))


def check_register_summary(ck, t):
    hdr = ck.hdr
    cols = t.header
    io, iname, iacc = 0, 1, 2
    irst, idesc = cols.index('Reset value'), cols.index('Description')
    where = 'register summary'
    for row in t.rows:
        lit = literals(row[iname])
        rng = re.match(r'(' + NUM + r')-(' + NUM + r')$', row[io])
        if not lit:
            if 'ring registers' in row[iname] and rng:
                base = hdr.consts['CHIMNEY_REG_RING_BASE']
                stride = hdr.consts['CHIMNEY_REG_RING_STRIDE']
                end = base + hdr.consts['CHIMNEY_RING_COUNT'] * stride - 4
                ok = (to_int(rng.group(1)), to_int(rng.group(2))) == (base, end)
                ck.covered.update(['CHIMNEY_REG_RING_BASE',
                                   'CHIMNEY_REG_RING_STRIDE'])
                ck.check(ok, 'ring registers at %s in spec (%s)%s' %
                         (row[io], where, ' and header' if ok else
                          ', header has 0x%03x-0x%03x' % (base, end)))
            continue
        name = lit[0]
        m = re.match(r'STAT\[(\d+)\.\.(\d+)\]$', name)
        if m and rng:
            a, b = int(m.group(1)), int(m.group(2))
            sb = hdr.consts['CHIMNEY_REG_STATS_BASE']
            cnt = hdr.consts['CHIMNEY_STAT_COUNT']
            ok = (to_int(rng.group(1)) == sb + 4 * a and
                  to_int(rng.group(2)) == sb + 4 * b and a == 0 and
                  b == cnt - 1)
            ck.covered.add('CHIMNEY_REG_STATS_BASE')
            ck.check(ok, 'STAT[%d..%d] at %s in spec (%s)%s' %
                     (a, b, row[io], where, ' and header' if ok else
                      ', header has STATS_BASE 0x%x, %d counters' % (sb, cnt)))
            continue
        reg = hdr.resolve(name, ('CHIMNEY_REG_',))
        if not reg:
            ck.unresolved('register ' + name, where)
            continue
        ck.value(reg, to_int(row[io]), where)
        acc = row[iacc].strip()
        hacc = hdr.access.get(reg)
        ck.check(hacc == acc, '%s access %s in spec (%s)%s' %
                 (reg, acc, where, ' and header comment' if hacc == acc
                  else ', header comment says %s' % hacc))
        # reset value: the constant the description names, if any
        rst = first_num(row[irst])
        const = {'VERSION': 'CHIMNEY_ABI_VERSION',
                 'RX_FILTER': 'CHIMNEY_RXF_RESET_VALUE'}.get(name)
        if not const:
            c = [x for x in literals(row[idesc]) if x in hdr.consts]
            const = c[0] if c else None
        if const and rst is not None:
            ck.value(const, rst, 'reset value of %s' % name)
        if reg == 'CHIMNEY_REG_CAP_FLAGS':
            ck.cap_reset = rst


def check_ring_registers(ck, t):
    hdr = ck.hdr
    where = 'ring registers'
    for row in t.rows:
        lit = literals(row[1])
        if not lit:
            continue
        name = lit[0]
        alias = [x for x in literals(row[-1])
                 if x in hdr.consts and x.startswith('CHIMNEY_' + name)]
        reg = alias[0] if alias else hdr.resolve(name)
        if not reg:
            ck.unresolved(name, where)
            continue
        ck.value(reg, to_int(row[0]), where)
        acc = row[2].strip()
        hacc = hdr.access.get(reg)
        ck.check(hacc == acc, '%s access %s in spec (%s)%s' %
                 (reg, acc, where, ' and header comment' if hacc == acc
                  else ', header comment says %s' % hacc))


VALUE_COLS = ('Value', 'Code', 'Id', 'i', 'Vector', 'Kind')
NAME_COLS = ('Name', 'Opcode', 'Type', 'Role')


def check_value_table(ck, t):
    hdr = ck.hdr
    cols = t.header
    where = '"%s" table' % t.section
    if cols[0] == 'Bit':
        ivalue, bits = 0, True
    else:
        ivalue = next(i for i, c in enumerate(cols) if c in VALUE_COLS)
        bits = False
    iname = next((i for i, c in enumerate(cols)
                  if i != ivalue and c.split(' ')[0] in NAME_COLS), None)
    if iname is None:
        return
    prefix = prefix_of(cols[iname])
    prefixes = ([prefix] if prefix else []) + ['CHIMNEY_']
    if t.section == 'Common model':
        prefixes = ['CHIMNEY_RING_']
    for row in t.rows:
        cell = row[ivalue].strip()
        if not re.fullmatch(NUM, cell):
            continue                # bit ranges, reserved rows
        val = (1 << int(cell)) if bits else to_int(cell)
        lit = literals(row[iname])
        name = lit[0] if lit else row[iname].strip()
        if not re.fullmatch(r'[A-Z][A-Z0-9_]*', name):
            continue
        const = hdr.resolve(name, prefixes)
        if not const:
            ck.unresolved(name, where)
            continue
        ck.value(const, val, where)
        abi = [c for c in cols if re.fullmatch(r'ABI \d+\.\d+', c)]
        if bits and abi and row[cols.index(abi[0])].strip() == '1':
            ck.cap_flags |= val
        if 'Offset' in cols and cols[ivalue] == 'i':
            off = to_int(row[cols.index('Offset')])
            exp = hdr.consts['CHIMNEY_REG_STATS_BASE'] + 4 * val
            ck.check(off == exp, 'STAT %s at 0x%03x in spec (%s)%s' %
                     (name, off, where, ' and header' if off == exp
                      else ', header has 0x%03x' % exp))
        if 'Entry size' in cols:
            esize = to_int(row[cols.index('Entry size')])
            st = [x for x in literals(row[-1]) if x in hdr.structs]
            if st:
                hs = hdr.structs[st[0]][0]
                ck.check(hs == esize, 'ring %s entry %s is %d bytes in spec '
                         '(%s)%s' % (name, st[0], esize, where,
                                     ' and header' if hs == esize
                                     else ', header has %d' % hs))


def check_pairs_table(ck, t):
    """Value/Name/Value/Name/... (enum ChimneyTcpState)."""
    for row in t.rows:
        for i in range(0, len(row) - 1, 2):
            lit = literals(row[i + 1])
            if not lit or not re.fullmatch(NUM, row[i].strip()):
                continue
            const = ck.hdr.resolve(lit[0])
            if not const:
                ck.unresolved(lit[0], '"%s" table' % t.section)
                continue
            ck.value(const, to_int(row[i]), '"%s" table' % t.section)


def check_layer_table(ck, t):
    for row in t.rows:
        kind = {'neighbor': 'NEIGH', 'path': 'PATH', 'TCP': 'TCP'}.get(
            row[0].strip())
        if kind:
            ck.value('CHIMNEY_KIND_' + kind, to_int(row[1]), 'layer table')


def check_tables(ck, tables):
    for t in tables:
        cols = t.header
        lc = [c.lower() for c in cols]
        if {'offset', 'size', 'field'} <= set(lc):
            check_struct_table(ck, t)
        elif t.section == 'Register summary':
            check_register_summary(ck, t)
        elif t.section == 'Ring registers':
            check_ring_registers(ck, t)
        elif cols[:2] == ['Layer', 'Kind']:
            check_layer_table(ck, t)
        elif cols.count('Value') > 1:
            check_pairs_table(ck, t)
        elif cols[0] == 'Bit' or any(c in VALUE_COLS for c in cols):
            check_value_table(ck, t)


PROSE_VALUE = [
    # ``NAME`` = 8, ``NAME`` = ``0x0200``
    re.compile(r'``([A-Z][A-Z0-9_]+)``\s*=\s*(?:``)?(' + NUM + r')(?:``)?'
               r'(?![\w`])'),
    # ``NAME`` (0x1), ``NAME`` (``0xffffffff``)
    re.compile(r'``([A-Z][A-Z0-9_]+)``\s*\((?:``)?(' + NUM + r')(?:``)?[),:]'),
    # (``NAME``, 0xc0231009)
    re.compile(r'``([A-Z][A-Z0-9_]+)``,\s*(' + NUM + r')\)'),
]
PROSE_REVERSE = re.compile(r'``(' + NUM + r')``\s*\(``(CHIMNEY_\w+)``[,)]')
PROSE_BIT = [
    re.compile(r'\b[Bb]it (\d+) ``([A-Z][A-Z0-9_]+)``'),
    re.compile(r'``([A-Z][A-Z0-9_]+)`` \(bit (\d+)[:)]'),
]
PROSE_SIZE = re.compile(r'``(Chimney[A-Z]\w*)``((?:(?!``Chimney)[^.:;]){0,80}?)'
                        r'\b(\d+) bytes')


def check_prose(ck, text):
    hdr = ck.hdr
    flat = re.sub(r'\s+', ' ', text)
    seen = set()

    def once(name, val, where):
        if (name, val) not in seen:
            seen.add((name, val))
            ck.value(name, val, where)
    for rx in PROSE_VALUE:
        for m in rx.finditer(flat):
            const = hdr.resolve(m.group(1))
            if const:
                once(const, to_int(m.group(2)), 'text')
    for m in PROSE_REVERSE.finditer(flat):
        if hdr.resolve(m.group(2)):
            once(m.group(2), to_int(m.group(1)), 'text')
        else:
            ck.unresolved(m.group(2), 'text')
    for i, rx in enumerate(PROSE_BIT):
        for m in rx.finditer(flat):
            bit, name = (m.group(1), m.group(2)) if i == 0 else \
                        (m.group(2), m.group(1))
            const = hdr.resolve(name)
            if const:
                once(const, 1 << int(bit), 'text, bit %s' % bit)
    for m in PROSE_SIZE.finditer(flat):
        name, size = m.group(1), int(m.group(3))
        if name not in hdr.structs or (name, size) in seen:
            continue
        seen.add((name, size))
        hs = hdr.structs[name][0]
        ck.check(hs == size, 'sizeof(%s) = %d in spec (text)%s' %
                 (name, size, ' and header' if hs == size
                  else ', header layout gives %d' % hs))


def check_header_self(ck):
    """The header's static assertions against its computed layout."""
    hdr = ck.hdr
    for name, size in sorted(hdr.asserts.items()):
        hs = hdr.structs.get(name, (None,))[0]
        ck.check(hs == size, 'sizeof(%s) = %d: CHIMNEY_ABI_ASSERT matches '
                 'the field layout%s' % (name, size, '' if hs == size else
                                         ' (layout gives %s)' % hs))
    missing = sorted(set(hdr.structs) - set(hdr.asserts))
    ck.check(not missing, 'every header struct has a CHIMNEY_ABI_ASSERT%s' %
             ('' if not missing else ': missing ' + ', '.join(missing)))


MUST_BE_IN_SPEC = ('CHIMNEY_ST_', 'CHIMNEY_REG_', 'CHIMNEY_ERR_',
                   'CHIMNEY_CMD_', 'CHIMNEY_EVT_', 'CHIMNEY_TYPE_',
                   'CHIMNEY_INT_', 'CHIMNEY_CAP_', 'CHIMNEY_VEC_')


def check_coverage(ck):
    hdr = ck.hdr
    must = set(hdr.enum_members)
    must |= {n for n in hdr.consts if n.startswith(MUST_BE_IN_SPEC)}
    for name in sorted(must - ck.covered):
        ck.check(False, '%s = 0x%x in header, but the spec states no value '
                 'for it' % (name, hdr.consts[name]))
    rest = sorted(set(hdr.consts) - ck.covered - must)
    return rest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--spec', default=os.path.join(
        ROOT, 'docs/specs/chimney-nic.rst'))
    ap.add_argument('--header', default=os.path.join(
        ROOT, 'include/hw/net/chimney_hw.h'))
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='also list header constants the spec gives no '
                    'value for (not an error)')
    args = ap.parse_args()

    hdr = Header(args.header)
    tables, prose = parse_spec(args.spec)
    ck = Checker(hdr, args.verbose)
    check_header_self(ck)
    check_tables(ck, tables)
    check_prose(ck, prose + '\n' + '\n'.join(
        ' '.join(row) for t in tables for row in t.rows))
    ck.check(ck.cap_reset == ck.cap_flags,
             'CAP_FLAGS reset value 0x%x in the register map = the bits the '
             'CAP_FLAGS table sets for this ABI version (0x%x)'
             % (ck.cap_reset or 0, ck.cap_flags))
    rest = check_coverage(ck)

    print('1..%d' % len(ck.results))
    for i, (ok, text) in enumerate(ck.results, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', i, text))
    if args.verbose and rest:
        print('# header constants with no value in the spec (not checked): '
              + ', '.join(rest))
    failed = sum(1 for ok, _ in ck.results if not ok)
    if failed:
        print('# %d of %d checks failed: the spec (%s) and the header (%s) '
              'disagree' % (failed, len(ck.results),
                            os.path.relpath(args.spec, ROOT),
                            os.path.relpath(args.header, ROOT)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
