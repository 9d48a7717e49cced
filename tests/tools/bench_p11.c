/* Applications' operations through a PKCS#11 module, for make bench
 * (scripts/bench.sh, docs/performance.md, issue #33 rows 4 and 5):
 *
 *   bench_p11 ops MODULE|openssl TOKEN PIN PROCS THREADS SECONDS
 *       PROCS processes (each its own application: C_Initialize after the
 *       fork) of THREADS threads, each thread with its own session, run
 *       every operation below for SECONDS; one line per operation:
 *       "OP ops_per_s". "openssl" runs the same operations in-process with
 *       OpenSSL 3 (the floor), no module at all. PIN "-" logs in with
 *       NULL_PTR (a PED login on libopenped-pkcs11.so). A TOKEN with
 *       "%d" names a token per process: "bench%d" is bench0, bench1, ...
 *   bench_p11 login MODULE TOKEN PIN RUNS
 *       RUNS times: C_Login, find the token's key, sign once (timed), then
 *       C_Logout (not timed); prints "login_to_sign median_ms p99_ms".
 *
 * Operations: ECDSA P-256 sign of a SHA-256 hash, RSA-2048 PKCS#1 v1.5
 * sign and verify of a SHA-256 DigestInfo, AES-256-GCM encryption of 4 KiB
 * (a 12-byte IV, 16-byte tag), C_GenerateKeyPair P-256 (and destroying
 * the pair, so a long run does not fill the token); BENCH_P11_ONLY=OP runs
 * that one alone (for a profiler). With BENCH_P11_CPU_PID=PID (hsm-sim's)
 * each line also gives the CPU microseconds per operation of the
 * processes here and of PID, measured over the operation's run only:
 * "OP ops_per_s module_us hsm_us". Each process makes its
 * own session keys before the clock starts; the processes start every
 * operation together (pipes to the parent), and each thread's rate is what
 * it completed over the time it ran. The module is loaded with dlopen, as
 * applications load it. Exit 0, or 1 with the first failure on stderr. */
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { OP_ECDSA, OP_RSA_SIGN, OP_RSA_VERIFY, OP_AES_GCM, OP_GEN_EC, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"ecdsa_p256_sign", "rsa2048_pkcs1_sign", "rsa2048_pkcs1_verify",
					       "aes256_gcm_encrypt_4k", "genkeypair_p256"};

#define MAX_THREADS 16
#define DATA_LEN 4096

/* the DER of prime256v1's OID, and SHA-256's DigestInfo prefix */
static CK_BYTE p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char sha256_prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
					      0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

static CK_FUNCTION_LIST_PTR f; /* NULL: the OpenSSL floor */
static CK_SLOT_ID slot;
static atomic_int failed;

/* the process's keys: the module's handles or OpenSSL's */
static CK_OBJECT_HANDLE h_ec, h_rsa, h_rsa_pub, h_aes;
static EVP_PKEY *k_ec, *k_rsa;
static unsigned char k_aes[32];
static unsigned char digest_info[sizeof(sha256_prefix) + 32];
static unsigned char rsa_sig[256];
static size_t rsa_sig_len;

/* Whether op runs in this invocation (BENCH_P11_ONLY). */
static int op_wanted(int op)
{
	const char *only = getenv("BENCH_P11_ONLY");
	return !only || !*only || !strcmp(only, op_names[op]);
}

static int fail(const char *what, unsigned long rv)
{
	fprintf(stderr, "bench_p11[%ld]: %s: 0x%lx\n", (long)getpid(), what, rv);
	atomic_store(&failed, 1);
	return 1;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
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
	fprintf(stderr, "bench_p11: no token %s\n", label);
	return 1;
}

