/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `istio-cni plan` and `istio-cni apply`: the redirect path outside the CNI
 * protocol, for operators, demos and tests. argv is the process's argv
 * (argv[1] is "plan" or "apply"). Both return an exit status.
 *
 *   istio-cni plan --pod FILE [--conf FILE] [--netns PATH]
 *       prints the decision and the rules of both backends; touches nothing.
 *       The family comes from --netns when given, else from the pod's podIPs.
 *   istio-cni apply --pod FILE --netns PATH [--conf FILE]
 *       programs the netns exactly as ADD would (skip decisions included),
 *       with the backend the conf selects (redirect_backend, native_nftables;
 *       without --conf: auto).
 *
 * Exit status: 0 done (or skipped), 1 failure (message on stderr), 2 usage.
 */
#ifndef ISTIO_CNI_REDIRECT_CMD_H
#define ISTIO_CNI_REDIRECT_CMD_H

int redirect_cmd_plan(int argc, char **argv);
int redirect_cmd_apply(int argc, char **argv);

/*
 * Test and operator helpers, same conventions:
 *   check --pod FILE --netns PATH [--conf FILE]   CHECK's comparison; on a mismatch
 *                                                 "drift: <reason>" on stdout
 *                                                 (missing, changed, unexpected),
 *                                                 the differences on stderr, exit 1
 *   remove --netns PATH [--conf FILE]             DEL's removal of our tables/chains
 */
int redirect_cmd_check(int argc, char **argv);
int redirect_cmd_remove(int argc, char **argv);

#endif
