// SPDX-License-Identifier: Apache-2.0
/*
 * Stand-in for `istio-cni plan|apply` while the plugin's subcommand dispatch
 * is not wired: the integration tests use build/bin/istio-cni when it knows
 * the subcommands and this otherwise. Built by tests/tools/build-redirect-tool.sh.
 */
#include <string.h>

#include "redirect_cmd.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "plan") == 0)
		return redirect_cmd_plan(argc, argv);
	if (argc > 1 && strcmp(argv[1], "apply") == 0)
		return redirect_cmd_apply(argc, argv);
	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return redirect_cmd_check(argc, argv);
	if (argc > 1 && strcmp(argv[1], "remove") == 0)
		return redirect_cmd_remove(argc, argv);
	return 2;
}
