/* Does hsm-sim serve the application protocol? p11_hello SOCKET sends an
 * APP_HELLO (docs/protocol.md, section 13) and prints what came back:
 * "welcome NAME VERSION" (exit 0), "closed" when hsm-sim ended the
 * connection instead (exit 3: it does not serve it yet), or why it could
 * not ask (exit 1). The PKCS#11 suites skip on 3. */
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/p11wire.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct p11w_hello h = {.version = P11W_VERSION};
	struct p11w_welcome wl;
	struct ped_framer in;
	struct ped_wbuf w;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int fd, r, code = 1;

	signal(SIGPIPE, SIG_IGN); /* hsm-sim may close as it reads */
	if (argc != 2) {
		fprintf(stderr, "usage: p11_hello SOCKET\n");
		return 2;
	}
	if (ped_unix_connect(argv[1], &fd) != PED_OK) {
		printf("cannot connect to %s\n", argv[1]);
		return 1;
	}
	(void)RAND_bytes(h.app_id, sizeof(h.app_id));
	h.pid = (uint32_t)getpid();
	snprintf(h.name, sizeof(h.name), "p11_hello");
	ped_wbuf_init(&w, 256);
	(void)p11w_put_hello(&w, &h);
	ped_framer_init(&in, fd, P11W_PAYLOAD_MAX);
	if (ped_frame_send(fd, P11W_APP_HELLO, w.p, w.len, 5000) != PED_OK) {
		printf("closed\n");
		code = 3;
		goto out;
	}
	r = ped_framer_recv(&in, &type, &msg, &len, 10000);
	if (r == PED_E_CLOSED || r == PED_E_SOCKET) {
		printf("closed\n");
		code = 3;
	} else if (r != PED_OK) {
		printf("no answer: %s\n", ped_strerror(r));
	} else if (type == P11W_APP_WELCOME && p11w_get_welcome(msg, len, &wl) == CKR_OK) {
		printf("welcome %s %u\n", wl.name, wl.version);
		code = wl.version == P11W_VERSION ? 0 : 1;
	} else {
		printf("unexpected frame 0x%02x\n", type);
	}
out:
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	ped_wbuf_free(&w);
	ped_framer_free(&in);
	close(fd);
	return code;
}
