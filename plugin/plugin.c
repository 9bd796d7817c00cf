// SPDX-License-Identifier: Apache-2.0
#include "plugin.h"

int plugin_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}
