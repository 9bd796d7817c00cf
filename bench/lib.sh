# SPDX-License-Identifier: Apache-2.0
# Helpers bench/add.sh and bench/apply.sh share. Source it; it runs nothing.
# Expects ROOT (the repo) and REF (the shared reference tree) to be set.

# bench_require_root: exit 1 with "bench/<script>: must run as root" unless root.
bench_require_root()
{
	if [[ $(id -u) -ne 0 ]]; then
		echo "bench/$(basename "$0"): must run as root" >&2
		exit 1
	fi
}

# bench_goldens: set BASIC (Istio's iptables basic.txt.golden) and NFTG (its
# nftables inbound-ports-wildcard.golden) from REF, or to our equivalent
# fixtures in bench/fixtures/ (written by `istio-cni plan`) when REF lacks them.
bench_goldens()
{
	BASIC=$REF/istio/cni/pkg/plugin/testdata/basic.txt.golden
	NFTG=$REF/istio/tools/istio-nftables/pkg/capture/testdata/inbound-ports-wildcard.golden
	if [[ ! -f "$BASIC" || ! -f "$NFTG" ]]; then
		BASIC=$ROOT/bench/fixtures/basic.txt
		NFTG=$ROOT/bench/fixtures/inbound-ports-wildcard.nft
		echo "reference goldens absent: using bench/fixtures/"
	fi
}
