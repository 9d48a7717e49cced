/* pedtool ecdh -key PEM -peer PEM     ECC CDH on P-521: prints Z (the x-coordinate) */
#include "command.h"

#include "ped/ec.h"
#include "ped/error.h"
#include "ped/opts.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>

#define USAGE "pedtool ecdh -key PRIVATE.pem -peer PUBLIC.pem"

static EVP_PKEY *load(const char *path, int want_private)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = NULL;
	if (!f)
		return NULL;
	if (want_private) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	} else {
		/* A public key, or a private key whose public half is meant. */
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		if (!k) {
			rewind(f);
			k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		}
	}
	fclose(f);
	return k;
}

static int cmd_ecdh(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "key", .kind = PED_OPT_STRING, .arg = "PEM", .help = "own private key"},
		{.name = "peer", .kind = PED_OPT_STRING, .arg = "PEM", .help = "peer public key"},
		{.name = NULL},
	};
	EVP_PKEY *key = NULL, *peer = NULL;
	uint8_t *z = NULL;
	char err[256];
	int r, rc = PEDTOOL_EXIT_USAGE;

	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK || !ped_opts_seen(opts, "key") || !ped_opts_seen(opts, "peer")) {
		fprintf(stderr, "pedtool ecdh: %s\n", r != PED_OK ? err : "-key and -peer are required");
		return rc;
	}
	rc = PEDTOOL_EXIT_FAIL;
	if ((key = load(ped_opts_str(opts, "key", ""), 1)) == NULL ||
	    (peer = load(ped_opts_str(opts, "peer", ""), 0)) == NULL) {
		fprintf(stderr, "pedtool ecdh: cannot read the keys\n");
		goto out;
	}
	if (ped_ec_check_p521(key) != PED_OK || ped_ec_check_p521(peer) != PED_OK) {
		fprintf(stderr, "pedtool ecdh: both keys must be valid P-521 keys\n");
		goto out;
	}
	if ((r = ped_ecdh(key, peer, &z)) != PED_OK) {
		fprintf(stderr, "pedtool ecdh: %s\n", ped_strerror(r));
		goto out;
	}
	pedtool_hex_print(stdout, NULL, z, PED_ECDH_LEN);
	rc = 0;
out:
	OPENSSL_clear_free(z, PED_ECDH_LEN);
	EVP_PKEY_free(key);
	EVP_PKEY_free(peer);
	return rc;
}

PEDTOOL_COMMAND(ecdh, cmd_ecdh, USAGE, "ECC CDH on P-521 between two PEM keys")
