# SPDX-License-Identifier: Apache-2.0
# Sourced by the scripts that build from Debian source packages
# (build-cnitool.sh, static-deps.sh, install-deps.sh). Bash; callers set -e.
# Every function prints its errors prefixed with $DEBIAN_SRC_WHO.

DEBIAN_SRC_WHO=${DEBIAN_SRC_WHO:-$(basename "$0" .sh)}
DEBIAN_SRC_SUITE=bookworm
DEBIAN_SRC_ENTRY=/etc/apt/sources.list.d/istio-cni-deb-src.sources

# Is there any deb-src entry for bookworm main, in one-line or deb822 form?
debian_src_present()
{
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f "$f" ]] || continue
		if grep -Eq "^[[:space:]]*deb-src[[:space:]].*[[:space:]]$DEBIAN_SRC_SUITE[[:space:]].*main" "$f"; then
			return 0
		fi
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] || continue
		# deb822: split into stanzas on blank lines, look for one stanza
		# that is enabled, has deb-src, the suite and main.
		if awk -v suite="$DEBIAN_SRC_SUITE" 'BEGIN { RS = ""; found = 0 }
			/(^|\n)Types:[^\n]*deb-src/ && $0 ~ ("(^|\n)Suites:[^\n]*" suite "([ \t\n]|$)") &&
			/(^|\n)Components:[^\n]*main/ && !/(^|\n)Enabled:[ \t]*no/ { found = 1 }
			END { exit !found }' "$f"; then
			return 0
		fi
	done
	return 1
}

# Adds a deb-src entry for bookworm main when none exists (root only) and
# updates the index. Fails with a clear message when not root.
debian_src_ensure()
{
	debian_src_present && return 0
	if [[ $(id -u) -ne 0 ]]; then
		echo "$DEBIAN_SRC_WHO: no deb-src entry for $DEBIAN_SRC_SUITE main in /etc/apt;" \
			"run scripts/install-deps.sh as root (it adds one)" >&2
		return 1
	fi
	echo "$DEBIAN_SRC_WHO: adding deb-src entry for $DEBIAN_SRC_SUITE main" >&2
	cat >"$DEBIAN_SRC_ENTRY" <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $DEBIAN_SRC_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
	apt-get update -q >&2
}

# debian_src_fetch PKG DIR: `apt-get source PKG` (patches applied) into DIR.
# The deb-src entry may exist without its index having been fetched yet: as
# root, updates the index once and retries. apt's output goes to DIR/apt-source.log.
debian_src_fetch()
{
	local pkg=$1 dir=$2
	debian_src_ensure || return 1
	if (cd "$dir" && apt-get source -q "$pkg" >"$dir/apt-source.log" 2>&1); then
		return 0
	fi
	if [[ $(id -u) -ne 0 ]]; then
		cat "$dir/apt-source.log" >&2
		echo "$DEBIAN_SRC_WHO: apt-get source $pkg failed; the deb-src index may be" \
			"missing: run 'apt-get update' as root" >&2
		return 1
	fi
	echo "$DEBIAN_SRC_WHO: apt-get source $pkg failed, updating the index and retrying" >&2
	apt-get update -q >&2
	if ! (cd "$dir" && apt-get source -q "$pkg" >"$dir/apt-source.log" 2>&1); then
		cat "$dir/apt-source.log" >&2
		echo "$DEBIAN_SRC_WHO: apt-get source $pkg failed" >&2
		return 1
	fi
}
