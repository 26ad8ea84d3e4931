/*
 * shard.c - balanced spreading of symbols over connections (see shard.h).
 */
#include "feed/shard.h"

size_t fh_shard_count(size_t n, size_t per)
{
    if (per == 0)
        per = 1;
    return n / per + (n % per != 0);
}

void fh_shard_range(size_t n, size_t slots, size_t i, size_t *first, size_t *count)
{
    if (slots == 0 || i >= slots) {
        *first = n;
        *count = 0;
        return;
    }
    size_t base = n / slots, extra = n % slots;
    *count = base + (i < extra ? 1 : 0);
    *first = i * base + (i < extra ? i : extra);
}
