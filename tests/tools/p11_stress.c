/* Drives libopenped-pkcs11.so the way a busy application does, for the
 * PKCS#11 suites (tests/e2e/pkcs11_stress.sh):
 *
 *   p11_stress MODULE TOKEN sign KEY THREADS SECONDS
 *       logs the Crypto Officer in (through the PED), then THREADS threads,
 *       each with its own session, sign with the EC private key labelled KEY
 *       for SECONDS (all of them: one deadline on the monotonic clock, set
 *       once the login is done); "signed N in S.SS s" and exit 0, or the
 *       first failure and exit 1
 *   p11_stress MODULE TOKEN sessions
 *       "sessions N": the token's ulSessionCount (the stand-in's counts
 *       every application's; hsm-sim's, as PKCS#11 says, the asking
 *       application's own: hsmcm's application list has the others)
 *   p11_stress MODULE TOKEN logout-wait KEY FILE
 *       logs in, signs, then waits for FILE to appear (an operator's role
 *       logout meanwhile) and signs again: "after: 0x..." with the code of
 *       that call, exit 0 if it is CKR_USER_NOT_LOGGED_IN
 *   p11_stress MODULE TOKEN genx KEY
 *       logs in and makes a P-256 key pair labelled KEY on the token whose
 *       private key is neither sensitive nor unextractable (pkcs11-tool
 *       makes none): "genx: 0x..." with C_GenerateKeyPair's result
 *   p11_stress MODULE TOKEN gen KEY BITS
 *       logs in ("logged in"), then makes RSA key pairs of BITS on the
 *       token, labelled KEY, one after another until one fails: "generated
 *       N" after each; exit 1 at the first failure (hsm-sim killed under it)
 *   p11_stress MODULE TOKEN value KEY priv|secret
 *       logs in and asks the CKA_VALUE of the private or secret key
 *       labelled KEY: "value: CKR_OK HEX" or "value: 0x... (none)"; exit 0
 *       either way (what the answer must be is the suite's to say)
 *   p11_stress MODULE TOKEN probe KEY FILE [THEN]
 *       logs in, signs, then waits for FILE to appear (a Remote PED
 *       ceremony started meanwhile) and signs again: "signing at T", then
 *       "after: 0x... at T took MS" (T: ms since the epoch, so that the
 *       suite orders the call's end against what it did meanwhile); with
 *       THEN, waits for it too and signs once more in the same session:
 *       "again: 0x...". Exit 0 whatever the codes
 *       (tests/e2e/audit_crypto_wait.sh)
 *   p11_stress MODULE TOKEN defer KEY DIR
 *       deferred inits against hsm-sim (tests/e2e/pkcs11_defer.sh): logs
 *       in, signs once with the EC private key labelled KEY, "ready 1",
 *       waits for DIR/1; signs 10 times, "ready 2", waits for DIR/2; then
 *       "own destroyed: init 0x..." (a session key signed with, destroyed,
 *       then C_SignInit), "logged out: init 0x..." (the same after
 *       C_Logout), logs in again, signs, calls C_SignInit, "ready 3",
 *       waits for DIR/3 (another application destroys KEY meanwhile) and
 *       "after: sign 0x... init 0x..." (C_Sign, then C_SignInit again).
 *       Exit 0 when every step ran, whatever the codes
 *
 * The module is loaded with dlopen, as applications load it. */
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static const char *key_label;
static struct timespec deadline;
static atomic_long signed_count;
static atomic_int failed;

static int fail(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11_stress: %s: 0x%lx\n", what, (unsigned long)rv);
	atomic_store(&failed, 1);
	return 1;
}

static int find_slot(const char *label)
{
	CK_SLOT_ID list[64];
	CK_ULONG n = 64;
	CK_TOKEN_INFO ti;
	char want[32];
	CK_RV rv;

	memset(want, ' ', sizeof(want));
	memcpy(want, label, strlen(label) < 32 ? strlen(label) : 32);
	if ((rv = f->C_GetSlotList(CK_TRUE, list, &n)) != CKR_OK)
		return fail("C_GetSlotList", rv);
	for (CK_ULONG i = 0; i < n; i++)
		if (f->C_GetTokenInfo(list[i], &ti) == CKR_OK && !memcmp(ti.label, want, 32)) {
			slot = list[i];
			return 0;
		}
	fprintf(stderr, "p11_stress: no token %s\n", label);
	return 1;
}

