/*
 * metadata.h - loading a venue's symbol metadata at start-up: from a cached file, or from
 * the exchange's REST endpoint (Binance /api/v3/exchangeInfo, Kraken
 * /0/public/AssetPairs?assetVersion=1: the protocol's metadata_path).
 *
 * Blocking (a libcurl easy transfer with a timeout): start-up only, before the event loop
 * runs. Locality: the calling thread.
 */
#ifndef FH_FEED_METADATA_H
#define FH_FEED_METADATA_H

#include "model/symbols.h"
#include "venue/venue.h"

#include <stdbool.h>
#include <stddef.h>

struct fh_metadata_source {
    const char *file;     /* non-empty: read this file, no network */
    const char *rest_url; /* otherwise GET rest_url + ops->metadata_path */
    const char *ca_file;  /* for https: CA bundle ("" or NULL: the system store) */
    bool verify;          /* verify the server certificate and host name */
    long timeout_ms;      /* whole transfer */
};

/* Largest metadata document accepted (Binance's full exchangeInfo is several MB). */
#define FH_METADATA_MAX (64u << 20)

/*
 * Fills t (initialised by the caller) with ops' metadata from src. *used receives a short
 * description of the source actually used ("file /path", "https://host/path"), for the
 * start-up log. Returns 0, or a negative code with a sentence in err (unreadable file,
 * network error, HTTP status, unparsable document).
 */
int fh_metadata_load(const struct fh_venue_ops *ops, const struct fh_metadata_source *src,
                     struct fh_symbols *t, char *used, size_t usedlen, char *err, size_t errlen);

#endif
