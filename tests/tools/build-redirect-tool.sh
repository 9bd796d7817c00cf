#!/bin/sh
# Builds tests/tools/redirect_tool.c against the CMake build's static libraries.
# Usage: build-redirect-tool.sh BUILD_DIR OUTPUT
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
out=$2
cc -std=c17 -D_GNU_SOURCE -O2 -I"$src/common" -I"$src/plugin" \
	"$src/tests/tools/redirect_tool.c" -o "$out" \
	"$build/libistio_plugin.a" "$build/libistio_common.a" \
	$(pkg-config --libs jansson libnftnl libmnl yaml-0.1 libcap)
