/* pedtool shamir split -m M -n N -secret HEX
 * pedtool shamir combine SHARE...          (each SHARE is index:hex) */
#include "command.h"

#include "ped/error.h"
#include "ped/opts.h"
#include "ped/shamir.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define USAGE "pedtool shamir split -m M -n N -secret HEX | pedtool shamir combine INDEX:HEX..."

static int split(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "m", .kind = PED_OPT_INT, .min = 1, .max = 16, .arg = "M", .help = "quorum"},
		{.name = "n", .kind = PED_OPT_INT, .min = 1, .max = 16, .arg = "N", .help = "splits"},
		{.name = "secret", .kind = PED_OPT_STRING, .arg = "HEX", .help = "the secret"},
		{.name = NULL},
	};
	unsigned char *secret = NULL, *shares = NULL;
	size_t len = 0, slen = 0;
	char err[256];
	int r, rc = PEDTOOL_EXIT_USAGE;
	long m, n;

	r = ped_opts_parse(opts, argc, argv, 2, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, "pedtool shamir split -m M -n N -secret HEX", opts);
		return 0;
	}
	if (r != PED_OK) {
		fprintf(stderr, "pedtool shamir: %s\n", err);
		return PEDTOOL_EXIT_USAGE;
	}
	m = ped_opts_num(opts, "m", 0);
	n = ped_opts_num(opts, "n", 0);
	if (!m || !n || !ped_opts_seen(opts, "secret")) {
		fprintf(stderr, "pedtool shamir split: -m, -n and -secret are required\n");
		return PEDTOOL_EXIT_USAGE;
	}
	if (m > n) {
		fprintf(stderr, "pedtool shamir split: M (%ld) must not exceed N (%ld)\n", m, n);
		return PEDTOOL_EXIT_USAGE;
	}
	if (pedtool_hex_parse(ped_opts_str(opts, "secret", ""), &secret, &len) != 0 || len == 0 ||
	    len > PED_SHAMIR_MAX_SECRET) {
		fprintf(stderr, "pedtool shamir split: -secret must be 1 to %d bytes of hex\n",
			PED_SHAMIR_MAX_SECRET);
		goto out;
	}
	slen = (size_t)n * len;
	if ((shares = OPENSSL_malloc(slen)) == NULL ||
	    ped_shamir_split(secret, len, (unsigned)m, (unsigned)n, shares) != PED_OK) {
		fprintf(stderr, "pedtool shamir split: failed\n");
		rc = PEDTOOL_EXIT_FAIL;
		goto out;
	}
	for (long i = 0; i < n; i++) {
		printf("%ld:", i + 1);
		pedtool_hex_print(stdout, NULL, shares + (size_t)i * len, len);
	}
	rc = 0;
out:
	OPENSSL_clear_free(secret, len);
	OPENSSL_clear_free(shares, slen);
	return rc;
}

static int combine(int argc, char **argv)
{
	struct ped_share shares[PED_SHAMIR_MAX_SHARES];
	unsigned char *bufs[PED_SHAMIR_MAX_SHARES] = {0}, *secret = NULL;
	size_t lens[PED_SHAMIR_MAX_SHARES] = {0}, len = 0, count = 0;
	int rc = PEDTOOL_EXIT_USAGE, r;

	if (argc < 3) {
		fprintf(stderr, "Usage: pedtool shamir combine INDEX:HEX...\n");
		return PEDTOOL_EXIT_USAGE;
	}
	if (argc - 2 > PED_SHAMIR_MAX_SHARES) {
		fprintf(stderr, "pedtool shamir combine: at most %d shares\n", PED_SHAMIR_MAX_SHARES);
		return PEDTOOL_EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++, count++) {
		char *colon = strchr(argv[i], ':'), *end;
		long idx = strtol(argv[i], &end, 10);
		if (!colon || end != colon || idx < 1 || idx > 16 ||
		    pedtool_hex_parse(colon + 1, &bufs[count], &lens[count]) != 0 || !lens[count] ||
		    (count && lens[count] != lens[0])) {
			fprintf(stderr, "pedtool shamir combine: bad share '%s' (want INDEX:HEX, 1-16, equal lengths)\n",
				argv[i]);
			count++;
			goto out;
		}
		shares[count] = (struct ped_share){(uint8_t)idx, bufs[count]};
	}
	len = lens[0];
	if ((secret = OPENSSL_malloc(len)) == NULL)
		goto out;
	/* Every share given is used: M is not known here, so give exactly M. */
	r = ped_shamir_combine(shares, count, (unsigned)count, len, secret);
	if (r != PED_OK) {
		fprintf(stderr, "pedtool shamir combine: %s\n", ped_strerror(r));
		rc = PEDTOOL_EXIT_FAIL;
		goto out;
	}
	pedtool_hex_print(stdout, NULL, secret, len);
	rc = 0;
out:
	for (size_t i = 0; i < count; i++)
		OPENSSL_clear_free(bufs[i], lens[i]);
	OPENSSL_clear_free(secret, len);
	return rc;
}

static int cmd_shamir(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "split") == 0)
		return split(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "combine") == 0)
		return combine(argc, argv);
	fprintf(stderr, "Usage: %s\n", USAGE);
	return PEDTOOL_EXIT_USAGE;
}

PEDTOOL_COMMAND(shamir, cmd_shamir, USAGE,
		"split a secret into M-of-N shares over GF(2^8), or combine shares")
