/* The legacy scheme for `pedtool handshake -scheme legacy`: both ends of the
 * firmware-7.4.2 channel in this process, with a random RPV. */
#include "command.h"
#include "legacy.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

int pedtool_legacy_handshake(int trace);

static void print_trace(void *arg, const char *name, const uint8_t *v, size_t len)
{
	/* U and V both report z and ke: print each once. */
	char *seen = arg;
	if (strstr(seen, name))
		return;
	strncat(seen, name, 255 - strlen(seen));
	strncat(seen, " ", 255 - strlen(seen));
	pedtool_hex_print(stdout, name, v, len);
}

static int pump(struct ped_legacy *from, struct ped_legacy *to, struct ped_kas_out *out)
{
	int r = PED_OK;
	for (int i = 0; i < out->count && r == PED_OK; i++) {
		struct ped_kas_out next;
		r = ped_legacy_input(to, out->msg[i], out->len[i], &next);
		if (next.count) {
			int r2 = pump(to, from, &next);
			r = r ? r : r2;
		}
		ped_kas_out_clear(&next);
	}
	return r;
}

int pedtool_legacy_handshake(int trace)
{
	struct ped_legacy *u = NULL, *v = NULL;
	struct ped_kas_out out = {0};
	uint8_t rpv[32], *rec = NULL, *pt = NULL;
	size_t rl = 0, pl = 0;
	char seen[256] = "";
	int r, rc = PEDTOOL_EXIT_FAIL;

	RAND_bytes(rpv, sizeof(rpv));
	if (trace)
		pedtool_hex_print(stdout, "rpv", rpv, sizeof(rpv));
	if (ped_legacy_new(PED_KAS_U, rpv, sizeof(rpv), trace ? print_trace : NULL, seen, &u) ||
	    ped_legacy_new(PED_KAS_V, rpv, sizeof(rpv), trace ? print_trace : NULL, seen, &v))
		goto out;
	if ((r = ped_legacy_start(v, &out)) != PED_OK || (r = pump(v, u, &out)) != PED_OK ||
	    !ped_legacy_done(u) || !ped_legacy_done(v)) {
		fprintf(stderr, "pedtool handshake: legacy: %s\n", ped_strerror(r ? r : PED_E_HANDSHAKE));
		goto out;
	}
	if ((r = ped_legacy_seal(u, (const uint8_t *)"ping", 4, &rec, &rl)) != PED_OK ||
	    (r = ped_legacy_open(v, rec, rl, &pt, &pl)) != PED_OK || pl != 4 || memcmp(pt, "ping", 4)) {
		fprintf(stderr, "pedtool handshake: legacy records: %s\n", ped_strerror(r));
		goto out;
	}
	OPENSSL_free(rec);
	OPENSSL_clear_free(pt, pl + 32);
	rec = pt = NULL;
	if ((r = ped_legacy_seal(v, (const uint8_t *)"pong", 4, &rec, &rl)) != PED_OK ||
	    (r = ped_legacy_open(u, rec, rl, &pt, &pl)) != PED_OK || pl != 4 || memcmp(pt, "pong", 4)) {
		fprintf(stderr, "pedtool handshake: legacy records: %s\n", ped_strerror(r));
		goto out;
	}
	printf("result: ok\n");
	rc = 0;
out:
	OPENSSL_cleanse(rpv, sizeof(rpv));
	ped_kas_out_clear(&out);
	OPENSSL_free(rec);
	if (pt)
		OPENSSL_clear_free(pt, pl + 32);
	ped_legacy_free(u);
	ped_legacy_free(v);
	return rc;
}
