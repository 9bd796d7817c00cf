#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The plugin's hot-path layout: which input sections one run touches, and
the linker script that puts them first.

The plugin is a static executable started once per pod. Much of its run is
the first touch of each page of code and data, so the code and data a CNI
request runs through are packed together, ahead of the rest of the binary.

  hot_path.py trace MAP <TRACE   input sections touched, in first-touch order
  hot_path.py emit ORDER... >LD  the linker script (plugin/hot_path.ld)

MAP is the linker map of the traced binary (-Wl,-Map); TRACE is the output
of valgrind --tool=lackey, with --trace-mem=yes (code and data) or
--trace-superblocks=yes (code only). ORDER files are trace outputs, most
important first.
"""
import bisect
import os
import re
import sys

KINDS = (  # input section name prefix -> the hot output section it joins
    (".text", "text"),
    (".rodata", "rodata"),
    (".data.rel.ro", "relro"),  # read-only after start-up (RELRO)
    (".data", "data"),
    (".bss", "bss"),
)
# The rodata segment starts where the default script aligns to a new page
# before .rodata; ld inserts ahead of that alignment, so the hot rodata does
# it again, or it would land in the executable segment.
NEW_SEGMENT = ("  . = ALIGN(CONSTANT (MAXPAGESIZE));\n"
               "  . = SEGMENT_START(\"rodata-segment\", ALIGN(CONSTANT (MAXPAGESIZE)) + "
               "(. & (CONSTANT (MAXPAGESIZE) - 1)));\n")
OUTPUT = (  # kind, hot output section, placed before, what precedes it
    ("text", ".text.hot_path", ".text", ""),
    ("rodata", ".rodata.hot_path", ".rodata", NEW_SEGMENT),
    ("relro", ".data.rel.ro.hot_path", ".data.rel.ro", ""),  # still inside RELRO
    ("data", ".data.hot_path", ".data", ""),
    ("bss", ".bss.hot_path", ".bss", ""),
)
# glibc's string functions come in one object per CPU variant, chosen at
# start-up (IFUNC). valgrind's CPU has no AVX-512, so a traced avx2 member
# stands for its whole family: the AVX-512/EVEX members go first (current
# servers), then the AVX2 ones.
IFUNC = re.compile(r"(libc\.a:)([a-z0-9_]+)-(?:avx2|avx|evex|avx512|sse2|ssse3|sse4_1|sse4_2)\b")
IFUNC_GROUPS = (("evex", "avx512"), ("avx2.o", "avx2-unaligned", "avx-unaligned"))


def kind_of(name):
    for prefix, kind in KINDS:
        if name == prefix or name.startswith(prefix + "."):
            return kind
    return None


def read_map(path):
    """The input sections of a GNU ld map: sorted (address, size, name, file)."""
    out = []
    pending = None
    started = False
    head = re.compile(r"^ (\.\S+|COMMON)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
    with open(path) as f:
        for line in f:
            if not started:
                started = line.startswith("Linker script and memory map")
                continue
            m = re.match(r"^ (\.\S+)\s*$", line)
            if m:
                pending = m.group(1)  # a long name: the numbers follow on the next line
                continue
            m = head.match(line)
            if m and (m.group(1) or pending):
                name = m.group(1) or pending
                addr, size = int(m.group(2), 16), int(m.group(3), 16)
                if addr and size and kind_of(name):
                    out.append((addr, size, name, m.group(4).strip()))
            pending = None
    out.sort()
    return out


def file_pattern(path):
    """The linker script's file pattern: archive:member, or the object's name."""
    m = re.match(r"^(?:.*/)?([^/()]+\.a)\((.+)\)$", path)
    if m:
        return "*%s:%s" % (m.group(1), m.group(2))
    return "*/" + os.path.basename(path)


def trace(map_path, stream):
    sections = read_map(map_path)
    starts = [s[0] for s in sections]
    seen_blocks = set()
    seen = set()
    for line in stream:
        # "I  04016d0,3", " L 1ffefffd08,8" (--trace-mem) or "SB 04016d0"
        # (--trace-superblocks); valgrind's own lines start with "==".
        if line.startswith(b"SB "):
            field = line[3:]
        else:
            comma = line.find(b",")
            if comma < 0 or line.startswith(b"=="):
                continue
            field = line[2:comma]
        try:
            addr = int(field, 16)
        except ValueError:
            continue
        block = addr >> 6
        if block in seen_blocks:
            continue
        seen_blocks.add(block)
        i = bisect.bisect_right(starts, addr) - 1
        if i < 0 or i in seen:
            continue
        a, size, name, path = sections[i]
        if addr >= a + size:
            continue
        seen.add(i)
        print("%s\t%s(%s)" % (kind_of(name), file_pattern(path), name))


# A trace of code only (lackey's --trace-superblocks, for runs too slow to
# trace every access) stands for the data of the objects it ran: whole
# sections, by name, as objects built without -fdata-sections have them.
OBJECT_DATA = (("rodata", "(.rodata .rodata.*)"), ("relro", "(.data.rel.ro .data.rel.ro.local)"),
               ("data", "(.data .data.rel .data.rel.local)"))


def read_order(path):
    """(kind, pattern) lines of a trace, data added for a trace of code only."""
    with open(path) as f:
        entries = [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]
    if any(kind != "text" for kind, _ in entries):
        return entries
    out = list(entries)
    seen = set()
    for _, pattern in entries:
        obj = pattern[:pattern.rindex("(")]
        if obj in seen or IFUNC.match(obj[1:]):
            continue
        seen.add(obj)
        out.extend((kind, obj + sections) for kind, sections in OBJECT_DATA)
    return out


# GCC's clones (fn.constprop.0, fn.isra.0, fn.part.0) are named by what the
# optimiser did, which differs between -O2 and -O3: match any clone of fn.
CLONE = re.compile(r"\.(?:constprop|isra|part|cold)(?:\.[0-9]+)?")


def any_clone(pattern):
    obj, sections = pattern[:pattern.rindex("(")], pattern[pattern.rindex("("):]
    return obj + CLONE.sub("*", sections)


def emit(order_paths):
    lists = {kind: [] for kind, _, _, _ in OUTPUT}
    families = []
    done = set()
    for path in order_paths:
        for kind, pattern in read_order(path):
            pattern = any_clone(pattern)
            if pattern in done or kind not in lists:
                continue
            done.add(pattern)
            m = IFUNC.match(pattern[1:]) if kind == "text" else None
            if m:
                if m.group(2) not in families:
                    families.append(m.group(2))
                continue
            lists[kind].append(pattern)
    # The string functions right after the start-up code that picks them.
    ifunc = ["*libc.a:%s-%s*(.text*)" % (fam, v) for group in IFUNC_GROUPS for v in group
             for fam in families]
    start = "*libc.a:libc-start.o(.text)"
    at = lists["text"].index(start) + 1 if start in lists["text"] else 0
    lists["text"][at:at] = ifunc
    if not lists["text"]:
        sys.exit("hot_path.py: the traces touched no code of the binary (wrong map?)")
    print("/* Generated by scripts/hot-path.sh: the plugin's hot path first (see there). */")
    for kind, name, before, prelude in OUTPUT:
        if not lists[kind]:
            continue
        print("SECTIONS\n{\n%s  %s :\n  {" % (prelude, name))
        for p in lists[kind]:
            print("    " + p)
        print("  }\n}\nINSERT BEFORE %s;" % before)


def main(argv):
    if len(argv) >= 3 and argv[1] == "trace":
        trace(argv[2], sys.stdin.buffer)
        return 0
    if len(argv) >= 3 and argv[1] == "emit":
        emit(argv[2:])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
