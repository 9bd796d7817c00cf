#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build the CNI reference runtime CLI, cnitool, from Debian packages alone
# (SPEC 13) into build/tools/cnitool. A no-op when it is already built.
#
# golang-github-appc-cni-dev ships libcni but not cnitool/, so the one Go file
# comes from the Debian source package and is built in GOPATH mode against
# the packaged libraries in /usr/share/gocode. Needs root only the first time,
# to add a deb-src entry and download the source.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/build/tools/cnitool"
SRC_PKG=golang-github-appc-cni

if [[ -x "$OUT" && "${FORCE:-0}" != 1 ]]; then
	exit 0
fi

for tool in go dpkg-source apt-get; do
	if ! command -v "$tool" >/dev/null; then
		echo "build-cnitool: $tool missing; run scripts/install-deps.sh" >&2
		exit 1
	fi
done
if [[ ! -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ]]; then
	echo "build-cnitool: golang-github-appc-cni-dev missing; run scripts/install-deps.sh" >&2
	exit 1
fi

# Is there any deb-src entry for bookworm main, in one-line or deb822 form?
have_deb_src() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f "$f" ]] || continue
		if grep -Eq '^[[:space:]]*deb-src[[:space:]].*[[:space:]]bookworm[[:space:]].*main' "$f"; then
			return 0
		fi
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] || continue
		# deb822: split into stanzas on blank lines, look for one stanza
		# that is enabled, has deb-src, bookworm and main.
		if awk 'BEGIN { RS = ""; found = 0 }
			/(^|\n)Types:[^\n]*deb-src/ && /(^|\n)Suites:[^\n]*bookworm([ \t\n]|$)/ &&
			/(^|\n)Components:[^\n]*main/ && !/(^|\n)Enabled:[ \t]*no/ { found = 1 }
			END { exit !found }' "$f"; then
			return 0
		fi
	done
	return 1
}

tmp=$(mktemp -d /tmp/cnitool-build.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fetch_source() {
	(cd "$tmp" && apt-get source -q "$SRC_PKG" >"$tmp/apt-source.log" 2>&1)
}

if ! have_deb_src; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "build-cnitool: no deb-src entry for bookworm main; run as root" >&2
		exit 1
	fi
	echo "build-cnitool: adding deb-src entry for bookworm main" >&2
	cat >/etc/apt/sources.list.d/istio-cni-deb-src.sources <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
	apt-get update -q >&2
fi

# The deb-src entry may exist without its index having been fetched yet.
if ! fetch_source; then
	echo "build-cnitool: apt-get source failed, updating the index and retrying" >&2
	apt-get update -q >&2
	if ! fetch_source; then
		cat "$tmp/apt-source.log" >&2
		exit 1
	fi
fi

src=$(find "$tmp" -maxdepth 3 -path '*/cnitool/cnitool.go' -print -quit)
if [[ -z "$src" ]]; then
	echo "build-cnitool: cnitool/cnitool.go not found in the $SRC_PKG source" >&2
	exit 1
fi

# GOPATH mode: our own tree first (the main package), then Debian's gocode.
gopath="$tmp/gopath"
mkdir -p "$gopath/src/cnitool" "$ROOT/build/tools"
cp "$src" "$gopath/src/cnitool/"
(
	cd "$gopath/src/cnitool"
	GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$tmp/gocache" \
		GOFLAGS= CGO_ENABLED=0 go build -o "$OUT.tmp" .
)
mv -f "$OUT.tmp" "$OUT"
echo "build-cnitool: built $OUT" >&2
