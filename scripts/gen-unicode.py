#!/usr/bin/env python3
"""Generates infer/unicode_data.c: the Unicode tables behind infer/unicode.c.

    python3 scripts/gen-unicode.py            # writes infer/unicode_data.c
    python3 scripts/gen-unicode.py --check    # exits 1 if the file is stale

The data comes from Python's unicodedata (Python 3.11: Unicode 14.0), so the
output depends on the Python version: run it with 3.11 to reproduce the
committed file byte for byte.

Tables (all sorted, searched by binary search):
  unicode_class_runs   one uint32 per run of code points with equal flags:
                       first_cp << 11 | flags. Flags are UCAT_* of unicode.h.
  unicode_lower_map    per-code-point lowercasing (str.lower() of one char:
                       the full mapping, so U+0130 gives two code points).
  unicode_strip_map    canonical decomposition (NFD) with the nonspacing
                       marks removed, as BERT's strip_accents does; Hangul
                       syllables are left to unicode.c (algorithmic).
  unicode_cjk_ranges   the "Chinese character" blocks of BERT.

A mapping table holds triples (lo, hi | stride << 24, op): code points
lo, lo+stride, ... <= hi map by op, whose top 4 bits give the kind:
  0 delta  cp + (low 28 bits - 2^27)
  1 const  the low 28 bits
  2 seq    pool[off .. off+len), off = low 28 bits >> 3, len = low 3 bits
  3 index  pool[low 28 bits + (cp - lo)]  (stride 1: one target per code point)

Hugging Face tokenizers' BERT normaliser and pre-tokeniser do not use current
Unicode data for three classes: nonspacing marks (strip_accents), "other"
characters (clean_text: Cc, Cf, Co) and punctuation come from the Rust crate
unicode_categories, whose tables predate Unicode 9. The BERT_* ranges below
list every code point assigned in Unicode 14 on which that crate and Python
disagree (found by feeding each code point through tokenizers 0.23.3's
BertNormalizer and BertPreTokenizer); the UCAT_BERT_* flags are Python's class
with these flipped, so hrt's BERT tokenizer matches HF's on every code point
(checked for all of them: "xA" + c + "b " + c + c + "1" + c gives HF's ids).
The general classes (L, N, ...) of tokenizers' byte-level regex (Oniguruma)
and of Rust's char methods are newer than Unicode 14 and agree with Python on
all code points that Unicode 14 assigns.
"""
import sys
import unicodedata as ud
from pathlib import Path

L, N, P, S, M, SPACE, CONTROL, MN = (1 << i for i in range(8))
BERT_PUNCT, BERT_MN, BERT_CONTROL = (1 << i for i in range(8, 11))
FLAG_BITS = 11
MAX_CP = 0x10FFFF

# Unicode PropList White_Space (regex \s in Oniguruma, Rust's is_whitespace).
WHITE_SPACE = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680,
               *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000}

# HF BertNormalizer's is_chinese_char (tokenizers/src/normalizers/bert.rs).
CJK_RANGES = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
              (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B920, 0x2CEAF), (0x2F800, 0x2FA1F)]

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def parse_ranges(text):
    out = set()
    for item in text.split():
        lo, _, hi = item.partition('-')
        out.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return out


# Code points whose nonspacing-mark status differs in HF's BERT strip_accents.
BERT_MN_FLIP = parse_ranges("""
7fd 898-89f 8ca-8e1 9fe afa-aff b55 c04 c3c d00 d3b-d3c d81 eba 1734 180f
1885-1886 1abf-1ace 1df6-1dfb a82c a8c5 a8ff a9bd 10d24-10d27 10eab-10eac
10f46-10f50 10f82-10f85 11070 11073-11074 110c2 111c9 111cf 1123e 1133b
11438-1143f 11442-11444 11446 1145e 1182f-11837 11839-1183a
1193b-1193c 1193e 11943 119d4-119d7 119da-119db 119e0 11a01-11a0a
11a33-11a38 11a3b-11a3e 11a47 11a51-11a56 11a59-11a5b 11a8a-11a96
11a98-11a99 11c30-11c36 11c38-11c3d 11c3f 11c92-11ca7 11caa-11cb0
11cb2-11cb3 11cb5-11cb6 11d31-11d36 11d3a 11d3c-11d3d 11d3f-11d45 11d47
11d90-11d91 11d95 11d97 11ef3-11ef4 16f4f 16fe4 1cf00-1cf2d 1cf30-1cf46
1e000-1e006 1e008-1e018 1e01b-1e021 1e023-1e024 1e026-1e02a 1e130-1e136
1e2ae 1e2ec-1e2ef 1e944-1e94a
""")
# ...whose canonical decomposition HF's (older) normalisation tables lack.
BERT_NO_DECOMPOSITION = {0x11938}
# ...whose "other" status (clean_text drops Cc, Cf, Co) differs.
BERT_CONTROL_FLIP = parse_ranges("890-891 8e2 110cd 13430-13438")
# ...whose punctuation status (BertPreTokenizer) differs.
BERT_PUNCT_FLIP = parse_ranges("""
61d 9fd a76 c77 c84 166d 1b7d-1b7e 2e43-2e4f 2e52-2e5d 10ead 10f55-10f59
10f86-10f89 111c9 1144b-1144f 1145a-1145b 1145d 11660-1166c 116b9 1183b
11944-11946 119e2 11a3f-11a46 11a9a-11a9c 11a9e-11aa2 11c41-11c45
11c70-11c71 11ef7-11ef8 11fff 12ff1-12ff2 16e97-16e9a 16fe2 1e95e-1e95f
""")


