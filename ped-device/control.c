/* The control socket thread. */
#include "control.h"

#include "ped/error.h"
#include "ped/log.h"
#include "ped/net.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REQ_MAX 512
#define IO_TIMEOUT_MS 2000

struct control {
	struct ped_device *d;
	int fd;
	int stop[2];
	pthread_t th;
	char path[512];
};

static void reply(int fd, const char *s)
{
	(void)ped_write_all(fd, s, strlen(s), IO_TIMEOUT_MS);
}

static void serve(struct control *c, int fd)
{
	char req[REQ_MAX + 1], out[1024], why[160];
	size_t n = 0;

	/* one line, bounded */
	while (n < REQ_MAX) {
		if (ped_read_full(fd, req + n, 1, IO_TIMEOUT_MS) != PED_OK)
			break;
		if (req[n] == '\n')
			break;
		n++;
	}
	req[n] = '\0';
	if (n == REQ_MAX) {
		reply(fd, "error: request too long\n");
		return;
	}
	char *arg = strchr(req, ' ');
	if (arg)
		*arg++ = '\0';
	if (!strcmp(req, "screen")) {
		dev_screen_text(c->d, out, sizeof(out));
		strcat(out, "\nok\n");
		reply(fd, out);
	} else if (!strcmp(req, "prompt")) {
		pthread_mutex_lock(&c->d->mu);
		snprintf(out, sizeof(out), "%s %s\nok\n", dev_prompt_name(c->d->prompt),
			 c->d->prompt_type ? ikey_type_name((enum ikey_type)c->d->prompt_type) : "-");
		pthread_mutex_unlock(&c->d->mu);
		reply(fd, out);
	} else if (!strcmp(req, "press") && arg) {
		char *save = NULL;
		for (char *k = strtok_r(arg, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
			int key = dev_key_from_name(k);
			if (key < 0) {
				snprintf(out, sizeof(out), "error: unknown key %.32s\n", k);
				reply(fd, out);
				return;
			}
			dev_press(c->d, key);
		}
		reply(fd, "ok\n");
	} else if (!strcmp(req, "insert") && arg) {
		if (dev_insert(c->d, arg, why, sizeof(why)) != PED_OK) {
			snprintf(out, sizeof(out), "error: %s\n", why);
			reply(fd, out);
		} else {
			reply(fd, "ok\n");
		}
	} else if (!strcmp(req, "remove")) {
		dev_remove(c->d);
		reply(fd, "ok\n");
	} else if (!strcmp(req, "hold-clear")) {
		dev_push(c->d, DEV_EV_RESET, 0);
		reply(fd, "ok\n");
	} else {
		reply(fd, "error: unknown request\n");
	}
}

static void *run(void *arg)
{
	struct control *c = arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = c->stop[0], .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		int fd;
		if (p[0].revents && ped_accept(c->fd, &fd) == PED_OK) {
			serve(c, fd);
			close(fd);
		}
	}
	return NULL;
}

int control_start(struct ped_device *d, const char *path, struct control **out)
{
	struct control *c = calloc(1, sizeof(*c));
	int r;
	if (!c)
		return PED_E_HOST_MEMORY;
	c->d = d;
	snprintf(c->path, sizeof(c->path), "%s", path);
	if ((r = ped_unix_listen(path, 0600, &c->fd)) != PED_OK) {
		free(c);
		return r;
	}
	if (pipe(c->stop) != 0 || pthread_create(&c->th, NULL, run, c) != 0) {
		close(c->fd);
		unlink(path);
		free(c);
		return PED_E_GENERAL;
	}
	*out = c;
	return PED_OK;
}

void control_stop(struct control *c)
{
	if (!c)
		return;
	(void)!write(c->stop[1], "x", 1);
	pthread_join(c->th, NULL);
	close(c->fd);
	close(c->stop[0]);
	close(c->stop[1]);
	unlink(c->path);
	free(c);
}

int control_request(const char *path, const char *request)
{
	char buf[1024];
	int fd, r, ok = 0;
	size_t have = 0;

	if ((r = ped_unix_connect(path, &fd)) != PED_OK) {
		fprintf(stderr, "ped-device: cannot reach the PED at %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (ped_write_all(fd, request, strlen(request), IO_TIMEOUT_MS) != PED_OK ||
	    ped_write_all(fd, "\n", 1, IO_TIMEOUT_MS) != PED_OK) {
		close(fd);
		return 1;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, IO_TIMEOUT_MS) <= 0)
			break;
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		if (have == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[have] = '\0';
	/* the last line is the status */
	char *last = have ? buf + have - 1 : buf;
	if (have && *last == '\n')
		*last = '\0';
	char *status = strrchr(buf, '\n');
	status = status ? status + 1 : buf;
	ok = !strcmp(status, "ok");
	if (status != buf) {
		status[-1] = '\0';
		printf("%s\n", buf);
	}
	if (!ok)
		fprintf(stderr, "ped-device: %s\n", status);
	return ok ? 0 : 1;
}