static int module_load(const char *path, const char *token)
{
	CK_C_INITIALIZE_ARGS init = {.flags = CKF_OS_LOCKING_OK};
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	void *lib;
	CK_RV rv;

	if ((lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "bench_p11: %s\n", dlerror());
		return 1;
	}
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (!get || get(&f) != CKR_OK)
		return fail("C_GetFunctionList", 0);
	if ((rv = f->C_Initialize(&init)) != CKR_OK)
		return fail("C_Initialize", rv);
	return find_slot(token);
}

static CK_RV login(CK_SESSION_HANDLE s, const char *pin)
{
	int ped = !strcmp(pin, "-");
	CK_RV rv = f->C_Login(s, CKU_USER, ped ? NULL : (CK_UTF8CHAR_PTR)pin, ped ? 0 : strlen(pin));
	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

static CK_RV gen_ec(CK_SESSION_HANDLE s, CK_BBOOL token, const char *label, CK_OBJECT_HANDLE *pub,
		    CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG lab = label ? strlen(label) : 0;
	CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &token, sizeof(token)},
			     {CKA_EC_PARAMS, p256_oid, sizeof(p256_oid)},
			     {CKA_VERIFY, &yes, sizeof(yes)},
			     {CKA_LABEL, (void *)label, lab}};
	CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &token, sizeof(token)},
			     {CKA_PRIVATE, &yes, sizeof(yes)},
			     {CKA_SENSITIVE, &yes, sizeof(yes)},
			     {CKA_SIGN, &yes, sizeof(yes)},
			     {CKA_LABEL, (void *)label, lab}};
	return f->C_GenerateKeyPair(s, &m, pt, label ? 4 : 3, kt, label ? 5 : 4, pub, priv);
}

/* The process's keys, made before any clock starts. */
static int make_keys(CK_SESSION_HANDLE s)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE pub;
	CK_RV rv;

	memcpy(digest_info, sha256_prefix, sizeof(sha256_prefix));
	memset(digest_info + sizeof(sha256_prefix), 0x5a, 32);
	if (!f) {
		if ((k_ec = EVP_EC_gen("P-256")) == NULL || (k_rsa = EVP_RSA_gen(2048)) == NULL ||
		    RAND_bytes(k_aes, sizeof(k_aes)) != 1)
			return fail("OpenSSL key generation", 0);
		return 0;
	}
	if ((rv = gen_ec(s, no, NULL, &pub, &h_ec)) != CKR_OK)
		return fail("C_GenerateKeyPair P-256", rv);
	{
		CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
		CK_ULONG bits = 2048;
		CK_BYTE e[] = {1, 0, 1};
		CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &no, sizeof(no)},
				     {CKA_MODULUS_BITS, &bits, sizeof(bits)},
				     {CKA_PUBLIC_EXPONENT, e, sizeof(e)},
				     {CKA_VERIFY, &yes, sizeof(yes)}};
		CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &no, sizeof(no)},
				     {CKA_PRIVATE, &yes, sizeof(yes)},
				     {CKA_SENSITIVE, &yes, sizeof(yes)},
				     {CKA_SIGN, &yes, sizeof(yes)}};
		if ((rv = f->C_GenerateKeyPair(s, &m, pt, 4, kt, 4, &h_rsa_pub, &h_rsa)) != CKR_OK)
			return fail("C_GenerateKeyPair RSA-2048", rv);
	}
	{
		CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
		CK_ULONG len = 32;
		CK_ATTRIBUTE t[] = {{CKA_TOKEN, &no, sizeof(no)},
				    {CKA_VALUE_LEN, &len, sizeof(len)},
				    {CKA_ENCRYPT, &yes, sizeof(yes)},
				    {CKA_SENSITIVE, &yes, sizeof(yes)}};
		if ((rv = f->C_GenerateKey(s, &m, t, 4, &h_aes)) != CKR_OK)
			return fail("C_GenerateKey AES-256", rv);
	}
	return 0;
}

/* One thread's state: its session, or its OpenSSL contexts. */
struct worker {
	pthread_t t;
	CK_SESSION_HANDLE s;
	EVP_PKEY_CTX *ec, *rsa, *rsa_pub;
	EVP_CIPHER_CTX *aes;
	unsigned char data[DATA_LEN], out[DATA_LEN + 16];
	int op;
	double seconds, rate;
	long done;
};

