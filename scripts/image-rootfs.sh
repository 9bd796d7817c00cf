#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# scripts/image-rootfs.sh OUTDIR: writes the file tree of the image's final
# stage (what the Containerfile's last stage holds) into OUTDIR, from the
# build's binaries, with no container engine and no registry:
#
#   usr/local/bin/install-cni -> istio-cni-agent   the DaemonSet's command
#   usr/local/bin/istio-cni-agent
#   usr/local/bin/istio-cni-repair
#   usr/local/bin/istio-cni-validate
#   opt/cni/bin/istio-cni                           what the agent copies to the node
#   opt/cni/bin/istio-cni-repair -> /usr/local/bin/istio-cni-repair
#                                                   Istio 1.7's repair-cni command
#   etc/ tmp/ var/run/                              empty mount points
#
# Every binary must be one static executable (no ELF interpreter, no
# DT_NEEDED): the image holds nothing else, and the plugin runs on the
# node's own OS. BIN_DIR (default $BUILD_DIR/bin, BUILD_DIR default build/)
# says where the binaries are; the image gets stripped copies. OUTDIR must
# be absent or empty.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN_DIR=${BIN_DIR:-$BUILD_DIR/bin}
BINARIES=(istio-cni istio-cni-agent istio-cni-repair istio-cni-validate)

die() { echo "image-rootfs: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 OUTDIR"
OUT=$1
if [[ -e "$OUT" && -n "$(ls -A "$OUT")" ]]; then
	die "$OUT is not empty"
fi
command -v readelf >/dev/null || die "readelf (binutils) is needed to check the binaries"

for b in "${BINARIES[@]}"; do
	f=$BIN_DIR/$b
	[[ -f "$f" ]] || die "$f missing: build first (cmake --build $BUILD_DIR)"
	interp=$(readelf -lW "$f" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
	needed=$(readelf -dW "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
	if [[ -n "$interp" || -n "$needed" ]]; then
		die "$f is not a static executable (interpreter: ${interp:-none}; needs: ${needed:-nothing}); the image holds only static binaries: build with the static configuration"
	fi
done

mkdir -p "$OUT"/usr/local/bin "$OUT"/opt/cni/bin "$OUT"/etc "$OUT"/tmp "$OUT"/var/run
chmod 1777 "$OUT"/tmp
for b in istio-cni-agent istio-cni-repair istio-cni-validate; do
	install -s -m 0755 "$BIN_DIR/$b" "$OUT/usr/local/bin/$b"
done
ln -s istio-cni-agent "$OUT/usr/local/bin/install-cni"
install -s -m 0755 "$BIN_DIR/istio-cni" "$OUT/opt/cni/bin/istio-cni"
ln -s /usr/local/bin/istio-cni-repair "$OUT/opt/cni/bin/istio-cni-repair"
echo "image-rootfs: wrote $OUT ($(du -sh "$OUT" | cut -f1))" >&2