def category(cp):
    return ud.category(chr(cp))


def is_bert_mn(cp):
    return (category(cp) == 'Mn') != (cp in BERT_MN_FLIP)


def flags_of(cp):
    cat = category(cp)
    f = 0
    f |= {'L': L, 'N': N, 'P': P, 'S': S, 'M': M}.get(cat[0], 0)
    if cat in ('Cc', 'Cf'):
        f |= CONTROL
    if cat == 'Mn':
        f |= MN
    if cp in WHITE_SPACE:
        f |= SPACE
    ascii_punct = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
    if (ascii_punct or cat[0] == 'P') != (cp in BERT_PUNCT_FLIP):
        f |= BERT_PUNCT
    if is_bert_mn(cp):
        f |= BERT_MN
    if (cat in ('Cc', 'Cf', 'Co')) != (cp in BERT_CONTROL_FLIP):
        f |= BERT_CONTROL
    return f


def class_runs():
    runs, prev = [], None
    for cp in range(MAX_CP + 1):
        f = flags_of(cp)
        if f != prev:
            runs.append((cp, f))
            prev = f
    return runs


def lower_entries():
    out = []
    for cp in range(MAX_CP + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        s = chr(cp).lower()
        if s != chr(cp):
            out.append((cp, [ord(c) for c in s]))
    return out


def strip_entries():
    out = []
    for cp in range(MAX_CP + 1):
        if 0xD800 <= cp <= 0xDFFF or HANGUL_FIRST <= cp <= HANGUL_LAST:
            continue
        if is_bert_mn(cp) or cp in BERT_NO_DECOMPOSITION:
            continue  # dropped whole by the flag, or kept as it is
        seq = [ord(c) for c in ud.normalize('NFD', chr(cp)) if not is_bert_mn(ord(c))]
        if seq != [cp]:
            out.append((cp, seq))
    return out


KIND_DELTA, KIND_CONST, KIND_SEQ, KIND_INDEX = 0, 1, 2, 3
DELTA_BIAS = 1 << 27


def single_run(entries, i):
    """Longest run from entries[i] with one delta or one target:
    (length, stride, kind, value)."""
    cp, seq = entries[i]
    best = (1, 1, KIND_DELTA, seq[0] - cp)
    for stride in (1, 2):
        for kind, val in ((KIND_DELTA, seq[0] - cp), (KIND_CONST, seq[0])):
            j = i + 1
            while j < len(entries):
                c2, s2 = entries[j]
                if c2 != entries[j - 1][0] + stride or len(s2) != 1:
                    break
                if (s2[0] - c2 if kind == KIND_DELTA else s2[0]) != val:
                    break
                j += 1
            if j - i > best[0]:
                best = (j - i, stride, kind, val)
    return best


MIN_RUN = 4  # shorter delta/const runs go into index runs (12 bytes a run, 4 a pool entry)


def compress(entries, pool):
    """Greedy runs: same delta or same target at a stride of 1 or 2, else
    consecutive code points with their targets in pool; mappings to more
    than one code point go to pool one by one."""
    triples, i = [], 0
    single = lambda k: len(entries[k][1]) == 1
    while i < len(entries):
        cp, seq = entries[i]
        if not single(i):
            off = len(pool)
            pool.extend(seq)
            assert len(seq) < 8 and off < (1 << 25)
            triples.append((cp, cp, 1, KIND_SEQ << 28 | off << 3 | len(seq)))
            i += 1
            continue
        n, stride, kind, val = single_run(entries, i)
        if n < MIN_RUN:
            j = i + 1
            while (j < len(entries) and single(j) and entries[j][0] == entries[j - 1][0] + 1
                   and single_run(entries, j)[0] < MIN_RUN):
                j += 1
            if j - i >= 2:
                off = len(pool)
                pool.extend(entries[k][1][0] for k in range(i, j))
                triples.append((cp, entries[j - 1][0], 1, KIND_INDEX << 28 | off))
                i = j
                continue
        hi = cp + (n - 1) * stride
        payload = val + DELTA_BIAS if kind == KIND_DELTA else val
        assert 0 <= payload < (1 << 28)
        triples.append((cp, hi, stride, kind << 28 | payload))
        i += n
    return triples


def apply_map(triples, pool, cp):
    """Python model of unicode.c's lookup, to check the tables."""
    lo_list = [t[0] for t in triples]
    import bisect
    k = bisect.bisect_right(lo_list, cp) - 1
    if k < 0:
        return None
    lo, hi, stride, op = triples[k]
    if cp > hi or (cp - lo) % stride:
        return None
    kind, payload = op >> 28, op & ((1 << 28) - 1)
    if kind == KIND_DELTA:
        return [cp + payload - DELTA_BIAS]
    if kind == KIND_CONST:
        return [payload]
    if kind == KIND_INDEX:
        return [pool[payload + cp - lo]]
    return pool[payload >> 3:(payload >> 3) + (payload & 7)]


def check_map(entries, triples, pool):
    want = dict(entries)
    for cp in range(MAX_CP + 1):
        got = apply_map(triples, pool, cp)
        if got != want.get(cp):
            sys.exit(f"table check failed at U+{cp:04X}: {got} != {want.get(cp)}")


def fmt_array(ctype, name, values, per_line, width):
    lines = [f"const {ctype} {name}[] = {{"]
    for k in range(0, len(values), per_line):
        chunk = values[k:k + per_line]
        lines.append("    " + " ".join(f"0x{v:0{width}x}," for v in chunk))
    lines.append("};")
    lines.append(f"const size_t {name}_n = {len(values)};")
    return "\n".join(lines)


def generate():
    runs = class_runs()
    packed = [cp << FLAG_BITS | f for cp, f in runs]
    ascii_flags = [flags_of(cp) for cp in range(128)]

    pool = []
    lower = lower_entries()
    lower_t = compress(lower, pool)
    check_map(lower, lower_t, pool)
    strip = strip_entries()
    strip_t = compress(strip, pool)
    check_map(strip, strip_t, pool)
    max_lower = max(len(s) for _, s in lower)
    max_strip = max(len(s) for _, s in strip)
    assert max_lower <= 4 and max_strip <= 4, (max_lower, max_strip)

    def flat(triples):
        return [x for lo, hi, stride, op in triples for x in (lo, hi | stride << 24, op)]

    parts = [
        "/* Generated by scripts/gen-unicode.py from Python "
        f"{sys.version_info.major}.{sys.version_info.minor}'s unicodedata "
        f"(Unicode {ud.unidata_version}).",
        " * Do not edit: change the script and run it again. Layouts are"
        " described there. */",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        f"/* {len(runs)} runs: first_cp << {FLAG_BITS} | UCAT_* flags. */",
        fmt_array("uint32_t", "unicode_class_runs", packed, 6, 8),
        "",
        "/* Flags of U+0000..U+007F, the fast path. */",
        fmt_array("uint16_t", "unicode_ascii_flags", ascii_flags, 8, 4),
        "",
        f"/* {len(lower)} lowercase mappings in {len(lower_t)} runs:"
        " (lo, hi | stride << 24, op) triples. */",
        fmt_array("uint32_t", "unicode_lower_map", flat(lower_t), 6, 8),
        "",
        f"/* {len(strip)} NFD-minus-Mn mappings in {len(strip_t)} runs. */",
        fmt_array("uint32_t", "unicode_strip_map", flat(strip_t), 6, 8),
        "",
        "/* Code points of multi-code-point mappings. */",
        fmt_array("uint32_t", "unicode_map_pool", pool, 6, 8),
        "",
        "/* BERT's CJK blocks: (first, last) pairs. */",
        fmt_array("uint32_t", "unicode_cjk_ranges", [x for r in CJK_RANGES for x in r], 6, 8),
        "",
    ]
    return "\n".join(parts)


def main():
    out = Path(__file__).resolve().parent.parent / "infer" / "unicode_data.c"
    text = generate()
    if "--check" in sys.argv[1:]:
        if not out.exists() or out.read_text() != text:
            print(f"{out} is stale: run scripts/gen-unicode.py", file=sys.stderr)
            return 1
        return 0
    out.write_text(text)
    print(f"wrote {out} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
