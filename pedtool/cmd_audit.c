/* pedtool audit-verify -lws FILE -password P -file LOG|DIR: an HSM's audit
 * log verified off the HSM, with only the wrapped log secret that audit
 * export wrote (docs/audit.md). Reads; never writes the log. */
#include "command.h"

#include "hsm/audit.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/opts.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USAGE "pedtool audit-verify -lws FILE -password P -file LOG|DIR [-last N] [-quiet]"
#define LOG_MAX (64u * 1024 * 1024)

struct listing {
	int quiet;
	const char *serial;
	int foreign;
};

static void each(void *arg, const struct hsm_audit_rec *r)
{
	struct listing *l = arg;
	char when[32];
	time_t t = (time_t)r->time;
	struct tm tm;
	if (strcmp(r->serial, l->serial))
		l->foreign = 1;
	if (l->quiet)
		return;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("  %llu  %s  %-9s %s  %-3s  %s: %s\n", (unsigned long long)r->seq, when, hsm_audit_class_name(r->cls),
	       r->failed ? "failure" : "success", r->who, r->event, r->msg);
}

/* Verifies one file into v: PED_OK, or the failure printed. */
static int verify_file(const uint8_t *secret, const char *file, struct hsm_audit_verify *v, struct listing *l)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;
	if ((r = ped_file_read_bounded(file, LOG_MAX, &buf, &len)) != PED_OK) {
		fprintf(stderr, "pedtool audit-verify: %s: %s\n", file, ped_strerror(r));
		return r;
	}
	printf("Log file being verified %s.\n", file);
	r = hsm_audit_verify_buf(secret, buf, len, v, each, l);
	OPENSSL_clear_free(buf, len);
	if (r == PED_OK)
		return PED_OK;
	if (v->bad_seq)
		printf("Verify failed on record %llu (%s, line %llu): %s\n", (unsigned long long)v->bad_seq, file,
		       (unsigned long long)v->bad_line, v->why);
	else
		printf("Verify failed at line %llu of %s: %s\n", (unsigned long long)v->bad_line, file, v->why);
	return r;
}

/* -last N: a decimal record number, at least 1. */
static int parse_last(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long n;
	if (!*s || *s == '-' || *s == '+')
		return PED_E_ARGUMENTS_BAD;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end || n == 0)
		return PED_E_ARGUMENTS_BAD;
	*out = n;
	return PED_OK;
}

static int cmd_audit_verify(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "lws", .kind = PED_OPT_STRING, .arg = "FILE", .help = "the wrapped log secret (audit export)"},
		{.name = "password", .kind = PED_OPT_STRING, .arg = "P", .help = "its password"},
		{.name = "file", .kind = PED_OPT_STRING, .arg = "LOG|DIR", .help = "a log file, or a directory of them"},
		{.name = "last", .kind = PED_OPT_STRING, .arg = "N",
		 .help = "the log's last record (audit status: Delivered up to record N): records cut from the end show"},
		{.name = "quiet", .kind = PED_OPT_FLAG, .help = "no listing of the records"},
		{.name = NULL},
	};
	uint8_t secret[HSM_AUDIT_SECRET_LEN], *lws = NULL;
	char serial[HSM_AUDIT_SERIAL_MAX + 1] = "", err[256];
	size_t lwslen = 0;
	uint64_t last = 0;
	struct hsm_audit_verify v;
	struct hsm_audit_files f;
	struct listing l = {0, serial, 0};
	int r, rc = PEDTOOL_EXIT_USAGE;

	memset(&v, 0, sizeof(v));
	memset(&f, 0, sizeof(f));
	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK || !ped_opts_seen(opts, "lws") || !ped_opts_seen(opts, "password") ||
	    !ped_opts_seen(opts, "file")) {
		fprintf(stderr, "pedtool audit-verify: %s\n", r != PED_OK ? err : "-lws, -password and -file are required");
		return rc;
	}
	if (ped_opts_seen(opts, "last") && parse_last(ped_opts_str(opts, "last", ""), &last) != PED_OK) {
		fprintf(stderr, "pedtool audit-verify: -last is a record number (1 or more)\n");
		return rc;
	}
	l.quiet = ped_opts_seen(opts, "quiet");
	rc = PEDTOOL_EXIT_FAIL;
	if ((r = ped_file_read_bounded(ped_opts_str(opts, "lws", ""), HSM_AUDIT_LWS_MAX, &lws, &lwslen)) != PED_OK ||
	    (r = hsm_audit_lws_unwrap(lws, lwslen, ped_opts_str(opts, "password", ""), secret, serial)) != PED_OK) {
		fprintf(stderr, "pedtool audit-verify: %s: %s\n", ped_opts_str(opts, "lws", ""),
			r == PED_E_BAD_RECORD ? "the password does not open it" : ped_strerror(r));
		goto out;
	}
	if (hsm_audit_files(ped_opts_str(opts, "file", ""), serial, &f) != PED_OK) {
		fprintf(stderr, "pedtool audit-verify: no log file of HSM %s at %s\n", serial, ped_opts_str(opts, "file", ""));
		goto out;
	}
	printf("Verifying log from HSM with serial %s\n", serial);
	/* one file of several: its first record links to the file before */
	if (f.prev) {
		uint8_t *buf = NULL;
		size_t len = 0;
		if ((r = ped_file_read_bounded(f.prev, LOG_MAX, &buf, &len)) == PED_OK)
			r = hsm_audit_verify_link(secret, buf, len, &v);
		else
			snprintf(v.why, sizeof(v.why), "%s", ped_strerror(r));
		OPENSSL_clear_free(buf, len);
		if (r != PED_OK) {
			printf("Verify failed: the file before it, %s, does not link to it: %s\n", f.prev, v.why);
			goto out;
		}
		printf("Linked to record %llu, the last of %s.\n", (unsigned long long)v.last_seq, f.prev);
	}
	for (size_t i = 0; i < f.n; i++)
		if (verify_file(secret, f.files[i], &v, &l) != PED_OK)
			goto out;
	if (!v.records || l.foreign) {
		printf("Verify failed: %s\n", l.foreign ? "records of another HSM" : "no records");
		goto out;
	}
	/* the chain cannot show records cut from its end: only the count the
	 * HSM reports can */
	if (last && v.last_seq < last) {
		printf("Verify failed after record %llu: the log should reach record %llu; record%s %llu%s%.0llu %s "
		       "missing (cut from the end)\n",
		       (unsigned long long)v.last_seq, (unsigned long long)last, last > v.last_seq + 1 ? "s" : "",
		       (unsigned long long)v.last_seq + 1, last > v.last_seq + 1 ? " to " : "",
		       last > v.last_seq + 1 ? (unsigned long long)last : 0ull, last > v.last_seq + 1 ? "are" : "is");
		goto out;
	}
	if (!last)
		printf("Note: without -last N (the HSM's audit status) records cut from the end of the newest file "
		       "cannot be told from a log that ends here.\n");
	printf("Verified messages %llu to %llu\n", (unsigned long long)v.first_seq, (unsigned long long)v.last_seq);
	rc = 0;
out:
	hsm_audit_files_free(&f);
	OPENSSL_clear_free(lws, lwslen);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

static const struct pedtool_command audit_verify_cmd = {"audit-verify", cmd_audit_verify, USAGE,
							 "verify an HSM's audit log with its exported log secret"};
__attribute__((constructor)) static void audit_verify_register(void)
{
	pedtool_register(&audit_verify_cmd);
}
