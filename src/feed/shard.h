/*
 * shard.h - spreading a venue's symbols over connections.
 *
 * n items (symbols) go to the fewest slots (connections) that hold at most `per` each, and
 * the slots are balanced: their sizes differ by at most one, the larger ones first, items in
 * configuration order. Balanced slots keep every connection's message rate (and its URL or
 * subscription request) about the same size, and make a reconnect affect a predictable share.
 *
 * Pure arithmetic. Locality: any thread.
 */
#ifndef FH_FEED_SHARD_H
#define FH_FEED_SHARD_H

#include <stddef.h>

/* Slots needed for n items at most per per slot (per 0 counts as 1); 0 for n 0. */
size_t fh_shard_count(size_t n, size_t per);
/* The items of slot i (i < slots) among n items in `slots` balanced slots: [*first,
 * *first + *count). */
void fh_shard_range(size_t n, size_t slots, size_t i, size_t *first, size_t *count);

#endif
