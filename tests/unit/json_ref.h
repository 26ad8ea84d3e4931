/*
 * json_ref.h - the two-pass strict JSON reader venue/json.c replaced, kept as a test oracle
 * (tests/unit/json_ref.c).
 */
#ifndef FH_TEST_JSON_REF_H
#define FH_TEST_JSON_REF_H

#include "venue/json.h"

/* Tokenizes and validates s[0..n) into j as fh_json_parse did before its single pass. Returns 0
 * or an fh_json_err. */
int fh_json_ref_parse(struct fh_json *j, const char *s, size_t n);

#endif
