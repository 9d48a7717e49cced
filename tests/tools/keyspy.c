/* LD_PRELOAD shim for tests/e2e/remote_key_ahead.sh: tells how many EC
 * P-521 keys that the process generated are alive, so a test can see that a
 * handshake's ephemeral key exists only while the handshake can use it.
 *
 *   KEYSPY_FILE=PATH LD_PRELOAD=build/tests/keyspy.so program ...
 *
 * Each P-521 key made by EVP_PKEY_Q_keygen() appends "+ LIVE" to PATH, and
 * its last EVP_PKEY_free() (OpenSSL's ex_data free callback, so references
 * taken with EVP_PKEY_up_ref() are followed) appends "- LIVE", LIVE being the
 * number of such keys alive after the change. Keys imported or derived are
 * not counted: only generation makes an ephemeral key.
 *
 * Built without sanitizers (tests/module.mk): it is preloaded into programs
 * of any build. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int idx = -1;
static long live;
static char marker;

static void note(char sign)
{
	const char *path = getenv("KEYSPY_FILE");
	char line[32];
	int n = snprintf(line, sizeof(line), "%c %ld\n", sign, live);
	if (!path)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) != n)
		abort(); /* a short count would mislead the test */
	close(fd);
}

static void key_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int i, long argl, void *argp)
{
	(void)parent, (void)ad, (void)i, (void)argl, (void)argp;
	if (ptr != &marker)
		return;
	pthread_mutex_lock(&mu);
	live--;
	note('-');
	pthread_mutex_unlock(&mu);
}

static void make_index(void)
{
	idx = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL, key_gone);
}

typedef EVP_PKEY *(*q_keygen_fn)(OSSL_LIB_CTX *, const char *, const char *, ...);

/* EVP_PKEY_Q_keygen's variadic part depends on the type: "EC" takes a curve
 * name, "RSA" a size_t, the others nothing. */
EVP_PKEY *EVP_PKEY_Q_keygen(OSSL_LIB_CTX *libctx, const char *propq, const char *type, ...)
{
	static q_keygen_fn next;
	EVP_PKEY *k;
	va_list ap;

	if (!next)
		next = (q_keygen_fn)dlsym(RTLD_NEXT, "EVP_PKEY_Q_keygen");
	va_start(ap, type);
	if (!strcmp(type, "EC") || !strcmp(type, "SM2")) {
		const char *curve = va_arg(ap, const char *);
		k = next(libctx, propq, type, curve);
	} else if (!strcmp(type, "RSA")) {
		size_t bits = va_arg(ap, size_t);
		k = next(libctx, propq, type, bits);
	} else {
		k = next(libctx, propq, type);
	}
	va_end(ap);
	if (!k || EVP_PKEY_get_bits(k) != 521)
		return k;
	pthread_once(&once, make_index);
	if (idx < 0 || !EVP_PKEY_set_ex_data(k, idx, &marker))
		abort();
	pthread_mutex_lock(&mu);
	live++;
	note('+');
	pthread_mutex_unlock(&mu);
	return k;
}
