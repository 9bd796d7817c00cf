// SPDX-License-Identifier: Apache-2.0
#include "plugin_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/backend_select.h"
#include "conflist.h"
#include "util/istio_names.h"

int plugin_conf_generate(const struct install_config *cfg, json_t **ret)
{
	_cleanup_json_ json_t *o = json_object();
	if (!o)
		return -ENOMEM;

	json_t *excl;
	if (cfg->n_exclude_namespaces == 0) {
		/* Go marshals a nil slice as null: Istio's goldens say so. */
		excl = json_null();
	} else {
		excl = json_array();
		if (!excl)
			return -ENOMEM;
		for (size_t i = 0; i < cfg->n_exclude_namespaces; i++)
			if (json_array_append_new(excl, json_string(cfg->exclude_namespaces[i])) <
			    0) {
				json_decref(excl);
				return -ENOMEM;
			}
	}

	/* Istio's field order (the standalone file is written in this order). */
	int r = 0;
	r |= json_object_set_new(o, "cniVersion", json_string(PLUGIN_CONF_CNI_VERSION));
	r |= json_object_set_new(o, "name", json_string(PLUGIN_CONF_NAME));
	r |= json_object_set_new(o, "type", json_string(ISTIO_CNI_PLUGIN_TYPE));
	r |= json_object_set_new(o, "capabilities",
				 json_pack("{s:b}", PLUGIN_CONF_CAP_POD_ANNOTATIONS, 1));
	r |= json_object_set_new(o, "ipam", json_object());
	r |= json_object_set_new(o, "dns", json_object());
	r |= json_object_set_new(o, "plugin_log_level",
				 json_string(log_level_to_string(cfg->plugin_log_level)));
	r |= json_object_set_new(o, "cni_agent_run_dir", json_string(cfg->cni_agent_run_dir));
	r |= json_object_set_new(o, "ambient_enabled", json_boolean(cfg->ambient_enabled));
	r |= json_object_set_new(o, "enablement_selectors", json_array());
	r |= json_object_set_new(o, "exclude_namespaces", excl);
	r |= json_object_set_new(o, "pod_namespace",
				 json_string(cfg->pod_namespace ? cfg->pod_namespace : ""));
	r |= json_object_set_new(o, "native_nftables", json_boolean(cfg->native_nftables));
	r |= json_object_set_new(o, "enable_ambient_detection_retry", json_false());
	if (cfg->redirect_backend)
		r |= json_object_set_new(o, "redirect_backend", json_string(cfg->redirect_backend));
	if (r < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

static int join_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int plugin_template_values_from_config(const struct install_config *cfg,
				       struct plugin_template_storage *st,
				       struct plugin_template_values *ret)
{
	int r;
	if ((r = join_path(st->log_uds_address, sizeof(st->log_uds_address), cfg->cni_agent_run_dir,
			   AGENT_LOG_SOCKET_NAME)) < 0 ||
	    (r = join_path(st->cni_event_address, sizeof(st->cni_event_address),
			   cfg->cni_agent_run_dir, AGENT_CNI_EVENT_SOCKET_NAME)) < 0 ||
	    (r = join_path(st->kubeconfig_filepath, sizeof(st->kubeconfig_filepath),
			   cfg->cni_net_dir, cfg->kubecfg_file_name)) < 0)
		return r;
	*ret = (struct plugin_template_values){
		.log_level = log_level_to_string(cfg->log_level),
		.log_uds_address = st->log_uds_address,
		.cni_event_address = st->cni_event_address,
		.kubeconfig_filename = cfg->kubecfg_file_name,
		.kubeconfig_filepath = st->kubeconfig_filepath,
		.k8s_service_host = cfg->kubernetes_service_host,
		.k8s_service_port = cfg->kubernetes_service_port,
		.k8s_node_name = cfg->node_name,
		.sa_token = NULL,
	};
	return 0;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Replaces every occurrence of key in *text by value (NULL = ""). */
static int replace_all(char **text, const char *key, const char *value)
{
	const char *v = value ? value : "";
	size_t klen = strlen(key), vlen = strlen(v), count = 0;
	for (const char *p = strstr(*text, key); p; p = strstr(p + klen, key))
		count++;
	if (count == 0)
		return 0;
	size_t old = strlen(*text);
	size_t len = old - count * klen + count * vlen;
	char *out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	char *o = out;
	const char *s = *text;
	for (const char *p = strstr(s, key); p; p = strstr(s, key)) {
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
		memcpy(o, v, vlen);
		o += vlen;
		s = p + klen;
	}
	memcpy(o, s, strlen(s) + 1);
	wipe_free(*text);
	*text = out;
	return 0;
}

int plugin_conf_from_template(const char *tmpl, const struct plugin_template_values *v,
			      char **ret_text, json_t **ret_json, struct error *err)
{
	const struct {
		const char *key;
		const char *value;
	} subst[] = {
		{"__LOG_LEVEL__", v->log_level},
		{"__LOG_UDS_ADDRESS__", v->log_uds_address},
		{"__CNI_EVENT_ADDRESS__", v->cni_event_address},
		{"__KUBECONFIG_FILENAME__", v->kubeconfig_filename},
		{"__KUBECONFIG_FILEPATH__", v->kubeconfig_filepath},
		{"__KUBERNETES_SERVICE_HOST__", v->k8s_service_host},
		{"__KUBERNETES_SERVICE_PORT__", v->k8s_service_port},
		{"__KUBERNETES_NODE_NAME__", v->k8s_node_name},
		/* Last: nothing after this point may log the text. */
		{"__SERVICEACCOUNT_TOKEN__", v->sa_token},
	};
	char *text = strdup(tmpl);
	if (!text)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ELEMENTSOF(subst); i++) {
		int r = replace_all(&text, subst[i].key, subst[i].value);
		if (r < 0) {
			wipe_free(text);
			return error_set(err, ERR_INTERNAL, r, "out of memory");
		}
	}

	json_error_t jerr;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		wipe_free(text);
		/* Line and column only: the text may hold the token. */
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "CNI_NETWORK_CONFIG after substitution is not a JSON object "
				 "(line %d, column %d)",
				 j ? 1 : jerr.line, j ? 1 : jerr.column);
	}
	*ret_text = text;
	if (ret_json)
		*ret_json = j;
	else
		json_decref(j);
	return 0;
}

int plugin_conf_redirect_backend(const struct install_config *cfg, enum redirect_backend *ret,
				 struct error *err)
{
	json_t *entry = NULL;
	int r;
	if (cfg->era == INSTALL_ERA_CURRENT || !cfg->network_config) {
		r = plugin_conf_generate(cfg, &entry);
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r, "building the plugin entry");
	} else {
		struct plugin_template_storage st;
		struct plugin_template_values v;
		r = plugin_template_values_from_config(cfg, &st, &v);
		if (r < 0)
			return error_set(err, ERR_CONFIG, r,
					 "CNI_NETWORK_CONFIG: a path is too long");
		char *text = NULL;
		r = plugin_conf_from_template(cfg->network_config, &v, &text, &entry, err);
		if (r < 0)
			return r;
		wipe_free(text);
	}
	char *text = json_dumps(entry, JSON_COMPACT);
	json_decref(entry);
	if (!text)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	struct netconf *conf = NULL;
	r = netconf_parse(text, strlen(text), &conf, err);
	wipe_free(text);
	if (r < 0)
		return error_prefix(err, r, "the plugin entry");
	*ret = backend_configured(conf->redirect_backend, conf->native_nftables);
	(void)netconf_free(conf);
	return 0;
}
