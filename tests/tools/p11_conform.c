/* PKCS#11 2.40's rules, as an application written to the standard relies
 * on them, checked against libopenped-pkcs11.so and a real hsm-sim
 * (tests/e2e/pkcs11_conformance.sh):
 *
 *   p11_conform MODULE TOKEN
 *
 * C_Initialize's arguments and states; blank-padded info strings; the
 * two-call convention of the lists, of single- and multi-part operations
 * (a length query and a buffer too small leave the operation active, a
 * call that fails ends it), of C_WrapKey and of C_GetAttributeValue (every
 * attribute processed, CK_UNAVAILABLE_INFORMATION for those it cannot
 * give); template rules of C_CreateObject, C_GenerateKey(Pair),
 * C_SetAttributeValue and C_CopyObject (read-only attributes,
 * CKA_SENSITIVE and CKA_EXTRACTABLE one way only, CKA_ALWAYS_SENSITIVE,
 * CKA_NEVER_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED); session states; a forked
 * child with its parent's sessions; the login's end with the last session.
 * The operations run three times: the inits after the first are the ones
 * the module answers itself (docs/pkcs11.md, "One round trip per
 * operation").
 *
 * It logs in as the Crypto Officer twice through the PED (C_Login with no
 * PIN): at the start, and again after closing every session. One line per
 * deviation, "FAIL line N: ...", then "conformance: N checks, M failed";
 * exit 0 when none failed. The module is loaded with dlopen. */
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static CK_FUNCTION_LIST_PTR f;
static int checks, failed;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static void check(int ok, int line, const char *what, CK_RV got, CK_RV want)
{
	checks++;
	if (ok)
		return;
	failed++;
	if (got == want)
		printf("FAIL line %d: %s\n", line, what);
	else
		printf("FAIL line %d: %s: 0x%lx, not 0x%lx\n", line, what, (unsigned long)got, (unsigned long)want);
}

