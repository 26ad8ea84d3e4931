/*
 * fast.c - the lexing the readers without tokens share (fast.h).
 */
#include "venue/fast.h"

#include <string.h>

bool fh__fast_string(const char *s, size_t n, size_t *i, struct fh_str *out)
{
    size_t k = *i + 1, b = k;
    while (k < n) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"')
            break;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return false;
        k++;
    }
    if (k >= n)
        return false;
    out->p = s + b;
    out->n = k - b;
    *i = k + 1;
    return true;
}

static size_t digits(const char *s, size_t n, size_t k)
{
    while (k < n && s[k] >= '0' && s[k] <= '9')
        k++;
    return k;
}

bool fh__fast_value(const char *s, size_t n, size_t *i, struct fh_str *out, uint8_t *type)
{
    size_t k = *i;
    if (k >= n)
        return false;
    char c = s[k];
    if (c == '"') {
        if (!fh__fast_string(s, n, &k, out))
            return false;
        *type = FH_FV_STR;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
        size_t b = k;
        bool plain = c != '-';
        if (c == '-')
            k++;
        if (k < n && s[k] == '0')
            k++;
        else if (k < n && s[k] >= '1' && s[k] <= '9')
            k = digits(s, n, k);
        else
            return false;
        if (k < n && s[k] == '.') {
            size_t d = k + 1;
            k = digits(s, n, d);
            if (k == d)
                return false;
            plain = false;
        }
        if (k < n && (s[k] == 'e' || s[k] == 'E')) {
            k++;
            if (k < n && (s[k] == '+' || s[k] == '-'))
                k++;
            size_t d = k;
            k = digits(s, n, d);
            if (k == d)
                return false;
            plain = false;
        }
        out->p = s + b;
        out->n = k - b;
        *type = plain ? FH_FV_UINT : FH_FV_NUM;
    } else if (n - k >= 4 && memcmp(s + k, "true", 4) == 0) {
        k += 4;
        *type = FH_FV_TRUE;
    } else if (n - k >= 5 && memcmp(s + k, "false", 5) == 0) {
        k += 5;
        *type = FH_FV_FALSE;
    } else {
        return false;
    }
    if (k >= n || (s[k] != ',' && s[k] != '}' && s[k] != ']'))
        return false;
    *i = k;
    return true;
}

bool fh__fast_u63(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
        return false;
    uint64_t v = 0;
    size_t k = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Eight digits at a time (times have 13 or 16 digits, ids 8 to 10). */
    for (; n - k >= 8; k += 8) {
        uint64_t w;
        memcpy(&w, s + k, 8);
        /* Every byte 0x30..0x39: high nibble 3, and adding 6 does not carry into it. */
        if ((w & 0xf0f0f0f0f0f0f0f0u) != 0x3030303030303030u ||
            ((w + 0x0606060606060606u) & 0xf0f0f0f0f0f0f0f0u) != 0x3030303030303030u)
            return false;
        w -= 0x3030303030303030u;
        /* Little-endian: the first digit is the lowest byte. Combine pairs, quads, octets. */
        w = (w * 10 + (w >> 8)) & 0x00ff00ff00ff00ffu;
        w = (w * 100 + (w >> 16)) & 0x0000ffff0000ffffu;
        w = (w * 10000 + (w >> 32)) & 0x00000000ffffffffu;
        v = v * 100000000u + w;
    }
#endif
    for (; k < n; k++) {
        unsigned d = (unsigned char)s[k] - (unsigned)'0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    if (n == 19 && memcmp(s, "9223372036854775807", 19) > 0)
        return false;
    *out = (int64_t)v;
    return true;
}
