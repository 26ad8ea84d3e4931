/*
 * run.h - the daemon's run mode: start-up, the event loop, shutdown.
 *
 * Start-up order: sink, metrics registry, TLS context, symbol metadata per venue (from a
 * cached file or the exchange's REST endpoint; every configured symbol must exist, else exit
 * 2), recorder, engine, metrics server, signals; then the loop runs until SIGTERM/SIGINT (or
 * a fatal sink error). Shutdown: stop reading, close every connection with a close frame,
 * flush the sink within sink.flush_timeout_ms, free everything.
 *
 * Locality: the main thread; the engine runs on it.
 */
#ifndef FH_APP_RUN_H
#define FH_APP_RUN_H

#include "app/config.h"

/* Runs the daemon with a loaded, checked configuration. Returns the exit status: 0 after a
 * clean shutdown, 1 on a runtime failure (metadata unreachable, sink failure, flush timeout),
 * 2 when the configuration cannot work (e.g. a symbol the exchange does not list). */
int fh_run_daemon(const struct fh_config *cfg);

#endif
