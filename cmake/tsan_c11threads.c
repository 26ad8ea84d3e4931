/*
 * tsan_c11threads.c - C11 thread creation on top of pthread_create, linked into every
 * executable of the ThreadSanitizer build (CMakeLists.txt, FH_TSAN) and nowhere else.
 *
 * Debian's librdkafka starts its threads with glibc's thrd_create, which calls glibc's internal
 * pthread_create rather than the symbol ThreadSanitizer intercepts (TSan has no interceptors for
 * <threads.h>, google/sanitizers#1195). Such a thread is unknown to TSan, and the first
 * allocation in it crashes the process. Defined in the executable, thrd_create and thrd_join
 * take precedence over glibc's for librdkafka too, and go through the intercepted pthread
 * functions, so TSan knows librdkafka's threads and can check our callbacks that run on them.
 *
 * librdkafka's C11 mutexes and condition variables stay glibc's, invisible to TSan like the
 * rest of that uninstrumented library's synchronisation (its reference counts are inline
 * atomics TSan cannot see either): tests/tsan.supp explains what is ignored there and why.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

struct start {
    thrd_start_t func;
    void *arg;
};

static int status(int err)
{
    switch (err) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case EBUSY:
        return thrd_busy;
    case ETIMEDOUT:
        return thrd_timedout;
    default:
        return thrd_error;
    }
}

static void *trampoline(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    return (void *)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    struct start *s = malloc(sizeof(*s));
    if (s == NULL)
        return thrd_nomem;
    s->func = func;
    s->arg = arg;
    int err = pthread_create((pthread_t *)thr, NULL, trampoline, s);
    if (err != 0)
        free(s);
    return status(err);
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret;
    int err = pthread_join((pthread_t)thr, &ret);
    if (err == 0 && res != NULL)
        *res = (int)(intptr_t)ret;
    return status(err);
}

int thrd_detach(thrd_t thr)
{
    return status(pthread_detach((pthread_t)thr));
}
