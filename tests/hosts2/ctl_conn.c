// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* The two-host programs' TCP control connection (ctl_conn.h). */
#include "ctl_conn.h"
#include "odp_common.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int ctl_xfer(int fd, void *p, size_t n, bool out)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = out ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			odp_log("control connection: %s",
				r ? strerror(errno) : "closed by the peer");
			return -EPIPE;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int ctl_listen(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, ls, fd;

	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1)) {
		odp_log("listen on port %d: %s", port, strerror(errno));
		return -1;
	}
	printf("# listening on port %d\n", port);
	fflush(stdout);
	fd = accept(ls, NULL, NULL);
	if (fd < 0)
		odp_log("accept: %s", strerror(errno));
	close(ls);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int ctl_connect(const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	char ports[16];
	int fd, one = 1, tries, ret;

	snprintf(ports, sizeof(ports), "%d", port);
	ret = getaddrinfo(host, ports, &hints, &ai);
	if (ret) {
		odp_log("getaddrinfo(%s): %s", host, gai_strerror(ret));
		return -1;
	}
	for (tries = 0; tries < 240; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			freeaddrinfo(ai);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		if (fd >= 0)
			close(fd);
		usleep(500000);
	}
	odp_log("connect to %s:%d: %s", host, port, strerror(errno));
	freeaddrinfo(ai);
	return -1;
}
