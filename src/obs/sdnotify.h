/*
 * sdnotify.h - the service manager's notification protocol (systemd's sd_notify(3)), spoken
 * directly: one datagram of newline-separated VAR=VALUE assignments to the AF_UNIX socket
 * named by $NOTIFY_SOCKET ("/path" or "@abstract"). systemd documents the protocol as stable
 * for independent implementations, so no libsystemd is linked.
 *
 * Used by app/service.c for READY=1, STATUS=..., WATCHDOG=1 and STOPPING=1. Without
 * $NOTIFY_SOCKET (not started by systemd with Type=notify) every call is a no-op.
 * $WATCHDOG_USEC (and $WATCHDOG_PID, when it names this process) give the watchdog period.
 *
 * Locality: one owner thread (the engine loop's); sends never block (MSG_DONTWAIT).
 */
#ifndef FH_OBS_SDNOTIFY_H
#define FH_OBS_SDNOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct fh_sd_notify {
    int fd;                /* -1: no service manager to tell */
    int64_t watchdog_usec; /* 0: no watchdog asked for */
    struct sockaddr_un addr;
    socklen_t addr_len;
    char socket_name[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* as given, for logs */
};

/* Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. Returns 0 (n->fd is -1 when the
 * variable is unset or empty), or FH_EINVAL with a sentence in err for a malformed value
 * (not an absolute path nor an abstract name, too long, a watchdog period that is not a
 * positive integer) or a socket that cannot be created. */
int fh_sd_notify_open(struct fh_sd_notify *n, char *err, size_t errlen);

/* Sends one datagram of assignments ("READY=1\nSTATUS=streaming"). Returns 0 (also when
 * there is no socket), or FH_EIO when the send failed (the manager went away: harmless). */
int fh_sd_notify_send(const struct fh_sd_notify *n, const char *state);

void fh_sd_notify_close(struct fh_sd_notify *n);

#endif
