#include "unit.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <dirent.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void atomic_write_replaces_whole_file_with_mode(void)
{
	char dir[400], path[500];
	uint8_t *data;
	size_t len;
	struct stat st;
	snprintf(dir, sizeof(dir), "%s/fio/a/b", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(ped_mkdir_p(dir, 0700), PED_OK);
	snprintf(path, sizeof(path), "%s/state", dir);
	mode_t old = umask(077);
	CU_ASSERT_EQUAL(ped_file_write_atomic(path, "first version", 13, 0640), PED_OK);
	umask(old);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);
	CU_ASSERT_EQUAL(ped_file_write_atomic(path, "second", 6, 0600), PED_OK);
	CU_ASSERT_EQUAL(ped_file_read_bounded(path, 100, &data, &len), PED_OK);
	CU_ASSERT_EQUAL(len, 6);
	CU_ASSERT_NSTRING_EQUAL(data, "second", 6);
	OPENSSL_clear_free(data, len);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	DIR *d = opendir(dir);
	int entries = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (e->d_name[0] != '.')
			entries++;
	closedir(d);
	CU_ASSERT_EQUAL(entries, 1); /* no temporary file left */
	/* a directory that cannot be written: error, old file untouched */
	snprintf(path, sizeof(path), "%s/nodir/state", dir);
	CU_ASSERT_EQUAL(ped_file_write_atomic(path, "x", 1, 0600), PED_E_FILE);
}

static void bounded_read_refuses_oversize(void)
{
	char path[500];
	uint8_t *data;
	size_t len;
	snprintf(path, sizeof(path), "%s/big", unit_tmpdir());
	CU_ASSERT_EQUAL(ped_file_write_atomic(path, "0123456789", 10, 0600), PED_OK);
	CU_ASSERT_EQUAL(ped_file_read_bounded(path, 9, &data, &len), PED_E_RANGE);
	CU_ASSERT_EQUAL(ped_file_read_bounded(path, 10, &data, &len), PED_OK);
	OPENSSL_clear_free(data, len);
	snprintf(path, sizeof(path), "%s/none", unit_tmpdir());
	CU_ASSERT_EQUAL(ped_file_read_bounded(path, 10, &data, &len), PED_E_NOT_FOUND);
	CU_ASSERT_EQUAL(ped_file_read_bounded(unit_tmpdir(), 10, &data, &len), PED_E_FILE);
}

UNIT_SUITE(fileio, NULL, NULL, UNIT_TEST(atomic_write_replaces_whole_file_with_mode),
	   UNIT_TEST(bounded_read_refuses_oversize))
