/* libFuzzer target: the partition object store (hsm.h hsm_part_obj_*), the
 * cloning between two partitions of a domain (hsm_clone_objects) and the
 * state file's objects, driven by operations in the input:
 *
 *   'D' label:lv8 value:lv16        a data object made (hsm_obj_create), added
 *   'O' pub:lv16 sec:lv16           an object decoded (hsm_obj_decode), added
 *   'R' handle:u64                  removed          'F' handle:u64  found
 *   'C' mode:u8 nhandles:u8 u64*    src cloned into dst (the roles swap on 'S')
 *   'S'                             the two partitions swap roles
 *   'P'                             src copied (hsm_partition_copy), compared
 *   'W'                             the HSM saved and loaded (a state round trip)
 *   'N' handle:u64                  src's next handle set (bounded)
 *   'X'                             src cleared
 *
 * After each: handles unique, nonzero and below next_handle and 2^62, OUIDs
 * unique, at most HSM_MAX_OBJECTS and HSM_PARTITION_BYTES; a copy, and a
 * saved and loaded state, equal to what they came from. Seeds:
 * tests/tools/hsm_seeds. */
#include "hsm/hsm.h"
#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_DEVICE_SECRET "openped fuzz device secret 32 b"
#define MAX_OPS 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hsm h, back;
static int made;

static void check(const struct hsm_partition *p)
{
	size_t bytes = 0;
	if (p->nobjs > HSM_MAX_OBJECTS || p->nobjs > p->objs_cap || !p->next_handle ||
	    p->next_handle > HSM_HANDLE_SESSION_BIT)
		abort();
	for (uint32_t i = 0; i < p->nobjs; i++) {
		const struct hsm_obj *o = p->objs[i];
		if (!o->handle || o->handle >= p->next_handle || !o->ouid || hsm_part_obj_find(p, o->handle) != o ||
		    hsm_part_obj_by_ouid(p, o->ouid) != o)
			abort();
		bytes += hsm_obj_size(o);
	}
	if (bytes > HSM_PARTITION_BYTES || bytes != hsm_part_obj_bytes(p))
		abort();
}

static void setup(void)
{
	uint8_t secret[HSM_SECRET_LEN] = {7}, id[16] = {1};
	struct hsm_partition *p;
	if (made)
		return;
	if (hsm_create(&h, "fz") || hsm_set_device_secret(&h, (const uint8_t *)FUZZ_DEVICE_SECRET) ||
	    hsm_partition_create(&h, "a", &p) || hsm_partition_set_domain(p, secret, sizeof(secret), 1, 1, id) ||
	    hsm_partition_create(&h, "b", &p) || hsm_partition_set_domain(p, secret, sizeof(secret), 1, 1, id))
		abort();
	made = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_rbuf r;
	int s = 0, ops = 0;
	char why[400];

	setup();
	for (int i = 0; i < 2; i++) {
		hsm_part_obj_clear(&h.partitions[i]);
		h.partitions[i].next_handle = 1;
	}
	ped_rbuf_init(&r, data, size);
	while (!r.err && r.off < r.len && ops++ < MAX_OPS) {
		struct hsm_partition *src = &h.partitions[s], *dst = &h.partitions[1 - s];
		uint8_t op = ped_rbuf_u8(&r);
		size_t n1 = 0, n2 = 0;
		const uint8_t *a, *b;
		struct hsm_obj *o = NULL;
		switch (op) {
		case 'D': {
			CK_OBJECT_CLASS cls = CKO_DATA;
			CK_BBOOL yes = CK_TRUE;
			a = ped_rbuf_lv8(&r, 255, &n1);
			b = ped_rbuf_lv16(&r, 65535, &n2);
			if (r.err)
				break;
			CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &yes, 1},
					    {CKA_LABEL, (void *)a, n1}, {CKA_VALUE, (void *)b, n2}};
			if (hsm_obj_create(NULL, t, 4, &o) == CKR_OK)
				(void)hsm_part_obj_add(src, o);
			break;
		}
		case 'O':
			a = ped_rbuf_lv16(&r, 65535, &n1);
			b = ped_rbuf_lv16(&r, 65535, &n2);
			if (!r.err && hsm_obj_decode(a, n1, n2 ? b : NULL, n2, &o, why, sizeof(why)) == PED_OK)
				(void)hsm_part_obj_add(src, o);
			break;
		case 'R':
			hsm_part_obj_remove(src, ped_rbuf_u64(&r));
			break;
		case 'F': {
			uint64_t hd = ped_rbuf_u64(&r);
			struct hsm_obj *f = hsm_part_obj_find(src, hd);
			if (f && f->handle != hd)
				abort();
			break;
		}
		case 'C': {
			uint8_t mode = ped_rbuf_u8(&r) % 3, nh = ped_rbuf_u8(&r) % 8;
			uint64_t hs[8];
			for (uint8_t i = 0; i < nh; i++)
				hs[i] = ped_rbuf_u64(&r);
			if (r.err)
				break;
			int c = hsm_clone_objects(dst, src, (enum hsm_clone_mode)mode, nh ? hs : NULL, nh, NULL);
			/* a cloning that succeeded left every object asked for in dst,
			 * with its OUID (HSM_CLONE_ALL may give a copy a new one) */
			for (uint32_t i = 0; c >= 0 && mode != HSM_CLONE_ALL && i < src->nobjs; i++) {
				int asked = !nh;
				for (uint8_t j = 0; j < nh; j++)
					asked |= hs[j] == src->objs[i]->handle;
				if (asked && !hsm_part_obj_by_ouid(dst, src->objs[i]->ouid))
					abort();
			}
			break;
		}
		case 'S':
			s = 1 - s;
			break;
		case 'P': {
			struct hsm_partition *c = OPENSSL_zalloc(sizeof(*c));
			if (c && hsm_partition_copy(c, src) == PED_OK) {
				if (c->nobjs != src->nobjs)
					abort();
				for (uint32_t i = 0; i < c->nobjs; i++)
					if (c->objs[i]->ouid != src->objs[i]->ouid || c->objs[i]->handle != src->objs[i]->handle ||
					    c->objs[i]->nattrs != src->objs[i]->nattrs)
						abort();
				hsm_part_obj_clear(c);
			}
			OPENSSL_clear_free(c, sizeof(*c));
			break;
		}
		case 'W': {
			uint8_t *buf = NULL;
			size_t len = 0;
			if (hsm_encode(&h, &buf, &len) != PED_OK)
				break; /* over the state file's bound */
			memcpy(back.kek, h.kek, sizeof(back.kek));
			back.kek_set = 1;
			if (hsm_decode(buf, len, &back, why, sizeof(why)) != PED_OK || !hsm_same_state(&h, &back))
				abort();
			hsm_cleanse(&back);
			OPENSSL_clear_free(buf, len);
			break;
		}
		case 'N': {
			uint64_t v = ped_rbuf_u64(&r);
			/* a next handle never goes below those given, nor past 2^62 */
			uint64_t floor = 1;
			for (uint32_t i = 0; i < src->nobjs; i++)
				if (src->objs[i]->handle >= floor)
					floor = src->objs[i]->handle + 1;
			if (v >= floor && v <= HSM_HANDLE_SESSION_BIT)
				src->next_handle = v;
			break;
		}
		case 'X':
			hsm_part_obj_clear(src);
			break;
		default:
			r.err = PED_E_INVALID;
		}
		check(src);
		check(dst);
	}
	return 0;
}
