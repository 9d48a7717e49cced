/* pedtool handshake -scheme 1e1s|2e2s [-local] [-trace]
 *
 * Runs both end points in this process with throwaway keys and certificates,
 * a random RPV (2e2s) or one-time password (1e1s; -local for none), then one
 * record each way. With -trace it prints every value of the exchange, one
 * "name: hex" a line, so it can be re-derived with other tools
 * (docs/protocol.md, "Checking a trace"). Both ends report what they compute;
 * a value the two ends disagree on is an error. */
#include "command.h"

#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/kas.h"
#include "ped/opts.h"
#include "ped/record.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

#define USAGE "pedtool handshake -scheme 1e1s|2e2s|legacy [-local] [-trace]"

/* The print order of the named values. */
static const char *const names[] = {
	"rpv", "password", "u_eph_priv", "u_eph_pub", "u_static_priv", "u_static_pub",
	"v_eph_priv", "v_eph_pub", "v_static_priv", "v_static_pub", "nonce_v", "ze", "zs", "z",
	"fixed_info", "dkm", "mac_key", "mac_data_u", "mac_data_v", "tag_u", "tag_v", "dek_u2v",
	"dmk_u2v", "cwk_u2v", "dek_v2u", "dmk_v2u", "cwk_v2u", NULL};
#define NNAMES (sizeof(names) / sizeof(names[0]) - 1)

struct trace_log {
	uint8_t *val[NNAMES];
	size_t len[NNAMES];
	int mismatch;
	char mismatch_name[32];
};

static void on_trace(void *arg, const char *name, const uint8_t *v, size_t len)
{
	struct trace_log *t = arg;
	for (size_t i = 0; i < NNAMES; i++) {
		if (strcmp(names[i], name) != 0)
			continue;
		if (!t->val[i]) {
			t->val[i] = OPENSSL_memdup(v, len);
			t->len[i] = len;
		} else if (t->len[i] != len || memcmp(t->val[i], v, len) != 0) {
			t->mismatch = 1;
			snprintf(t->mismatch_name, sizeof(t->mismatch_name), "%s", name);
		}
		return;
	}
}

static void trace_free(struct trace_log *t)
{
	for (size_t i = 0; i < NNAMES; i++)
		OPENSSL_clear_free(t->val[i], t->len[i]);
}

static int pump(struct ped_kas *from, struct ped_kas *to, struct ped_kas_out *out)
{
	struct ped_kas_out next;
	int r = PED_OK, i;
	(void)from;
	for (i = 0; i < out->count && r == PED_OK; i++) {
		r = ped_kas_input(to, out->msg[i], out->len[i], &next);
		if (next.count) {
			int r2 = pump(to, from, &next);
			if (r == PED_OK)
				r = r2;
		}
		ped_kas_out_clear(&next);
	}
	return r;
}

static int exchange_records(struct ped_kas *u, struct ped_kas *v)
{
	struct ped_channel_keys ku, kv;
	struct ped_channel *cu = NULL, *cv = NULL;
	uint8_t *rec = NULL, *pt = NULL, type;
	size_t rl = 0, pl = 0;
	int r;

	if ((r = ped_kas_take_keys(u, &ku)) != PED_OK || (r = ped_kas_take_keys(v, &kv)) != PED_OK)
		return r;
	if ((r = ped_channel_new(&ku, &cu)) != PED_OK || (r = ped_channel_new(&kv, &cv)) != PED_OK)
		goto out;
	/* U's first record is READY, as the protocol requires; then V answers. */
	if ((r = ped_channel_seal(cu, PED_REC_READY, NULL, 0, &rec, &rl)) != PED_OK ||
	    (r = ped_channel_open(cv, rec, rl, &type, &pt, &pl)) != PED_OK)
		goto out;
	OPENSSL_free(rec);
	OPENSSL_clear_free(pt, pl ? pl : 1);
	rec = pt = NULL;
	if ((r = ped_channel_seal(cv, PED_REC_DATA, (const uint8_t *)"ok", 2, &rec, &rl)) != PED_OK ||
	    (r = ped_channel_open(cu, rec, rl, &type, &pt, &pl)) != PED_OK)
		goto out;
	r = (pl == 2 && memcmp(pt, "ok", 2) == 0) ? PED_OK : PED_E_BAD_RECORD;
out:
	OPENSSL_free(rec);
	if (pt)
		OPENSSL_clear_free(pt, pl ? pl : 1);
	ped_channel_free(cu);
	ped_channel_free(cv);
	ped_channel_keys_cleanse(&ku);
	ped_channel_keys_cleanse(&kv);
	return r;
}

/* Implemented with the legacy channel. */
int pedtool_legacy_handshake(int trace);

