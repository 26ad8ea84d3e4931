/*
 * jsonl_int.h - the JSON string escaping of jsonl.c, shared with the gap record's JSON lines
 * (gap_jsonl.c) so that every line the handler writes escapes strings the same way (see
 * jsonl.h). Not part of the public interface.
 */
#ifndef FH_CODEC_JSONL_INT_H
#define FH_CODEC_JSONL_INT_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Writes s as a quoted JSON string at p (room for 2 + 6 * s.n bytes); returns the end. */
uint8_t *fh__jsonl_put_str(uint8_t *p, struct fh_str s);

/* The exact length fh__jsonl_put_str() writes for s. */
size_t fh__jsonl_str_len(struct fh_str s);

#endif
