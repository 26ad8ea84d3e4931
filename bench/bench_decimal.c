/*
 * bench_decimal.c - exact decimal parsing, formatting and Avro bytes (src/core/decimal.c).
 *
 * Parses a fixed, realistic mix of exchange text (taken from the recorded corpus): Binance
 * 8-decimal strings, Binance.US 4-decimal prices, Kraken v1 strings and Kraken v2 JSON number
 * tokens, some with exponents. The baseline in the same run is strtod() on the same strings:
 * the naive, inexact conversion the Python handler effectively used (float(text)).
 */
#include "bench.h"

#include "core/decimal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sample {
    const char *text;
    unsigned flags;
};

#define NUMTOK (FH_DEC_JSON | FH_DEC_ALLOW_EXP | FH_DEC_ALLOW_NEG)

static const struct sample samples[] = {
    /* Binance spot: price and quantity strings with 8 decimals. */
    {"58001.03000000", 0},
    {"0.08620500", 0},
    {"58001.04000000", 0},
    {"0.02627600", 0},
    {"43.50830000", 0},
    {"7.00000000", 0},
    {"1632.46000000", 0},
    {"0.34305000", 0},
    {"55000.00000000", 0},
    {"135.66466600", 0},
    /* Binance.US: 4-decimal prices. */
    {"15.8534", 0},
    {"58830.2500", 0},
    {"0.9890", 0},
    {"800.00000000", 0},
    /* Kraken v1: strings with 5-9 decimals. */
    {"58721.20000", 0},
    {"0.02798644", 0},
    {"230.021000", 0},
    {"0.43626401", 0},
    {"0.000023750", 0},
    {"25.10303000", 0},
    {"6.137376", 0},
    {"7289.86759215", 0},
    /* Kraken v2: JSON number tokens, a few with exponents. */
    {"85772.4", NUMTOK},
    {"40.0", NUMTOK},
    {"1", NUMTOK},
    {"68466.9", NUMTOK},
    {"0.01919415", NUMTOK},
    {"0.00007723", NUMTOK},
    {"66732.5", NUMTOK},
    {"5.48256063", NUMTOK},
    {"1e-08", NUMTOK},
    {"2.5E+3", NUMTOK},
};

#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static size_t lens[NSAMPLES];
static fh_decimal values[NSAMPLES];

static uint64_t run_parse(void *ctx, uint64_t iters)
{
    (void)ctx;
    uint64_t acc = 0;
    size_t i = 0;
    for (uint64_t k = 0; k < iters; k++) {
        fh_decimal d;
        if (fh_decimal_parse(samples[i].text, lens[i], samples[i].flags, &d) == 0)
            acc += (uint64_t)d.units;
        if (++i == NSAMPLES)
            i = 0;
    }
    return acc;
}

static uint64_t run_strtod(void *ctx, uint64_t iters)
{
    (void)ctx;
    uint64_t acc = 0;
    size_t i = 0;
    for (uint64_t k = 0; k < iters; k++) {
        char *end;
        double v = strtod(samples[i].text, &end);
        acc += (uint64_t)(end - samples[i].text) + (v > 1.0);
        if (++i == NSAMPLES)
            i = 0;
    }
    return acc;
}

static uint64_t run_format(void *ctx, uint64_t iters)
{
    (void)ctx;
    uint64_t acc = 0;
    size_t i = 0;
    char buf[FH_DECIMAL_TEXT_MAX + 1];
    for (uint64_t k = 0; k < iters; k++) {
        acc += fh_decimal_format(values[i], buf) + (uint8_t)buf[0];
        if (++i == NSAMPLES)
            i = 0;
    }
    return acc;
}

static uint64_t run_snprintf(void *ctx, uint64_t iters)
{
    (void)ctx;
    uint64_t acc = 0;
    size_t i = 0;
    char buf[64];
    for (uint64_t k = 0; k < iters; k++) {
        double v = (double)values[i].units / 1e18;
        acc += (uint64_t)snprintf(buf, sizeof(buf), "%.17g", v) + (uint8_t)buf[0];
        if (++i == NSAMPLES)
            i = 0;
    }
    return acc;
}

static uint64_t run_be_bytes(void *ctx, uint64_t iters)
{
    (void)ctx;
    uint64_t acc = 0;
    size_t i = 0;
    uint8_t out[16];
    for (uint64_t k = 0; k < iters; k++) {
        acc += fh_decimal_to_be_bytes(values[i], out) + out[0];
        if (++i == NSAMPLES)
            i = 0;
    }
    return acc;
}

int main(void)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        lens[i] = strlen(samples[i].text);
        if (fh_decimal_parse(samples[i].text, lens[i], samples[i].flags, &values[i]) != 0) {
            fprintf(stderr, "sample %s does not parse\n", samples[i].text);
            return 1;
        }
    }
    const uint64_t iters = 2000000;
    const int runs = 9;
    printf("decimal: %zu exchange strings, %d runs of %llu ops\n", NSAMPLES, runs,
           (unsigned long long)iters);

    struct fh_bench_result base = fh_bench_run(run_strtod, NULL, iters, runs);
    struct fh_bench_result parse = fh_bench_run(run_parse, NULL, iters, runs);
    fh_bench_report("strtod (baseline, inexact)", base);
    fh_bench_report_ratio("fh_decimal_parse (exact)", parse, base, "strtod");

    struct fh_bench_result sbase = fh_bench_run(run_snprintf, NULL, iters, runs);
    struct fh_bench_result fmt = fh_bench_run(run_format, NULL, iters, runs);
    fh_bench_report("snprintf %.17g of a double (baseline)", sbase);
    fh_bench_report_ratio("fh_decimal_format", fmt, sbase, "snprintf");

    struct fh_bench_result be = fh_bench_run(run_be_bytes, NULL, iters, runs);
    fh_bench_report("fh_decimal_to_be_bytes", be);
    return 0;
}
