/* Partition policy templates (hsm/template.h). */
#include "hsm/template.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 5))) static int bad(char *why, size_t whylen, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(why, whylen, "line %u: ", line);
	if (n >= 0 && (size_t)n < whylen) {
		va_start(ap, fmt);
		vsnprintf(why + n, whylen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return PED_E_INVALID;
}

/* Digits at *p (at most max of them) into *v: 1 on success. */
static int digits(const char **p, const char *end, unsigned max, uint32_t *v)
{
	unsigned n = 0;
	*v = 0;
	while (*p < end && **p >= '0' && **p <= '9' && n < max) {
		*v = *v * 10 + (uint32_t)(**p - '0');
		(*p)++;
		n++;
	}
	return n > 0 && !(*p < end && **p >= '0' && **p <= '9');
}

/* One entry, the line's blanks cut: ID:"Description":Value:OffOn:OnOff */
static int entry(const char *s, const char *end, unsigned line, struct hsm_ppt *t, uint8_t *seen, char *why,
		 size_t whylen)
{
	uint32_t id, value, up, down;
	const char *p = s;

	if (!digits(&p, end, 3, &id) || p == end || *p++ != ':')
		return bad(why, whylen, line, "not Policy ID:\"Description\":Value:Off to on:On to off");
	if (p == end || *p++ != '"')
		return bad(why, whylen, line, "the description is not in double quotes");
	while (p < end && *p != '"') {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return bad(why, whylen, line, "the description is not printable text");
		p++;
	}
	if (p == end || *p++ != '"' || p == end || *p++ != ':')
		return bad(why, whylen, line, "the description is not in double quotes");
	if (!digits(&p, end, 3, &value) || value > 255 || p == end || *p++ != ':')
		return bad(why, whylen, line, "the policy value is not a number 0-255");
	if (!digits(&p, end, 1, &up) || up > 1 || p == end || *p++ != ':' || !digits(&p, end, 1, &down) ||
	    down > 1)
		return bad(why, whylen, line, "the destructive fields are not 0 or 1");
	if (p != end)
		return bad(why, whylen, line, "more after the On to off destructive field");
	if (id >= HSM_KP_SLOTS || !hsm_partition_policy(id, NULL))
		return bad(why, whylen, line, "policy %u is not a policy of this HSM's partitions", (unsigned)id);
	if (seen[id])
		return bad(why, whylen, line, "policy %u is given twice", (unsigned)id);
	seen[id] = 1;
	t->e[t->n].number = (uint8_t)id;
	t->e[t->n].value = value;
	t->e[t->n].erase = (uint8_t)((up ? HSM_ERASE_OFF_TO_ON : 0) | (down ? HSM_ERASE_ON_TO_OFF : 0));
	t->n++;
	return PED_OK;
}

int hsm_ppt_parse(const char *text, size_t len, struct hsm_ppt *t, char *why, size_t whylen)
{
	uint8_t seen[HSM_KP_SLOTS] = {0};
	unsigned line = 0;
	size_t off = 0;
	int r;

	memset(t, 0, sizeof(*t));
	why[0] = '\0';
	if (len > HSM_PPT_MAX) {
		snprintf(why, whylen, "larger than %u bytes: not a policy template", HSM_PPT_MAX);
		return PED_E_INVALID;
	}
	if (memchr(text, '\0', len)) {
		snprintf(why, whylen, "a NUL byte: not a text file");
		return PED_E_INVALID;
	}
	while (off < len) {
		const char *s = text + off, *nl = memchr(s, '\n', len - off), *end = nl ? nl : text + len;
		off = (size_t)(end - text) + (nl ? 1 : 0);
		line++;
		if ((size_t)(end - s) > HSM_PPT_LINE_MAX)
			return bad(why, whylen, line, "longer than %u bytes", HSM_PPT_LINE_MAX);
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			end--;
		if (s == end || *s == '#')
			continue;
		if ((r = entry(s, end, line, t, seen, why, whylen)) != PED_OK)
			return r;
	}
	return PED_OK;
}

int hsm_ppt_apply(struct hsm_partition *p, const struct hsm_ppt *t, char *why, size_t whylen)
{
	struct hsm_partition *x = OPENSSL_malloc(sizeof(*x));
	uint8_t erase[HSM_KP_SLOTS];
	int r = PED_E_INVALID;

	why[0] = '\0';
	if (!x)
		return PED_E_HOST_MEMORY;
	/* the final values on the policies alone, then every rule on them */
	memcpy(x, p, sizeof(*x));
	x->objs = NULL;
	x->nobjs = x->objs_cap = 0;
	memcpy(erase, p->policy_erase, sizeof(erase));
	for (size_t i = 0; i < t->n; i++) {
		unsigned n = t->e[i].number;
		uint32_t v = t->e[i].value;
		struct hsm_ppolicy d = {n, "?", 0, 0};
		if (!hsm_partition_policy(n, &d) || v > d.max) {
			snprintf(why, whylen, "policy %u (%s): %u is out of its range (0-%u)", n, d.name, (unsigned)v, d.max);
			goto out;
		}
		switch (n) {
		case HSM_POLICY_IGNORE_FAILED_CHALLENGES: x->ignore_failed_challenges = (uint8_t)v; break;
		case HSM_POLICY_MAX_FAILED_USER_LOGINS: x->max_failed_user_logins = v; break;
		case HSM_POLICY_ALLOW_ACTIVATION: x->allow_activation = (uint8_t)v; break;
		case HSM_POLICY_ALLOW_AUTO_ACTIVATION: x->allow_auto_activation = (uint8_t)v; break;
		case HSM_POLICY_MIN_PIN_LENGTH: x->min_pin_policy = (uint8_t)v; break;
		case HSM_POLICY_MAX_PIN_LENGTH: x->max_pin_length = (uint8_t)v; break;
		default: x->kp.v[n] = (uint8_t)v; break;
		}
		erase[n] = t->e[i].erase;
	}
	if (x->kp.v[HSM_KP_PRIVATE_CLONING] && x->kp.v[HSM_KP_PRIVATE_WRAPPING]) {
		snprintf(why, whylen, "policies 0 (Allow private key cloning) and 1 (Allow private key wrapping) may "
			 "not both be 1");
		r = PED_E_ACTION_PROHIBITED;
		goto out;
	}
	if (!(erase[HSM_KP_PRIVATE_WRAPPING] & HSM_ERASE_OFF_TO_ON)) {
		snprintf(why, whylen, "policy 1 (Allow private key wrapping) must be destructive Off to on (1)");
		goto out;
	}
	if (x->max_failed_user_logins < 1) {
		snprintf(why, whylen, "policy 20 (Max failed user logins allowed) is 1-%u", HSM_USER_MAX_FAILURES_DEFAULT);
		goto out;
	}
	if (HSM_PIN_MAX_ABSOLUTE - x->min_pin_policy > x->max_pin_length) {
		snprintf(why, whylen, "policy 26 (Maximum pin length) is under the minimum policy 25 gives (%u)",
			 (unsigned)(HSM_PIN_MAX_ABSOLUTE - x->min_pin_policy));
		goto out;
	}
	if (hsm_kp_valid(&x->kp) != PED_OK) {
		snprintf(why, whylen, "the key policies are not valid together");
		goto out;
	}
	/* all good: p takes them */
	p->ignore_failed_challenges = x->ignore_failed_challenges;
	p->max_failed_user_logins = x->max_failed_user_logins;
	p->allow_activation = x->allow_activation;
	p->allow_auto_activation = x->allow_auto_activation;
	p->min_pin_policy = x->min_pin_policy;
	p->max_pin_length = x->max_pin_length;
	p->kp = x->kp;
	memcpy(p->policy_erase, erase, sizeof(erase));
	r = PED_OK;
out:
	OPENSSL_clear_free(x, sizeof(*x));
	return r;
}

int hsm_ppt_export(const struct hsm_partition *p, const char *serial, char **out, size_t *len)
{
	unsigned nums[HSM_KP_SLOTS];
	size_t n = hsm_partition_policies(nums, HSM_KP_SLOTS), cap = 4096, used = 0;
	char *buf = OPENSSL_malloc(cap);
	int w;

	*out = NULL;
	*len = 0;
	if (!buf)
		return PED_E_HOST_MEMORY;
	w = snprintf(buf, cap,
		     "# Policy template FW Version %s\n"
		     "# Field format - Policy ID:Policy Description:Policy Value:Off to on destructive:On to off destructive\n"
		     "# Sourced from partition: %s%s%s\n\n",
		     PED_VERSION, p->initialized ? p->label : "", p->initialized ? ", SN: " : "",
		     p->initialized ? serial : "");
	if (w < 0 || (size_t)w >= cap)
		goto fail;
	used = (size_t)w;
	for (size_t i = 0; i < n; i++) {
		struct hsm_ppolicy d;
		hsm_partition_policy(nums[i], &d);
		w = snprintf(buf + used, cap - used, "%u:\"%s\":%d:%d:%d\n", nums[i], d.name,
			     hsm_partition_policy_value(p, nums[i]), (p->policy_erase[nums[i]] & HSM_ERASE_OFF_TO_ON) != 0,
			     (p->policy_erase[nums[i]] & HSM_ERASE_ON_TO_OFF) != 0);
		if (w < 0 || (size_t)w >= cap - used)
			goto fail;
		used += (size_t)w;
	}
	*out = buf;
	*len = used;
	return PED_OK;
fail:
	OPENSSL_free(buf);
	return PED_E_RANGE;
}
