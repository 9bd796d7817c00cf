#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The configuration names the code reads, and the ones README.md documents.

  config_names.py [--root DIR] code     every name the sources read, one per line:
                                        KIND NAME READERS FILES [DEFAULTS]
  config_names.py [--root DIR] readme   every name README.md's "Configuration
                                        reference" lists: KIND NAME READERS DEFAULT

KIND is one of
  env       a process environment variable (the agent's, repair's, the plugin's)
  conf      a key of a CNI network configuration (the plugin's netconf, and the
            primary CNI conf the installer checks before it rewrites it)
  cni_args  a key of CNI_ARGS
  pod       a pod annotation or label, or a variable of the istio-proxy container

Where the names come from:
  env       every #define of common/util/istio_names.h named ENV_*, and the
            first name-like argument (a literal or a macro) of every call of
            getenv, env_get, cni_env_lookup and the env_* readers built on them;
            the names of cni_env.c's env_table; "X*" for a `prefix[] = "X"`
            (a family of variables matched by prefix)
  conf      the key argument of json_object_get and the typed getters of the
            netconf and conflist parsers
  cni_args  the keys cni_args.c compares against
  pod       istio_names.h's ANN_*, PROXY_ENV_* and *_LABEL_KEY defines

READERS is which binaries read a name, from the folders of the files whose
code reads it (agent/ and install/: agent; repair/main.c: repair; the rest of
repair/: repair and agent, which runs the repair loop; plugin/ and
common/cni/: plugin); "-" when only shared code reads it. DEFAULTS is the
default a reader passes (the argument after the name), when it is a literal
or a macro with a value.

The module is also imported: code_names(root) and readme_names(root).
"""
import argparse
import os
import re
import sys

SCAN_DIRS = ("agent", "install", "repair", "plugin", "validate", "common")
NAMES_H = "common/util/istio_names.h"

# Functions whose first name-like argument is an environment variable; for
# those in DEFAULT_ARG the next argument is the default.
ENV_READERS = ("getenv", "secure_getenv", "env_get", "cni_env_lookup", "envp_get", "env_string",
               "env_bool", "env_path", "env_file_name", "env_log_level", "env_port", "env_text",
               "env_uint", "env_list")
DEFAULT_ARG = {"env_string", "env_bool", "env_path", "env_file_name", "env_port", "env_text",
               "env_uint"}
CONF_GETTERS = ("json_object_get", "get_string", "get_bool", "get_string_array", "typed_string",
                "typed_string_array", "validate_bool_or_string")
CONF_FILES = ("common/cni/netconf.c", "install/conflist.c", "install/cni_conf_dir.c")
CNI_ARGS_FILE = "common/cni/cni_args.c"
CNI_ENV_FILE = "common/cni/cni_env.c"

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MACRO_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def sources(root):
    for d in SCAN_DIRS:
        for dirpath, _, files in sorted(os.walk(os.path.join(root, d))):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, f), root)


def defines(root):
    """Every `#define NAME value` with a string or integer value, by name."""
    out = {}
    for rel in sources(root):
        for name, s, n in re.findall(r'^#define\s+(\w+)\s+(?:"([^"]*)"|(\d+)\b)',
                                     read(root, rel), flags=re.M):
            out.setdefault(name, s if not n else n)
    return out


def readers_of(rel):
    if rel.startswith(("agent/", "install/")):
        return {"agent"}
    if rel == "repair/main.c":
        return {"repair"}
    if rel.startswith("repair/"):
        return {"repair", "agent"}
    if rel.startswith(("plugin/", "common/cni/")):
        return {"plugin"}
    if rel.startswith("validate/"):
        return {"validate"}
    return set()


def call_args(text, start):
    """The top-level arguments of the call whose "(" is at start."""
    depth, args, cur, i, quote = 0, [], "", start, None
    while i < len(text):
        c = text[i]
        if quote:
            cur += c
            if c == "\\":
                cur += text[i + 1]
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            cur += c
        elif c == "(":
            depth += 1
            if depth > 1:
                cur += c
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(cur.strip())
                return args
            cur += c
        elif c == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    return args


def value_of(arg, defs):
    """A literal or macro argument's value; None when it is neither."""
    m = re.fullmatch(r'"([^"]*)"', arg)
    if m:
        return m.group(1)
    if arg in ("true", "false") or re.fullmatch(r"\d+", arg):
        return arg
    if MACRO_RE.match(arg) and arg in defs:
        return defs[arg]
    return None


class Names:
    def __init__(self):
        self.by = {}  # (kind, name) -> {"readers": set, "files": set, "defaults": set}

    def add(self, kind, name, rel, default=None):
        e = self.by.setdefault((kind, name), {"readers": set(), "files": set(),
                                              "defaults": set()})
        e["readers"] |= readers_of(rel)
        e["files"].add(rel)
        if default not in (None, "", "0"):
            e["defaults"].add(default)

    def kind(self, kind):
        return {n: e for (k, n), e in self.by.items() if k == kind}


def code_names(root):
    defs = defines(root)
    names = Names()
    names_h = read(root, NAMES_H)
    for macro, value in re.findall(r'^#define\s+(\w+)\s+"([^"]*)"', names_h, flags=re.M):
        if macro.startswith("ENV_"):
            names.add("env", value, NAMES_H)
        elif macro.startswith(("ANN_", "PROXY_ENV_")) or macro.endswith("_LABEL_KEY"):
            names.add("pod", value, NAMES_H)
    pod_macros = {m for m in defs if m.startswith("PROXY_ENV_")}

    call = re.compile(r"\b(%s)\s*\(" % "|".join(ENV_READERS))
    for rel in sources(root):
        text = strip_comments(read(root, rel))
        for m in call.finditer(text):
            args = call_args(text, m.end() - 1)
            for i, a in enumerate(args):
                if a in pod_macros:
                    break
                is_lit = re.fullmatch(r'"([^"]*)"', a)
                if not (is_lit or (MACRO_RE.match(a) and a in defs)):
                    continue
                name = value_of(a, defs)
                if not NAME_RE.match(name or ""):
                    break
                default = None
                if m.group(1) in DEFAULT_ARG and i + 1 < len(args):
                    default = value_of(args[i + 1], defs)
                names.add("env", name, rel, default)
                break
        for p in re.findall(r'\bprefix\[\]\s*=\s*"([A-Z][A-Z0-9_]*)"', text):
            names.add("env", p + "*", rel)
        if rel == CNI_ENV_FILE:
            table = re.search(r"env_table\[[^]]*\]\s*=\s*\{(.*?)\n\};", text, flags=re.S)
            for n in re.findall(r'\{\s*"([A-Z][A-Z0-9_]*)"', table.group(1) if table else ""):
                names.add("env", n, rel)
        if rel in CONF_FILES:
            getter = re.compile(r"\b(%s)\s*\(" % "|".join(CONF_GETTERS))
            for m in getter.finditer(text):
                args = call_args(text, m.end() - 1)
                if len(args) >= 2 and re.fullmatch(r'"[^"]+"', args[1]):
                    names.add("conf", args[1][1:-1], rel)
        if rel == CNI_ARGS_FILE:
            for n in re.findall(r'strcmp\(\s*key\s*,\s*"([^"]+)"\s*\)', text):
                names.add("cni_args", n, rel)
    return names


SECTION = "## Configuration reference"
# The first word found in a ### heading decides its tables' kind.
KINDS = (("pod", "pod"), ("cni_args", "cni_args"), ("network configuration", "conf"),
         ("primary cni conf", "conf"), ("environment", "env"))


def readme_names(root):
    """(kind, name) -> {"readers": text, "default": text, "line": n} from the README's tables.

    A table's kind comes from the ### heading above it; its first column holds
    the names (every `backticked` word of the cell), its "read by" and
    "default" columns are found by their header. A name on several rows
    gets the rows' cells joined."""
    lines = read(root, "README.md").split("\n")
    out, kind, inside, header = {}, None, False, None
    for no, line in enumerate(lines, 1):
        if line.startswith("## "):
            inside = line.strip() == SECTION
            continue
        if not inside:
            continue
        if line.startswith("### "):
            h = line[4:].lower().replace("`", "")
            kind = next((k for word, k in KINDS if word in h), None)
            header = None
            continue
        if not line.startswith("|") or kind is None:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set(cells[0]) <= set("-: "):
            continue
        col = {h: i for i, h in enumerate(header)}
        get = lambda h: cells[col[h]] if h in col and col[h] < len(cells) else ""
        for name in re.findall(r"`([^`]+)`", cells[0]):
            e = out.setdefault((kind, name), {"readers": "", "default": "", "line": no})
            e["readers"] += " " + get("read by")
            e["default"] += " " + get("default").replace("`", "")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("what", choices=("code", "readme"))
    a = ap.parse_args()
    if a.what == "code":
        for (kind, name), e in sorted(code_names(a.root).by.items()):
            print(kind, name, ",".join(sorted(e["readers"])) or "-", ",".join(sorted(e["files"])),
                  "|".join(sorted(e["defaults"])))
    else:
        for (kind, name), e in sorted(readme_names(a.root).items()):
            print(kind, name, e["readers"].strip() or "-", e["default"].strip() or "-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
