/*
 * thread.c - helper threads that leave the process's signals to the loop (see thread.h).
 */
#include "core/thread.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>

int fh_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};
    sigset_t block, old;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&block, sigs[i]);
    /* The new thread inherits the mask in force at pthread_create. */
    int rc = pthread_sigmask(SIG_BLOCK, &block, &old);
    if (rc != 0)
        return -rc;
    rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

int fh_thread_set_realtime(int priority)
{
    struct sched_param p = {.sched_priority = priority};
    /* Linux: pid 0 is the calling thread, not the whole process. */
    if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &p) != 0)
        return -errno;
    return 0;
}
