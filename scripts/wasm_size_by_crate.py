#!/usr/bin/env python3
"""What each crate costs the page's gzipped wasm: the gzip -9 size of all function bodies,
less that of all bodies but the crate's (its marginal cost: generic code repeated per type
mostly compresses away, so raw sizes mislead).

Usage (after `. scripts/lib.sh && build_page`):
  wasm-bindgen --target web --keep-debug --out-dir /tmp/wasm-names \
      target/page/wasm32-unknown-unknown/wasm-release/tabcoin_web.wasm
  python3 scripts/wasm_size_by_crate.py /tmp/wasm-names/tabcoin_web_bg.wasm
"""
import collections
import gzip
import re
import sys

P256_STACK = {'p256', 'primeorder', 'crypto_bigint', 'ecdsa', 'elliptic_curve', 'rfc6979', 'der', 'wnaf',
              'ff', 'group', 'subtle', 'hmac', 'ctutils'}
BINDINGS = {'js_sys', 'wasm_bindgen', 'wasm_bindgen_futures', 'web_sys', 'js', 'serde_wasm_bindgen', 'serde',
            'serde_core'}


def leb(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7f) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def sections(data):
    i = 8
    while i < len(data):
        kind = data[i]
        size, i = leb(data, i + 1)
        yield kind, i, size
        i += size


def imported_functions(data, start):
    count, i = leb(data, start)
    functions = 0
    for _ in range(count):
        for _ in range(2):  # module and field names
            length, i = leb(data, i)
            i += length
        kind = data[i]
        i += 1
        if kind == 0:
            _, i = leb(data, i)
            functions += 1
        elif kind == 1:  # table: element type, limits
            i += 1
            flags = data[i]
            _, i = leb(data, i + 1)
            if flags & 1:
                _, i = leb(data, i)
        elif kind == 2:  # memory: limits
            flags = data[i]
            _, i = leb(data, i + 1)
            if flags & 1:
                _, i = leb(data, i)
        elif kind == 3:  # global: type, mutability
            i += 2
    return functions


def function_names(data, start, size):
    length, i = leb(data, start)
    if data[i:i + length] != b'name':
        return {}
    i += length
    names = {}
    while i < start + size:
        sub = data[i]
        sub_size, i = leb(data, i + 1)
        end = i + sub_size
        if sub == 1:
            count, j = leb(data, i)
            for _ in range(count):
                index, j = leb(data, j)
                length, j = leb(data, j)
                names[index] = data[j:j + length].decode('utf8', 'replace')
                j += length
        i = end
    return names


def group(name):
    for part, label in (('btree', 'BTreeMap'), ('hashbrown', 'HashMap'), ('slice::sort', 'sorts')):
        if part in name:
            return label
    match = re.search(r'([a-z_][a-z0-9_]*)(?:\[[0-9a-f]+\])?::', name)
    crate = match.group(1) if match else 'other'
    if crate in P256_STACK:
        return 'P-256 (RustCrypto)'
    if crate in BINDINGS:
        return 'wasm-bindgen, js-sys, web-sys, serde'
    return crate


def main(path):
    data = open(path, 'rb').read()
    imports, names, bodies = 0, {}, []
    # The name section comes after the code: read it first.
    for kind, start, size in sections(data):
        if kind == 2:
            imports = imported_functions(data, start)
        elif kind == 0:
            names.update(function_names(data, start, size))
    for kind, start, size in sections(data):
        if kind == 10:
            count, i = leb(data, start)
            for k in range(count):
                body_size, i = leb(data, i)
                bodies.append((group(names.get(imports + k, '?')), data[i:i + body_size]))
                i += body_size
    total = len(gzip.compress(b''.join(b for _, b in bodies), 9))
    raw = collections.Counter()
    for label, body in bodies:
        raw[label] += len(body)
    rows = []
    for label in raw:
        rest = len(gzip.compress(b''.join(b for other, b in bodies if other != label), 9))
        rows.append((total - rest, raw[label], label))
    print(f'code: {sum(raw.values())} bytes, {total} gzipped')
    print('gzipped (marginal)    raw  group')
    for marginal, size, label in sorted(rows, reverse=True)[:16]:
        print(f'{marginal:18d} {size:8d}  {label}')


if __name__ == '__main__':
    main(sys.argv[1])