static int floor_op(struct worker *w)
{
	unsigned char sig[512], iv[12] = {0};
	size_t n = sizeof(sig);
	int outl, finl;

	switch (w->op) {
	case OP_ECDSA:
		return EVP_PKEY_sign_init(w->ec) == 1 &&
		       EVP_PKEY_sign(w->ec, sig, &n, digest_info + sizeof(sha256_prefix), 32) == 1;
	case OP_RSA_SIGN:
		return EVP_PKEY_sign_init(w->rsa) == 1 &&
		       EVP_PKEY_CTX_set_rsa_padding(w->rsa, RSA_PKCS1_PADDING) == 1 &&
		       EVP_PKEY_sign(w->rsa, sig, &n, digest_info, sizeof(digest_info)) == 1;
	case OP_RSA_VERIFY:
		return EVP_PKEY_verify_init(w->rsa_pub) == 1 &&
		       EVP_PKEY_CTX_set_rsa_padding(w->rsa_pub, RSA_PKCS1_PADDING) == 1 &&
		       EVP_PKEY_verify(w->rsa_pub, rsa_sig, rsa_sig_len, digest_info, sizeof(digest_info)) == 1;
	case OP_AES_GCM:
		return EVP_EncryptInit_ex(w->aes, EVP_aes_256_gcm(), NULL, k_aes, iv) == 1 &&
		       EVP_EncryptUpdate(w->aes, w->out, &outl, w->data, DATA_LEN) == 1 &&
		       EVP_EncryptFinal_ex(w->aes, w->out + outl, &finl) == 1 &&
		       EVP_CIPHER_CTX_ctrl(w->aes, EVP_CTRL_GCM_GET_TAG, 16, w->out + DATA_LEN) == 1;
	case OP_GEN_EC: {
		EVP_PKEY *k = EVP_EC_gen("P-256");
		EVP_PKEY_free(k);
		return k != NULL;
	}
	}
	return 0;
}

static CK_RV module_op(struct worker *w)
{
	CK_BYTE sig[512], iv[12] = {0};
	CK_ULONG n = sizeof(sig);
	CK_RV rv;

	switch (w->op) {
	case OP_ECDSA: {
		CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
		if ((rv = f->C_SignInit(w->s, &m, h_ec)) != CKR_OK)
			return rv;
		return f->C_Sign(w->s, digest_info + sizeof(sha256_prefix), 32, sig, &n);
	}
	case OP_RSA_SIGN: {
		CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
		if ((rv = f->C_SignInit(w->s, &m, h_rsa)) != CKR_OK)
			return rv;
		return f->C_Sign(w->s, digest_info, sizeof(digest_info), sig, &n);
	}
	case OP_RSA_VERIFY: {
		CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
		if ((rv = f->C_VerifyInit(w->s, &m, h_rsa_pub)) != CKR_OK)
			return rv;
		return f->C_Verify(w->s, digest_info, sizeof(digest_info), rsa_sig, rsa_sig_len);
	}
	case OP_AES_GCM: {
		CK_GCM_PARAMS gp = {.pIv = iv, .ulIvLen = sizeof(iv), .ulIvBits = 8 * sizeof(iv), .ulTagBits = 128};
		CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
		CK_ULONG outl = sizeof(w->out);
		if ((rv = f->C_EncryptInit(w->s, &m, h_aes)) != CKR_OK)
			return rv;
		return f->C_Encrypt(w->s, w->data, DATA_LEN, w->out, &outl);
	}
	case OP_GEN_EC: {
		CK_OBJECT_HANDLE pub, priv;
		if ((rv = gen_ec(w->s, CK_FALSE, NULL, &pub, &priv)) != CKR_OK)
			return rv;
		if ((rv = f->C_DestroyObject(w->s, priv)) != CKR_OK)
			return rv;
		return f->C_DestroyObject(w->s, pub);
	}
	}
	return CKR_GENERAL_ERROR;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	double start = now_s(), end = start + w->seconds, t = start;
	long done = 0;
	CK_RV rv;

	while (t < end && !atomic_load(&failed)) {
		if (!f) {
			if (!floor_op(w)) {
				fail(op_names[w->op], 0);
				break;
			}
		} else if ((rv = module_op(w)) != CKR_OK) {
			fail(op_names[w->op], rv);
			break;
		}
		done++;
		t = now_s();
	}
	w->rate = t > start ? (double)done / (t - start) : 0;
	w->done = done;
	return NULL;
}

