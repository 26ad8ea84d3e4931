/*
 * mem.h - zeroed arrays whose pages become resident only when touched.
 *
 * Some tables are sized for the worst case at start-up and filled from the front: the symbol
 * table (65,536 symbols per venue), backfill's pool of held trades (hold_trades per venue).
 * They must cost memory only as far as they are used. calloc gives that with glibc (a large
 * block is a fresh mapping, known to be zero), but not with every allocator: mimalloc zeroes
 * what it hands out, which made those tables resident (110 MB at start-up). These functions
 * map large arrays straight from the kernel, whose anonymous pages are zero and lazily
 * backed, whatever the allocator; small ones come from calloc.
 */
#ifndef FH_CORE_MEM_H
#define FH_CORE_MEM_H

#include <stddef.h>

/* Arrays of at least this many bytes are mapped (page-backed on first touch). */
#define FH_LAZY_MIN_BYTES (256u * 1024u)

/* A zeroed array of n elements of size bytes, or NULL (overflow, out of memory). */
void *fh_lazy_calloc(size_t n, size_t size);

/* Frees an array from fh_lazy_calloc(n, size), with the same n and size; NULL is a no-op. */
void fh_lazy_free(void *p, size_t n, size_t size);

#endif
