#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Install every Debian package that the build, the tests, the fuzzers, the
# benchmarks and the demo need. Debian 12 (bookworm), run as root.
# A no-op (no apt-get at all) when everything is already installed.
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake pkg-config
	libnftnl-dev libmnl-dev libjansson-dev libcurl4-openssl-dev libcap-dev
	libyaml-dev libmicrohttpd-dev
	# the static build (scripts/static-deps.sh): archives, and what builds
	# libcurl and libmicrohttpd from their Debian sources
	libssl-dev libc-ares-dev dpkg-dev debian-archive-keyring
	# unit tests
	libcmocka-dev
	# integration tests and the demo: kernel tools, reference CNI plugins,
	# and what scripts/build-cnitool.sh needs to build cnitool
	nftables iptables iproute2 containernetworking-plugins
	golang-go golang-github-appc-cni-dev dpkg-dev
	util-linux procps openssl python3 python3-prometheus-client python3-yaml
	# the image test (tests/integration/image.sh): podman running the image's
	# tree with runc, and readelf (binutils) for scripts/image-rootfs.sh
	podman runc conmon binutils
	# fuzzers, sanitizers, format and static checks, leak checks
	clang libclang-rt-14-dev clang-format clang-tidy valgrind
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done

# apt-get source (static-deps.sh, build-cnitool.sh) needs a deb-src entry.
DEBIAN_SRC_WHO=install-deps
# shellcheck source=scripts/lib/debian-src.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/debian-src.sh"

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-deps: all ${#PACKAGES[@]} packages present" >&2
	debian_src_ensure
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
debian_src_ensure