static int worker_init(struct worker *w, const char *pin)
{
	CK_RV rv;

	memset(w->data, 0xa5, sizeof(w->data));
	if (!f) {
		/* a copy of each key per thread: threads sharing one RSA key
		 * queue on its blinding lock, a cost of that sharing, not of
		 * the cryptography the floor stands for */
		EVP_PKEY *ec = EVP_PKEY_dup(k_ec), *rsa = EVP_PKEY_dup(k_rsa);
		w->ec = ec ? EVP_PKEY_CTX_new(ec, NULL) : NULL;
		w->rsa = rsa ? EVP_PKEY_CTX_new(rsa, NULL) : NULL;
		w->rsa_pub = rsa ? EVP_PKEY_CTX_new(rsa, NULL) : NULL;
		w->aes = EVP_CIPHER_CTX_new();
		EVP_PKEY_free(ec); /* the contexts hold their references */
		EVP_PKEY_free(rsa);
		return w->ec && w->rsa && w->rsa_pub && w->aes ? 0 : fail("OpenSSL contexts", 0);
	}
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &w->s)) != CKR_OK)
		return fail("C_OpenSession", rv);
	(void)pin; /* the application's login covers every session */
	return 0;
}

static void worker_free(struct worker *w)
{
	EVP_PKEY_CTX_free(w->ec);
	EVP_PKEY_CTX_free(w->rsa);
	EVP_PKEY_CTX_free(w->rsa_pub);
	EVP_CIPHER_CTX_free(w->aes);
	if (f && w->s)
		(void)f->C_CloseSession(w->s);
}

