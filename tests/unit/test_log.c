#include "unit.h"

#include "ped/error.h"
#include "ped/log.h"

#include <pthread.h>
#include <stdint.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char path[512];

static size_t read_file(const char *p, char *buf, size_t cap)
{
	FILE *f = fopen(p, "r");
	size_t n;
	if (!f)
		return 0;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}

static void open_log(const char *name, unsigned mask, size_t max)
{
	snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), name);
	unlink(path);
	struct ped_log_config cfg = {"testd", mask, path, max};
	CU_ASSERT_EQUAL_FATAL(ped_log_open(&cfg), PED_OK);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void levels_switch_one_by_one(void)
{
	static char buf[8192];
	unsigned masks[] = {PED_LOG_ERROR, PED_LOG_WARNING, PED_LOG_INFO, PED_LOG_TRACE};
	const char *names[] = {" ERROR ", " WARNING ", " INFO ", " TRACE "};
	for (int i = 0; i < 4; i++) {
		open_log("levels.log", masks[i], 0);
		ped_error("e");
		ped_warn("w");
		ped_info("i");
		ped_trace("t");
		ped_log_close();
		read_file(path, buf, sizeof(buf));
		CU_ASSERT_EQUAL(count_lines(buf), 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(buf, names[i]));
	}
	open_log("none.log", 0, 0);
	ped_error("nothing");
	ped_log_close();
	CU_ASSERT_EQUAL(read_file(path, buf, sizeof(buf)), 0);
}

static void line_format_carries_time_level_and_function(void)
{
	static char buf[8192];
	regex_t re;
	open_log("format.log", PED_LOG_INFO, 0);
	ped_info("hello %d", 42);
	ped_log_close();
	read_file(path, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(regcomp(&re,
				      "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
				      "testd\\[[0-9]+\\] INFO "
				      "line_format_carries_time_level_and_function: hello 42\n$",
				      REG_EXTENDED),
			      0);
	CU_ASSERT_EQUAL(regexec(&re, buf, 0, NULL, 0), 0);
	regfree(&re);
	struct stat st;
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
}

static void rotation_keeps_whole_lines(void)
{
	static char cur[8192], old[8192];
	char rotated[600];
	open_log("rotate.log", PED_LOG_INFO, 1000);
	for (int i = 0; i < 40; i++)
		ped_info("message number %02d with some padding text", i);
	ped_log_close();
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	size_t n1 = read_file(path, cur, sizeof(cur));
	size_t n2 = read_file(rotated, old, sizeof(old));
	CU_ASSERT(n1 > 0 && n1 <= 1000);
	CU_ASSERT(n2 > 0 && n2 <= 1000);
	/* every line in both files is whole: starts with a date, ends with a newline */
	CU_ASSERT_EQUAL(cur[n1 - 1], '\n');
	CU_ASSERT_EQUAL(old[n2 - 1], '\n');
	for (char *p = cur; *p; p = strchr(p, '\n') + 1)
		CU_ASSERT(strncmp(p, "20", 2) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(cur, "message number 39"));
}

enum { WRITERS = 4, LINES_PER_WRITER = 500 };

static void *write_lines(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < LINES_PER_WRITER; i++)
		ped_info("writer %d line %04d", id, i);
	return NULL;
}

/* Count whole "writer W line NNNN" lines in one file; any torn line fails. */
static int count_whole_lines(const char *p, size_t max, int *bad)
{
	static char buf[1 << 16];
	size_t n = read_file(p, buf, sizeof(buf));
	int lines = 0;
	if (n > max)
		(*bad)++;
	for (char *s = buf, *nl; *s; s = nl + 1) {
		int w, l;
		nl = strchr(s, '\n');
		if (!nl) {
			(*bad)++;
			break;
		}
		*nl = '\0';
		char *m = strstr(s, "write_lines: ");
		if (strncmp(s, "20", 2) != 0 || !m || sscanf(m, "write_lines: writer %d line %d", &w, &l) != 2)
			(*bad)++;
		else
			lines++;
	}
	return lines;
}

static void threads_share_one_log_without_losing_lines(void)
{
	pthread_t t[WRITERS];
	char rotated[600];
	int bad = 0, lines;

	/* Large enough that the last rotation leaves both files with whole
	 * lines and small enough that it rotates many times mid-run. */
	open_log("threads.log", PED_LOG_INFO, 16384);
	for (int i = 0; i < WRITERS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, write_lines, (void *)(intptr_t)i), 0);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	ped_info("writers done");
	ped_log_close();
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	lines = count_whole_lines(rotated, 16384, &bad);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(lines > 0);
	/* the current file holds the closing line, written after every writer */
	static char cur[1 << 16];
	size_t n = read_file(path, cur, sizeof(cur));
	CU_ASSERT(n > 0 && n <= 16384);
	CU_ASSERT_PTR_NOT_NULL(strstr(cur, "writers done"));
}

static void control_characters_cannot_forge_lines(void)
{
	static char buf[8192];
	open_log("escape.log", PED_LOG_INFO, 0);
	ped_info("peer said %s", "x\n2026-01-01T00:00:00.000Z fake[1] ERROR forged: y\t\x01");
	ped_log_close();
	read_file(path, buf, sizeof(buf));
	CU_ASSERT_EQUAL(count_lines(buf), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "x\\n2026"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\\t\\x01"));
}

static void long_messages_are_truncated_visibly(void)
{
	static char buf[16384], big[10000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	open_log("long.log", PED_LOG_INFO, 0);
	ped_info("%s", big);
	ped_log_close();
	size_t n = read_file(path, buf, sizeof(buf));
	CU_ASSERT_EQUAL(count_lines(buf), 1);
	CU_ASSERT(n < 4096 + 256);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "a...\n"));
}

