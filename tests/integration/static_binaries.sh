#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every binary in BUILD_DIR/bin is one static executable: no ELF interpreter
# (PT_INTERP) and no shared library (DT_NEEDED), so it runs on any node's
# host OS whatever its libc, and none carries glibc's name-service switch,
# which would load the host's libnss_*.so at run time. Skipped for a dynamic build (ISTIO_CNI_STATIC=OFF).
# No root needed.
. "$(dirname "$0")/lib.sh"
command -v readelf >/dev/null || { echo "$TEST_NAME: readelf not found" >&2; exit 1; }
require_file "$BUILD_DIR/CMakeCache.txt" "configure first: cmake -S . -B $BUILD_DIR"
if grep -q '^ISTIO_CNI_STATIC:BOOL=OFF' "$BUILD_DIR/CMakeCache.txt"; then
	skip "dynamic build (-DISTIO_CNI_STATIC=OFF)"
	summary
	exit
fi

n=0
for bin in "$BUILD_DIR"/bin/*; do
	[[ -f "$bin" && ! -L "$bin" && -x "$bin" ]] || continue
	n=$((n + 1))
	name=$(basename "$bin")
	interp=$(readelf -lW "$bin" | grep -E '^ *INTERP ')
	[[ -z "$interp" ]] && pass "$name: no interpreter" || fail "$name: interpreter: $interp"
	needed=$(readelf -dW "$bin" | grep -F '(NEEDED)')
	[[ -z "$needed" ]] && pass "$name: no DT_NEEDED" || fail "$name: needs $needed"
	# glibc's NSS code defines __nss_* functions and names its modules libnss_*.
	nss=$(nm "$bin" 2>/dev/null | grep -c ' __nss_' || true)
	mods=$(grep -c -a 'libnss_' "$bin" || true)
	[[ "$nss" == 0 && "$mods" == 0 ]] && pass "$name: no name-service switch" ||
		fail "$name: glibc's NSS linked in ($nss __nss_ symbols, $mods libnss_ names)"
done
for want in istio-cni istio-cni-agent istio-cni-repair istio-cni-validate; do
	[[ -x "$BUILD_DIR/bin/$want" ]] && pass "$want built" || fail "$want built"
done
# The plugin's hot path (plugin/hot_path.ld) is laid out ahead of the rest.
hot=$(readelf -SW "$BUILD_DIR/bin/istio-cni" |
	awk '{ for (i = 1; i < NF; i++) if ($i == ".text.hot_path") print $(i + 4) }')
hot=$((16#${hot:-0}))
((hot > 65536)) && pass "istio-cni: hot path packed (${hot} bytes of code)" ||
	fail "istio-cni: no .text.hot_path section (plugin/hot_path.ld not applied)"
# ...without weakening the layout's protections: no data in the executable
# segment, and the hot read-only-after-start data inside RELRO.
phdrs=$(readelf -lW "$BUILD_DIR/bin/istio-cni")
segs=$(sed -n '/Section to Segment mapping/,$p' <<<"$phdrs" | grep -E '^ +[0-9]+ ')
exec_seg=$(grep -E ' \.text( |$)' <<<"$segs")
[[ -n "$exec_seg" && "$exec_seg" != *rodata* && "$exec_seg" != *data.rel* ]] &&
	pass "istio-cni: the executable segment holds code only" ||
	fail "istio-cni: the executable segment holds data: $exec_seg"
relro=$(awk '/^  [A-Z_]+ +0x/ { if ($1 == "GNU_RELRO") print n; n++ }' <<<"$phdrs")
relro_seg=$(grep -E "^ +0*${relro:-x} " <<<"$segs")
[[ -n "$relro" && "$relro_seg" == *".data.rel.ro.hot_path"* ]] &&
	pass "istio-cni: the hot relocated read-only data is inside RELRO" ||
	fail "istio-cni: .data.rel.ro.hot_path outside RELRO ($relro_seg)"
# scripts/hot-path.sh's mapping, on this build: an address traced by lackey
# (either trace format) names its input section, and the script lists it.
addr=$(nm "$BUILD_DIR/bin/istio-cni" | awk '$3 == "plugin_main" { print $1 }')
want='*libistio_plugin.a:plugin.c.o(.text.plugin_main)'
order=$(printf '==1== lackey\nI  %s,3\nSB %s\n' "$addr" "$addr" |
	"${PYTHON:-python3}" "$ROOT/scripts/hot_path.py" trace "$BUILD_DIR/istio-cni.map")
[[ "$order" == "text	$want" ]] && pass "hot_path.py trace: plugin_main's address names its section" ||
	fail "hot_path.py trace: got '$order' for plugin_main at ${addr:-?}"
ld=$("${PYTHON:-python3}" "$ROOT/scripts/hot_path.py" emit <(printf 'text\t%s\n' "$want"))
[[ "$ld" == *".text.hot_path :"*"$want"*"INSERT BEFORE .text;"* ]] &&
	pass "hot_path.py emit: a linker script that places it first" ||
	fail "hot_path.py emit: $ld"
[[ "$(readlink "$BUILD_DIR/bin/install-cni")" == istio-cni-agent ]] &&
	pass "install-cni is the agent" || fail "install-cni is the agent"
((n >= 4)) || fail "only $n binaries in $BUILD_DIR/bin"
summary
