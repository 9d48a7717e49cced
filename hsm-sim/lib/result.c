/* The HSM's result codes (hsm/result.h). */
#include "hsm/result.h"

#include "ped/error.h"

#include <stddef.h>
#include <string.h>

struct extra {
	int value;
	const char *name;
	uint32_t code;
	const char *desc;
};

#define HSM_RESULT_ROW(sym, val, dname, dcode, ddesc) {(val), dname, (dcode), ddesc},
static const struct extra extras[] = {HSM_RESULT_TABLE(HSM_RESULT_ROW)};
#undef HSM_RESULT_ROW
#define NEXTRAS (sizeof(extras) / sizeof(extras[0]))

/* Our own codes, and what the reference answers in the situation each one
 * reports (docs/operator-guide.md, "Result codes", gives the reasons). */
static const struct {
	int internal, reference;
} mapped[] = {
	/* the PED port, the link or pedserver is in use by another operation */
	{PED_E_BUSY, PED_E_DEVICE_ERROR},
	/* the session key was not computed, the channel broke: no PED to talk to */
	{PED_E_KEY_CONFIRM, PED_E_PED_UNPLUGGED},
	{PED_E_HANDSHAKE, PED_E_PED_UNPLUGGED},
	{PED_E_BAD_RECORD, PED_E_PED_UNPLUGGED},
	{PED_E_REPLAY, PED_E_PED_UNPLUGGED},
	{PED_E_CHANNEL_CLOSED, PED_E_PED_UNPLUGGED},
	{PED_E_CLOSED, PED_E_PED_UNPLUGGED},
	{PED_E_FRAME_MAGIC, PED_E_PED_UNPLUGGED},
	{PED_E_FRAME_VERSION, PED_E_PED_UNPLUGGED},
	{PED_E_FRAME_OVERSIZE, PED_E_PED_UNPLUGGED},
	{PED_E_FRAME_TRUNCATED, PED_E_PED_UNPLUGGED},
	{PED_E_FRAME_TYPE, PED_E_PED_UNPLUGGED},
	/* splits no PED sends: the PED misbehaved */
	{PED_E_SHARE_DUPLICATE, PED_E_CALLBACK_ERROR},
	{PED_E_SHARE_TOO_FEW, PED_E_CALLBACK_ERROR},
	{PED_E_SHARE_INVALID, PED_E_CALLBACK_ERROR},
	/* the HSM itself failed: its state could not be stored or read, its crypto failed */
	{PED_E_IO, PED_E_DEVICE_ERROR},
	{PED_E_CORRUPT, PED_E_DEVICE_ERROR},
	{PED_E_CRYPTO, PED_E_DEVICE_ERROR},
	/* what the operator asked for cannot be: a name taken, nothing of that name, a bad value */
	{PED_E_INVALID, PED_E_ARGUMENTS_BAD},
	{PED_E_OPTION, PED_E_ARGUMENTS_BAD},
	{PED_E_EXISTS, PED_E_ARGUMENTS_BAD},
	{PED_E_NOT_FOUND, PED_E_ARGUMENTS_BAD},
	/* no room for another object or partition */
	{PED_E_RANGE, HSM_E_DEVICE_MEMORY},
	{PED_E_UNSUPPORTED, HSM_E_FUNCTION_NOT_SUPPORTED},
};
#define NMAPPED (sizeof(mapped) / sizeof(mapped[0]))

static const struct extra *extra_of(int err)
{
	for (size_t i = 0; i < NEXTRAS; i++)
		if (extras[i].value == err)
			return &extras[i];
	return NULL;
}

int hsm_result_from_ck(uint32_t rv)
{
	for (size_t i = 0; i < NEXTRAS; i++)
		if (extras[i].code == rv)
			return extras[i].value;
	return ped_err_from_code(rv);
}

int hsm_result_is_reference(int err)
{
	/* libped gives its own codes 0xe0000000 + |err|; the documented ones are below */
	return extra_of(err) != NULL || (err > -100 && ped_err_code(err) < 0xe0000000u);
}

uint32_t hsm_result_code(int err)
{
	const struct extra *e;

	for (size_t i = 0; i < NMAPPED; i++)
		if (mapped[i].internal == err) {
			err = mapped[i].reference;
			break;
		}
	if ((e = extra_of(err)) != NULL)
		return e->code;
	if (!hsm_result_is_reference(err))
		return ped_err_code(PED_E_GENERAL); /* a code nobody mapped yet: never an internal name */
	return ped_err_code(err);
}

const char *hsm_result_name(uint32_t code)
{
	for (size_t i = 0; i < NEXTRAS; i++)
		if (extras[i].code == code)
			return extras[i].name;
	int err = ped_err_from_code(code);
	if (!hsm_result_is_reference(err))
		return ped_err_name(PED_E_GENERAL);
	return ped_err_name(err);
}

const char *hsm_result_detail(int err)
{
	const struct extra *e = extra_of(err);
	if (e)
		return e->desc;
	const char *s = ped_strerror(err), *c = strstr(s, ": ");
	return c ? c + 2 : s;
}
