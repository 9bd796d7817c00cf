// SPDX-License-Identifier: Apache-2.0
/* OpenSSL errors quoted by number only get their reason named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kube/tls_error_name.h"

static void test_names(void **state)
{
	static const struct {
		const char *in, *want;
	} table[] = {
		/* libcurl's handshake failure, TLS spoken to a plain-HTTP port */
		{"OpenSSL/3.0.19: error:0A00010B:lib(20)::reason(267)",
		 "OpenSSL/3.0.19: error:0A00010B:lib(20)::reason(267) (wrong version number)"},
		/* the server wants a client certificate */
		{"OpenSSL/3.0.19: error:0A00045C:lib(20)::reason(1116)",
		 "OpenSSL/3.0.19: error:0A00045C:lib(20)::reason(1116) (tlsv13 alert certificate "
		 "required)"},
		/* a kubeconfig's client-certificate-data that is no PEM */
		{"could not load PEM client certificate from [BLOB], OpenSSL error "
		 "error:0480006C:lib(9)::reason(108), (no key found, wrong pass phrase, or wrong file "
		 "format?)",
		 "could not load PEM client certificate from [BLOB], OpenSSL error "
		 "error:0480006C:lib(9)::reason(108), (no key found, wrong pass phrase, or wrong file "
		 "format?) (no start line)"},
		/* with strings: unchanged */
		{"OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number",
		 "OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number"},
		/* a code not in the table: unchanged */
		{"error:0A0000C1:lib(20)::reason(193)", "error:0A0000C1:lib(20)::reason(193)"},
		{"error:0A00:lib(20)", "error:0A00:lib(20)"},
		{"SSL certificate problem: unable to get local issuer certificate",
		 "SSL certificate problem: unable to get local issuer certificate"},
		{"", ""},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char buf[512];
		assert_string_equal(tls_error_name(table[i].in, buf, sizeof(buf)), table[i].want);
	}
	/* Too small a buffer: the detail as it was. */
	char small[16];
	const char *in = "error:0A00010B:lib(20)::reason(267)";
	assert_ptr_equal(tls_error_name(in, small, sizeof(small)), in);
	assert_null(tls_error_name(NULL, small, sizeof(small)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
