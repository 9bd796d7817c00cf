// SPDX-License-Identifier: Apache-2.0
/* The nftables backend's front: apply, remove, check (nft_backend.h). */
#include "capture/nft_backend.h"

#include <errno.h>

#include "capture/nft_batch.h"
#include "capture/nft_check.h"
#include "capture/nft_rules.h"

int nft_backend_tables_present(struct mnl_socket *nl, unsigned int *ret_mask, struct error *err)
{
	return nft_check_tables_present(nl, ret_mask, err);
}

int nft_backend_apply(struct mnl_socket *nl, const struct redirect_plan *plan, struct error *err)
{
	struct nft_program p;
	unsigned int present;
	int r;

	r = nft_program_build(plan, &p, err);
	if (r < 0)
		return r;
	r = nft_backend_tables_present(nl, &present, err);
	if (r >= 0) {
		struct error e2 = {0};
		r = nft_batch_apply(nl, &p, present, &e2);
		/* Someone created or removed one of our tables between dump and batch:
		 * the batch was rejected as a whole; look again once. */
		if (r == -EEXIST || r == -ENOENT) {
			r = nft_backend_tables_present(nl, &present, err);
			if (r >= 0)
				r = nft_batch_apply(nl, &p, present, err);
		} else if (r < 0 && err) {
			*err = e2;
		}
	}
	nft_program_done(&p);
	return r;
}

int nft_backend_remove(struct mnl_socket *nl, struct error *err)
{
	struct nft_program empty = {0};
	int r = 0;

	/* A table removed by someone else between dump and batch aborts the
	 * batch with ENOENT: look again (bounded). */
	for (int attempt = 0; attempt < 3; attempt++) {
		unsigned int present;
		struct error e2 = {0};
		r = nft_backend_tables_present(nl, &present, err);
		if (r < 0 || !present)
			return r < 0 ? r : 0;
		r = nft_batch_apply(nl, &empty, present, &e2);
		if (r != -ENOENT) {
			if (r < 0 && err)
				*err = e2;
			return r;
		}
	}
	return 0;
}

int nft_backend_check(struct mnl_socket *nl, const struct redirect_plan *plan, struct error *err)
{
	struct nft_program p;
	int r = nft_program_build(plan, &p, err);
	if (r < 0)
		return r;
	r = nft_check_program(nl, &p, err);
	nft_program_done(&p);
	return r;
}