/* The signature every verify checks, made once. */
static int make_signature(struct worker *w)
{
	CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
	CK_ULONG n = sizeof(rsa_sig);
	size_t sn = sizeof(rsa_sig);
	CK_RV rv;

	if (!f) {
		if (EVP_PKEY_sign_init(w->rsa) != 1 || EVP_PKEY_CTX_set_rsa_padding(w->rsa, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_sign(w->rsa, rsa_sig, &sn, digest_info, sizeof(digest_info)) != 1)
			return fail("RSA signature", 0);
		rsa_sig_len = sn;
		return 0;
	}
	if ((rv = f->C_SignInit(w->s, &m, h_rsa)) != CKR_OK || (rv = f->C_Sign(w->s, digest_info, sizeof(digest_info),
									   rsa_sig, &n)) != CKR_OK)
		return fail("RSA signature", rv);
	rsa_sig_len = n;
	return 0;
}

static double cpu_s(const struct rusage *r)
{
	return (double)r->ru_utime.tv_sec + (double)r->ru_stime.tv_sec +
	       ((double)r->ru_utime.tv_usec + (double)r->ru_stime.tv_usec) / 1e6;
}

/* CPU seconds of process pid so far (user and system), or -1. */
static double proc_cpu_s(const char *pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* the fields after the command's closing parenthesis: utime is the 12th */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* One process of PROCS: ready and rates go up `up`, each start comes down `down`. */
static int child(const char *module, const char *token_fmt, int index, const char *pin, int nthreads,
		 double seconds, int up, int down)
{
	char token[64];
	static struct worker w[MAX_THREADS];
	CK_SESSION_HANDLE s = 0;
	CK_RV rv;
	char go;

	/* "bench%d": a token per process (SoftHSM2's file store is not safe
	 * for two processes changing one token: its token file came out
	 * unreadable, the label gone) */
	if (strstr(token_fmt, "%d"))
		snprintf(token, sizeof(token), "bench%d", index);
	else
		snprintf(token, sizeof(token), "%s", token_fmt);
	if (strcmp(module, "openssl") && module_load(module, token))
		return 1;
	if (f) {
		if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK)
			return fail("C_OpenSession", rv);
		if ((rv = login(s, pin)) != CKR_OK)
			return fail("C_Login", rv);
	}
	if (make_keys(s))
		return 1;
	for (int i = 0; i < nthreads; i++)
		if (worker_init(&w[i], pin))
			return 1;
	if (make_signature(&w[0]))
		return 1;
	for (int op = 0; op < OP_COUNT; op++) {
		double sum[3] = {0, 0, 0}; /* ops/s, CPU seconds, operations */
		struct rusage r0, r1;
		if (!op_wanted(op))
			continue;
		if (write(up, "r", 1) != 1 || read(down, &go, 1) != 1)
			return 1;
		getrusage(RUSAGE_SELF, &r0);
		for (int i = 0; i < nthreads; i++) {
			w[i].op = op;
			w[i].seconds = seconds;
			pthread_create(&w[i].t, NULL, run, &w[i]);
		}
		for (int i = 0; i < nthreads; i++) {
			pthread_join(w[i].t, NULL);
			sum[0] += w[i].rate;
			sum[2] += (double)w[i].done;
		}
		getrusage(RUSAGE_SELF, &r1);
		sum[1] = cpu_s(&r1) - cpu_s(&r0);
		if (atomic_load(&failed) || write(up, sum, sizeof(sum)) != sizeof(sum))
			return 1;
	}
	for (int i = 0; i < nthreads; i++)
		worker_free(&w[i]);
	if (f) {
		(void)f->C_CloseSession(s);
		(void)f->C_Finalize(NULL);
	}
	EVP_PKEY_free(k_ec);
	EVP_PKEY_free(k_rsa);
	return 0;
}

static int cmd_ops(char **argv)
{
	int procs = atoi(argv[4]), nthreads = atoi(argv[5]);
	double seconds = atof(argv[6]);
	int up[8][2], down[8][2];
	pid_t pid[8];
	int code = 0, started = 0;
	char c;

	if (procs < 1 || procs > 8 || nthreads < 1 || nthreads > MAX_THREADS || seconds <= 0) {
		fprintf(stderr, "bench_p11: 1-8 processes of 1-%d threads, seconds > 0\n", MAX_THREADS);
		return 2;
	}
	fflush(stdout);
	for (int p = 0; p < procs; p++) {
		if (pipe(up[p]) || pipe(down[p]) || (pid[p] = fork()) < 0) {
			perror("bench_p11");
			code = 1;
			goto out;
		}
		if (pid[p] == 0) {
			close(up[p][0]);
			close(down[p][1]);
			_exit(child(argv[1], argv[2], p, argv[3], nthreads, seconds, up[p][1], down[p][0]));
		}
		close(up[p][1]);
		close(down[p][0]);
		started++;
		/* one process sets up at a time: SoftHSM2 started in two at once
		 * sometimes finds its token files held and lists no token */
		if (read(up[p][0], &c, 1) != 1) {
			code = 1;
			goto out;
		}
	}
	for (int op = 0, first = 1; op < OP_COUNT && !code; op++) {
		double total = 0, cpu = 0, ops = 0, got[3], h0 = 0, h1 = 0;
		const char *hsm = getenv("BENCH_P11_CPU_PID");
		if (!op_wanted(op))
			continue;
		/* every process ready (keys made, the previous operation over) before any starts */
		for (int p = 0; p < procs && !first; p++)
			if (read(up[p][0], &c, 1) != 1)
				code = 1;
		if (hsm)
			h0 = proc_cpu_s(hsm);
		for (int p = 0; p < procs && !code; p++)
			if (write(down[p][1], "g", 1) != 1)
				code = 1;
		for (int p = 0; p < procs && !code; p++) {
			if (read(up[p][0], got, sizeof(got)) != sizeof(got))
				code = 1;
			total += got[0];
			cpu += got[1];
			ops += got[2];
		}
		if (hsm)
			h1 = proc_cpu_s(hsm);
		first = 0;
		if (!code && hsm && ops > 0)
			printf("%s %.1f %.1f %.1f\n", op_names[op], total, cpu * 1e6 / ops, (h1 - h0) * 1e6 / ops);
		else if (!code)
			printf("%s %.1f\n", op_names[op], total);
		fflush(stdout);
	}
out:
	for (int p = 0; p < started; p++) {
		int st;
		close(up[p][0]);
		close(down[p][1]);
		if (waitpid(pid[p], &st, 0) != pid[p] || !WIFEXITED(st) || WEXITSTATUS(st))
			code = 1;
	}
	return code;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static CK_RV find_key(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = f->C_FindObjectsInit(s, t, 2)) != CKR_OK)
		return rv;
	rv = f->C_FindObjects(s, key, 1, &n);
	(void)f->C_FindObjectsFinal(s);
	return rv == CKR_OK && n != 1 ? CKR_KEY_HANDLE_INVALID : rv;
}

