#include "unit.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Threads that save one file at once each get a temporary name of their
 * own (the name counts up per process): none fails on another's. Under
 * make check-tsan an unguarded count fails here as a data race. */
#define RACE_THREADS 4
#define RACE_WRITES 25

static void *write_many(void *arg)
{
	const char *path = arg;
	intptr_t failed = 0;
	for (int i = 0; i < RACE_WRITES; i++)
		failed += ped_file_write_atomic(path, "same", 4, 0600) != PED_OK;
	return (void *)failed;
}

static void atomic_writes_of_one_file_from_threads_all_land(void)
{
	char path[500];
	pthread_t t[RACE_THREADS];
	snprintf(path, sizeof(path), "%s/fio-threads", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(ped_mkdir_p(path, 0700), PED_OK);
	snprintf(path, sizeof(path), "%s/fio-threads/state", unit_tmpdir());
	for (int i = 0; i < RACE_THREADS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, write_many, path), 0);
	for (int i = 0; i < RACE_THREADS; i++) {
		void *failed = NULL;
		pthread_join(t[i], &failed);
		CU_ASSERT_EQUAL((intptr_t)failed, 0);
	}
	/* the file whole, and no temporary file left beside it */
	uint8_t *data = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL(ped_file_read_bounded(path, 100, &data, &len), PED_OK);
	CU_ASSERT(len == 4 && data && !memcmp(data, "same", 4));
	OPENSSL_free(data);
	snprintf(path, sizeof(path), "%s/fio-threads", unit_tmpdir());
	DIR *d = opendir(path);
	CU_ASSERT_FATAL(d != NULL);
	int entries = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (e->d_name[0] != '.')
			entries++;
	closedir(d);
	CU_ASSERT_EQUAL(entries, 1);
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

/* A directory or a FIFO where a file should be is named as such: errno is
 * what callers print, and it used to be whatever came before ("Success"
 * for a configuration file, "No such file or directory" for a state file
 * that was a directory). */
static void bounded_read_says_why_it_refuses(void)
{
	char path[500];
	uint8_t *data = NULL;
	size_t len = 0;
	errno = ENOENT;
	CU_ASSERT_EQUAL(ped_file_read_nofollow(unit_tmpdir(), 10, &data, &len), PED_E_FILE);
	CU_ASSERT_EQUAL(errno, EISDIR);
	snprintf(path, sizeof(path), "%s/fifo", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);
	errno = 0;
	CU_ASSERT_EQUAL(ped_file_read_bounded(path, 10, &data, &len), PED_E_FILE);
	CU_ASSERT_EQUAL(errno, EINVAL);
	unlink(path);
}

static int refused(const char *dir, mode_t forbid, const char *needle)
{
	char why[2048];
	int r = ped_dir_check_private(dir, forbid, why, sizeof(why));
	if (r == PED_OK)
		return 0;
	if (!strstr(why, "refusing to use it") || (needle && !strstr(why, needle))) {
		fprintf(stderr, "unexpected reason: %s\n", why);
		return 0;
	}
	return 1;
}

static void private_dir_is_ours_and_out_of_others_reach(void)
{
	char base[400], d[500], e[500], l[500];
	struct stat st;
	snprintf(base, sizeof(base), "%s/priv", unit_tmpdir());
	snprintf(d, sizeof(d), "%s/a/b", base);
	CU_ASSERT_EQUAL(ped_dir_private(d, PED_DIR_SECRET, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(stat(d, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	/* readable by others: fine for a runtime directory, not for a store */
	chmod(d, 0755);
	CU_ASSERT_EQUAL(ped_dir_check_private(d, PED_DIR_NOWRITE, NULL, 0), PED_OK);
	CU_ASSERT(refused(d, PED_DIR_SECRET, "mode 0755"));
	chmod(d, 0777);
	CU_ASSERT(refused(d, PED_DIR_NOWRITE, "that only it may write to"));
	chmod(d, 0700);
	/* reached through a link in a directory of ours: followed and checked */
	snprintf(l, sizeof(l), "%s/link", base);
	CU_ASSERT_EQUAL_FATAL(symlink("a/./b/../b", l), 0);
	CU_ASSERT_EQUAL(ped_dir_check_private(l, PED_DIR_SECRET, NULL, 0), PED_OK);
	/* a parent others may write to could swap it for theirs */
	snprintf(d, sizeof(d), "%s/open", base);
	snprintf(e, sizeof(e), "%s/open/mine", base);
	CU_ASSERT_EQUAL(ped_dir_private(e, PED_DIR_SECRET, NULL, 0), PED_OK);
	chmod(d, 0777);
	CU_ASSERT(refused(e, PED_DIR_SECRET, "may be changed by another user"));
	/* unless sticky, like /tmp: others cannot rename what is ours there */
	chmod(d, 01777);
	CU_ASSERT_EQUAL(ped_dir_check_private(e, PED_DIR_SECRET, NULL, 0), PED_OK);
	CU_ASSERT(refused("/nonexistent-dir/x", PED_DIR_NOWRITE, "No such file"));
	if (geteuid() != 0)
		return; /* the rest makes files of another uid */
	/* another user's directory, or their link in a sticky directory */
	snprintf(e, sizeof(e), "%s/theirs", base);
	CU_ASSERT_EQUAL(mkdir(e, 0700), 0);
	CU_ASSERT_EQUAL(chown(e, 65534, 65534), 0);
	CU_ASSERT(refused(e, PED_DIR_NOWRITE, NULL));
	snprintf(l, sizeof(l), "%s/open/their-link", base);
	snprintf(e, sizeof(e), "%s/open/mine", base);
	CU_ASSERT_EQUAL(symlink(e, l), 0);
	CU_ASSERT_EQUAL(ped_dir_check_private(l, PED_DIR_SECRET, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(lchown(l, 65534, 65534), 0);
	CU_ASSERT(refused(l, PED_DIR_SECRET, "belongs to uid 65534"));
}

static void files_are_opened_only_when_ours_and_plain(void)
{
	char dir[400], p[500], q[500];
	struct stat st;
	int fd = -1;
	char why[1024];
	snprintf(dir, sizeof(dir), "%s/open", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(ped_mkdir_p(dir, 0700), PED_OK);
	snprintf(p, sizeof(p), "%s/f", dir);
	mode_t old = umask(0);
	CU_ASSERT_EQUAL(ped_file_open(p, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, NULL, 0), PED_OK);
	umask(old);
	CU_ASSERT(fd >= 0 && write(fd, "abc", 3) == 3);
	close(fd);
	CU_ASSERT_EQUAL(stat(p, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	/* an existing file at a looser mode is brought to the mode */
	chmod(p, 0644);
	CU_ASSERT_EQUAL(ped_file_open(p, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, NULL, 0), PED_OK);
	close(fd);
	CU_ASSERT_EQUAL(stat(p, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	/* a link: refused, O_TRUNC never reaches its target */
	snprintf(q, sizeof(q), "%s/link", dir);
	CU_ASSERT_EQUAL(symlink(p, q), 0);
	CU_ASSERT_EQUAL(ped_file_open(q, O_RDWR | O_CREAT | O_TRUNC, 0600, &fd, why, sizeof(why)), PED_E_FILE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "symbolic link"));
	CU_ASSERT_EQUAL(stat(p, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 3);
	unlink(q);
	/* a second name for the file */
	CU_ASSERT_EQUAL(link(p, q), 0);
	CU_ASSERT_EQUAL(ped_file_open(q, O_RDWR | O_TRUNC, 0600, &fd, why, sizeof(why)), PED_E_FILE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "2 links"));
	unlink(q);
	/* a FIFO: refused at once, not waited on */
	CU_ASSERT_EQUAL(mkfifo(q, 0600), 0);
	CU_ASSERT_EQUAL(ped_file_open(q, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, NULL, 0), PED_E_FILE);
	unlink(q);
	/* O_TRUNC on our own file, after the checks */
	CU_ASSERT_EQUAL(ped_file_open(p, O_RDWR | O_TRUNC, 0600, &fd, NULL, 0), PED_OK);
	close(fd);
	CU_ASSERT_EQUAL(stat(p, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 0);
	CU_ASSERT_EQUAL(ped_file_open(q, O_RDONLY, 0, &fd, NULL, 0), PED_E_NOT_FOUND);
	if (geteuid() != 0)
		return;
	CU_ASSERT_EQUAL(chown(p, 65534, 65534), 0);
	CU_ASSERT_EQUAL(ped_file_open(p, O_WRONLY | O_APPEND, 0600, &fd, why, sizeof(why)), PED_E_FILE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "owned by uid 65534"));
}

static void nofollow_read_refuses_a_link(void)
{
	char p[500], q[500];
	uint8_t *data;
	size_t len;
	snprintf(p, sizeof(p), "%s/nf", unit_tmpdir());
	snprintf(q, sizeof(q), "%s/nf-link", unit_tmpdir());
	CU_ASSERT_EQUAL(ped_file_write_atomic(p, "x", 1, 0600), PED_OK);
	CU_ASSERT_EQUAL(symlink(p, q), 0);
	CU_ASSERT_EQUAL(ped_file_read_bounded(q, 10, &data, &len), PED_OK);
	OPENSSL_clear_free(data, len);
	CU_ASSERT_EQUAL(ped_file_read_nofollow(q, 10, &data, &len), PED_E_FILE);
	CU_ASSERT_EQUAL(ped_file_read_nofollow(p, 10, &data, &len), PED_OK);
	OPENSSL_clear_free(data, len);
}

/* The system runtime directory's rule (docs/security.md): root's or the
 * group's user's, of the group, entered by the group, written by no one
 * else, and we a member. Here with our own group (as root: root's). */
static void group_dir_is_the_groups_and_ours_to_use(void)
{
	char d[500], l[500], why[2048];
	struct group *g = getgrgid(getegid());
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	char group[64];
	snprintf(group, sizeof(group), "%s", g->gr_name);
	snprintf(d, sizeof(d), "%s/sysrun", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(d, 0750), 0);
	CU_ASSERT_EQUAL(chmod(d, 0750), 0);
	if (geteuid() != 0) {
		/* only root's or the same-named user's: ours passes only as root */
		CU_ASSERT_EQUAL(ped_dir_check_group(d, group, why, sizeof(why)), PED_E_FILE);
		return;
	}
	CU_ASSERT_EQUAL(ped_dir_check_group(d, group, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(chmod(d, 0770), 0); /* the group may write: the brief allows it */
	CU_ASSERT_EQUAL(ped_dir_check_group(d, group, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(chmod(d, 0757), 0); /* others may write */
	CU_ASSERT_EQUAL(ped_dir_check_group(d, group, why, sizeof(why)), PED_E_FILE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "refusing to use it"));
	CU_ASSERT_EQUAL(chmod(d, 0700), 0); /* the group may not enter */
	CU_ASSERT_EQUAL(ped_dir_check_group(d, group, NULL, 0), PED_E_FILE);
	CU_ASSERT_EQUAL(chmod(d, 0750), 0);
	CU_ASSERT_EQUAL(ped_dir_check_group(d, "no-such-group-here", why, sizeof(why)), PED_E_FILE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "no group"));
	/* a link to it is not it */
	snprintf(l, sizeof(l), "%s/sysrun-link", unit_tmpdir());
	CU_ASSERT_EQUAL(symlink(d, l), 0);
	CU_ASSERT_EQUAL(ped_dir_check_group(l, group, NULL, 0), PED_E_FILE);
	/* another group's, which we are not in */
	struct group *ng = getgrnam("nogroup");
	if (ng && ng->gr_gid != getegid()) {
		CU_ASSERT_EQUAL(chown(d, 0, ng->gr_gid), 0);
		CU_ASSERT_EQUAL(ped_dir_check_group(d, "nogroup", why, sizeof(why)), PED_E_FILE);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, "not a member"));
		/* nor is it shared with ours */
		CU_ASSERT_EQUAL(ped_dir_check_group(d, group, NULL, 0), PED_E_FILE);
	}
}

/* NAME.conf: the user's when there, else the system's, else where the
 * user's would be made. */
static void config_default_is_the_users_first(void)
{
	char data[500], want[600], out[1024];
	int sys = -1;
	const char *old = getenv("XDG_DATA_HOME");
	char saved[1024] = "";
	if (old)
		snprintf(saved, sizeof(saved), "%s", old);
	snprintf(data, sizeof(data), "%s/cfgdata", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(data, 0700), 0);
	setenv("XDG_DATA_HOME", data, 1);
	snprintf(want, sizeof(want), "%s/openped/unit-none.conf", data);
	CU_ASSERT_EQUAL(ped_config_default_path("unit-none.conf", out, sizeof(out), &sys), PED_OK);
	CU_ASSERT_STRING_EQUAL(out, want);
	CU_ASSERT_EQUAL(sys, 0);
	snprintf(want, sizeof(want), "%s/openped/unit-mine.conf", data);
	CU_ASSERT_EQUAL(ped_file_write_atomic(want, "x = 1;\n", 7, 0600), PED_OK);
	CU_ASSERT_EQUAL(ped_config_default_path("unit-mine.conf", out, sizeof(out), &sys), PED_OK);
	CU_ASSERT_STRING_EQUAL(out, want);
	CU_ASSERT_EQUAL(sys, 0);
	if (saved[0])
		setenv("XDG_DATA_HOME", saved, 1);
	else
		unsetenv("XDG_DATA_HOME");
}

/* a writer killed between its temporary file and the rename leaves the
 * file; only names of that exact shape go, and only with the suffix asked */
static void stray_temporary_files_are_removed_and_nothing_else(void)
{
	static const char *const gone[] = {"hsm-1.state.tmp.123.0", "hsm-1.device.new.tmp.99999.17",
					   "a.ikey.tmp.1.2"};
	static const char *const kept[] = {"hsm-1.state", "notes.tmp.txt", "x.tmp.12", "x.tmp.12.",
					   "x.tmp..3", "x.tmp.1.2.bak", "x.tmp.a.1"};
	char dir[600], p[700];
	size_t removed = 9;

	snprintf(dir, sizeof(dir), "%s/strays", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, gone[i]);
		CU_ASSERT_EQUAL(ped_file_write_atomic(p, "x", 1, 0600), PED_OK);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, kept[i]);
		CU_ASSERT_EQUAL(ped_file_write_atomic(p, "x", 1, 0600), PED_OK);
	}
	CU_ASSERT_EQUAL(ped_file_remove_temps(dir, ".ikey", &removed), PED_OK);
	CU_ASSERT_EQUAL(removed, 1);
	CU_ASSERT_EQUAL(ped_file_remove_temps(dir, "", &removed), PED_OK);
	CU_ASSERT_EQUAL(removed, 2);
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, gone[i]);
		CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, kept[i]);
		CU_ASSERT_EQUAL(access(p, F_OK), 0);
	}
	snprintf(p, sizeof(p), "%s/none", dir);
	CU_ASSERT_EQUAL(ped_file_remove_temps(p, "", &removed), PED_E_FILE);
}

UNIT_SUITE(fileio, NULL, NULL, UNIT_TEST(atomic_write_replaces_whole_file_with_mode),
	   UNIT_TEST(stray_temporary_files_are_removed_and_nothing_else),
	   UNIT_TEST(atomic_writes_of_one_file_from_threads_all_land),
	   UNIT_TEST(bounded_read_refuses_oversize), UNIT_TEST(bounded_read_says_why_it_refuses),
	   UNIT_TEST(private_dir_is_ours_and_out_of_others_reach),
	   UNIT_TEST(files_are_opened_only_when_ours_and_plain), UNIT_TEST(nofollow_read_refuses_a_link),
	   UNIT_TEST(group_dir_is_the_groups_and_ours_to_use), UNIT_TEST(config_default_is_the_users_first))
