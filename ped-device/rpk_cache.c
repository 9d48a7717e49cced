#include "rpk_cache.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

int rpk_cache_find(const struct rpk_cache *c, const char *hsm)
{
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->hsm[i], hsm))
			return i;
	return -1;
}

/* Later entries move down, so entry 0 stays the oldest. */
void rpk_cache_forget(struct rpk_cache *c, const char *hsm)
{
	char name[PED_RELAY_ID_MAX + 1] = "";

	if (hsm)
		snprintf(name, sizeof(name), "%s", hsm);
	for (int i = 0; i < c->n;) {
		if (hsm && strcmp(c->hsm[i], name)) {
			i++;
			continue;
		}
		EVP_PKEY_free(c->key[i]);
		X509_free(c->cert[i]);
		X509_free(c->hoc[i]);
		for (int j = i; j + 1 < c->n; j++) {
			memcpy(c->hsm[j], c->hsm[j + 1], sizeof(c->hsm[j]));
			memcpy(c->rpv[j], c->rpv[j + 1], sizeof(c->rpv[j]));
			c->len[j] = c->len[j + 1];
			c->st[j] = c->st[j + 1];
			c->key[j] = c->key[j + 1];
			c->cert[j] = c->cert[j + 1];
			c->hoc[j] = c->hoc[j + 1];
		}
		c->n--;
		c->gen++;
		/* the last slot is free now, or holds a copy: wipe it */
		OPENSSL_cleanse(c->rpv[c->n], sizeof(c->rpv[c->n]));
		OPENSSL_cleanse(&c->st[c->n], sizeof(c->st[c->n]));
		c->hsm[c->n][0] = '\0';
		c->len[c->n] = 0;
		c->key[c->n] = NULL;
		c->cert[c->n] = c->hoc[c->n] = NULL;
	}
	if (!hsm) {
		X509_free(c->hello_cert);
		X509_free(c->hello_hoc);
		c->hello_cert = c->hello_hoc = NULL;
	}
}

int rpk_cache_remember(struct rpk_cache *c, const char *hsm, const uint8_t *rpv, size_t len,
			const struct cer_rpv_static *st)
{
	if (len > sizeof(c->rpv[0]))
		return -1;
	rpk_cache_forget(c, hsm);
	if (c->n == MAX_RPKS)
		rpk_cache_forget(c, c->hsm[0]);
	snprintf(c->hsm[c->n], sizeof(c->hsm[c->n]), "%s", hsm);
	memcpy(c->rpv[c->n], rpv, len);
	c->len[c->n] = len;
	c->st[c->n] = *st;
	c->gen++;
	return c->n++;
}
