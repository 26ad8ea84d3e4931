#include "venue/venue.h"

#include <stdbool.h>
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

/* Whether the path of url (after the authority, before any query or fragment, trailing
 * slashes ignored) ends with suffix. */
static bool path_ends_with(const char *url, const char *suffix)
{
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    p += strcspn(p, "/?#"); /* the path starts after the authority */
    size_t n = strcspn(p, "?#");
    while (n > 1 && p[n - 1] == '/')
        n--;
    size_t k = strlen(suffix);
    return n >= k && memcmp(p + n - k, suffix, k) == 0;
}

const struct fh_venue_ops *fh_venue_for_section(const char *section, const char *url)
{
    const struct fh_venue_ops *fallback = NULL;
    for (size_t i = 0; fh_venues[i] != NULL; i++) {
        const struct fh_venue_ops *o = fh_venues[i];
        if (strcmp(o->section, section) != 0)
            continue;
        if (o->url_path_suffix == NULL)
            fallback = o;
        else if (url != NULL && path_ends_with(url, o->url_path_suffix))
            return o;
    }
    return fallback;
}
