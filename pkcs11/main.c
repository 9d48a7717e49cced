/* The module's entry points: C_GetFunctionList and its table,
 * C_Initialize, C_Finalize, C_GetInfo, and the one piece of global state
 * PKCS#11 requires (whether the library is initialized, and with what).
 *
 * A call takes a reference to the module under a short global lock and
 * gives it back when done, so C_Finalize never frees what a call in
 * another thread still uses; C_Finalize shuts the connections, so a call
 * waiting on hsm-sim (a PED login) returns at once. After fork the child
 * starts uninitialized, as PKCS#11 says: it calls C_Initialize again and
 * gets its own application id (hsm-sim then keeps its sessions and logins
 * apart from its parent's). */
#include "p11.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *g_mod;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

static void module_free(struct p11_module *m)
{
	p11_pool_forget(m); /* what C_Finalize left: nothing, or a child's copies */
	p11_slots_free(&m->slots);
	p11_defer_free(m);
	p11_mutex_free(&m->locking, m->mu);
	OPENSSL_cleanse(m->app_id, sizeof(m->app_id));
	free(m);
}

/* fork: the child holds no lock another thread held, and no module */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&g_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&g_lock);
}

static void atfork_child(void)
{
	struct p11_module *m = g_mod;

	g_mod = NULL;
	pthread_mutex_unlock(&g_lock);
	if (!m)
		return;
	/* the parent's sockets closed here only; the application's mutex
	 * callbacks are not called in a child that has not initialized */
	p11_pool_forget(m);
	p11_slots_free(&m->slots);
	p11_defer_free(m);
	if (!m->locking.create && m->mu) {
		pthread_mutex_t *pm = m->mu;
		free(pm);
	}
	OPENSSL_cleanse(m->app_id, sizeof(m->app_id));
	free(m);
}

static void register_atfork(void)
{
	(void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

CK_RV p11_module_get(struct p11_module **out)
{
	CK_RV rv = CKR_CRYPTOKI_NOT_INITIALIZED;

	pthread_mutex_lock(&g_lock);
	if (g_mod) {
		g_mod->refs++;
		*out = g_mod;
		rv = CKR_OK;
	}
	pthread_mutex_unlock(&g_lock);
	return rv;
}

void p11_module_put(struct p11_module *m)
{
	int last;

	pthread_mutex_lock(&g_lock);
	last = --m->refs == 0;
	pthread_mutex_unlock(&g_lock);
	if (last)
		module_free(m);
}

P11_EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
	struct p11_locking locking;
	struct p11_module *m = NULL;
	char path[1024], err[1200];
	CK_RV rv;

	if ((rv = p11_locking_from_args(pInitArgs, &locking)) != CKR_OK)
		return rv;
	pthread_once(&g_atfork_once, register_atfork);
	pthread_mutex_lock(&g_lock);
	if (g_mod) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	rv = CKR_HOST_MEMORY;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto out;
	m->locking = locking;
	p11_config_path(path, sizeof(path));
	if (p11_config_load(&m->cfg, path, err, sizeof(err)) != PED_OK) {
		p11_log(m, "%s", err);
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	/* a network server's TLS link runs in a thread of the module's: an
	 * application that allows none is told so now (PKCS#11), not met by
	 * threads its calls start */
	if (pInitArgs && (((CK_C_INITIALIZE_ARGS *)pInitArgs)->flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS) &&
	    m->cfg.net.n) {
		p11_log(m, "C_Initialize: CKF_LIBRARY_CANT_CREATE_OS_THREADS, and the network servers' links need threads");
		rv = CKR_NEED_TO_CREATE_THREADS;
		goto out;
	}
	if (RAND_bytes(m->app_id, sizeof(m->app_id)) != 1) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	m->pid = getpid();
	if ((rv = p11_mutex_new(&m->locking, &m->mu)) != CKR_OK)
		goto out;
	m->refs = 1; /* C_Finalize's */
	g_mod = m;
	m = NULL;
	rv = CKR_OK;
out:
	pthread_mutex_unlock(&g_lock);
	if (m) {
		OPENSSL_cleanse(m->app_id, sizeof(m->app_id));
		free(m);
	}
	return rv;
}

P11_EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
	struct p11_module *m;

	if (pReserved)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&g_lock);
	m = g_mod;
	g_mod = NULL;
	pthread_mutex_unlock(&g_lock);
	if (!m)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	atomic_store(&m->finalized, 1);
	/* hsm-sim ends the application's sessions and logins with its last
	 * connection: every one closes here or when its call returns */
	p11_pool_shutdown(m);
	p11_module_put(m);
	return CKR_OK;
}

