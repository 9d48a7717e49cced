/* Files the programs create in place (PID files, logs, lock files, Unix
 * sockets) are never made through a link planted at their name, nor in a
 * directory another user can change. Each test uses only the programs'
 * long-standing interfaces, so it builds against older code too, where it
 * fails: that code followed the links and bound anywhere. */
#include "unit.h"

#include "ikey/ikey.h"
#include "ped/error.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define VICTIM_TEXT "a file of someone else's choosing\n"

/* A file that a planted link points to: it must come out unchanged. */
static void make_victim(const char *path)
{
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(VICTIM_TEXT, f);
	fclose(f);
	chmod(path, 0644);
}

static int victim_intact(const char *path)
{
	char buf[128] = "";
	struct stat st;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, VICTIM_TEXT) == 0 && stat(path, &st) == 0 && (st.st_mode & 0777) == 0644;
}

static void pid_file_is_not_written_through_a_link(void)
{
	char victim[400], path[400], msg[512];
	struct ped_pidfile pf;
	snprintf(victim, sizeof(victim), "%s/pf-victim", unit_tmpdir());
	snprintf(path, sizeof(path), "%s/pf-link.pid", unit_tmpdir());
	make_victim(victim);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, path), 0);
	CU_ASSERT_EQUAL(ped_pidfile_create(path, &pf, msg, sizeof(msg)), PED_E_PIDFILE);
	if (pf.fd >= 0)
		ped_pidfile_remove(&pf);
	CU_ASSERT(victim_intact(victim));
	unlink(path);
}

static void log_is_not_written_through_a_link(void)
{
	char victim[400], path[400];
	snprintf(victim, sizeof(victim), "%s/log-victim", unit_tmpdir());
	snprintf(path, sizeof(path), "%s/link.log", unit_tmpdir());
	make_victim(victim);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, path), 0);
	struct ped_log_config cfg = {"unit", PED_LOG_INFO, path, 0};
	CU_ASSERT_NOT_EQUAL(ped_log_open(&cfg), PED_OK);
	ped_info("this line must not reach the victim");
	ped_log_close();
	struct ped_log_config to_stderr = {"unit", 0, NULL, 0};
	ped_log_open(&to_stderr);
	CU_ASSERT(victim_intact(victim));
	unlink(path);
}

static void log_made_by_an_older_version_becomes_private(void)
{
	char path[400];
	struct stat st;
	snprintf(path, sizeof(path), "%s/old.log", unit_tmpdir());
	make_victim(path); /* 0644, as the start-up check used to leave it */
	struct ped_log_config cfg = {"unit", 0, path, 0};
	CU_ASSERT_EQUAL(ped_log_open(&cfg), PED_OK);
	ped_log_close();
	struct ped_log_config to_stderr = {"unit", 0, NULL, 0};
	ped_log_open(&to_stderr);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
}

static void key_lock_is_not_written_through_a_link(void)
{
	char dir[400], victim[400], lock[500], serial[IKEY_SERIAL_LEN + 1], who[64];
	struct ikey_store st;
	struct ikey_slot slot;
	snprintf(dir, sizeof(dir), "%s/lock-store", unit_tmpdir());
	snprintf(victim, sizeof(victim), "%s/lock-victim", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(ikey_store_open(dir, &st), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ikey_new_blank(&st, "", serial), PED_OK);
	make_victim(victim);
	snprintf(lock, sizeof(lock), "%s/%s.lock", dir, serial);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, lock), 0);
	/* inserting would truncate the lock and write the holder's name in it */
	CU_ASSERT_NOT_EQUAL(ikey_insert(&st, serial, "PED under attack", &slot, who, sizeof(who)), PED_OK);
	if (slot.fd >= 0)
		ikey_remove(&slot);
	CU_ASSERT(victim_intact(victim));
	CU_ASSERT_EQUAL(ikey_inserted_where(&st, serial, who, sizeof(who)), 0);
}

static void unix_socket_only_in_a_directory_no_one_else_writes(void)
{
	char dir[400], path[500];
	struct stat st;
	int fd = -1;
	snprintf(dir, sizeof(dir), "%s/shared", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(chmod(dir, 01777), 0); /* like /tmp */
	snprintf(path, sizeof(path), "%s/x.sock", dir);
	CU_ASSERT_EQUAL(ped_unix_listen(path, 0600, &fd), PED_E_SOCKET);
	if (fd >= 0)
		close(fd);
	CU_ASSERT_NOT_EQUAL(lstat(path, &st), 0);
	/* private again: created at exactly the mode, whatever the umask */
	CU_ASSERT_EQUAL_FATAL(chmod(dir, 0700), 0);
	mode_t old = umask(0);
	fd = -1;
	CU_ASSERT_EQUAL(ped_unix_listen(path, 0600, &fd), PED_OK);
	umask(old);
	CU_ASSERT_EQUAL(lstat(path, &st), 0);
	CU_ASSERT(S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* Why bind-then-chmod leaves no window: until listen() nothing connects. */
static void no_connection_before_listen(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/bound.sock", unit_tmpdir());
	mode_t old = umask(0);
	CU_ASSERT_EQUAL_FATAL(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	umask(old);
	errno = 0;
	CU_ASSERT_NOT_EQUAL(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CU_ASSERT_EQUAL(errno, ECONNREFUSED);
	close(c);
	close(s);
	unlink(sa.sun_path);
}

UNIT_SUITE(private_files, NULL, NULL, UNIT_TEST(pid_file_is_not_written_through_a_link),
	   UNIT_TEST(log_is_not_written_through_a_link), UNIT_TEST(log_made_by_an_older_version_becomes_private),
	   UNIT_TEST(key_lock_is_not_written_through_a_link),
	   UNIT_TEST(unix_socket_only_in_a_directory_no_one_else_writes), UNIT_TEST(no_connection_before_listen))
