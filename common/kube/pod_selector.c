// SPDX-License-Identifier: Apache-2.0
#include "kube/pod_selector.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/strv.h"

enum op {
	OP_EQ,
	OP_NE,
	OP_IN,
	OP_NOTIN,
	OP_EXISTS,
	OP_NOT_EXISTS,
};

enum field {
	FIELD_NONE, /* a label */
	FIELD_NODE_NAME,
	FIELD_NAMESPACE,
	FIELD_NAME,
	FIELD_PHASE,
};

struct req {
	enum field field;
	enum op op;
	char *key;
	char **values;
	size_t n_values;
};

struct pod_selector {
	struct req *reqs;
	size_t n;
};

static const struct {
	const char *key;
	enum field field;
} fields[] = {
	{"spec.nodeName", FIELD_NODE_NAME},
	{"metadata.namespace", FIELD_NAMESPACE},
	{"metadata.name", FIELD_NAME},
	{"status.phase", FIELD_PHASE},
};

struct pod_selector *pod_selector_free(struct pod_selector *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		free(s->reqs[i].key);
		strv_free(s->reqs[i].values, s->reqs[i].n_values);
	}
	free(s->reqs);
	free(s);
	return NULL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* [b, e) without surrounding blanks. */
static void trim(const char **b, const char **e)
{
	while (*b < *e && is_space(**b))
		(*b)++;
	while (*e > *b && is_space((*e)[-1]))
		(*e)--;
}

static bool is_key_char(char c)
{
	return c && !is_space(c) && !strchr("=!(),", c);
}