static void unwritable_file_is_an_error(void)
{
	struct ped_log_config cfg = {"testd", PED_LOG_INFO, "/nonexistent-dir/x.log", 0};
	CU_ASSERT_EQUAL(ped_log_open(&cfg), PED_E_FILE);
	ped_log_close();
	struct ped_log_config to_stderr = {"unit", PED_LOG_DEFAULT_MASK, NULL, 0};
	CU_ASSERT_EQUAL(ped_log_open(&to_stderr), PED_OK);
	ped_log_set_mask(0);
	CU_ASSERT_EQUAL(ped_log_get_mask(), 0);
}

/* A character device as the log (the reference's -logfilename /dev/null):
 * written to, never renamed by rotation. Root makes a null device of its own
 * to try it on; anyone else may use /dev/null, which they cannot rename. */
static void a_device_log_is_never_rotated(void)
{
	char dev[600], rotated[620];
	struct stat st;

	if (geteuid() == 0) {
		snprintf(dev, sizeof(dev), "%s/null", unit_tmpdir());
		unlink(dev);
		CU_ASSERT_EQUAL_FATAL(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0);
	} else {
		snprintf(dev, sizeof(dev), "/dev/null");
	}
	struct ped_log_config cfg = {"testd", PED_LOG_INFO, dev, 100};
	CU_ASSERT_EQUAL_FATAL(ped_log_open(&cfg), PED_OK);
	for (int i = 0; i < 50; i++)
		ped_info("line %d of a log nobody keeps", i);
	ped_log_close();
	CU_ASSERT_EQUAL(stat(dev, &st), 0);
	CU_ASSERT_TRUE(S_ISCHR(st.st_mode));
	snprintf(rotated, sizeof(rotated), "%s.1", dev);
	CU_ASSERT_NOT_EQUAL(access(rotated, F_OK), 0);
	if (geteuid() == 0)
		unlink(dev);
}

/* Issue 32, item 3: only regular files rotate; a FIFO a reader holds and a
 * socket a collector listens on are written, never renamed. */
static void a_fifo_or_socket_log_is_never_rotated(void)
{
	char where[600], rotated[620], buf[8192];
	struct stat st;
	int rd, s;

	snprintf(where, sizeof(where), "%s/log.fifo", unit_tmpdir());
	unlink(where);
	CU_ASSERT_EQUAL_FATAL(mkfifo(where, 0600), 0);
	rd = open(where, O_RDONLY | O_NONBLOCK);
	CU_ASSERT_FATAL(rd >= 0);
	struct ped_log_config cfg = {"testd", PED_LOG_INFO, where, 100};
	CU_ASSERT_EQUAL_FATAL(ped_log_open(&cfg), PED_OK);
	for (int i = 0; i < 20; i++)
		ped_info("line %d through a FIFO", i);
	ped_log_close();
	ssize_t n = read(rd, buf, sizeof(buf) - 1);
	CU_ASSERT(n > 0);
	buf[n > 0 ? n : 0] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "line 19 through a FIFO"));
	close(rd);
	CU_ASSERT_EQUAL(lstat(where, &st), 0);
	CU_ASSERT_TRUE(S_ISFIFO(st.st_mode));
	snprintf(rotated, sizeof(rotated), "%s.1", where);
	CU_ASSERT_NOT_EQUAL(access(rotated, F_OK), 0);
	unlink(where);

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(where, sizeof(where), "%s/log.sock", unit_tmpdir());
	unlink(where);
	CU_ASSERT_FATAL(strlen(where) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, where, strlen(where) + 1);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	CU_ASSERT_FATAL(s >= 0);
	CU_ASSERT_EQUAL_FATAL(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CU_ASSERT_EQUAL_FATAL(ped_log_open(&cfg), PED_OK);
	/* fewer than a datagram socket queues (10): nobody reads meanwhile */
	for (int i = 0; i < 5; i++)
		ped_info("line %d through a socket", i);
	ped_log_close();
	int got = 0;
	while ((n = recv(s, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		got += strstr(buf, "through a socket") != NULL;
	}
	CU_ASSERT_EQUAL(got, 5);
	close(s);
	CU_ASSERT_EQUAL(lstat(where, &st), 0);
	CU_ASSERT_TRUE(S_ISSOCK(st.st_mode));
	snprintf(rotated, sizeof(rotated), "%s.1", where);
	CU_ASSERT_NOT_EQUAL(access(rotated, F_OK), 0);
	unlink(where);
}

UNIT_SUITE(log, NULL, NULL, UNIT_TEST(levels_switch_one_by_one), UNIT_TEST(a_device_log_is_never_rotated),
	   UNIT_TEST(a_fifo_or_socket_log_is_never_rotated),
	   UNIT_TEST(line_format_carries_time_level_and_function),
	   UNIT_TEST(rotation_keeps_whole_lines),
	   UNIT_TEST(threads_share_one_log_without_losing_lines),
	   UNIT_TEST(control_characters_cannot_forge_lines),
	   UNIT_TEST(long_messages_are_truncated_visibly), UNIT_TEST(unwritable_file_is_an_error))
