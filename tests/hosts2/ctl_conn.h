/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The TCP control connection of the two-host programs (wire_odp, ucx_odp):
 * one connection per run, the server listening, the client retrying while
 * the server starts.  Both ends run the same binary on the same
 * architecture, so messages are plain structs.
 */
#ifndef HOSTS2_CTL_CONN_H
#define HOSTS2_CTL_CONN_H

#include <stdbool.h>
#include <stddef.h>

/* Sends (out) or receives n bytes at p; 0, or -EPIPE (logged). */
int ctl_xfer(int fd, void *p, size_t n, bool out);
/* Listens on port, accepts one connection; its fd, or -1 (logged). */
int ctl_listen(int port);
/* Connects to host:port, retrying for up to 120 s; the fd, or -1 (logged). */
int ctl_connect(const char *host, int port);

#endif
