#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the static archives that Debian 12 does not ship in a usable form,
# into a cache (default build/static-deps/; CMake runs this at configure time
# with its own build tree's path):
#
#   libcurl          `apt-get source curl` (Debian's patches applied), HTTP
#                    and HTTPS only, OpenSSL for TLS, its threaded resolver
#                    (getaddrinfo, answered by c-ares in our binaries).
#                    Debian's libcurl.a needs GSSAPI, LDAP, nghttp2, libpsl
#                    and more, which have no static archives.
#   libmicrohttpd    `apt-get source libmicrohttpd`, HTTPS off: Debian's
#                    archive needs GnuTLS. The agent serves plain HTTP.
#   libmnl           the libmnl.a in Debian 13's libmnl-dev (Debian 12 ships
#                    none), fetched with `apt-get download` through a private
#                    sources list and unpacked with dpkg-deb -x: nothing is
#                    installed and /etc/apt is not touched for it.
#
# The rest comes from Debian 12's -dev packages (scripts/install-deps.sh):
# libnftnl.a, libjansson.a, libyaml.a, libssl.a, libcrypto.a, libcares.a,
# libcap.a.
#
# Usage: static-deps.sh [CACHE_DIR]. Prints the prefix (CACHE_DIR/prefix,
# holding include/ and lib/) on stdout and progress on stderr. A component
# is rebuilt only when its stamp (source version and flags) changed, so a
# second run is a no-op. Env: JOBS (default nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEBIAN_SRC_WHO=static-deps
# shellcheck source=scripts/lib/debian-src.sh
. "$ROOT/scripts/lib/debian-src.sh"

CACHE=${1:-$ROOT/build/static-deps}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
PREFIX=$CACHE/prefix
JOBS=${JOBS:-$(nproc)}
MNL_SUITE=trixie

log() { echo "static-deps: $*" >&2; }
die()
{
	log "$*"
	exit 1
}

for tool in apt-get apt-cache dpkg-source dpkg-deb make cc pkg-config; do
	command -v "$tool" >/dev/null || die "$tool missing; run scripts/install-deps.sh"
done
for hdr in openssl/ssl.h ares.h; do
	[[ -f /usr/include/$hdr ]] || die "/usr/include/$hdr missing (libssl-dev, libc-ares-dev); run scripts/install-deps.sh"
done

# One writer at a time (two build trees configuring at once).
exec 9>"$CACHE/.lock"
flock 9

mkdir -p "$PREFIX/lib" "$PREFIX/include"

# stamp_ok NAME KEY FILE...: the component was built with KEY and its files exist.
stamp_ok()
{
	local name=$1 key=$2 f
	shift 2
	[[ -f "$CACHE/$name.stamp" && "$(cat "$CACHE/$name.stamp")" == "$key" ]] || return 1
	for f in "$@"; do
		[[ -e "$f" ]] || return 1
	done
}

# The version `apt-get source PKG` fetches (the newest in the deb-src index).
src_version()
{
	local pkg=$1 v
	debian_src_ensure || exit 1
	v=$(apt-cache showsrc --only-source "$pkg" 2>/dev/null | awk '/^Version:/ { print $2 }' |
		sort -V | tail -n 1)
	if [[ -z "$v" && $(id -u) -eq 0 ]]; then
		log "no $pkg in the deb-src index, updating it"
		apt-get update -q >&2
		v=$(apt-cache showsrc --only-source "$pkg" 2>/dev/null | awk '/^Version:/ { print $2 }' |
			sort -V | tail -n 1)
	fi
	[[ -n "$v" ]] || die "no source package $pkg in the deb-src index; run 'apt-get update' as root"
	printf '%s\n' "$v"
}

# fetch_src PKG: a fresh work dir with PKG's unpacked source; prints its path.
fetch_src()
{
	local pkg=$1 work=$CACHE/work/$1 dir
	rm -rf "$work"
	mkdir -p "$work"
	debian_src_fetch "$pkg" "$work" || exit 1
	dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name "$pkg-*" -print -quit)
	[[ -n "$dir" ]] || die "apt-get source $pkg unpacked nothing in $work"
	printf '%s\n' "$dir"
}

CFLAGS_DEPS="-O2 -g -fPIE -fstack-protector-strong -D_FORTIFY_SOURCE=2"