static int cmd_login(char **argv)
{
	static const char label[] = "bench-login";
	int runs = atoi(argv[4]), code = 1;
	double *ms = NULL;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, pub;
	CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
	CK_BYTE hash[32], sig[256];
	CK_ULONG n;
	CK_RV rv;

	if (runs < 1 || (ms = calloc((size_t)runs, sizeof(*ms))) == NULL)
		return 2;
	memset(hash, 0x5a, sizeof(hash));
	if (module_load(argv[1], argv[2]))
		goto out;
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK) {
		fail("C_OpenSession", rv);
		goto out;
	}
	/* the token key the timed logins sign with, made by the first login if new */
	if ((rv = login(s, argv[3])) != CKR_OK) {
		fail("C_Login", rv);
		goto out;
	}
	if (find_key(s, label, &key) != CKR_OK && (rv = gen_ec(s, CK_TRUE, label, &pub, &key)) != CKR_OK) {
		fail("C_GenerateKeyPair of the token key", rv);
		goto out;
	}
	(void)f->C_Logout(s);
	for (int i = 0; i < runs; i++) {
		double t0 = now_s();
		n = sizeof(sig);
		if ((rv = login(s, argv[3])) != CKR_OK || (rv = find_key(s, label, &key)) != CKR_OK ||
		    (rv = f->C_SignInit(s, &m, key)) != CKR_OK || (rv = f->C_Sign(s, hash, sizeof(hash), sig, &n)) != CKR_OK) {
			fail("login to the first signature", rv);
			goto out;
		}
		ms[i] = (now_s() - t0) * 1000;
		if ((rv = f->C_Logout(s)) != CKR_OK) {
			fail("C_Logout", rv);
			goto out;
		}
	}
	qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
	printf("login_to_sign %.3f %.3f\n", ms[runs / 2], ms[runs * 99 / 100 < runs ? runs * 99 / 100 : runs - 1]);
	(void)f->C_CloseSession(s);
	(void)f->C_Finalize(NULL);
	code = 0;
out:
	free(ms);
	return code;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "ops"))
		return cmd_ops(argv + 1);
	if (argc == 6 && !strcmp(argv[1], "login"))
		return cmd_login(argv + 1);
	fprintf(stderr, "usage: bench_p11 ops MODULE|openssl TOKEN PIN PROCS THREADS SECONDS\n"
			"       bench_p11 login MODULE TOKEN PIN RUNS\n");
	return 2;
}