/* A call's CK_RV, or a condition. */
#define RV(call, want)                                             \
	do {                                                       \
		CK_RV rv_ = (call);                                \
		check(rv_ == (CK_RV)(want), __LINE__, #call, rv_, (CK_RV)(want)); \
	} while (0)
#define THAT(cond) check((cond) != 0, __LINE__, #cond, 0, 0)

/* PKCS#11's strings: blank-padded printable text, never NUL-terminated. */
static int padded(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* The application's mutex callbacks (C_Initialize without CKF_OS_LOCKING_OK). */
static int app_locks;
static CK_RV app_create(CK_VOID_PTR_PTR m)
{
	return (*m = malloc(1)) != NULL ? CKR_OK : CKR_HOST_MEMORY;
}
static CK_RV app_destroy(CK_VOID_PTR m)
{
	free(m);
	return CKR_OK;
}
static CK_RV app_lock(CK_VOID_PTR m)
{
	(void)m;
	app_locks++;
	return CKR_OK;
}
static CK_RV app_unlock(CK_VOID_PTR m)
{
	(void)m;
	return CKR_OK;
}

static void initialize_rules(void)
{
	CK_C_INITIALIZE_ARGS a;
	CK_INFO info;
	CK_ULONG n;

	RV(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
	RV(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	memset(&a, 0, sizeof(a));
	a.pReserved = &a;
	RV(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
	memset(&a, 0, sizeof(a));
	a.CreateMutex = app_create; /* some callbacks, not all */
	RV(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
	a.DestroyMutex = app_destroy;
	a.LockMutex = app_lock;
	a.UnlockMutex = app_unlock;
	RV(f->C_Initialize(&a), CKR_OK);
	RV(f->C_Initialize(&a), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	THAT(app_locks > 0);
	RV(f->C_Finalize(&a), CKR_ARGUMENTS_BAD);
	RV(f->C_Finalize(NULL), CKR_OK);
	/* no network server here: the module needs no thread of its own */
	memset(&a, 0, sizeof(a));
	a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	RV(f->C_Initialize(&a), CKR_OK);
	RV(f->C_Finalize(NULL), CKR_OK);
	a.flags = CKF_OS_LOCKING_OK;
	RV(f->C_Initialize(&a), CKR_OK);
	RV(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
	RV(f->C_GetInfo(&info), CKR_OK);
	THAT(padded(info.manufacturerID, sizeof(info.manufacturerID)));
	THAT(padded(info.libraryDescription, sizeof(info.libraryDescription)));
	THAT(info.flags == 0);
}

/* The token labelled label's slot, checking the lists on the way. */
static int lists(const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[64];
	CK_MECHANISM_TYPE mechs[256];
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 0, m;
	char want[32];
	int found = 0;

	memset(want, ' ', sizeof(want));
	memcpy(want, label, strlen(label) < 32 ? strlen(label) : 32);
	RV(f->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
	RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	THAT(n >= 2 && n <= 64);
	m = 1;
	RV(f->C_GetSlotList(CK_FALSE, slots, &m), CKR_BUFFER_TOO_SMALL);
	THAT(m == n);
	m = 64;
	RV(f->C_GetSlotList(CK_FALSE, slots, &m), CKR_OK);
	THAT(m == n);
	for (CK_ULONG i = 0; i < m && i < 64; i++) {
		CK_SLOT_INFO si;
		CK_TOKEN_INFO ti;
		RV(f->C_GetSlotInfo(slots[i], &si), CKR_OK);
		THAT(padded(si.slotDescription, sizeof(si.slotDescription)));
		THAT(padded(si.manufacturerID, sizeof(si.manufacturerID)));
		if (!(si.flags & CKF_TOKEN_PRESENT))
			continue;
		RV(f->C_GetTokenInfo(slots[i], &ti), CKR_OK);
		THAT(padded(ti.label, sizeof(ti.label)));
		THAT(padded(ti.manufacturerID, sizeof(ti.manufacturerID)));
		THAT(padded(ti.model, sizeof(ti.model)));
		THAT(padded(ti.serialNumber, sizeof(ti.serialNumber)));
		THAT(padded(ti.utcTime, sizeof(ti.utcTime)));
		if (!memcmp(ti.label, want, 32)) {
			*slot = slots[i];
			found = 1;
		}
	}
	RV(f->C_GetSlotInfo(99999, &(CK_SLOT_INFO){0}), CKR_SLOT_ID_INVALID);
	RV(f->C_GetTokenInfo(99999, &(CK_TOKEN_INFO){0}), CKR_SLOT_ID_INVALID);
	if (!found) {
		printf("FAIL: no token %s\n", label);
		failed++;
		return 1;
	}
	RV(f->C_GetMechanismList(*slot, NULL, &n), CKR_OK);
	THAT(n > 2 && n <= 256);
	m = 2;
	RV(f->C_GetMechanismList(*slot, mechs, &m), CKR_BUFFER_TOO_SMALL);
	THAT(m == n);
	m = 256;
	RV(f->C_GetMechanismList(*slot, mechs, &m), CKR_OK);
	THAT(m == n);
	RV(f->C_GetMechanismInfo(*slot, CKM_VENDOR_DEFINED + 0x7fff, &mi), CKR_MECHANISM_INVALID);
	return 0;
}

static void session_states(CK_SLOT_ID slot, CK_SESSION_HANDLE *rw, CK_SESSION_HANDLE *ro)
{
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n;

	RV(f->C_OpenSession(slot, CKF_RW_SESSION, NULL, NULL, rw), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, ro), CKR_OK);
	RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, rw), CKR_OK);
	RV(f->C_GetSessionInfo(*ro, &si), CKR_OK);
	THAT(si.state == CKS_RO_PUBLIC_SESSION);
	RV(f->C_GetSessionInfo(*rw, &si), CKR_OK);
	THAT(si.state == CKS_RW_PUBLIC_SESSION && si.slotID == slot);
	/* "sessions that this application currently has open with the token" */
	RV(f->C_GetTokenInfo(slot, &ti), CKR_OK);
	THAT(ti.ulSessionCount == 2 && ti.ulRwSessionCount == 1);
	RV(f->C_Logout(*rw), CKR_USER_NOT_LOGGED_IN);
	RV(f->C_Login(*rw, CKU_SO, NULL, 0), CKR_SESSION_READ_ONLY_EXISTS); /* no PED asked */
	RV(f->C_Login(*rw, 77, NULL, 0), CKR_USER_TYPE_INVALID);
	RV(f->C_Login(*rw, CKU_CONTEXT_SPECIFIC, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
	RV(f->C_FindObjects(*rw, found, 4, &n), CKR_OPERATION_NOT_INITIALIZED);
	RV(f->C_FindObjectsFinal(*rw), CKR_OPERATION_NOT_INITIALIZED);
	RV(f->C_FindObjectsInit(*rw, NULL, 0), CKR_OK);
	RV(f->C_FindObjectsInit(*rw, NULL, 0), CKR_OPERATION_ACTIVE);
	RV(f->C_FindObjects(*rw, found, 0, &n), CKR_OK);
	THAT(n == 0);
	RV(f->C_FindObjectsFinal(*rw), CKR_OK);
	RV(f->C_Login(*rw, CKU_USER, NULL, 0), CKR_OK); /* the PED */
	RV(f->C_Login(*rw, CKU_USER, NULL, 0), CKR_USER_ALREADY_LOGGED_IN);
	RV(f->C_Login(*rw, CKU_SO, NULL, 0), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
	RV(f->C_GetSessionInfo(*ro, &si), CKR_OK);
	THAT(si.state == CKS_RO_USER_FUNCTIONS);
	RV(f->C_GetSessionInfo(*rw, &si), CKR_OK);
	THAT(si.state == CKS_RW_USER_FUNCTIONS);
}

/* An AES-256 session key for encryption and wrapping. */
static CK_OBJECT_HANDLE aes_key(CK_SESSION_HANDLE s, CK_BBOOL extractable)
{
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG len = 32;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_ENCRYPT, &yes, 1},   {CKA_DECRYPT, &yes, 1},
			    {CKA_WRAP, &yes, 1},               {CKA_UNWRAP, &yes, 1},    {CKA_TOKEN, &no, 1},
			    {CKA_SENSITIVE, &yes, 1},          {CKA_EXTRACTABLE, &extractable, 1}};

	RV(f->C_GenerateKey(s, &m, t, 8, &h), CKR_OK);
	return h;
}

static void object_templates(CK_SESSION_HANDLE s, CK_SESSION_HANDLE ro)
{
	CK_OBJECT_CLASS data = CKO_DATA, secret = CKO_SECRET_KEY, pubc = CKO_PUBLIC_KEY, c;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BYTE val[32] = {1, 2, 3}, big[64], small[4];
	CK_BBOOL bad = 2, as = 9, ne = 9, lo = 9;
	CK_OBJECT_HANDLE o, o2;
	CK_ULONG size;

	CK_ATTRIBUTE token_data[] = {{CKA_CLASS, &data, sizeof(data)}, {CKA_TOKEN, &yes, 1}};
	RV(f->C_CreateObject(ro, token_data, 2, &o), CKR_SESSION_READ_ONLY);
	CK_ATTRIBUTE no_class[] = {{CKA_LABEL, "x", 1}};
	RV(f->C_CreateObject(s, no_class, 1, &o), CKR_TEMPLATE_INCOMPLETE);
	CK_ATTRIBUTE short_class[] = {{CKA_CLASS, &data, 4}};
	RV(f->C_CreateObject(s, short_class, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ATTRIBUTE bad_bool[] = {{CKA_CLASS, &data, sizeof(data)}, {CKA_TOKEN, &bad, 1}};
	RV(f->C_CreateObject(s, bad_bool, 2, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ATTRIBUTE unknown[] = {{CKA_CLASS, &data, sizeof(data)}, {0x7ff0, "x", 1}};
	RV(f->C_CreateObject(s, unknown, 2, &o), CKR_ATTRIBUTE_TYPE_INVALID);
	CK_ATTRIBUTE no_value[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)}};
	RV(f->C_CreateObject(s, no_value, 2, &o), CKR_TEMPLATE_INCOMPLETE);
	CK_ATTRIBUTE local[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
				{CKA_VALUE, val, 32}, {CKA_LOCAL, &yes, 1}};
	RV(f->C_CreateObject(s, local, 4, &o), CKR_ATTRIBUTE_READ_ONLY);
	CK_ATTRIBUTE aes17[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)}, {CKA_VALUE, val, 17}};
	RV(f->C_CreateObject(s, aes17, 3, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	CK_ATTRIBUTE key[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
			      {CKA_VALUE, val, 32}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_SENSITIVE, &no, 1}};
	RV(f->C_CreateObject(s, key, 5, &o), CKR_OK);
	RV(f->C_GetObjectSize(s, o, &size), CKR_OK);
	/* made outside: never local, never "always sensitive" */
	CK_ATTRIBUTE made[] = {{CKA_ALWAYS_SENSITIVE, &as, 1}, {CKA_NEVER_EXTRACTABLE, &ne, 1}, {CKA_LOCAL, &lo, 1}};
	RV(f->C_GetAttributeValue(s, o, made, 3), CKR_OK);
	THAT(as == CK_FALSE && ne == CK_FALSE && lo == CK_FALSE);

	/* every attribute processed; the worst of the three codes */
	c = 0;
	CK_ATTRIBUTE get[] = {{CKA_VALUE, big, sizeof(big)}, {CKA_MODULUS, big, sizeof(big)},
			      {CKA_LABEL, NULL, 0},          {CKA_KEY_TYPE, small, sizeof(small)},
			      {CKA_CLASS, &c, sizeof(c)}};
	RV(f->C_GetAttributeValue(s, o, get, 5), CKR_ATTRIBUTE_TYPE_INVALID);
	THAT(get[0].ulValueLen == 32 && !memcmp(big, val, 32));
	THAT(get[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
	THAT(get[2].ulValueLen == 0);
	THAT(get[3].ulValueLen == CK_UNAVAILABLE_INFORMATION);
	THAT(get[4].ulValueLen == sizeof(c) && c == CKO_SECRET_KEY);
	CK_ATTRIBUTE lengths[] = {{CKA_VALUE, NULL, 0}, {CKA_CLASS, NULL, 0}};
	RV(f->C_GetAttributeValue(s, o, lengths, 2), CKR_OK);
	THAT(lengths[0].ulValueLen == 32 && lengths[1].ulValueLen == sizeof(CK_ULONG));
	c = 0;
	CK_ATTRIBUTE too_small[] = {{CKA_VALUE, small, sizeof(small)}, {CKA_CLASS, &c, sizeof(c)}};
	RV(f->C_GetAttributeValue(s, o, too_small, 2), CKR_BUFFER_TOO_SMALL);
	THAT(too_small[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
	THAT(too_small[1].ulValueLen == sizeof(c) && c == CKO_SECRET_KEY);
	RV(f->C_GetAttributeValue(s, o, NULL, 0), CKR_OK);

	/* one way only: sensitive on, extractable off */
	CK_ATTRIBUTE sens_on[] = {{CKA_SENSITIVE, &yes, 1}}, sens_off[] = {{CKA_SENSITIVE, &no, 1}};
	RV(f->C_SetAttributeValue(s, o, sens_on, 1), CKR_OK);
	RV(f->C_SetAttributeValue(s, o, sens_off, 1), CKR_ATTRIBUTE_READ_ONLY);
	c = 0;
	as = 9;
	CK_ATTRIBUTE hidden[] = {{CKA_VALUE, big, sizeof(big)}, {CKA_CLASS, &c, sizeof(c)}, {CKA_ALWAYS_SENSITIVE, &as, 1}};
	RV(f->C_GetAttributeValue(s, o, hidden, 3), CKR_ATTRIBUTE_SENSITIVE);
	THAT(hidden[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
	THAT(hidden[1].ulValueLen == sizeof(c) && c == CKO_SECRET_KEY);
	THAT(as == CK_FALSE);
	CK_ATTRIBUTE ex_off[] = {{CKA_EXTRACTABLE, &no, 1}}, ex_on[] = {{CKA_EXTRACTABLE, &yes, 1}};
	RV(f->C_SetAttributeValue(s, o, ex_off, 1), CKR_OK);
	RV(f->C_SetAttributeValue(s, o, ex_on, 1), CKR_ATTRIBUTE_READ_ONLY);
	CK_ATTRIBUTE ro_class[] = {{CKA_CLASS, &data, sizeof(data)}}, ro_kt[] = {{CKA_KEY_TYPE, &aes, sizeof(aes)}},
		     ro_local[] = {{CKA_LOCAL, &yes, 1}}, ro_never[] = {{CKA_NEVER_EXTRACTABLE, &yes, 1}},
		     ro_value[] = {{CKA_VALUE, val, 32}}, ro_token[] = {{CKA_TOKEN, &yes, 1}},
		     ro_trusted[] = {{CKA_TRUSTED, &yes, 1}}, not_its[] = {{CKA_MODULUS, val, 4}};
	RV(f->C_SetAttributeValue(s, o, ro_class, 1), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_SetAttributeValue(s, o, ro_kt, 1), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_SetAttributeValue(s, o, ro_local, 1), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_SetAttributeValue(s, o, ro_never, 1), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_SetAttributeValue(s, o, ro_value, 1), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_SetAttributeValue(s, o, ro_token, 1), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_SetAttributeValue(s, o, ro_trusted, 1), CKR_ATTRIBUTE_READ_ONLY); /* the SO's */
	RV(f->C_SetAttributeValue(s, o, not_its, 1), CKR_ATTRIBUTE_TYPE_INVALID);

	/* copies: the same rules */
	CK_ATTRIBUTE cp_class[] = {{CKA_CLASS, &pubc, sizeof(pubc)}}, cp_label[] = {{CKA_LABEL, "copy", 4}};
	RV(f->C_CopyObject(s, o, cp_class, 1, &o2), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_CopyObject(s, o, sens_off, 1, &o2), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_CopyObject(s, o, ex_on, 1, &o2), CKR_ATTRIBUTE_READ_ONLY);
	RV(f->C_CopyObject(s, o, cp_label, 1, &o2), CKR_OK);
	RV(f->C_CopyObject(s, 0x7777, cp_label, 1, &o2), CKR_OBJECT_HANDLE_INVALID);
	CK_ATTRIBUTE cp_token[] = {{CKA_TOKEN, &yes, 1}};
	RV(f->C_CopyObject(ro, o, cp_token, 1, &o2), CKR_SESSION_READ_ONLY);

	/* generation */
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0}, sha = {CKM_SHA256, NULL, 0};
	CK_ULONG len = 32;
	CK_ATTRIBUTE no_len[] = {{CKA_ENCRYPT, &yes, 1}};
	RV(f->C_GenerateKey(s, &gen, no_len, 1, &o2), CKR_TEMPLATE_INCOMPLETE);
	RV(f->C_GenerateKey(s, &sha, no_len, 1, &o2), CKR_MECHANISM_INVALID);
	CK_ATTRIBUTE wrong_class[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_CLASS, &pubc, sizeof(pubc)}};
	RV(f->C_GenerateKey(s, &gen, wrong_class, 2, &o2), CKR_TEMPLATE_INCONSISTENT);
	CK_ATTRIBUTE gen_local[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_LOCAL, &no, 1}};
	RV(f->C_GenerateKey(s, &gen, gen_local, 2, &o2), CKR_ATTRIBUTE_READ_ONLY);
	CK_MECHANISM rsa_gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0}, ec_gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub, priv;
	RV(f->C_GenerateKeyPair(s, &rsa_gen, NULL, 0, NULL, 0, &pub, &priv), CKR_TEMPLATE_INCOMPLETE);
	RV(f->C_GenerateKeyPair(s, &ec_gen, NULL, 0, NULL, 0, &pub, &priv), CKR_TEMPLATE_INCOMPLETE);
}

/* The operations' two-call convention and states, with an EC key pair
 * (sign, verify) and AES keys (encrypt, decrypt, wrap); pass > 0 runs
 * with the inits the module answers itself. */
static void operations(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE aes)
{
	CK_MECHANISM sm = {CKM_ECDSA_SHA256, NULL, 0}, rsa = {CKM_RSA_PKCS, NULL, 0}, dm = {CKM_SHA256, NULL, 0};
	CK_BYTE iv[16] = {0}, data[40] = {7}, sig[128], pt[100], ct[160], out[160], dg[64];
	CK_MECHANISM cbc = {CKM_AES_CBC_PAD, iv, 16}, ecb = {CKM_AES_ECB, NULL, 0}, short_iv = {CKM_AES_CBC, iv, 8};
	CK_ULONG sl, cl, ol, dl, total = 0;

	/* single-part sign: length query and buffer too small leave it active */
	RV(f->C_Sign(s, data, 40, NULL, &sl), CKR_OPERATION_NOT_INITIALIZED);
	RV(f->C_SignInit(s, &sm, priv), CKR_OK);
	RV(f->C_SignInit(s, &sm, priv), CKR_OPERATION_ACTIVE);
	sl = 0;
	RV(f->C_Sign(s, data, 40, NULL, &sl), CKR_OK);
	THAT(sl == 64);
	sl = 10;
	RV(f->C_Sign(s, data, 40, sig, &sl), CKR_BUFFER_TOO_SMALL);
	THAT(sl == 64);
	sl = sizeof(sig);
	RV(f->C_Sign(s, data, 40, sig, &sl), CKR_OK);
	THAT(sl == 64);
	RV(f->C_Sign(s, data, 40, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	/* multi-part: C_SignFinal likewise */
	RV(f->C_SignInit(s, &sm, priv), CKR_OK);
	RV(f->C_SignUpdate(s, data, 20), CKR_OK);
	RV(f->C_SignUpdate(s, data + 20, 20), CKR_OK);
	sl = 0;
	RV(f->C_SignFinal(s, NULL, &sl), CKR_OK);
	THAT(sl == 64);
	sl = 3;
	RV(f->C_SignFinal(s, sig, &sl), CKR_BUFFER_TOO_SMALL);
	sl = sizeof(sig);
	RV(f->C_SignFinal(s, sig, &sl), CKR_OK);
	RV(f->C_SignFinal(s, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	/* verification: a failure ends it */
	RV(f->C_VerifyInit(s, &sm, pub), CKR_OK);
	RV(f->C_Verify(s, data, 40, sig, 64), CKR_OK);
	sig[5] ^= 1;
	RV(f->C_VerifyInit(s, &sm, pub), CKR_OK);
	RV(f->C_Verify(s, data, 40, sig, 64), CKR_SIGNATURE_INVALID);
	RV(f->C_Verify(s, data, 40, sig, 64), CKR_OPERATION_NOT_INITIALIZED);
	RV(f->C_VerifyInit(s, &sm, pub), CKR_OK);
	RV(f->C_Verify(s, data, 40, sig, 63), CKR_SIGNATURE_LEN_RANGE);
	RV(f->C_VerifyInit(s, &sm, pub), CKR_OK);
	RV(f->C_VerifyUpdate(s, data, 40), CKR_OK);
	RV(f->C_VerifyFinal(s, sig, 64), CKR_SIGNATURE_INVALID);
	RV(f->C_VerifyFinal(s, sig, 64), CKR_OPERATION_NOT_INITIALIZED);
	/* inits refused */
	RV(f->C_SignInit(s, &sm, pub), CKR_KEY_FUNCTION_NOT_PERMITTED);
	RV(f->C_SignInit(s, &rsa, priv), CKR_KEY_TYPE_INCONSISTENT);
	RV(f->C_SignInit(s, &sm, 0x7777), CKR_KEY_HANDLE_INVALID);
	RV(f->C_SignInit(s, NULL, priv), CKR_ARGUMENTS_BAD);
	RV(f->C_EncryptInit(s, &short_iv, aes), CKR_MECHANISM_PARAM_INVALID);

	/* encryption: single-part, then multi-part with C_EncryptFinal's query */
	memset(pt, 0x41, sizeof(pt));
	RV(f->C_EncryptInit(s, &cbc, aes), CKR_OK);
	cl = 0;
	RV(f->C_Encrypt(s, pt, 100, NULL, &cl), CKR_OK);
	THAT(cl >= 112);
	cl = 5;
	RV(f->C_Encrypt(s, pt, 100, ct, &cl), CKR_BUFFER_TOO_SMALL);
	THAT(cl >= 112);
	cl = sizeof(ct);
	RV(f->C_Encrypt(s, pt, 100, ct, &cl), CKR_OK);
	THAT(cl == 112);
	RV(f->C_EncryptInit(s, &cbc, aes), CKR_OK);
	cl = sizeof(out);
	RV(f->C_EncryptUpdate(s, pt, 100, out, &cl), CKR_OK);
	THAT(cl == 96 && !memcmp(out, ct, 96));
	ol = 0;
	RV(f->C_EncryptFinal(s, NULL, &ol), CKR_OK);
	THAT(ol == 16);
	ol = 2;
	RV(f->C_EncryptFinal(s, out + 96, &ol), CKR_BUFFER_TOO_SMALL);
	ol = 16;
	RV(f->C_EncryptFinal(s, out + 96, &ol), CKR_OK);
	THAT(!memcmp(out, ct, 112));
	RV(f->C_EncryptFinal(s, out, &ol), CKR_OPERATION_NOT_INITIALIZED);
	/* decryption in parts, C_DecryptFinal's query and too small a buffer */
	RV(f->C_DecryptInit(s, &cbc, aes), CKR_OK);
	ol = sizeof(out);
	RV(f->C_DecryptUpdate(s, ct, 40, out, &ol), CKR_OK);
	total = ol;
	ol = sizeof(out) - total;
	RV(f->C_DecryptUpdate(s, ct + 40, 72, out + total, &ol), CKR_OK);
	total += ol;
	ol = 0;
	RV(f->C_DecryptFinal(s, NULL, &ol), CKR_OK);
	THAT(total + ol >= 100);
	if (ol) {
		CK_ULONG none = 0;
		RV(f->C_DecryptFinal(s, out + total, &none), CKR_BUFFER_TOO_SMALL);
	}
	ol = sizeof(out) - total;
	RV(f->C_DecryptFinal(s, out + total, &ol), CKR_OK);
	THAT(total + ol == 100 && !memcmp(out, pt, 100));
	RV(f->C_DecryptFinal(s, out, &ol), CKR_OPERATION_NOT_INITIALIZED);
	/* a length out of range ends the operation */
	RV(f->C_EncryptInit(s, &ecb, aes), CKR_OK);
	cl = sizeof(ct);
	RV(f->C_Encrypt(s, pt, 17, ct, &cl), CKR_DATA_LEN_RANGE);
	RV(f->C_Encrypt(s, pt, 16, ct, &cl), CKR_OPERATION_NOT_INITIALIZED);
	RV(f->C_DecryptInit(s, &ecb, aes), CKR_OK);
	ol = sizeof(out);
	RV(f->C_Decrypt(s, ct, 31, out, &ol), CKR_ENCRYPTED_DATA_LEN_RANGE);
	RV(f->C_Decrypt(s, ct, 32, out, &ol), CKR_OPERATION_NOT_INITIALIZED);

	/* digests */
	RV(f->C_DigestInit(s, &dm), CKR_OK);
	RV(f->C_DigestInit(s, &dm), CKR_OPERATION_ACTIVE);
	dl = 0;
	RV(f->C_Digest(s, data, 40, NULL, &dl), CKR_OK);
	THAT(dl == 32);
	dl = 31;
	RV(f->C_Digest(s, data, 40, dg, &dl), CKR_BUFFER_TOO_SMALL);
	dl = sizeof(dg);
	RV(f->C_Digest(s, data, 40, dg, &dl), CKR_OK);
	RV(f->C_DigestInit(s, &dm), CKR_OK);
	RV(f->C_DigestUpdate(s, data, 40), CKR_OK);
	dl = 0;
	RV(f->C_DigestFinal(s, NULL, &dl), CKR_OK);
	dl = 1;
	RV(f->C_DigestFinal(s, dg, &dl), CKR_BUFFER_TOO_SMALL);
	dl = sizeof(dg);
	RV(f->C_DigestFinal(s, dg, &dl), CKR_OK);
	RV(f->C_DigestFinal(s, dg, &dl), CKR_OPERATION_NOT_INITIALIZED);
}

static void keys(CK_SESSION_HANDLE s)
{
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_MECHANISM ec_gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, kw = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ATTRIBUTE pubt[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_VERIFY, &yes, 1}, {CKA_TOKEN, &no, 1}};
	CK_ATTRIBUTE privt[] = {{CKA_SIGN, &yes, 1}, {CKA_TOKEN, &no, 1}, {CKA_SENSITIVE, &yes, 1}};
	CK_OBJECT_HANDLE pub, priv, wk, ek, uk;
	CK_BBOOL as = 9, ne = 9, lo = 9, sens = 9;
	CK_BYTE buf[512], wrapped[512];
	CK_ULONG wl, wl2;
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;

	RV(f->C_GenerateKeyPair(s, &ec_gen, pubt, 3, privt, 3, &pub, &priv), CKR_OK);
	/* made here, sensitive and never extractable: always so */
	CK_ATTRIBUTE q[] = {{CKA_ALWAYS_SENSITIVE, &as, 1}, {CKA_NEVER_EXTRACTABLE, &ne, 1}, {CKA_LOCAL, &lo, 1},
			    {CKA_VALUE, buf, sizeof(buf)},  {CKA_SENSITIVE, &sens, 1},      {CKA_EC_PARAMS, buf, sizeof(buf)}};
	RV(f->C_GetAttributeValue(s, priv, q, 6), CKR_ATTRIBUTE_SENSITIVE);
	THAT(as == CK_TRUE && ne == CK_TRUE && lo == CK_TRUE && sens == CK_TRUE);
	THAT(q[3].ulValueLen == CK_UNAVAILABLE_INFORMATION);
	THAT(q[5].ulValueLen == sizeof(p256) && !memcmp(buf, p256, sizeof(p256)));

	wk = aes_key(s, CK_FALSE);
	ek = aes_key(s, CK_TRUE);
	for (int pass = 0; pass < 3; pass++)
		operations(s, priv, pub, wk);

	/* wrapping: the two-call convention, what may not be wrapped */
	wl = 0;
	RV(f->C_WrapKey(s, &kw, wk, priv, NULL, &wl), CKR_KEY_UNEXTRACTABLE);
	RV(f->C_WrapKey(s, &kw, wk, ek, NULL, &wl), CKR_OK);
	THAT(wl == 40);
	wl2 = 4;
	RV(f->C_WrapKey(s, &kw, wk, ek, wrapped, &wl2), CKR_BUFFER_TOO_SMALL);
	THAT(wl2 == wl);
	wl2 = sizeof(wrapped);
	RV(f->C_WrapKey(s, &kw, wk, ek, wrapped, &wl2), CKR_OK);
	THAT(wl2 == wl);
	CK_ATTRIBUTE trusted_only[] = {{CKA_WRAP_WITH_TRUSTED, &yes, 1}}, any[] = {{CKA_WRAP_WITH_TRUSTED, &no, 1}};
	RV(f->C_SetAttributeValue(s, ek, trusted_only, 1), CKR_OK);
	RV(f->C_SetAttributeValue(s, ek, any, 1), CKR_ATTRIBUTE_READ_ONLY);
	wl2 = sizeof(buf);
	RV(f->C_WrapKey(s, &kw, wk, ek, buf, &wl2), CKR_KEY_NOT_WRAPPABLE); /* wk is not CKA_TRUSTED */
	/* unwrapped: from outside, never local nor always sensitive */
	CK_ATTRIBUTE ut[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
			     {CKA_TOKEN, &no, 1},                  {CKA_ENCRYPT, &yes, 1}};
	RV(f->C_UnwrapKey(s, &kw, wk, wrapped, wl, ut, 4, &uk), CKR_OK);
	as = ne = lo = 9;
	CK_ATTRIBUTE uq[] = {{CKA_ALWAYS_SENSITIVE, &as, 1}, {CKA_NEVER_EXTRACTABLE, &ne, 1}, {CKA_LOCAL, &lo, 1}};
	RV(f->C_GetAttributeValue(s, uk, uq, 3), CKR_OK);
	THAT(as == CK_FALSE && ne == CK_FALSE && lo == CK_FALSE);

	/* a forked child: uninitialized, then another application, to which
	 * its parent's sessions are nothing */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		CK_SESSION_INFO si;
		CK_MECHANISM sm = {CKM_ECDSA_SHA256, NULL, 0};
		int bad = 0;
		if (f->C_GetSessionInfo(s, &si) != CKR_CRYPTOKI_NOT_INITIALIZED)
			bad |= 1;
		if (f->C_Initialize(NULL) != CKR_OK)
			bad |= 2;
		if (f->C_GetSessionInfo(s, &si) != CKR_SESSION_HANDLE_INVALID)
			bad |= 4;
		if (f->C_SignInit(s, &sm, priv) != CKR_SESSION_HANDLE_INVALID)
			bad |= 8;
		(void)f->C_Finalize(NULL);
		_exit(bad);
	}
	int st = -1;
	THAT(pid > 0 && waitpid(pid, &st, 0) == pid);
	THAT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the parent's session goes on */
	CK_MECHANISM sm = {CKM_ECDSA_SHA256, NULL, 0};
	memset(wrapped, 0x5a, 32);
	wl = sizeof(buf);
	RV(f->C_SignInit(s, &sm, priv), CKR_OK);
	RV(f->C_Sign(s, wrapped, 32, buf, &wl), CKR_OK);
}

/* C_CloseSession: "If this function is successful and it closes the last
 * session between the application and the token, the login state of the
 * token for the application returns to public sessions"; the login after
 * that goes to the PED again. */
static void last_session_ends_the_login(CK_SLOT_ID slot, CK_SESSION_HANDLE s, CK_SESSION_HANDLE ro)
{
	CK_SESSION_HANDLE s2;
	CK_SESSION_INFO si;

	RV(f->C_CloseSession(ro), CKR_OK);
	RV(f->C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID);
	RV(f->C_CloseSession(s), CKR_OK);
	RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s2), CKR_OK);
	RV(f->C_GetSessionInfo(s2, &si), CKR_OK);
	THAT(si.state == CKS_RW_PUBLIC_SESSION);
	RV(f->C_Logout(s2), CKR_USER_NOT_LOGGED_IN);
	RV(f->C_Login(s2, CKU_USER, NULL, 0), CKR_OK); /* the PED */
	RV(f->C_GetSessionInfo(s2, &si), CKR_OK);
	THAT(si.state == CKS_RW_USER_FUNCTIONS);
	RV(f->C_CloseAllSessions(slot), CKR_OK);
	RV(f->C_GetSessionInfo(s2, &si), CKR_SESSION_HANDLE_INVALID);
	RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
	RV(f->C_GetSessionInfo(s2, &si), CKR_OK);
	THAT(si.state == CKS_RO_PUBLIC_SESSION);
	RV(f->C_CloseSession(s2), CKR_OK);
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	CK_SESSION_HANDLE s = 0, ro = 0;
	CK_SLOT_ID slot = 0;
	void *lib;

	if (argc != 3) {
		fprintf(stderr, "usage: p11_conform MODULE TOKEN\n");
		return 2;
	}
	if ((lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11_conform: %s\n", dlerror());
		return 2;
	}
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (!get || get(NULL) != CKR_ARGUMENTS_BAD || get(&f) != CKR_OK) {
		fprintf(stderr, "p11_conform: no function list in %s\n", argv[1]);
		return 2;
	}
	initialize_rules();
	if (lists(argv[2], &slot) == 0) {
		session_states(slot, &s, &ro);
		object_templates(s, ro);
		keys(s);
		last_session_ends_the_login(slot, s, ro);
	}
	RV(f->C_Finalize(NULL), CKR_OK);
	printf("conformance: %d checks, %d failed\n", checks, failed);
	return failed ? 1 : 0;
}
