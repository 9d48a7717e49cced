/* libFuzzer target: hsm-sim's handling of application requests
 * (docs/protocol.md, section 13), decoding and dispatch together, as
 * app_serve runs them (app_request), for a made-up application on an HSM
 * with an initialized partition in slot 1 and no PED (a PED login fails
 * at once: PED_E_PED_UNPLUGGED). p11wire's decoders alone are
 * fuzz_p11wire.c's.
 *
 * Input: one byte that picks who the application is logged in as on the
 * partition (0 nobody, 1 the Crypto Officer, 2 the Crypto User, 3 the
 * Partition SO, 4 a CO whose challenge must change), then requests, each
 * a u16 length and an APP_REQUEST payload. Each input starts afresh: a new
 * application (its sessions numbered from 1), the partition without
 * objects and with its roles as made. */
#include "../../hsm-sim/daemon/app.h"
#include "../../hsm-sim/daemon/auth.h"

#include "ped/buf.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQUESTS 32

static struct sim sim;
static struct pedports peds;
static struct sim_hsm *hs;
static struct hsm_partition roles; /* the partition's roles as made */
static char dir[256];

static void cleanup(void)
{
	char path[512];
	if (!hs)
		return;
	unlink(hs->state_path);
	snprintf(path, sizeof(path), "%s", dir);
	rmdir(path);
	apps_wipe();
	sim_wipe(&sim);
}

static int setup(void)
{
	struct hsm_partition *p;
	char err[256];
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	ped_log_set_mask(0);
	snprintf(dir, sizeof(dir), "%s/fuzz_p11server.XXXXXX", tmp);
	if (!mkdtemp(dir))
		return -1;
	sim_init(&sim);
	if ((hs = sim_add(&sim, "1000", 0, 0)) == NULL || sim_open(&sim, dir, err, sizeof(err)) != 0)
		return -1;
	pedports_init(&peds, &sim);
	peds.ped_timeout_ms = 1000;
	peds.link_timeout_ms = 1000;
	peds.remote_idle_timeout_s = 60;
	/* an initialized HSM and partition with every role (credentials no
	 * PED will ever present: the secrets are not kept) */
	hs->h.initialized = 1;
	hs->h.so.cred.set = 1;
	if (hsm_partition_create(&hs->h, "p1", &p) != 0)
		return -1;
	snprintf(p->label, sizeof(p->label), "p1");
	p->initialized = 1;
	p->po.cred.set = p->co.cred.set = p->cu.cred.set = 1;
	roles = *p; /* its roles only: it holds no object yet */
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready, trace;
	struct p11w_hello h = {P11W_VERSION, {0x5a}, 1, "fuzz", 0};
	struct hsm_partition *p;
	struct sim_login *lg;
	struct app *a;
	struct ped_wbuf reply;
	size_t off = 1;

	if (!ready) {
		if (setup() != 0)
			abort();
		ready = 1;
		trace = getenv("FUZZ_P11SERVER_TRACE") != NULL;
	}
	if (size < 1)
		return 0;
	p = &hs->h.partitions[0];
	/* the partition as made: no object, its roles and policies untouched */
	hsm_part_obj_clear(p);
	p->next_handle = 1;
	p->po = roles.po;
	p->co = roles.co;
	p->cu = roles.cu;
	p->allow_activation = roles.allow_activation;
	p->kp = roles.kp;
	if ((a = apps_connect(&sim, &h)) == NULL)
		return 0;
	lg = sim_login(&a->logins, hs);
	switch (data[0] % 5) {
	case 1: lg->co[0] = AUTH_LOGGED_IN; break;
	case 2: lg->cu[0] = AUTH_LOGGED_IN; break;
	case 3: lg->po[0] = AUTH_LOGGED_IN; break;
	case 4: lg->co[0] = AUTH_MUST_CHANGE; break;
	}
	/* one reply writer for every request, emptied after each, as app_serve's */
	ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
	for (int n = 0; n < MAX_REQUESTS && off + 2 <= size; n++) {
		size_t len = ped_be16_get(data + off);
		off += 2;
		if (len > size - off)
			len = size - off;
		app_request(&sim, &peds, NULL, a, data + off, len, &reply);
		/* a reply always fits one frame and starts with the call's id */
		if (reply.err || reply.len < 8 || reply.len > P11W_PAYLOAD_MAX ||
		    (len >= 4 && memcmp(reply.p, data + off, 4)))
			abort();
		if (trace) /* FUZZ_P11SERVER_TRACE=1: what each seed's requests got */
			fprintf(stderr, "%s: 0x%x\n", len >= 6 && p11w_fn_name(ped_be16_get(data + off + 4))
						      ? p11w_fn_name(ped_be16_get(data + off + 4)) : "?",
				ped_be32_get(reply.p + 4));
		ped_wbuf_truncate(&reply, 0);
		off += len;
	}
	ped_wbuf_free(&reply);
	apps_disconnect(a); /* the application ends: everything it held goes */
	return 0;
}
