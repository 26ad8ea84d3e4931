/*
 * fmt.c - exact decimal and time text in each venue's style.
 *
 * Prices and quantities are integers of units (10^-dec). They become text only through
 * fh_decimal, so every rendering - Binance's 8-decimal strings, Kraken v1's fixed decimals,
 * Kraken v2's JSON numbers in plain or exponent form - carries exactly the generated value.
 */
#include "fs_core.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static fh_i128 pow10_128(int n)
{
    fh_i128 p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

fh_decimal fs_units_dec(int64_t v, int dec)
{
    return fh_decimal_from_units((fh_i128)v * pow10_128(FH_DECIMAL_SCALE - dec));
}

size_t fs_fmt_fixed(int64_t v, int dec, int places, char *out)
{
    return fh_decimal_format_fixed(fs_units_dec(v, dec), (unsigned)places, out);
}

size_t fs_fmt_min(int64_t v, int dec, char *out)
{
    return fh_decimal_format(fs_units_dec(v, dec), out);
}

/*
 * Exponent form of a minimal decimal text (no sign): "0.00004372" -> mantissa digits 4372,
 * exponent -5 -> "4.372e-05" (Python repr style: lower case, two exponent digits at least)
 * or, upper, "2500" -> "2.5E+3".
 */
static size_t exp_form(const char *s, size_t n, bool upper, char *out)
{
    const char *dot = memchr(s, '.', n);
    size_t il = dot != NULL ? (size_t)(dot - s) : n;
    char digits[64];
    size_t nd = 0;
    int exp;
    if (!(il == 1 && s[0] == '0')) {
        for (size_t i = 0; i < n; i++) {
            if (s[i] != '.')
                digits[nd++] = s[i];
        }
        exp = (int)il - 1;
    } else {
        size_t i = il + 1, z = 0;
        while (i < n && s[i] == '0') {
            i++;
            z++;
        }
        for (; i < n; i++)
            digits[nd++] = s[i];
        exp = -(int)(z + 1);
    }
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    size_t o = 0;
    out[o++] = digits[0];
    if (nd > 1) {
        out[o++] = '.';
        memcpy(out + o, digits + 1, nd - 1);
        o += nd - 1;
    }
    int w;
    if (upper)
        w = snprintf(out + o, 16, "E%c%d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    else
        w = snprintf(out + o, 16, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return o + (size_t)w;
}

size_t fs_fmt_v2(int64_t v, int dec, bool upper_exp, bool point_zero, char *out)
{
    char s[FH_DECIMAL_TEXT_MAX + 1];
    size_t n = fs_fmt_min(v, dec, s);
    if (v <= 0) {
        memcpy(out, s, n + 1);
        return n;
    }
    /* Below 1e-4 Kraken's encoder (like Python's float repr) switches to exponent form. */
    bool tiny = dec > 4 && v < (int64_t)pow10_128(dec - 4);
    if (tiny || upper_exp) {
        size_t o = exp_form(s, n, upper_exp && !tiny, out);
        out[o] = '\0';
        return o;
    }
    if (point_zero && memchr(s, '.', n) == NULL) {
        memcpy(s + n, ".0", 3);
        n += 2;
    }
    memcpy(out, s, n + 1);
    return n;
}

size_t fs_fmt_rfc3339(int64_t time_us, char *out)
{
    time_t sec = (time_t)(time_us / 1000000);
    int64_t us = time_us % 1000000;
    struct tm tm;
    gmtime_r(&sec, &tm);
    int n = snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)us);
    return (size_t)n;
}

size_t fs_fmt_kr_v1_time(int64_t time_us, char *out)
{
    int n = snprintf(out, 32, "%lld.%06lld", (long long)(time_us / 1000000),
                     (long long)(time_us % 1000000));
    return (size_t)n;
}

size_t fs_fmt_kr_rest_time(int64_t time_us, uint16_t ns_sub, char *out)
{
    int n = snprintf(out, 40, "%lld.%06lld%03u", (long long)(time_us / 1000000),
                     (long long)(time_us % 1000000), (unsigned)ns_sub);
    size_t len = (size_t)n;
    while (out[len - 1] == '0' && out[len - 2] != '.')
        len--;
    out[len] = '\0';
    return len;
}

void fs_json_str(struct fh_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    fh_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        fh_buf_append(b, s + run, i - run);
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            fh_buf_append(b, esc, 2);
        } else {
            fh_buf_append(b, esc, 6);
        }
        run = i + 1;
    }
    fh_buf_append(b, s + run, n - run);
    fh_buf_append(b, "\"", 1);
}
