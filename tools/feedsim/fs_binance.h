/*
 * fs_binance.h - the Binance Spot venue module of feedsim (layer 2; see fs_core.h).
 *
 * binance.c serves the WebSocket market streams, binance_rest.c the REST market data on the
 * same port. Both depend only on the core (fs_core.h); main.c registers fs_binance_module and
 * fault.c sends the serverShutdown event. The behaviour is in docs/FEEDSIM.md ("Binance").
 */
#ifndef FH_TOOLS_FS_BINANCE_H
#define FH_TOOLS_FS_BINANCE_H

#include "fs_core.h"

/* The module for FS_BINANCE (binance.c). */
extern const struct fs_venue_module fs_binance_module;

/* Sends the serverShutdown event (raw or combined form) and closes the connection with 1001
 * close_after_ns later (fault kind=shutdown). */
void fs_bn_server_shutdown(struct fs_conn *c, int64_t close_after_ns);

/* Module internal: the REST endpoints (binance_rest.c), the module's rest operation. */
void fs__bn_rest(struct fs_conn *c, const struct fh_http_req *req);

#endif
