/* pedtool audit-verify -lws FILE -password P -file LOG|DIR: an HSM's audit
 * log verified off the HSM, with only the wrapped log secret that audit
 * export wrote (docs/audit.md). Reads; never writes the log. */
#include "command.h"

#include "hsm/audit.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/opts.h"

#include <dirent.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define USAGE "pedtool audit-verify -lws FILE -password P -file LOG|DIR [-quiet]"
#define LOG_MAX (64u * 1024 * 1024)
#define FILES_MAX 4096

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

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(const char *path, char ***out, size_t *n)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char **v = NULL;
	size_t cnt = 0;
	if (stat(path, &st) != 0)
		return PED_E_NOT_FOUND;
	if (!S_ISDIR(st.st_mode)) {
		v = calloc(1, sizeof(*v));
		if (!v || !(v[0] = strdup(path))) {
			free(v);
			return PED_E_HOST_MEMORY;
		}
		*out = v;
		*n = 1;
		return PED_OK;
	}
	if (!(d = opendir(path)))
		return PED_E_FILE;
	while ((e = readdir(d)) != NULL && cnt < FILES_MAX) {
		size_t l = strlen(e->d_name), need = strlen(path) + l + 2;
		char **nv;
		if (l < 5 || strcmp(e->d_name + l - 4, ".log") || !(nv = realloc(v, (cnt + 1) * sizeof(*v))))
			continue;
		v = nv;
		if (!(v[cnt] = malloc(need)))
			break;
		snprintf(v[cnt++], need, "%s/%s", path, e->d_name);
	}
	closedir(d);
	qsort(v, cnt, sizeof(*v), by_name);
	*out = v;
	*n = cnt;
	return PED_OK;
}

static int cmd_audit_verify(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "lws", .kind = PED_OPT_STRING, .arg = "FILE", .help = "the wrapped log secret (audit export)"},
		{.name = "password", .kind = PED_OPT_STRING, .arg = "P", .help = "its password"},
		{.name = "file", .kind = PED_OPT_STRING, .arg = "LOG|DIR", .help = "a log file, or a directory of them"},
		{.name = "quiet", .kind = PED_OPT_FLAG, .help = "no listing of the records"},
		{.name = NULL},
	};
	uint8_t secret[HSM_AUDIT_SECRET_LEN], *lws = NULL;
	char serial[HSM_AUDIT_SERIAL_MAX + 1] = "", err[256], **files = NULL;
	size_t lwslen = 0, nfiles = 0;
	struct hsm_audit_verify v;
	struct listing l = {0, serial, 0};
	int r, rc = PEDTOOL_EXIT_USAGE;

	memset(&v, 0, sizeof(v));
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
	l.quiet = ped_opts_seen(opts, "quiet");
	rc = PEDTOOL_EXIT_FAIL;
	if ((r = ped_file_read_bounded(ped_opts_str(opts, "lws", ""), HSM_AUDIT_LWS_MAX, &lws, &lwslen)) != PED_OK ||
	    (r = hsm_audit_lws_unwrap(lws, lwslen, ped_opts_str(opts, "password", ""), secret, serial)) != PED_OK) {
		fprintf(stderr, "pedtool audit-verify: %s: %s\n", ped_opts_str(opts, "lws", ""),
			r == PED_E_BAD_RECORD ? "the password does not open it" : ped_strerror(r));
		goto out;
	}
	if ((r = list(ped_opts_str(opts, "file", ""), &files, &nfiles)) != PED_OK || !nfiles) {
		fprintf(stderr, "pedtool audit-verify: no log file at %s\n", ped_opts_str(opts, "file", ""));
		goto out;
	}
	printf("Verifying log from HSM with serial %s\n", serial);
	for (size_t i = 0; i < nfiles; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		if ((r = ped_file_read_bounded(files[i], LOG_MAX, &buf, &len)) != PED_OK) {
			fprintf(stderr, "pedtool audit-verify: %s: %s\n", files[i], ped_strerror(r));
			goto out;
		}
		printf("Log file being verified %s.\n", files[i]);
		r = hsm_audit_verify_buf(secret, buf, len, &v, each, &l);
		OPENSSL_clear_free(buf, len);
		if (r != PED_OK) {
			if (v.bad_seq)
				printf("Verify failed on record %llu (%s, line %llu): %s\n", (unsigned long long)v.bad_seq,
				       files[i], (unsigned long long)v.bad_line, v.why);
			else
				printf("Verify failed at line %llu of %s: %s\n", (unsigned long long)v.bad_line, files[i],
				       v.why);
			goto out;
		}
	}
	if (!v.have_last || l.foreign) {
		printf("Verify failed: %s\n", l.foreign ? "records of another HSM" : "no records");
		goto out;
	}
	printf("Verified messages %llu to %llu\n", (unsigned long long)v.first_seq, (unsigned long long)v.last_seq);
	rc = 0;
out:
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
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