static void pad(unsigned char *field, size_t size, const char *text)
{
	size_t n = strlen(text);
	memset(field, ' ', size);
	memcpy(field, text, n < size ? n : size);
}

P11_EXPORT CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
	struct p11_module *m;
	CK_RV rv;
	unsigned major = 0, minor = 0;

	if ((rv = p11_module_get(&m)) != CKR_OK)
		return rv;
	if (!pInfo) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = CRYPTOKI_VERSION_MAJOR;
	pInfo->cryptokiVersion.minor = CRYPTOKI_VERSION_MINOR;
	pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
	pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription), P11_DESCRIPTION);
	(void)sscanf(PED_VERSION, "%u.%u", &major, &minor);
	pInfo->libraryVersion.major = (CK_BYTE)major;
	pInfo->libraryVersion.minor = (CK_BYTE)minor;
out:
	p11_module_put(m);
	return rv;
}

/* What this module does not offer: recovery, dual-function calls and
 * operation state (the HSM keeps its operations). */
static CK_RV not_supported(void)
{
	struct p11_module *m;
	CK_RV rv = p11_module_get(&m);
	if (rv != CKR_OK)
		return rv;
	p11_module_put(m);
	return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_GetOperationState(CK_SESSION_HANDLE s, CK_BYTE_PTR p, CK_ULONG_PTR l)
{
	(void)s, (void)p, (void)l;
	return not_supported();
}

P11_EXPORT CK_RV C_SetOperationState(CK_SESSION_HANDLE s, CK_BYTE_PTR p, CK_ULONG l, CK_OBJECT_HANDLE e,
				     CK_OBJECT_HANDLE a)
{
	(void)s, (void)p, (void)l, (void)e, (void)a;
	return not_supported();
}

#define RECOVER_INIT(name)                                                                   \
	P11_EXPORT CK_RV name(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)  \
	{                                                                                    \
		(void)s, (void)m, (void)k;                                                   \
		return not_supported();                                                      \
	}
#define IN_OUT(name)                                                                                 \
	P11_EXPORT CK_RV name(CK_SESSION_HANDLE s, CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o, CK_ULONG_PTR ol) \
	{                                                                                            \
		(void)s, (void)i, (void)il, (void)o, (void)ol;                                       \
		return not_supported();                                                              \
	}
RECOVER_INIT(C_SignRecoverInit)
RECOVER_INIT(C_VerifyRecoverInit)
IN_OUT(C_SignRecover)
IN_OUT(C_VerifyRecover)
IN_OUT(C_DigestEncryptUpdate)
IN_OUT(C_DecryptDigestUpdate)
IN_OUT(C_SignEncryptUpdate)
IN_OUT(C_DecryptVerifyUpdate)

/* Every call is serial: there is no function running in parallel to ask about. */
P11_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE s)
{
	struct p11_module *m;
	CK_RV rv = p11_module_get(&m);
	(void)s;
	if (rv != CKR_OK)
		return rv;
	p11_module_put(m);
	return CKR_FUNCTION_NOT_PARALLEL;
}

P11_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE s)
{
	return C_GetFunctionStatus(s);
}

