#include "model/symbols.h"

#include "core/err.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: short keys, good enough spread, no allocation. */
static uint32_t hash_str(struct fh_str s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.n; i++) {
        h ^= (unsigned char)s.p[i];
        h *= 16777619u;
    }
    return h;
}

int fh_symbols_init(struct fh_symbols *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    if (max == 0 || max > UINT32_MAX / 4)
        return FH_EINVAL;
    size_t cap = 16;
    while (cap < max * 2)
        cap *= 2;
    /* Filled from the front: pages become resident as symbols are added (core/mem.h). */
    t->max = max; /* before: fh_symbols_release frees items by their count */
    t->index_cap = cap;
    t->items = fh_lazy_calloc(max, sizeof(*t->items));
    t->index = calloc(cap, sizeof(*t->index));
    if (t->items == NULL || t->index == NULL) {
        fh_symbols_release(t);
        return FH_ENOMEM;
    }
    return 0;
}

void fh_symbols_release(struct fh_symbols *t)
{
    fh_lazy_free(t->items, t->max, sizeof(*t->items));
    free(t->index);
    memset(t, 0, sizeof(*t));
}

/* Slot holding native, or the empty slot where it would go. */
static size_t slot_for(const struct fh_symbols *t, struct fh_str native)
{
    size_t mask = t->index_cap - 1;
    size_t s = hash_str(native) & mask;
    while (t->index[s] != 0) {
        const struct fh_symbol *e = &t->items[t->index[s] - 1];
        if (e->native_len == native.n && memcmp(e->native, native.p, native.n) == 0)
            break;
        s = (s + 1) & mask;
    }
    return s;
}

const struct fh_symbol *fh_symbols_find(const struct fh_symbols *t, struct fh_str native)
{
    if (t->index_cap == 0 || native.n == 0 || native.n >= FH_SYMBOL_MAX)
        return NULL;
    size_t s = slot_for(t, native);
    return t->index[s] ? &t->items[t->index[s] - 1] : NULL;
}

int fh_symbols_add(struct fh_symbols *t, struct fh_str native, struct fh_str base,
                   struct fh_str quote, struct fh_symbol **out)
{
    if (native.n == 0 || base.n == 0 || quote.n == 0)
        return FH_EINVAL;
    if (memchr(base.p, '-', base.n) != NULL || memchr(quote.p, '-', quote.n) != NULL)
        return FH_EINVAL;
    if (native.n >= FH_SYMBOL_MAX || base.n >= FH_ASSET_MAX || quote.n >= FH_ASSET_MAX ||
        base.n + 1 + quote.n >= FH_SYMBOL_MAX)
        return FH_ERANGE;
    size_t s = slot_for(t, native);
    if (t->index[s] != 0) {
        struct fh_symbol *e = &t->items[t->index[s] - 1];
        if (fh_str_eq_c(base, e->base) && fh_str_eq_c(quote, e->quote)) {
            if (out != NULL)
                *out = e;
            return 0;
        }
        return FH_ESTATE;
    }
    if (t->n == t->max)
        return FH_ENOSPACE;
    struct fh_symbol *e = &t->items[t->n];
    memset(e, 0, sizeof(*e));
    memcpy(e->native, native.p, native.n);
    e->native_len = (uint8_t)native.n;
    memcpy(e->base, base.p, base.n);
    memcpy(e->quote, quote.p, quote.n);
    memcpy(e->canonical, base.p, base.n);
    e->canonical[base.n] = '-';
    memcpy(e->canonical + base.n + 1, quote.p, quote.n);
    e->canonical_len = (uint8_t)(base.n + 1 + quote.n);
    e->price_decimals = -1;
    e->qty_decimals = -1;
    t->n++;
    t->index[s] = (uint32_t)t->n;
    if (out != NULL)
        *out = e;
    return 0;
}
