/*
 * fs_kraken.h - the Kraken Spot venue module of feedsim (layer 2; see fs_core.h).
 *
 * kraken.c serves WebSocket v1 (path "/") and v2 (path "/v2"), two protocols of one trade
 * engine, and kraken_rest.c the public REST endpoints on both ports. Both depend only on the
 * core (fs_core.h); main.c registers the two modules and fault.c pushes the system status
 * (maintenance). The behaviour is in docs/FEEDSIM.md ("Kraken").
 */
#ifndef FH_TOOLS_FS_KRAKEN_H
#define FH_TOOLS_FS_KRAKEN_H

#include "fs_core.h"

/* The modules for FS_KRAKEN_V1 and FS_KRAKEN_V2 (kraken.c). */
extern const struct fs_venue_module fs_kraken_v1_module;
extern const struct fs_venue_module fs_kraken_v2_module;

/* Sends the connection's system status (online or maintenance, sim->kr_maintenance). */
void fs_kr_push_status(struct fs_conn *c);

/* Module internal: the REST endpoints (kraken_rest.c), both modules' rest operation. */
void fs__kr_rest(struct fs_conn *c, const struct fh_http_req *req);

#endif