P11_EXPORT CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	struct p11_module *m;
	CK_RV rv = p11_module_get(&m);
	(void)slot;
	if (rv != CKR_OK)
		return rv;
	p11_module_put(m);
	if (reserved)
		return CKR_ARGUMENTS_BAD;
	/* slots do not come and go while an application runs */
	return flags & CKF_DONT_BLOCK ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);

static CK_FUNCTION_LIST function_list = {
	.version = {CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR},
	.C_Initialize = C_Initialize,
	.C_Finalize = C_Finalize,
	.C_GetInfo = C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = C_GetSlotList,
	.C_GetSlotInfo = C_GetSlotInfo,
	.C_GetTokenInfo = C_GetTokenInfo,
	.C_GetMechanismList = C_GetMechanismList,
	.C_GetMechanismInfo = C_GetMechanismInfo,
	.C_InitToken = C_InitToken,
	.C_InitPIN = C_InitPIN,
	.C_SetPIN = C_SetPIN,
	.C_OpenSession = C_OpenSession,
	.C_CloseSession = C_CloseSession,
	.C_CloseAllSessions = C_CloseAllSessions,
	.C_GetSessionInfo = C_GetSessionInfo,
	.C_GetOperationState = C_GetOperationState,
	.C_SetOperationState = C_SetOperationState,
	.C_Login = C_Login,
	.C_Logout = C_Logout,
	.C_CreateObject = C_CreateObject,
	.C_CopyObject = C_CopyObject,
	.C_DestroyObject = C_DestroyObject,
	.C_GetObjectSize = C_GetObjectSize,
	.C_GetAttributeValue = C_GetAttributeValue,
	.C_SetAttributeValue = C_SetAttributeValue,
	.C_FindObjectsInit = C_FindObjectsInit,
	.C_FindObjects = C_FindObjects,
	.C_FindObjectsFinal = C_FindObjectsFinal,
	.C_EncryptInit = C_EncryptInit,
	.C_Encrypt = C_Encrypt,
	.C_EncryptUpdate = C_EncryptUpdate,
	.C_EncryptFinal = C_EncryptFinal,
	.C_DecryptInit = C_DecryptInit,
	.C_Decrypt = C_Decrypt,
	.C_DecryptUpdate = C_DecryptUpdate,
	.C_DecryptFinal = C_DecryptFinal,
	.C_DigestInit = C_DigestInit,
	.C_Digest = C_Digest,
	.C_DigestUpdate = C_DigestUpdate,
	.C_DigestKey = C_DigestKey,
	.C_DigestFinal = C_DigestFinal,
	.C_SignInit = C_SignInit,
	.C_Sign = C_Sign,
	.C_SignUpdate = C_SignUpdate,
	.C_SignFinal = C_SignFinal,
	.C_SignRecoverInit = C_SignRecoverInit,
	.C_SignRecover = C_SignRecover,
	.C_VerifyInit = C_VerifyInit,
	.C_Verify = C_Verify,
	.C_VerifyUpdate = C_VerifyUpdate,
	.C_VerifyFinal = C_VerifyFinal,
	.C_VerifyRecoverInit = C_VerifyRecoverInit,
	.C_VerifyRecover = C_VerifyRecover,
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
	.C_GenerateKey = C_GenerateKey,
	.C_GenerateKeyPair = C_GenerateKeyPair,
	.C_WrapKey = C_WrapKey,
	.C_UnwrapKey = C_UnwrapKey,
	.C_DeriveKey = C_DeriveKey,
	.C_SeedRandom = C_SeedRandom,
	.C_GenerateRandom = C_GenerateRandom,
	.C_GetFunctionStatus = C_GetFunctionStatus,
	.C_CancelFunction = C_CancelFunction,
	.C_WaitForSlotEvent = C_WaitForSlotEvent,
};

P11_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (!ppFunctionList)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &function_list;
	return CKR_OK;
}
