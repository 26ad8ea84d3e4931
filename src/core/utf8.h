/*
 * utf8.h - strict UTF-8 validation (RFC 3629).
 *
 * Rejects overlong forms, UTF-16 surrogates (U+D800..U+DFFF), code points above U+10FFFF,
 * stray continuation bytes and truncated sequences. Used by the WebSocket client on every
 * text message (RFC 6455 requires it) and meant to be the one validator of the tree (the JSON
 * layer's copy in src/venue/json.c should call this one).
 *
 * ASCII runs are checked 16 bytes at a time, so JSON market data costs well under a
 * nanosecond per byte.
 *
 * Pure, any thread.
 */
#ifndef FH_CORE_UTF8_H
#define FH_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if p[0..n) is valid UTF-8 (n == 0 is valid). p may be NULL when n == 0. */
bool fh_utf8_check(const void *p, size_t n);

#endif
