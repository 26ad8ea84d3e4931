/*
 * fuzz_kraken_time.c - libFuzzer target: the Kraken time conversions against independent
 * oracles. fh_kraken_rfc3339_us is compared with timegm() plus a gmtime_r() round trip (which
 * rejects impossible dates); fh_kraken_epoch_us with the exact decimal parser, whose value
 * floored to microseconds must agree whenever both accept.
 *
 * Seeds (tests/fuzz/make-seeds reads these lines):
 * FUZZ_SEEDS_LOCAL: kraken_time.seeds
 * FUZZ_DICT: kraken.dict
 */
#include "kraken_fuzz.h"

#include "core/err.h"

#include <time.h>

static bool digits(const char *s, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

/* The oracle: true and *us if s is a valid RFC 3339 time in range. */
static bool rfc3339_oracle(const char *s, size_t n, int64_t *us)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        size_t f = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f || i - f > 9)
            return false;
        for (size_t k = 0; k < 6; k++)
            frac = frac * 10 + (f + k < i ? s[f + k] - '0' : 0);
    }
    int sign = 0;
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        sign = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) &&
               s[i + 3] == ':' && digits(s + i + 4, 2, &om)) {
        if (oh > 23 || om > 59)
            return false;
        sign = s[i] == '-' ? -1 : 1;
    } else {
        return false;
    }
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = se};
    time_t t = timegm(&tm);
    struct tm back;
    if (gmtime_r(&t, &back) == NULL || back.tm_year != y - 1900 || back.tm_mon != mo - 1 ||
        back.tm_mday != d || back.tm_hour != h || back.tm_min != mi || back.tm_sec != se)
        return false;
    int64_t v = ((int64_t)t - sign * (int64_t)(oh * 60 + om) * 60) * 1000000 + frac;
    if (v < 0 || v > FH_KRAKEN_MAX_TIME_US)
        return false;
    *us = v;
    return true;
}

static void check_epoch(const char *s, size_t n, unsigned flags)
{
    int64_t us = -7;
    int rc = fh_kraken_epoch_us(s, n, flags, &us);
    FH_FUZZ_CHECK(rc == 0 || rc == FH_EINVAL || rc == FH_ERANGE);
    if (rc == 0)
        FH_FUZZ_CHECK(us >= 0 && us <= FH_KRAKEN_MAX_TIME_US);
    else
        FH_FUZZ_CHECK(us == -7);
    fh_decimal d;
    unsigned df = FH_DEC_JSON | ((flags & FH_KRAKEN_TIME_EXP) ? FH_DEC_ALLOW_EXP : 0);
    int drc = fh_decimal_parse(s, n, df, &d);
    if (drc == 0) {
        fh_i128 floor_us = d.units / 1000000000000; /* units are >= 0: no sign */
        if (floor_us <= FH_KRAKEN_MAX_TIME_US)
            FH_FUZZ_CHECK(rc == 0 && us == (int64_t)floor_us);
        else
            FH_FUZZ_CHECK(rc == FH_ERANGE);
    } else if (drc != FH_DEC_EDIGITS && drc != FH_DEC_EPRECISION) {
        /* Text the decimal grammar refuses is never a time either. */
        FH_FUZZ_CHECK(rc != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int64_t us = -7, want = 0;
    int rc = fh_kraken_rfc3339_us(s, size, &us);
    bool ok = rfc3339_oracle(s, size, &want);
    FH_FUZZ_CHECK((rc == 0) == ok);
    if (ok)
        FH_FUZZ_CHECK(us == want);
    else
        FH_FUZZ_CHECK(us == -7);
    check_epoch(s, size, 0);
    check_epoch(s, size, FH_KRAKEN_TIME_EXP);
    return 0;
}
