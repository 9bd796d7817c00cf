/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers the JSON decoders (prevResult, pod JSON) share. */
#ifndef ISTIO_CNI_JSON_UTIL_H
#define ISTIO_CNI_JSON_UTIL_H

#include <jansson.h>

/*
 * The JSON type of v as a word for error messages: "object", "array",
 * "string", "integer" (a number jansson read without fraction or exponent),
 * "number" (any other number), "boolean" or "null". A decoder whose target
 * does not tell integers apart says "number" for both itself. v must not be
 * NULL; the result is a static string.
 */
const char *json_type_name(const json_t *v);

#endif
