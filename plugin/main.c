// SPDX-License-Identifier: Apache-2.0
/* istio-cni: the chained CNI plugin. */
#include "plugin.h"

int main(int argc, char **argv)
{
	return plugin_main(argc, argv);
}
