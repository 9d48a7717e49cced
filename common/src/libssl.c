/* libssl, loaded on first use (ped/libssl.h says why). */
#define PED_LIBSSL_DIRECT
#include "ped/libssl.h"

#include "ped/error.h"

#include <dlfcn.h>
#include <openssl/opensslv.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* the libssl that goes with the libcrypto we are linked against */
#define LIBSSL_SONAME "libssl.so." OPENSSL_MSTR(OPENSSL_SHLIB_VERSION)

static struct ped_libssl table;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[256];

static void load(void)
{
	/* never unloaded: OpenSSL's exit handlers run code in it */
	void *h = dlopen(LIBSSL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE), *fn;

	if (!h) {
		snprintf(load_error, sizeof(load_error), "cannot load %s: %s", LIBSSL_SONAME, dlerror());
		return;
	}
#define PED_LIBSSL_RESOLVE(name)                                                                      \
	if ((fn = dlsym(h, #name)) == NULL) {                                                       \
		snprintf(load_error, sizeof(load_error), "%s has no %s", LIBSSL_SONAME, #name);     \
		return;                                                                             \
	}                                                                                           \
	memcpy(&table.name, &fn, sizeof(fn));
	PED_LIBSSL_FUNCTIONS(PED_LIBSSL_RESOLVE)
#undef PED_LIBSSL_RESOLVE
	loaded = 1;
}

int ped_libssl_load(char *why, size_t whylen)
{
	pthread_once(&once, load);
	if (loaded)
		return PED_OK;
	if (why && whylen)
		snprintf(why, whylen, "%s", load_error);
	return PED_E_CRYPTO;
}

const struct ped_libssl *ped_libssl(void)
{
	pthread_once(&once, load);
	return &table;
}

void ped_libssl_SSL_CTX_free(SSL_CTX *ctx)
{
	if (ctx)
		table.SSL_CTX_free(ctx); /* made through the table: it is loaded */
}

void ped_libssl_SSL_free(SSL *ssl)
{
	if (ssl)
		table.SSL_free(ssl);
}