static int add_value(struct req *r, const char *b, const char *e)
{
	char **v = reallocarray(r->values, r->n_values + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->values = v;
	v[r->n_values] = strndup(b, (size_t)(e - b));
	if (!v[r->n_values])
		return -ENOMEM;
	r->n_values++;
	return 0;
}

/* A value of = or != (or of a set): no blanks, commas or parentheses. */
static bool valid_value(const char *b, const char *e)
{
	for (const char *p = b; p < e; p++)
		if (!is_key_char(*p) && *p != '=')
			return false;
	return true;
}

static int bad(struct error *err, int code, const char *what, const char *b, const char *e)
{
	return error_set(err, ERR_CONFIG, code, "%s selector: cannot use \"%.*s\"", what,
			 (int)(e - b), b);
}

/* One requirement in [b, e) into r. */
static int parse_req(const char *b, const char *e, bool is_field, struct req *r, struct error *err)
{
	const char *what = is_field ? "field" : "label";
	const char *tb = b, *te = e;
	trim(&b, &e);
	if (b == e)
		return bad(err, -EINVAL, what, tb, te);
	bool negate = false;
	if (!is_field && *b == '!') {
		negate = true;
		b++;
		while (b < e && is_space(*b))
			b++;
	}
	const char *k = b;
	while (b < e && is_key_char(*b))
		b++;
	if (b == k)
		return bad(err, -EINVAL, what, tb, te);
	r->key = strndup(k, (size_t)(b - k));
	if (!r->key)
		return -ENOMEM;
	while (b < e && is_space(*b))
		b++;
	if (negate) {
		if (b != e)
			return bad(err, -EINVAL, what, tb, te);
		r->op = OP_NOT_EXISTS;
		return 0;
	}
	if (b == e) {
		if (is_field)
			return bad(err, -EINVAL, what, tb, te);
		r->op = OP_EXISTS;
		return 0;
	}
	if (*b == '=' || (*b == '!' && b + 1 < e && b[1] == '=')) {
		r->op = *b == '!' ? OP_NE : OP_EQ;
		b += *b == '!' ? 2 : (b + 1 < e && b[1] == '=') ? 2 : 1;
		while (b < e && is_space(*b))
			b++;
		if (!valid_value(b, e))
			return bad(err, -EINVAL, what, tb, te);
		return add_value(r, b, e);
	}
	if (is_field)
		return bad(err, -EINVAL, what, tb, te);
	/* in (...) / notin (...) */
	if ((size_t)(e - b) > 2 && strncmp(b, "in", 2) == 0 && (is_space(b[2]) || b[2] == '(')) {
		r->op = OP_IN;
		b += 2;
	} else if ((size_t)(e - b) > 5 && strncmp(b, "notin", 5) == 0 &&
		   (is_space(b[5]) || b[5] == '(')) {
		r->op = OP_NOTIN;
		b += 5;
	} else {
		return bad(err, -EINVAL, what, tb, te);
	}
	while (b < e && is_space(*b))
		b++;
	if (b == e || *b != '(' || e[-1] != ')')
		return bad(err, -EINVAL, what, tb, te);
	b++;
	const char *end = e - 1;
	while (b <= end) {
		const char *vb = b;
		while (b < end && *b != ',')
			b++;
		const char *ve = b;
		trim(&vb, &ve);
		if (vb == ve || !valid_value(vb, ve))
			return bad(err, -EINVAL, what, tb, te);
		int x = add_value(r, vb, ve);
		if (x < 0)
			return x;
		b++; /* past ',' (or ')') */
	}
	return 0;
}

/* Splits sel at commas outside parentheses and parses each requirement. */
static int parse_all(struct pod_selector *s, const char *sel, bool is_field, struct error *err)
{
	if (!sel)
		return 0;
	const char *b = sel, *p = sel;
	int depth = 0;
	const char *end = sel + strlen(sel);
	const char *eb = b, *ee = end;
	trim(&eb, &ee);
	if (eb == ee)
		return 0;
	for (;; p++) {
		if (p < end && *p == '(')
			depth++;
		else if (p < end && *p == ')')
			depth--;
		if (p < end && (*p != ',' || depth > 0))
			continue;
		struct req *v = reallocarray(s->reqs, s->n + 1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->reqs = v;
		struct req *r = &v[s->n++];
		*r = (struct req){0};
		int x = parse_req(b, p, is_field, r, err);
		if (x < 0)
			return x;
		if (is_field) {
			r->field = FIELD_NONE;
			for (size_t i = 0; i < ELEMENTSOF(fields); i++)
				if (strcmp(fields[i].key, r->key) == 0)
					r->field = fields[i].field;
			if (r->field == FIELD_NONE)
				return error_set(err, ERR_CONFIG, -EOPNOTSUPP,
						 "field selector: %s is not evaluated here",
						 r->key);
		}
		if (p >= end)
			break;
		b = p + 1;
	}
	return 0;
}

int pod_selector_parse(const char *labels, const char *fields_sel, struct pod_selector **ret,
		       struct error *err)
{
	_cleanup_(pod_selector_freep) struct pod_selector *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int r = parse_all(s, labels, false, err);
	if (r == 0)
		r = parse_all(s, fields_sel, true, err);
	if (r == -ENOMEM)
		return error_set(err, ERR_INTERNAL, r, "out of memory");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

static const char *field_value(const struct pod_info *p, enum field f)
{
	const char *v = NULL;
	switch (f) {
	case FIELD_NODE_NAME:
		v = p->node_name;
		break;
	case FIELD_NAMESPACE:
		v = p->namespace;
		break;
	case FIELD_NAME:
		v = p->name;
		break;
	case FIELD_PHASE:
		v = p->phase;
		break;
	default:
		break;
	}
	return v ? v : "";
}

static bool in_values(const struct req *r, const char *v)
{
	for (size_t i = 0; v && i < r->n_values; i++)
		if (strcmp(r->values[i], v) == 0)
			return true;
	return false;
}

bool pod_selector_matches(const struct pod_selector *s, const struct pod_info *p)
{
	if (!s)
		return true;
	for (size_t i = 0; i < s->n; i++) {
		const struct req *r = &s->reqs[i];
		const char *v = r->field == FIELD_NONE ? pod_info_label(p, r->key)
						       : field_value(p, r->field);
		bool ok;
		switch (r->op) {
		case OP_EQ:
		case OP_IN:
			ok = in_values(r, v);
			break;
		case OP_NE:
		case OP_NOTIN:
			ok = !in_values(r, v);
			break;
		case OP_EXISTS:
			ok = v != NULL;
			break;
		default:
			ok = v == NULL;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

const char *pod_selector_field_equals(const struct pod_selector *s, const char *key)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->reqs[i].field != FIELD_NONE && s->reqs[i].op == OP_EQ &&
		    strcmp(s->reqs[i].key, key) == 0)
			return s->reqs[i].values[0];
	return NULL;
}
