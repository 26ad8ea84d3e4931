/*
 * sdnotify.c - see sdnotify.h.
 */
#include "obs/sdnotify.h"

#include "core/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>

/* The socket address of name: a path, or '@' for the abstract namespace (a leading NUL). */
static int make_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
    size_t n = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || n < 2 || n >= sizeof(sa->sun_path))
        return FH_EINVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, name, n);
    if (name[0] == '@')
        sa->sun_path[0] = '\0';
    /* A path includes its terminating NUL; an abstract name is exactly its bytes. */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
    return 0;
}

/* $WATCHDOG_USEC when it applies to this process: 0 when unset, -1 when malformed. */
static int64_t watchdog_usec(void)
{
    const char *pid = getenv("WATCHDOG_PID");
    if (pid != NULL && pid[0] != '\0') {
        char *end = NULL;
        errno = 0;
        long long p = strtoll(pid, &end, 10);
        if (errno != 0 || end == pid || *end != '\0' || p <= 0)
            return -1;
        if (p != (long long)getpid())
            return 0; /* meant for another process (our parent, say) */
    }
    const char *us = getenv("WATCHDOG_USEC");
    if (us == NULL || us[0] == '\0')
        return 0;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(us, &end, 10);
    if (errno != 0 || end == us || *end != '\0' || v <= 0)
        return -1;
    return (int64_t)v;
}

int fh_sd_notify_open(struct fh_sd_notify *n, char *err, size_t errlen)
{
    memset(n, 0, sizeof(*n));
    n->fd = -1;
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0')
        return 0;
    struct sockaddr_un sa;
    socklen_t len = 0;
    if (make_addr(name, &sa, &len) != 0) {
        snprintf(err, errlen,
                 "NOTIFY_SOCKET=%s is neither an absolute path nor an abstract name (@name) "
                 "of at most %zu bytes",
                 name, sizeof(sa.sun_path) - 1);
        return FH_EINVAL;
    }
    int64_t wd = watchdog_usec();
    if (wd < 0) {
        snprintf(err, errlen, "WATCHDOG_USEC or WATCHDOG_PID is not a positive integer");
        return FH_EINVAL;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the notification socket: %s", strerror(errno));
        return FH_EINVAL;
    }
    /* Each datagram is addressed (sendto), so a manager that re-created its socket is still
     * reached, and one that is not listening is reported by the send, not here. */
    n->fd = fd;
    n->addr = sa;
    n->addr_len = len;
    n->watchdog_usec = wd;
    snprintf(n->socket_name, sizeof(n->socket_name), "%s", name);
    return 0;
}

int fh_sd_notify_send(const struct fh_sd_notify *n, const char *state)
{
    if (n->fd < 0)
        return 0;
    size_t len = strlen(state);
    ssize_t w;
    do
        w = sendto(n->fd, state, len, MSG_NOSIGNAL | MSG_DONTWAIT,
                   (const struct sockaddr *)&n->addr, n->addr_len);
    while (w < 0 && errno == EINTR);
    return w == (ssize_t)len ? 0 : FH_EIO;
}

void fh_sd_notify_close(struct fh_sd_notify *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}