# build_src PKG LIB_DIR INCLUDE_DIR ARCHIVE HEADER WHAT FLAGS...: PKG's
# Debian source configured with FLAGS; LIB_DIR's archive and INCLUDE_DIR's
# headers installed into the prefix. ARCHIVE and HEADER (under the prefix)
# are the files the stamp check looks for.
build_src()
{
	local pkg=$1 libdir=$2 incdir=$3 archive=$PREFIX/$4 header=$PREFIX/$5 what=$6
	shift 6
	local ver key src
	ver=$(src_version "$pkg")
	key="$pkg $ver $* $CFLAGS_DEPS"
	if stamp_ok "$pkg" "$key" "$archive" "$header"; then
		return 0
	fi
	log "building $pkg $ver ($what)"
	src=$(fetch_src "$pkg")
	(
		cd "$src"
		CFLAGS="$CFLAGS_DEPS" ./configure -q --prefix="$PREFIX" "$@" >configure.log 2>&1 ||
			{ tail -n 40 configure.log config.log >&2; exit 1; }
		make -s -j"$JOBS" -C "$libdir" >make.log 2>&1 || { tail -n 40 make.log >&2; exit 1; }
		rm -rf "$archive" "$header"
		make -s -C "$libdir" install >>make.log 2>&1 && make -s -C "$incdir" install >>make.log 2>&1
	) || die "$pkg build failed (logs in $src)"
	rm -f "$PREFIX"/lib/*.la
	printf '%s' "$key" >"$CACHE/$pkg.stamp"
	rm -rf "$CACHE/work/$pkg"
}

# --- libcurl -----------------------------------------------------------------
# Only what the API client uses: HTTP(S), OpenSSL (IP SANs verified), the
# threaded resolver: it calls getaddrinfo() for host names only, and our
# static binaries answer that with c-ares (common/util/getaddrinfo_ares.c),
# so no NSS. With c-ares inside libcurl instead, every handle made two c-ares
# channels (73 KB each, resolv.conf read twice) even for an IP address.
# openssl.cnf is never read: a node's own OpenSSL configuration could name
# providers or engines to dlopen.
CURL_FLAGS=(
	--disable-shared --enable-static --with-pic
	--with-openssl --disable-ares --enable-threaded-resolver --disable-openssl-auto-load-config
	--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs
	--enable-http --disable-ftp --disable-file --disable-ldap --disable-ldaps
	--disable-rtsp --disable-dict --disable-telnet --disable-tftp --disable-pop3
	--disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt
	--disable-manual --disable-docs --disable-ntlm --disable-ntlm-wb --disable-tls-srp
	--disable-cookies --disable-netrc --disable-alt-svc --disable-hsts --disable-doh
	--disable-mime --disable-websockets --disable-unix-sockets --disable-libcurl-option
	--without-zlib --without-brotli --without-zstd --without-libidn2 --without-libpsl
	--without-nghttp2 --without-librtmp --without-libssh2 --without-libssh
	--without-gssapi --without-libgsasl --without-hyper
)
# --- libmicrohttpd -------------------------------------------------------------
MHD_FLAGS=(
	--disable-shared --enable-static --with-pic --disable-https --without-gnutls
	--disable-nls --disable-doc --disable-examples --disable-curl
)
# --- libmnl --------------------------------------------------------------------
# A private apt tree (sources list, lists, cache) for Debian 13, signed by the
# same keyring as Debian 12's own sources.
fetch_mnl()
{
	local key="libmnl-dev $MNL_SUITE"
	if stamp_ok libmnl "$key" "$PREFIX/lib/libmnl.a" "$PREFIX/include/libmnl/libmnl.h"; then
		return 0
	fi
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[[ -f "$keyring" ]] || die "$keyring missing (debian-archive-keyring)"
	local apt=$CACHE/work/apt deb unpacked
	rm -rf "$apt"
	mkdir -p "$apt/etc/parts" "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
	printf 'deb [signed-by=%s] http://deb.debian.org/debian %s main\n' "$keyring" "$MNL_SUITE" \
		>"$apt/etc/sources.list"
	local opts=(
		-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=$apt/etc/parts"
		-o "Dir::State=$apt/state" -o "Dir::Cache=$apt/cache"
		-o "Dir::State::status=/dev/null" -q
	)
	# root: apt would drop to _apt, which cannot write into the build tree.
	[[ $(id -u) -ne 0 ]] || opts+=(-o "APT::Sandbox::User=root")
	log "fetching libmnl-dev from Debian $MNL_SUITE (apt-get download, nothing installed)"
	apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 ||
		{ cat "$apt/update.log" >&2; die "apt-get update for Debian $MNL_SUITE failed"; }
	(cd "$apt/deb" && apt-get "${opts[@]}" download libmnl-dev >"$apt/download.log" 2>&1) ||
		{ cat "$apt/download.log" >&2; die "apt-get download libmnl-dev ($MNL_SUITE) failed"; }
	deb=$(find "$apt/deb" -name 'libmnl-dev_*.deb' -print -quit)
	[[ -n "$deb" ]] || die "apt-get download left no libmnl-dev .deb"
	unpacked=$apt/x
	dpkg-deb -x "$deb" "$unpacked"
	local a h
	a=$(find "$unpacked" -name libmnl.a -print -quit)
	h=$(find "$unpacked" -path '*/include/libmnl' -type d -print -quit)
	[[ -n "$a" && -n "$h" ]] || die "$(basename "$deb") holds no libmnl.a or headers"
	rm -rf "$PREFIX/include/libmnl"
	cp "$a" "$PREFIX/lib/libmnl.a"
	cp -r "$h" "$PREFIX/include/libmnl"
	printf '%s' "$key" >"$CACHE/libmnl.stamp"
	log "libmnl.a from $(basename "$deb")"
	rm -rf "$apt"
}

t0=$SECONDS
fetch_mnl
build_src libmicrohttpd src/microhttpd src/include lib/libmicrohttpd.a include/microhttpd.h \
	"HTTPS off" "${MHD_FLAGS[@]}"
build_src curl lib include lib/libcurl.a include/curl \
	"HTTP, OpenSSL, threaded resolver" "${CURL_FLAGS[@]}"
rm -rf "$CACHE/work"
((SECONDS - t0 < 2)) || log "done in $((SECONDS - t0))s: $PREFIX"
printf '%s\n' "$PREFIX"
