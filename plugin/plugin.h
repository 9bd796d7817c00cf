/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ISTIO_CNI_PLUGIN_H
#define ISTIO_CNI_PLUGIN_H

/* Runs the plugin: CNI protocol when CNI_COMMAND is set, else a subcommand. Returns the exit status. */
int plugin_main(int argc, char **argv);

#endif