static int cmd_handshake(int argc, char **argv)
{
	static const char *const schemes[] = {"1e1s", "2e2s", "legacy", NULL};
	struct ped_opt opts[] = {
		{.name = "scheme", .kind = PED_OPT_ENUM, .choices = schemes, .help = "key agreement scheme"},
		{.name = "local", .kind = PED_OPT_FLAG, .help = "1e1s without a password (local PED)"},
		{.name = "trace", .kind = PED_OPT_FLAG, .help = "print every value of the exchange"},
		{.name = NULL},
	};
	EVP_PKEY *hoc_key = NULL, *hsm_key = NULL, *rpv_key = NULL;
	X509 *hoc = NULL, *hsm_cert = NULL, *rpv_cert = NULL;
	struct ped_kas *u = NULL, *v = NULL;
	struct ped_kas_out out = {0};
	struct trace_log log;
	uint8_t secret[32];
	size_t secret_len = 0;
	struct timespec t0, t1;
	char err[256];
	int r, rc = PEDTOOL_EXIT_FAIL, trace;
	long scheme;

	memset(&log, 0, sizeof(log));
	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK || !ped_opts_seen(opts, "scheme")) {
		fprintf(stderr, "pedtool handshake: %s\n", r != PED_OK ? err : "-scheme is required");
		return PEDTOOL_EXIT_USAGE;
	}
	scheme = ped_opts_num(opts, "scheme", 0);
	trace = ped_opts_seen(opts, "trace");
	if (scheme == 2)
		return pedtool_legacy_handshake(trace);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (ped_ec_generate(&hoc_key) || ped_cert_make_hoc(hoc_key, "000000", &hoc) ||
	    ped_ec_generate(&hsm_key) ||
	    ped_cert_issue(hoc, hoc_key, hsm_key, "HSM 000000 static", &hsm_cert) ||
	    ped_ec_generate(&rpv_key) ||
	    ped_cert_issue(hoc, hoc_key, rpv_key, "HSM 000000 RPV static", &rpv_cert)) {
		fprintf(stderr, "pedtool handshake: cannot make keys\n");
		goto out;
	}
	if (scheme == 1) {
		secret_len = 32;
		RAND_bytes(secret, 32);
		on_trace(&log, "rpv", secret, 32);
	} else if (!ped_opts_seen(opts, "local")) {
		uint8_t rnd[8];
		RAND_bytes(rnd, sizeof(rnd));
		for (int i = 0; i < 8; i++)
			secret[i] = (uint8_t)('0' + rnd[i] % 10);
		secret_len = 8;
		on_trace(&log, "password", secret, 8);
	}
	{
		enum ped_kas_scheme s = scheme == 1 ? PED_KAS_2E2S : PED_KAS_1E1S;
		struct ped_kas_params up = {PED_KAS_U, s, "PED:0000000000000001",
					    s == PED_KAS_2E2S ? rpv_key : NULL,
					    s == PED_KAS_2E2S ? rpv_cert : NULL,
					    s == PED_KAS_2E2S ? hoc : NULL, secret_len ? secret : NULL,
					    secret_len, trace ? on_trace : NULL, &log, NULL, NULL, 0, NULL};
		struct ped_kas_params vp = {PED_KAS_V, s, "HSM:000000", hsm_key, hsm_cert, hoc,
					    secret_len ? secret : NULL, secret_len,
					    trace ? on_trace : NULL, &log, NULL, NULL, 0, NULL};
		if (ped_kas_new(&up, &u) != PED_OK || ped_kas_new(&vp, &v) != PED_OK)
			goto out;
	}
	if ((r = ped_kas_start(v, &out)) != PED_OK || (r = pump(v, u, &out)) != PED_OK ||
	    !ped_kas_done(u) || !ped_kas_done(v)) {
		fprintf(stderr, "pedtool handshake: %s\n",
			ped_strerror(r ? r : ped_kas_error(u) ? ped_kas_error(u) : ped_kas_error(v)));
		goto out;
	}
	if ((r = exchange_records(u, v)) != PED_OK) {
		fprintf(stderr, "pedtool handshake: records: %s\n", ped_strerror(r));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (log.mismatch) {
		fprintf(stderr, "pedtool handshake: the two ends disagree on %s\n", log.mismatch_name);
		goto out;
	}
	for (size_t i = 0; i < NNAMES; i++)
		if (log.val[i])
			pedtool_hex_print(stdout, names[i], log.val[i], log.len[i]);
	if (!trace)
		printf("time_ms: %.3f\n",
		       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	printf("result: ok\n");
	rc = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	ped_kas_out_clear(&out);
	trace_free(&log);
	ped_kas_free(u);
	ped_kas_free(v);
	EVP_PKEY_free(hoc_key);
	EVP_PKEY_free(hsm_key);
	EVP_PKEY_free(rpv_key);
	X509_free(hoc);
	X509_free(hsm_cert);
	X509_free(rpv_cert);
	return rc;
}

PEDTOOL_COMMAND(handshake, cmd_handshake, USAGE,
		"run both ends of a secure channel handshake and print its values")
