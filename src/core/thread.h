/*
 * thread.h - starting the process's helper threads.
 *
 * Termination signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2, SIGALRM) belong to
 * the event loop's thread, where libuv turns them into callbacks. A helper thread started by
 * fh_thread_start blocks them, so the kernel never picks a helper (busy writing a file or
 * waiting on a condition) to receive a signal aimed at the process. librdkafka does the same
 * for its own threads.
 */
#ifndef FH_CORE_THREAD_H
#define FH_CORE_THREAD_H

#include <pthread.h>

/* pthread_create with the signals above blocked in the new thread; the caller's own signal
 * mask is left as it was. Returns 0 or a negative code (fh_strerror). */
int fh_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
