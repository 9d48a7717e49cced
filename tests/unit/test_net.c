#include "unit.h"

#include "ped/error.h"
#include "ped/net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void tcp_port_zero_reports_the_bound_port(void)
{
	int lfd, cfd, afd = -1;
	uint16_t port = 0, again;
	char name[64], buf[8];

	CU_ASSERT_EQUAL_FATAL(ped_tcp_listen("127.0.0.1", 0, &lfd, &port), PED_OK);
	CU_ASSERT(port > 0);
	CU_ASSERT_EQUAL(ped_sock_local_port(lfd, &again), PED_OK);
	CU_ASSERT_EQUAL(again, port);
	CU_ASSERT_EQUAL(ped_accept(lfd, &afd), PED_E_BUSY);
	CU_ASSERT_EQUAL_FATAL(ped_tcp_connect("127.0.0.1", port, 1000, &cfd), PED_OK);
	for (int i = 0; i < 100 && ped_accept(lfd, &afd) != PED_OK; i++)
		usleep(1000);
	CU_ASSERT_FATAL(afd >= 0);
	ped_sock_peer_name(afd, name, sizeof(name));
	CU_ASSERT_NSTRING_EQUAL(name, "127.0.0.1:", 10);
	CU_ASSERT_EQUAL(ped_write_all(cfd, "abc", 3, 1000), PED_OK);
	CU_ASSERT_EQUAL(ped_read_full(afd, buf, 3, 1000), PED_OK);
	CU_ASSERT_NSTRING_EQUAL(buf, "abc", 3);
	CU_ASSERT_EQUAL(ped_read_full(afd, buf, 1, 50), PED_E_TIMED_OUT);
	close(cfd);
	CU_ASSERT_EQUAL(ped_read_full(afd, buf, 1, 1000), PED_E_CLOSED);
	close(afd);
	/* the port is taken while we listen */
	int other;
	CU_ASSERT_EQUAL(ped_tcp_listen("127.0.0.1", port, &other, NULL), PED_E_SOCKET);
	CU_ASSERT_EQUAL(errno, EADDRINUSE);
	close(lfd);
}

static void refused_connection_is_a_socket_error(void)
{
	int lfd, fd;
	uint16_t port;
	CU_ASSERT_EQUAL_FATAL(ped_tcp_listen("127.0.0.1", 0, &lfd, &port), PED_OK);
	close(lfd); /* nobody listens there now */
	CU_ASSERT_EQUAL(ped_tcp_connect("127.0.0.1", port, 1000, &fd), PED_E_SOCKET);
	CU_ASSERT_EQUAL(errno, ECONNREFUSED);
	CU_ASSERT_EQUAL(ped_tcp_connect("no-such-host.invalid", 1503, 1000, &fd), PED_E_SOCKET);
}

static void ipv6_loopback_works(void)
{
	int lfd, cfd;
	uint16_t port;
	if (ped_tcp_listen("::1", 0, &lfd, &port) != PED_OK)
		return; /* no IPv6 on this host */
	CU_ASSERT_EQUAL(ped_tcp_connect("::1", port, 1000, &cfd), PED_OK);
	close(cfd);
	close(lfd);
}

static void unix_socket_mode_and_stale_file(void)
{
	char path[300];
	struct stat st;
	int lfd, lfd2, cfd;
	snprintf(path, sizeof(path), "%s/ipc.sock", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(ped_unix_listen(path, 0660, &lfd), PED_OK);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
	/* live: a second listener is refused */
	CU_ASSERT_EQUAL(ped_unix_listen(path, 0660, &lfd2), PED_E_EXISTS);
	CU_ASSERT_EQUAL(ped_unix_connect(path, &cfd), PED_OK);
	close(cfd);
	close(lfd);
	/* stale: the file remains but nobody listens, so it is replaced */
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(ped_unix_listen(path, 0600, &lfd2), PED_OK);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	close(lfd2);
	unlink(path);
	CU_ASSERT_EQUAL(ped_unix_connect(path, &cfd), PED_E_SOCKET);
}

UNIT_SUITE(net, NULL, NULL, UNIT_TEST(tcp_port_zero_reports_the_bound_port),
	   UNIT_TEST(refused_connection_is_a_socket_error), UNIT_TEST(ipv6_loopback_works),
	   UNIT_TEST(unix_socket_mode_and_stale_file))
