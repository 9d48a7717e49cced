#include "ped/chkeys.h"

#include <openssl/crypto.h>

void ped_channel_keys_cleanse(struct ped_channel_keys *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}
