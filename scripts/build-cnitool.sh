#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build the CNI reference runtime CLI, cnitool, from Debian packages alone
# (the tests drive the plugin through it) into build/tools/cnitool.
# A no-op when it is already built.
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

DEBIAN_SRC_WHO=build-cnitool
# shellcheck source=scripts/lib/debian-src.sh
. "$ROOT/scripts/lib/debian-src.sh"

tmp=$(mktemp -d /tmp/cnitool-build.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

debian_src_fetch "$SRC_PKG" "$tmp"

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
