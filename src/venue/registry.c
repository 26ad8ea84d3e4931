#include "venue/venue.h"

#include <string.h>

const struct fh_venue_ops *const fh_venues[] = {&fh_venue_binance, &fh_venue_kraken_v1,
                                                &fh_venue_kraken_v2, NULL};

const struct fh_venue_ops *fh_venue_find(const char *name)
{
    for (size_t i = 0; fh_venues[i] != NULL; i++) {
        if (strcmp(fh_venues[i]->name, name) == 0)
            return fh_venues[i];
    }
    return NULL;
}
