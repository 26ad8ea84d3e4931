/*
 * utf8.c - strict UTF-8 validation (see utf8.h).
 */
#include "core/utf8.h"

#include <stdint.h>
#include <string.h>

/*
 * Length of the UTF-8 sequence at s[0] given n >= 1 available bytes: 1..4 if valid, 0 if
 * invalid, or -k (k = the full length) if the bytes so far are a valid prefix cut at n.
 */
static int seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    int len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0xc2)
        return 0; /* continuation byte, or overlong 2-byte lead (C0, C1) */
    if (c < 0xe0) {
        len = 2;
    } else if (c < 0xf0) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c < 0xf5) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    size_t have = n < (size_t)len ? n : (size_t)len;
    if (have >= 2 && (s[1] < lo || s[1] > hi))
        return 0;
    for (size_t i = 2; i < have; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    return have == (size_t)len ? len : -len;
}

/* Validates s[0..n); *cut receives the length of a valid but incomplete sequence at the end
 * (0 if none). Returns false on an invalid byte. */
static bool check(const unsigned char *s, size_t n, size_t *cut)
{
    size_t i = 0;
    *cut = 0;
    while (i < n) {
        /* ASCII fast path: 16 bytes per step while no byte has its top bit set. */
        while (i + 16 <= n) {
            uint64_t a, b;
            memcpy(&a, s + i, 8);
            memcpy(&b, s + i + 8, 8);
            if ((a | b) & 0x8080808080808080ULL)
                break;
            i += 16;
        }
        if (i >= n)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = seq_len(s + i, n - i);
        if (k == 0)
            return false;
        if (k < 0) {
            *cut = n - i;
            return true;
        }
        i += (size_t)k;
    }
    return true;
}

/*
 * True if no byte of s[0..n) has its top bit set. Market data is almost always pure ASCII,
 * so this branch-free pass (32 bytes per step, the tail by one overlapping load) decides most
 * messages on its own; only text with other bytes goes through the full check.
 */
static bool all_ascii(const unsigned char *s, size_t n)
{
    uint64_t acc = 0, a, b, c, d;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        memcpy(&a, s + i, 8);
        memcpy(&b, s + i + 8, 8);
        memcpy(&c, s + i + 16, 8);
        memcpy(&d, s + i + 24, 8);
        acc |= a | b | c | d;
    }
    for (; i + 8 <= n; i += 8) {
        memcpy(&a, s + i, 8);
        acc |= a;
    }
    if (i < n) {
        if (n >= 8) {
            memcpy(&a, s + n - 8, 8);
            acc |= a;
        } else {
            for (; i < n; i++)
                acc |= s[i];
        }
    }
    return (acc & 0x8080808080808080ULL) == 0;
}

bool fh_utf8_check(const void *p, size_t n)
{
    size_t cut;
    if (n == 0)
        return true;
    if (all_ascii(p, n))
        return true;
    return check(p, n, &cut) && cut == 0;
}
