/* libFuzzer target: the Network group of the module's configuration file,
 * through ped_netcfg_load as vtl, hsmcm -server and the module read it (it
 * reads a file, so the input goes to a scratch file). What loads must be
 * within its bounds; what vtl writes back (ped_netcfg_save) must load
 * again to the same servers, in the same order. */
#include "ped/error.h"
#include "ped/netcfg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256], path[300];

static void remove_scratch(void)
{
	unlink(path);
	rmdir(dir);
}

static int scratch(void)
{
	const char *base = getenv("TMPDIR");
	if (dir[0])
		return 0;
	if (!base || !*base)
		base = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/ped-fuzz-netcfg.XXXXXX", base);
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/p11.conf", dir);
	atexit(remove_scratch);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ped_net_client a, b;
	char err[512];
	FILE *f;

	if (size > 64 * 1024 || scratch() != 0)
		return 0;
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	if (fwrite(data, 1, size, f) != size) {
		fclose(f);
		return 0;
	}
	if (fclose(f) != 0)
		return 0;
	err[0] = '\0';
	if (ped_netcfg_load(&a, path, err, sizeof(err)) != PED_OK) {
		if (!err[0])
			abort(); /* a bad file says why */
		return 0;
	}
	if (a.n > PED_NET_SERVERS_MAX)
		abort();
	for (size_t i = 0; i < a.n; i++)
		if (!ped_netcfg_host_ok(a.s[i].name) || !a.s[i].cert[0] || a.s[i].port == 0 ||
		    ped_netcfg_find(&a, a.s[i].name) < 0)
			abort();
	if (ped_netcfg_save(&a, err, sizeof(err)) != PED_OK)
		return 0;
	if (ped_netcfg_load(&b, path, err, sizeof(err)) != PED_OK || b.n != a.n || strcmp(a.cert, b.cert) ||
	    strcmp(a.key, b.key))
		abort();
	for (size_t i = 0; i < a.n; i++)
		if (strcmp(a.s[i].name, b.s[i].name) || a.s[i].port != b.s[i].port || strcmp(a.s[i].cert, b.s[i].cert))
			abort();
	return 0;
}