static CK_OBJECT_CLASS key_class = CKO_PRIVATE_KEY;

static CK_RV find_key(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS cls = key_class;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)key_label, strlen(key_label)}};
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = f->C_FindObjectsInit(s, t, 2)) != CKR_OK)
		return rv;
	rv = f->C_FindObjects(s, key, 1, &n);
	(void)f->C_FindObjectsFinal(s);
	return rv == CKR_OK && n != 1 ? CKR_KEY_HANDLE_INVALID : rv;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int before_deadline(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec < deadline.tv_sec || (t.tv_sec == deadline.tv_sec && t.tv_nsec < deadline.tv_nsec);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static CK_RV sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	CK_BYTE hash[32], sig[256];
	CK_ULONG n = sizeof(sig);
	CK_RV rv;

	memset(hash, 0x5a, sizeof(hash));
	if ((rv = f->C_SignInit(s, &m, key)) != CKR_OK)
		return rv;
	return f->C_Sign(s, hash, sizeof(hash), sig, &n);
}

/* Waits for DIR/N, having said "ready N". */
static void ready(const char *dir, int n)
{
	char path[1024];

	printf("ready %d\n", n);
	fflush(stdout);
	snprintf(path, sizeof(path), "%s/%d", dir, n);
	while (access(path, F_OK) != 0)
		usleep(20000);
}

static int defer_steps(CK_SESSION_HANDLE s, const char *dir)
{
	CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0}, gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, hash[32], sig[256];
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &no, sizeof(no)}, {CKA_EC_PARAMS, p256, sizeof(p256)}, {CKA_VERIFY, &yes, 1}};
	CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &no, sizeof(no)}, {CKA_PRIVATE, &yes, 1}, {CKA_SIGN, &yes, 1}};
	CK_OBJECT_HANDLE key, pub, priv;
	CK_ULONG n = sizeof(sig);
	CK_RV rv, rv2;

	memset(hash, 0x5a, sizeof(hash));
	if ((rv = find_key(s, &key)) != CKR_OK || (rv = sign_once(s, key)) != CKR_OK)
		return fail("the first signature", rv);
	ready(dir, 1);
	for (int i = 0; i < 10; i++)
		if ((rv = sign_once(s, key)) != CKR_OK)
			return fail("signing", rv);
	ready(dir, 2);
	/* this application's own C_DestroyObject: the next init is the HSM's */
	if ((rv = f->C_GenerateKeyPair(s, &gen, pt, 3, kt, 3, &pub, &priv)) != CKR_OK ||
	    (rv = sign_once(s, priv)) != CKR_OK || (rv = sign_once(s, priv)) != CKR_OK ||
	    (rv = f->C_DestroyObject(s, priv)) != CKR_OK)
		return fail("a session key", rv);
	printf("own destroyed: init 0x%lx\n", (unsigned long)f->C_SignInit(s, &ecdsa, priv));
	/* C_Logout: the key is private, the init says so */
	if ((rv = sign_once(s, key)) != CKR_OK || (rv = f->C_Logout(s)) != CKR_OK)
		return fail("C_Logout", rv);
	printf("logged out: init 0x%lx\n", (unsigned long)f->C_SignInit(s, &ecdsa, key));
	if ((rv = f->C_Login(s, CKU_USER, NULL, 0)) != CKR_OK)
		return fail("C_Login again", rv);
	/* a cached init, then another application destroys the key */
	if ((rv = sign_once(s, key)) != CKR_OK || (rv = f->C_SignInit(s, &ecdsa, key)) != CKR_OK)
		return fail("the init before the key goes", rv);
	ready(dir, 3);
	rv = f->C_Sign(s, hash, sizeof(hash), sig, &n);
	rv2 = f->C_SignInit(s, &ecdsa, key);
	printf("after: sign 0x%lx init 0x%lx\n", (unsigned long)rv, (unsigned long)rv2);
	return 0;
}

