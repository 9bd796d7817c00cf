#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_audit.sh with every agent run under valgrind: audit passes (intact,
# drift, repair on both backends, on demand over HTTP), start-up and SIGTERM
# with the audit thread running, and the refused configuration: no leak
# (definite or indirect) and no memory error. Skipped with VALGRIND=0 (the
# sanitizer build's pass).
if [[ "${VALGRIND:-1}" == 0 ]]; then
	echo "skip valgrind audit scenario (VALGRIND=0)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
AUDIT_MEMCHECK=1 exec bash "$(dirname "$0")/agent_audit.sh" "$@"
