#!/usr/bin/env python3
"""Generate the "rule -> tests" table of docs/conformance.md.

Usage: scripts/gen-rule-table.py            rewrite the table in place
       scripts/gen-rule-table.py --check    TAP: is the committed table
                                            up to date, and does every rule
                                            cited in the code exist?
       scripts/gen-rule-table.py --stdout   print the new table only

The rules are numbered in docs/conformance.md ("- **023** ...").  Tests are
the GLib tests registered in tests/unit/*.c (g_test_add_func, g_test_add and
macros wrapping them) and the qos tests in tests/qtest/*.c and
tests/qtest/libqos/*.c ({ "name", function } entries of the arrays passed to
qos_add_test), and the scenarios of tests/support/scenarios-*.c ({ "name",
function } entries of their ChimneyScenario tables), each of which runs
twice: as the unit test /chimney/scenario/NAME and the qos test
chimney-nic/scenario-NAME.  A test checks a rule when its name contains rule-NNN (a list:
rule-013-014 is rules 013 and 014) or when a comment in its function, or the
comment right above it, cites the rule ("rule 023", "rules 012, 013",
"rules 030-033" for a range).  The table sits between the markers
<!-- rule-table:begin --> and <!-- rule-table:end -->.

Copyright (c) 2026 chimney-nic authors
SPDX-License-Identifier: GPL-2.0-or-later
"""

import argparse
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = 'docs/conformance.md'
BEGIN = '<!-- rule-table:begin -->'
END = '<!-- rule-table:end -->'
TEST_GLOBS = ('tests/unit/*.c', 'tests/qtest/*.c', 'tests/qtest/libqos/*.c',
              'tests/support/scenarios-*.c')
# where citations must name an existing rule
CITE_GLOBS = TEST_GLOBS + ('tests/unit/*.h', 'tests/qtest/*.h',
                           'tests/qtest/libqos/*.h', 'tests/fuzz/*.c',
                           'tests/bench/*.c', 'tests/support/*.[ch]',
                           'hw/net/chimney/*.[ch]',
                           'include/hw/net/*.h', 'guest-driver/**/*.[ch]')

NAME_CITE = re.compile(r'rule((?:[-_]\d{3})+)', re.I)
TEXT_CITE = re.compile(r'\brules?\s+(\d{1,3}(?:\s*(?:,|and|or|-|\u2013|to)'
                       r'\s*\d{1,3})*)', re.I)
COMMENT = re.compile(r'/\*.*?\*/|//[^\n]*', re.S)


def files(globs):
    out = set()
    for g in globs:
        out.update(glob.glob(os.path.join(ROOT, g), recursive=True))
    return sorted(os.path.relpath(f, ROOT) for f in out)


def name_rules(name):
    rules = set()
    for m in NAME_CITE.finditer(name):
        rules.update(int(n) for n in re.findall(r'\d{3}', m.group(1)))
    return rules


def text_rules(text):
    rules = set()
    for m in TEXT_CITE.finditer(text):
        parts = re.split(r'\s*(,|and|or|-|\u2013|to)\s*', m.group(1))
        nums, seps = [int(p) for p in parts[0::2]], parts[1::2]
        rules.update(nums)
        for a, sep, b in zip(nums, seps, nums[1:]):
            if sep in ('-', '\u2013', 'to') and a < b:
                rules.update(range(a, b + 1))
    return rules


def functions(src):
    """name -> comment text of the function body and of the comment block
    right above its definition."""
    out = {}
    lines = src.split('\n')
    i = 0
    while i < len(lines):
        m = re.match(r'(?:static\s+)?(?:inline\s+)?[A-Za-z_][\w\s\*]*?\b(\w+)\(',
                     lines[i])
        if not m or lines[i].startswith((' ', '\t', '#')) or \
                lines[i].rstrip().endswith(';'):
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i] != '{' and \
                not lines[i].rstrip().endswith(';'):
            i += 1
        if i >= len(lines) or lines[i] != '{':
            i = start + 1
            continue
        end = i
        while end < len(lines) and lines[end] != '}':
            end += 1
        body = '\n'.join(lines[i:end + 1])
        # the comment block that ends on the line above the definition
        above = ''
        if start > 0 and lines[start - 1].rstrip().endswith('*/'):
            j = start - 1
            while j >= 0 and '/*' not in lines[j]:
                j -= 1
            above = '\n'.join(lines[j:start])
        comments = ' '.join(COMMENT.findall(body)) + ' ' + above
        out[m.group(1)] = comments
        i = end + 1
    return out


def split_args(text):
    """Top-level comma-separated arguments of a call, text after '('."""
    args, depth, cur, in_str = [], 0, '', False
    for ch in text:
        if in_str:
            cur += ch
            if ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == '(':
            depth += 1
        elif ch == ')':
            if depth == 0:
                args.append(cur.strip())
                return args
            depth -= 1
        elif ch == ',' and depth == 0:
            args.append(cur.strip())
            cur = ''
            continue
        cur += ch
    return args


def strings(arg):
    return ''.join(re.findall(r'"([^"]*)"', arg))


