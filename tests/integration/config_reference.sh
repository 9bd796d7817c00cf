#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# README.md's "Configuration reference" against the code: every environment
# variable, CNI conf key, CNI_ARGS key and pod annotation/label/proxy variable
# the sources read (tests/tools/config_names.py) has a row, and every row
# names something the code reads; the "read by" cell names each binary whose
# code reads it, and the "default" cell holds the default the code passes.
# Needs no root and no build.
. "$(dirname "$0")/lib.sh"

out=$("$PYTHON" - "$ROOT" <<'PY'
import os, re, sys
root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "tests", "tools"))
import config_names as cn

TABLE = {"env": "Environment variables", "conf": "CNI network configuration / primary CNI conf",
         "cni_args": "CNI_ARGS keys", "pod": "Pod annotations, labels and the proxy's environment"}
WHAT = {"env": "environment variable", "conf": "CNI conf key", "cni_args": "CNI_ARGS key",
        "pod": "pod annotation/label/proxy variable"}

code = cn.code_names(root).by
doc = cn.readme_names(root)
if not doc:
    print("FAIL README.md has no \"%s\" tables" % cn.SECTION)
    sys.exit(0)

for (kind, name), e in sorted(code.items()):
    where = ", ".join(sorted(e["files"]))
    row = doc.get((kind, name))
    if row is None:
        print("FAIL %s %s: read by %s (%s) but missing from README.md's \"%s\" table "
              "under \"%s\"" % (WHAT[kind], name, "/".join(sorted(e["readers"])) or "shared code",
                                where, TABLE[kind], cn.SECTION))
        continue
    problems = []
    said = set(re.findall(r"[a-z]+", row["readers"].lower()))
    missing = sorted(e["readers"] - said)
    if missing:
        problems.append("\"read by\" lacks %s (read in %s)" % (", ".join(missing), where))
    said_defaults = {t.rstrip(":.") for t in re.findall(r"[^\s,;()`]+", row["default"])}
    for d in sorted(e["defaults"]):
        if d not in said_defaults:
            problems.append("\"default\" lacks the code's default %s" % d)
    if problems:
        print("FAIL %s %s (README.md line %d): %s" % (WHAT[kind], name, row["line"],
                                                      "; ".join(problems)))
    else:
        print("ok   %s %s documented (read by %s)" % (WHAT[kind], name,
                                                     row["readers"].strip()))

for (kind, name), row in sorted(doc.items()):
    if (kind, name) not in code:
        print("FAIL README.md line %d lists %s %s in the \"%s\" table, but no code reads it "
              "(tests/tools/config_names.py code)" % (row["line"], WHAT[kind], name, TABLE[kind]))
PY
)
while IFS= read -r line; do
	case "$line" in
	ok*) pass "${line#ok   }" ;;
	FAIL*) fail "${line#FAIL }" ;;
	*) [[ -n "$line" ]] && fail "extractor: $line" ;;
	esac
done <<<"$out"
summary
