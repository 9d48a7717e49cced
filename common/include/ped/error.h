/* Error codes: one table, one ped_strerror().
 *
 * Every function in the suite that can fail returns 0 (PED_OK) or one of the
 * negative codes below. Codes that the reference documentation names carry
 * the documented name and 32-bit value, so hsmcm can print
 * "Command Result : 0x8000002e (CKR_PED_UNPLUGGED)". Our own codes' values are
 * 0xe0000000 + |number|. The 32-bit codes travel on the wire (a relay BYE's
 * code, a handshake ALERT, a CLOSE record, hsm-sim's command results), so
 * never renumber an entry or change a code. */
#ifndef PED_ERROR_H
#define PED_ERROR_H

#include <stdint.h>

/* X(symbol, value, name shown to operators, 32-bit code, description); for our
 * own codes the name is the symbol. */
#define PED_ERROR_TABLE(X)                                                                   \
	X(PED_OK, 0, "CKR_OK", 0x00000000u, "no error")                                      \
	/* documented by the reference (PKCS#11 and vendor values) */                        \
	X(PED_E_CANCEL, -1, "CKR_CANCEL", 0x00000001u, "operation cancelled")                \
	X(PED_E_HOST_MEMORY, -2, "CKR_HOST_MEMORY", 0x00000002u, "out of memory")            \
	X(PED_E_GENERAL, -3, "CKR_GENERAL_ERROR", 0x00000005u, "general error")              \
	X(PED_E_ARGUMENTS_BAD, -4, "CKR_ARGUMENTS_BAD", 0x00000007u, "bad arguments")        \
	X(PED_E_DEVICE_ERROR, -5, "CKR_DEVICE_ERROR", 0x00000030u, "device error")           \
	X(PED_E_PIN_INCORRECT, -6, "CKR_PIN_INCORRECT", 0x000000a0u, "PIN or key secret incorrect") \
	X(PED_E_PIN_LOCKED, -7, "CKR_PIN_LOCKED", 0x000000a4u, "role locked after too many failed logins") \
	X(PED_E_TOKEN_NOT_PRESENT, -8, "CKR_TOKEN_NOT_PRESENT", 0x000000e0u, "token not present") \
	X(PED_E_USER_NOT_LOGGED_IN, -9, "CKR_USER_NOT_LOGGED_IN", 0x00000101u, "user not logged in") \
	X(PED_E_CALLBACK_ERROR, -10, "CKR_CALLBACK_ERROR", 0x80000021u, "PED callback error")  \
	X(PED_E_TIMEOUT, -11, "CKR_TIMEOUT", 0x80000024u, "operation timed out on the PED")   \
	X(PED_E_PED_UNPLUGGED, -12, "CKR_PED_UNPLUGGED", 0x8000002eu, "PED unplugged or unreachable") \
	X(PED_E_PED_CLIENT_NOT_RUNNING, -13, "CKR_PED_CLIENT_NOT_RUNNING", 0x8000002du, "pedclient is not running") \
	X(PED_E_CERTIFICATE_INVALID, -14, "CKR_CERTIFICATE_INVALID", 0x80000141u, "certificate or cloning domain invalid") \
	X(PED_E_SOCKET, -15, "RC_SOCKET_ERROR", 0xc0000500u, "socket error")                 \
	X(PED_E_TIMED_OUT, -16, "RC_OPERATION_TIMED_OUT", 0xc0000303u, "operation timed out") \
	X(PED_E_FILE, -17, "RC_FILE_ERROR", 0xc0000104u, "file error")                        \
	X(PED_E_ACTION_PROHIBITED, -18, "CKR_ACTION_PROHIBITED", 0x0000001bu, "prohibited by a policy") \
	/* our own */                                                                         \
	X(PED_E_INVALID, -100, "PED_E_INVALID", 0xe0000064u, "invalid argument")                        \
	X(PED_E_IO, -101, "PED_E_IO", 0xe0000065u, "input/output error")                            \
	X(PED_E_CLOSED, -102, "PED_E_CLOSED", 0xe0000066u, "connection closed by peer")                \
	X(PED_E_FRAME_MAGIC, -110, "PED_E_FRAME_MAGIC", 0xe000006eu, "frame has a bad magic number")        \
	X(PED_E_FRAME_VERSION, -111, "PED_E_FRAME_VERSION", 0xe000006fu, "frame has an unsupported version")  \
	X(PED_E_FRAME_OVERSIZE, -112, "PED_E_FRAME_OVERSIZE", 0xe0000070u, "frame payload exceeds the limit")  \
	X(PED_E_FRAME_TRUNCATED, -113, "PED_E_FRAME_TRUNCATED", 0xe0000071u, "frame is truncated")              \
	X(PED_E_FRAME_TYPE, -114, "PED_E_FRAME_TYPE", 0xe0000072u, "frame type unknown or unexpected")     \
	X(PED_E_CONFIG, -120, "PED_E_CONFIG", 0xe0000078u, "configuration error")                      \
	X(PED_E_OPTION, -121, "PED_E_OPTION", 0xe0000079u, "bad command-line option")                  \
	X(PED_E_RANGE, -122, "PED_E_RANGE", 0xe000007au, "value out of range")                         \
	X(PED_E_NOT_FOUND, -123, "PED_E_NOT_FOUND", 0xe000007bu, "not found")                             \
	X(PED_E_EXISTS, -124, "PED_E_EXISTS", 0xe000007cu, "already exists")                           \
	X(PED_E_BUSY, -125, "PED_E_BUSY", 0xe000007du, "busy")                                       \
	X(PED_E_PIDFILE, -126, "PED_E_PIDFILE", 0xe000007eu, "PID file in use or unwritable")           \
	X(PED_E_DAEMON, -127, "PED_E_DAEMON", 0xe000007fu, "background process failed to start")       \
	X(PED_E_CORRUPT, -128, "PED_E_CORRUPT", 0xe0000080u, "data corrupt or tampered")                \
	X(PED_E_UNSUPPORTED, -129, "PED_E_UNSUPPORTED", 0xe0000081u, "unsupported")                         \
	X(PED_E_CRYPTO, -140, "PED_E_CRYPTO", 0xe000008cu, "cryptographic library failure")            \
	X(PED_E_HANDSHAKE, -141, "PED_E_HANDSHAKE", 0xe000008du, "secure channel handshake failed")       \
	X(PED_E_KEY_CONFIRM, -142, "PED_E_KEY_CONFIRM", 0xe000008eu, "key confirmation failed (wrong RPV, password or key)") \
	X(PED_E_BAD_RECORD, -143, "PED_E_BAD_RECORD", 0xe000008fu, "record authentication failed")         \
	X(PED_E_REPLAY, -144, "PED_E_REPLAY", 0xe0000090u, "record replayed or out of order")          \
	X(PED_E_CHANNEL_CLOSED, -145, "PED_E_CHANNEL_CLOSED", 0xe0000091u, "secure channel closed")            \
	X(PED_E_SHARE_DUPLICATE, -150, "PED_E_SHARE_DUPLICATE", 0xe0000096u, "the same split was presented twice") \
	X(PED_E_SHARE_TOO_FEW, -151, "PED_E_SHARE_TOO_FEW", 0xe0000097u, "fewer splits than the quorum M")    \
	X(PED_E_SHARE_INVALID, -152, "PED_E_SHARE_INVALID", 0xe0000098u, "split index or length invalid")

enum ped_err {
#define PED_ERR_ENUM(sym, val, name, code, desc) sym = (val),
	PED_ERROR_TABLE(PED_ERR_ENUM)
#undef PED_ERR_ENUM
};

/* One sentence for a person: "CKR_PED_UNPLUGGED: PED unplugged or unreachable". */
const char *ped_strerror(int err);
/* The documented name (CKR_..., RC_...) or, for our own codes, the symbol. */
const char *ped_err_name(int err);
/* The documented 32-bit value; our own codes live in 0xe0000000 + |err|. */
uint32_t ped_err_code(int err);
/* The code whose documented value or symbol name is given; PED_E_GENERAL if none. */
int ped_err_from_code(uint32_t code);
int ped_err_from_name(const char *name);

#endif
