/* pedtool sskdf -z HEX -info HEX -len N     SP 800-56C one-step KDF, SHA-512 */
#include "command.h"

#include "ped/error.h"
#include "ped/kdf.h"
#include "ped/opts.h"

#include <openssl/crypto.h>

#define USAGE "pedtool sskdf -z HEX -info HEX -len N"

static int cmd_sskdf(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "z", .kind = PED_OPT_STRING, .arg = "HEX", .help = "shared secret Z"},
		{.name = "info", .kind = PED_OPT_STRING, .arg = "HEX", .help = "FixedInfo"},
		{.name = "len", .kind = PED_OPT_INT, .min = 1, .max = 65536, .arg = "N",
		 .help = "output bytes"},
		{.name = NULL},
	};
	unsigned char *z = NULL, *info = NULL, *out = NULL;
	size_t zl = 0, il = 0, ol = 0;
	char err[256];
	int r, rc = PEDTOOL_EXIT_USAGE;

	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK) {
		fprintf(stderr, "pedtool sskdf: %s\n", err);
		return rc;
	}
	if (!ped_opts_seen(opts, "z") || !ped_opts_seen(opts, "len") ||
	    pedtool_hex_parse(ped_opts_str(opts, "z", ""), &z, &zl) != 0 || zl == 0 ||
	    pedtool_hex_parse(ped_opts_str(opts, "info", ""), &info, &il) != 0) {
		fprintf(stderr, "pedtool sskdf: -z (hex) and -len are required; -info is hex\n");
		goto out;
	}
	ol = (size_t)ped_opts_num(opts, "len", 0);
	if ((out = OPENSSL_malloc(ol)) == NULL || ped_sskdf_sha512(z, zl, info, il, out, ol) != PED_OK) {
		fprintf(stderr, "pedtool sskdf: derivation failed\n");
		rc = PEDTOOL_EXIT_FAIL;
		goto out;
	}
	pedtool_hex_print(stdout, NULL, out, ol);
	rc = 0;
out:
	OPENSSL_clear_free(z, zl);
	OPENSSL_clear_free(info, il);
	OPENSSL_clear_free(out, ol);
	return rc;
}

PEDTOOL_COMMAND(sskdf, cmd_sskdf, USAGE, "SP 800-56C one-step KDF with SHA-512 (no salt)")