static void *signer(void *arg)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_RV rv;

	(void)arg;
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK) {
		fail("C_OpenSession", rv);
		return NULL;
	}
	if ((rv = find_key(s, &key)) != CKR_OK) {
		fail("finding the key", rv);
		goto out;
	}
	while (before_deadline() && !atomic_load(&failed)) {
		if ((rv = sign_once(s, key)) != CKR_OK) {
			fail("signing", rv);
			break;
		}
		atomic_fetch_add(&signed_count, 1);
	}
out:
	if ((rv = f->C_CloseSession(s)) != CKR_OK)
		fail("C_CloseSession", rv);
	return NULL;
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS init = {.flags = CKF_OS_LOCKING_OK};
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_SESSION_HANDLE s = 0;
	CK_OBJECT_HANDLE key;
	CK_RV rv;
	void *lib;
	int code = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: p11_stress MODULE TOKEN sign KEY THREADS SECONDS | sessions | logout-wait KEY FILE | probe KEY FILE [THEN]\n");
		return 2;
	}
	if ((lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11_stress: %s\n", dlerror());
		return 1;
	}
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (!get || get(&f) != CKR_OK || (rv = f->C_Initialize(&init)) != CKR_OK) {
		fprintf(stderr, "p11_stress: cannot initialize %s\n", argv[1]);
		return 1;
	}
	if (find_slot(argv[2]))
		goto out;
	if (!strcmp(argv[3], "sessions")) {
		CK_TOKEN_INFO ti;
		if ((rv = f->C_GetTokenInfo(slot, &ti)) != CKR_OK) {
			fail("C_GetTokenInfo", rv);
			goto out;
		}
		printf("sessions %lu\n", (unsigned long)ti.ulSessionCount);
		code = 0;
		goto out;
	}
	if (argc < 5)
		goto out;
	key_label = argv[4];
	if ((rv = f->C_OpenSession(slot,
				   CKF_SERIAL_SESSION |
					   (strncmp(argv[3], "gen", 3) && strcmp(argv[3], "defer") ? 0 : CKF_RW_SESSION),
				   NULL,
				   NULL, &s)) != CKR_OK) {
		fail("C_OpenSession", rv);
		goto out;
	}
	rv = f->C_Login(s, CKU_USER, NULL, 0);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		fail("C_Login through the PED", rv);
		goto out;
	}
	if (!strcmp(argv[3], "sign") && argc == 7) {
		int nthreads = atoi(argv[5]), seconds = atoi(argv[6]);
		pthread_t t[64];
		double start;
		if (nthreads < 1 || nthreads > 64 || seconds < 1)
			goto out;
		/* a whole-second time() deadline per thread signs for as little
		 * as SECONDS - 1: the suite asks for SECONDS of load, so one
		 * monotonic deadline for all, measured */
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += seconds;
		start = now_s();
		for (int i = 0; i < nthreads; i++)
			pthread_create(&t[i], NULL, signer, NULL);
		printf("signing\n");
		fflush(stdout);
		for (int i = 0; i < nthreads; i++)
			pthread_join(t[i], NULL);
		printf("signed %ld in %.2f s\n", atomic_load(&signed_count), now_s() - start);
		code = atomic_load(&failed) ? 1 : 0;
	} else if (!strcmp(argv[3], "defer") && argc == 6) {
		code = defer_steps(s, argv[5]);
	} else if (!strcmp(argv[3], "logout-wait") && argc == 6) {
		if ((rv = find_key(s, &key)) != CKR_OK || (rv = sign_once(s, key)) != CKR_OK) {
			fail("signing before the logout", rv);
			goto out;
		}
		printf("signed before\n");
		fflush(stdout);
		while (access(argv[5], F_OK) != 0)
			usleep(20000);
		rv = sign_once(s, key);
		printf("after: 0x%lx\n", (unsigned long)rv);
		code = rv == CKR_USER_NOT_LOGGED_IN ? 0 : 1;
	} else if (!strcmp(argv[3], "gen") && argc == 6) {
		CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
		CK_BBOOL yes = CK_TRUE;
		CK_ULONG bits = strtoul(argv[5], NULL, 10);
		CK_BYTE e[] = {1, 0, 1};
		CK_OBJECT_HANDLE pub, priv;
		CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, sizeof(yes)},
				     {CKA_MODULUS_BITS, &bits, sizeof(bits)},
				     {CKA_PUBLIC_EXPONENT, e, sizeof(e)},
				     {CKA_VERIFY, &yes, sizeof(yes)},
				     {CKA_LABEL, argv[4], strlen(argv[4])}};
		CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &yes, sizeof(yes)},
				     {CKA_PRIVATE, &yes, sizeof(yes)},
				     {CKA_SIGN, &yes, sizeof(yes)},
				     {CKA_LABEL, argv[4], strlen(argv[4])}};
		printf("logged in\n");
		fflush(stdout);
		for (long n = 1;; n++) {
			if ((rv = f->C_GenerateKeyPair(s, &m, pt, 5, kt, 4, &pub, &priv)) != CKR_OK) {
				fail("C_GenerateKeyPair", rv);
				break;
			}
			printf("generated %ld\n", n);
			fflush(stdout);
		}
	} else if (!strcmp(argv[3], "genx")) {
		/* DER of the OID of prime256v1 */
		static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
		CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
		CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
		CK_OBJECT_HANDLE pub, priv;
		CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, sizeof(yes)},
				     {CKA_EC_PARAMS, p256, sizeof(p256)},
				     {CKA_VERIFY, &yes, sizeof(yes)},
				     {CKA_LABEL, argv[4], strlen(argv[4])}};
		CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &yes, sizeof(yes)},
				     {CKA_PRIVATE, &yes, sizeof(yes)},
				     {CKA_SIGN, &yes, sizeof(yes)},
				     {CKA_SENSITIVE, &no, sizeof(no)},
				     {CKA_EXTRACTABLE, &yes, sizeof(yes)},
				     {CKA_LABEL, argv[4], strlen(argv[4])}};
		rv = f->C_GenerateKeyPair(s, &m, pt, 4, kt, 6, &pub, &priv);
		printf("genx: 0x%lx\n", (unsigned long)rv);
		code = rv == CKR_OK ? 0 : 1;
	} else if (!strcmp(argv[3], "value") && argc == 6) {
		CK_BYTE v[1024];
		CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};
		key_class = !strcmp(argv[5], "secret") ? CKO_SECRET_KEY : CKO_PRIVATE_KEY;
		if ((rv = find_key(s, &key)) != CKR_OK) {
			fail("finding the key", rv);
			goto out;
		}
		rv = f->C_GetAttributeValue(s, key, &a, 1);
		if (rv == CKR_OK && a.ulValueLen <= sizeof(v)) {
			printf("value: CKR_OK ");
			for (CK_ULONG i = 0; i < a.ulValueLen; i++)
				printf("%02x", v[i]);
			printf("\n");
		} else {
			printf("value: 0x%lx (none)\n", (unsigned long)rv);
		}
		code = 0;
	} else if (!strcmp(argv[3], "probe")) {
		long long t0;
		if ((rv = find_key(s, &key)) != CKR_OK || (rv = sign_once(s, key)) != CKR_OK) {
			fail("signing before the ceremony", rv);
			goto out;
		}
		printf("signed before\n");
		fflush(stdout);
		while (access(argv[5], F_OK) != 0)
			usleep(20000);
		t0 = now_ms();
		printf("signing at %lld\n", t0);
		fflush(stdout);
		rv = sign_once(s, key);
		printf("after: 0x%lx at %lld took %lld\n", (unsigned long)rv, now_ms(), now_ms() - t0);
		fflush(stdout);
		if (argc > 6) {
			while (access(argv[6], F_OK) != 0)
				usleep(20000);
			rv = sign_once(s, key);
			printf("again: 0x%lx\n", (unsigned long)rv);
		}
		code = 0;
	}
out:
	if (s)
		(void)f->C_CloseSession(s);
	(void)f->C_Finalize(NULL);
	return code;
}
