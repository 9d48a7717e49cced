#include "unit.h"

#include "ped/error.h"
#include "ped/frame.h"
#include "ped/link.h"
#include "ped/net.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
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

struct reader {
	int fd;
	uint8_t *got;
	size_t len;
	int r;
};

static void *read_frames(void *arg)
{
	struct reader *rd = arg;
	struct ped_framer in;
	uint8_t type, *p = NULL;
	size_t n = 0;

	ped_framer_init(&in, rd->fd, PED_FRAME_MAX_PAYLOAD);
	/* an empty frame first, then the large one */
	rd->r = ped_framer_recv(&in, &type, &p, &n, 5000);
	if (rd->r == PED_OK && (type != 7 || n != 0))
		rd->r = PED_E_INVALID;
	OPENSSL_free(p);
	p = NULL;
	if (rd->r == PED_OK && (rd->r = ped_framer_recv(&in, &type, &p, &n, 5000)) == PED_OK) {
		rd->got = p;
		rd->len = n;
	}
	ped_framer_free(&in);
	return NULL;
}

/* A frame goes out as one writev of header and payload: whole, whatever
 * the kernel takes per call (a non-blocking socket with a small buffer
 * takes it in many pieces, some splitting the header from the payload). */
static void frame_send_in_pieces(void)
{
	size_t big = 48 * 1024;
	uint8_t *payload = malloc(big);
	int sv[2], small = 4096;
	struct reader rd = {0};
	pthread_t t;

	CU_ASSERT_FATAL(payload != NULL);
	for (size_t i = 0; i < big; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CU_ASSERT_EQUAL(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	CU_ASSERT_EQUAL(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	rd.fd = sv[1];
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, read_frames, &rd), 0);
	CU_ASSERT_EQUAL(ped_frame_send(sv[0], 7, NULL, 0, 5000), PED_OK);
	CU_ASSERT_EQUAL(ped_frame_send(sv[0], 9, payload, big, 5000), PED_OK);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(rd.r, PED_OK);
	CU_ASSERT_EQUAL(rd.len, big);
	CU_ASSERT(rd.got && rd.len == big && memcmp(rd.got, payload, big) == 0);
	OPENSSL_free(rd.got);
	free(payload);
	close(sv[0]);
	close(sv[1]);
}

UNIT_SUITE(net, NULL, NULL, UNIT_TEST(frame_send_in_pieces), UNIT_TEST(tcp_port_zero_reports_the_bound_port),
	   UNIT_TEST(refused_connection_is_a_socket_error), UNIT_TEST(ipv6_loopback_works),
	   UNIT_TEST(unix_socket_mode_and_stale_file))
