/* pedtool kwp wrap|unwrap -key HEX -data HEX     AES key wrap with padding (SP 800-38F) */
#include "command.h"

#include "ped/error.h"
#include "ped/kwp.h"
#include "ped/opts.h"

#include <openssl/crypto.h>
#include <string.h>

#define USAGE "pedtool kwp wrap|unwrap -key HEX -data HEX"

static int cmd_kwp(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "key", .kind = PED_OPT_STRING, .arg = "HEX", .help = "AES key, 16, 24 or 32 bytes"},
		{.name = "data", .kind = PED_OPT_STRING, .arg = "HEX", .help = "data to wrap or unwrap"},
		{.name = NULL},
	};
	unsigned char *key = NULL, *data = NULL;
	uint8_t *out = NULL;
	size_t kl = 0, dl = 0, ol = 0;
	char err[256];
	int r, rc = PEDTOOL_EXIT_USAGE, wrap;

	if (argc < 2 || (strcmp(argv[1], "wrap") != 0 && strcmp(argv[1], "unwrap") != 0)) {
		fprintf(stderr, "Usage: %s\n", USAGE);
		return rc;
	}
	wrap = strcmp(argv[1], "wrap") == 0;
	r = ped_opts_parse(opts, argc, argv, 2, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK || !ped_opts_seen(opts, "key") || !ped_opts_seen(opts, "data")) {
		fprintf(stderr, "pedtool kwp: %s\n", r != PED_OK ? err : "-key and -data are required");
		return rc;
	}
	if (pedtool_hex_parse(ped_opts_str(opts, "key", ""), &key, &kl) != 0 ||
	    (kl != 16 && kl != 24 && kl != 32) ||
	    pedtool_hex_parse(ped_opts_str(opts, "data", ""), &data, &dl) != 0 || dl == 0) {
		fprintf(stderr, "pedtool kwp: -key must be 16, 24 or 32 bytes of hex and -data non-empty hex\n");
		goto out;
	}
	r = wrap ? ped_kwp_wrap(key, kl, data, dl, &out, &ol) : ped_kwp_unwrap(key, kl, data, dl, &out, &ol);
	if (r != PED_OK) {
		fprintf(stderr, "pedtool kwp: %s failed: %s\n", argv[1],
			r == PED_E_BAD_RECORD ? "integrity check failed" : ped_strerror(r));
		rc = PEDTOOL_EXIT_FAIL;
		goto out;
	}
	pedtool_hex_print(stdout, NULL, out, ol);
	rc = 0;
out:
	OPENSSL_clear_free(key, kl);
	OPENSSL_clear_free(data, dl);
	if (out)
		OPENSSL_clear_free(out, ol);
	return rc;
}

PEDTOOL_COMMAND(kwp, cmd_kwp, USAGE, "AES key wrap with padding (SP 800-38F KWP)")