def tests_of(path, src):
    """[(display name, function)] of the tests a file registers."""
    out = []
    nocomment = COMMENT.sub(' ', src)
    macros = {}     # macro -> (prefix, index of the name param, fn param)
    for m in re.finditer(r'#define\s+(\w+)\(([^)]*)\)\s*\\?\s*'
                         r'(g_test_add(?:_func)?)\(', nocomment):
        params = [p.strip() for p in m.group(2).split(',')]
        args = split_args(nocomment[m.end():])
        if not args:
            continue
        first = args[0].split()
        fn_arg = args[1] if m.group(3) == 'g_test_add_func' else \
            (args[4] if len(args) > 4 else '')
        name_param = first[-1] if first and first[-1] in params else None
        if name_param and fn_arg in params:
            macros[m.group(1)] = (strings(args[0]), params.index(name_param),
                                  params.index(fn_arg))
    for m in re.finditer(r'\b(g_test_add_func|g_test_add|\w+)\(', nocomment):
        what = m.group(1)
        if what not in ('g_test_add_func', 'g_test_add') and \
                what not in macros:
            continue
        if nocomment[max(0, m.start() - 20):m.start()].rstrip() \
                .endswith('#define'):
            continue
        args = split_args(nocomment[m.end():])
        if what == 'g_test_add_func' and len(args) >= 2:
            if re.fullmatch(r'"[^"]*"(\s*"[^"]*")*', args[0]):
                out.append(('unit `%s`' % strings(args[0]), args[1]))
        elif what == 'g_test_add' and len(args) >= 5:
            if re.fullmatch(r'"[^"]*"(\s*"[^"]*")*', args[0]):
                out.append(('unit `%s`' % strings(args[0]), args[4]))
        elif what in macros:
            prefix, iname, ifn = macros[what]
            if len(args) > max(iname, ifn) and args[iname].startswith('"'):
                out.append(('unit `%s%s`' % (prefix, strings(args[iname])),
                            args[ifn]))
    if 'ChimneyScenario' in nocomment:
        for m in re.finditer(r'\{\s*"([^"]+)"\s*,\s*(\w+)\s*\}', nocomment):
            out.append(('unit `/chimney/scenario/%s`' % m.group(1),
                        m.group(2)))
            out.append(('qtest `chimney-nic/scenario-%s`' % m.group(1),
                        m.group(2)))
        return out
    if 'qos_add_test' in nocomment:
        for m in re.finditer(r'\{\s*"([^"]+)"\s*,\s*(\w+)\s*\}', nocomment):
            out.append(('qtest `chimney-nic/%s`' % m.group(1), m.group(2)))
    return out


def collect():
    """rule -> sorted list of test display names."""
    table = {}
    for path in files(TEST_GLOBS):
        src = open(os.path.join(ROOT, path), errors='replace').read()
        funcs = functions(src)
        for name, fn in tests_of(path, src):
            rules = name_rules(name) | text_rules(funcs.get(fn, ''))
            for r in rules:
                table.setdefault(r, set()).add(name)
    return {r: sorted(t) for r, t in table.items()}


def doc_rules(doc):
    return [int(n) for n in re.findall(r'^- \*\*(\d{3})\*\*', doc, re.M)]


def render(rules, table):
    out = [BEGIN, '', '| Rule | Tests |', '|---|---|']
    for r in rules:
        tests = table.get(r)
        out.append('| %03d | %s |' % (r, ', '.join(tests) if tests else '-'))
    untested = [r for r in rules if r not in table]
    out += ['', '**Rules no test checks (%d of %d):** %s' %
            (len(untested), len(rules),
             ', '.join('%03d' % r for r in untested) or 'none'), '', END]
    return '\n'.join(out)


def splice(doc, table_text):
    a, b = doc.find(BEGIN), doc.find(END)
    if a < 0 or b < a:
        raise SystemExit('%s: markers %s / %s not found' % (DOC, BEGIN, END))
    return doc[:a] + table_text + doc[b + len(END):]


def citations():
    """(path, line, rule) of every rule cited in code and tests."""
    out = []
    for path in files(CITE_GLOBS):
        for n, line in enumerate(open(os.path.join(ROOT, path),
                                      errors='replace'), 1):
            for r in sorted(name_rules(line) | text_rules(line)):
                out.append((path, n, r))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', action='store_true',
                    help='TAP: compare with the committed table')
    ap.add_argument('--stdout', action='store_true',
                    help='print the table instead of writing it')
    args = ap.parse_args()

    doc_path = os.path.join(ROOT, DOC)
    doc = open(doc_path).read()
    rules = doc_rules(doc)
    table = collect()
    new_doc = splice(doc, render(rules, table))

    if args.stdout:
        print(render(rules, table))
        return 0
    if not args.check:
        if new_doc != doc:
            with open(doc_path, 'w') as f:
                f.write(new_doc)
            print('%s: rule table updated' % DOC)
        return 0

    results = []
    results.append((rules == list(range(1, len(rules) + 1)) and rules,
                    '%s numbers its rules 001..%03d in order' %
                    (DOC, len(rules))))
    unknown = [r for r in table if r not in rules]
    results.append((not unknown, 'every rule a test cites is in %s%s' %
                    (DOC, '' if not unknown else ': unknown ' +
                     ', '.join('%03d' % r for r in sorted(unknown)))))
    bad = [(p, n, r) for p, n, r in citations() if r not in rules]
    results.append((not bad, 'every rule cited in the code and tests is in '
                    '%s%s' % (DOC, '' if not bad else ': ' + '; '.join(
                        '%s:%d cites %03d' % c for c in bad[:10]))))
    results.append((new_doc == doc, 'the rule table in %s is up to date%s' %
                    (DOC, '' if new_doc == doc else
                     ' (run scripts/gen-rule-table.py and commit the result)')))
    print('1..%d' % len(results))
    for i, (ok, text) in enumerate(results, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', i, text))
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
