#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Files that are not what they should be never block the agent: a FIFO in
# the CNI conf dir named like a conflist that sorts first (the primary
# candidate), a FIFO where the plugin binary is installed, and a FIFO in
# place of the plugin kubeconfig. The agent skips or replaces them with a
# warning, installs into the real conflist, answers /readyz 200, and on
# SIGTERM uninstalls promptly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"

agent_setup
mkdir -p "$RUN"
mkfifo "$NETD/00-fifo.conflist" "$BIN/istio-cni" "$RUN/istio-cni-kubeconfig"

agent_start
if agent_wait_ready 15; then pass "ready with FIFOs in the conf and bin dirs"; else
	fail "ready with FIFOs in the conf and bin dirs"; fi
check "installed into the real conflist" istio_count_is 1 "$NETD/10-bridge.conflist"
check "the FIFO named like a conflist is left alone" test -p "$NETD/00-fifo.conflist"
check "the plugin binary is a regular file" test -f "$BIN/istio-cni" -a ! -p "$BIN/istio-cni"
check "the plugin kubeconfig is a regular file" test -f "$RUN/istio-cni-kubeconfig"
check "the FIFO is named in a warning" grep -q '00-fifo.conflist' "$T/agent.log"
assert_eq "$(http_code "http://127.0.0.1:$HEALTH_PORT/healthz")" 200 "/healthz 200"

# Replaced by a FIFO after the install: noticed and installed again.
rm -f "$RUN/istio-cni-kubeconfig"
mkfifo "$RUN/istio-cni-kubeconfig"
touch "$NETD/poke" # the run dir is not watched; any change in the conf dir makes a check
kc_regular() { [[ -f "$RUN/istio-cni-kubeconfig" ]]; }
if wait_for 10 kc_regular; then pass "a kubeconfig replaced by a FIFO is written again"; else
	fail "a kubeconfig replaced by a FIFO is written again"; fi
if agent_wait_ready 10; then pass "ready again"; else fail "ready again"; fi

start=$SECONDS
timeout 10 bash -c "kill -TERM $AGENT_PID; while kill -0 $AGENT_PID 2>/dev/null; do sleep 0.05; done"
if (($? == 0)); then pass "SIGTERM: the agent exits within 10 s ($((SECONDS - start)) s)"; else
	fail "SIGTERM: the agent exits within 10 s"; fi
wait "$AGENT_PID"
assert_eq "$?" 0 "SIGTERM: exit 0"
check "uninstalled: the conflist is as before" same_json "$NETD/10-bridge.conflist" \
	"$T/original.conflist"
summary
