/*
 * avro_sample - writes trades encoded by our codecs for an independent decoder to check
 * (tests/integration/avro_crossdecode.py).
 *
 * Usage: avro_sample OUTDIR [N]
 * Produces, for the edge-value trades followed by N randomized ones (fixed seed):
 *   OUTDIR/records.bin   one entry per trade: a framing byte ('S' single-object, 'C'
 *                        Confluent), the message length as 4 bytes big-endian, the message.
 *                        Trades alternate between the framings; the Confluent schema id of
 *                        trade i is (uint32_t)(i * 2654435761).
 *   OUTDIR/trades.jsonl  the same trades, one JSON line each, from fh_jsonl_encode_trade().
 *   OUTDIR/canonical.txt our Parsing Canonical Form of schemas/trade.avsc (no newline).
 * and prints "fingerprint 0x<16 hex digits>" (our CRC-64-AVRO of that form) on stdout.
 */
#include "trade_gen.h"

#include "codec/avro.h"
#include "codec/jsonl.h"
#include "core/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 0xc0dec5eedULL

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    int rc = fwrite(p, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        perror(path);
    return f;
}

static int emit(FILE *bin, FILE *jsonl, const struct fh_trade *t, uint32_t i)
{
    static uint8_t msg[32768], line[65536];
    struct fh_fbuf b;
    fh_fbuf_init(&b, msg, sizeof(msg));
    char framing = (i % 2 == 0) ? 'S' : 'C';
    int rc = framing == 'S' ? fh_avro_encode_trade_single_object(&b, t)
                            : fh_avro_encode_trade_confluent(&b, i * 2654435761u, t);
    if (rc != 0) {
        fprintf(stderr, "avro_sample: trade %" PRIu32 ": %s\n", i, fh_strerror(rc));
        return -1;
    }
    uint8_t hdr[5] = {(uint8_t)framing, (uint8_t)(b.len >> 24), (uint8_t)(b.len >> 16),
                      (uint8_t)(b.len >> 8), (uint8_t)b.len};
    if (fwrite(hdr, 1, sizeof(hdr), bin) != sizeof(hdr) || fwrite(msg, 1, b.len, bin) != b.len)
        return -1;
    fh_fbuf_init(&b, line, sizeof(line));
    rc = fh_jsonl_encode_trade(&b, t);
    if (rc != 0) {
        fprintf(stderr, "avro_sample: trade %" PRIu32 " as JSON: %s\n", i, fh_strerror(rc));
        return -1;
    }
    return fwrite(line, 1, b.len, jsonl) == b.len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: avro_sample OUTDIR [N]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n = argc == 3 ? strtol(argv[2], NULL, 10) : 2000;
    if (n < 0 || n > 10000000) {
        fprintf(stderr, "avro_sample: bad N\n");
        return 2;
    }
    int rc = fh_codec_init();
    if (rc != 0) {
        fprintf(stderr, "avro_sample: fh_codec_init: %s\n", fh_strerror(rc));
        return 1;
    }
    size_t pcf_len;
    const char *pcf = fh_trade_schema_canonical(&pcf_len);
    if (write_file(dir, "canonical.txt", pcf, pcf_len) != 0)
        return 1;

    int status = 1;
    FILE *bin = open_out(dir, "records.bin");
    FILE *jsonl = open_out(dir, "trades.jsonl");
    if (bin == NULL || jsonl == NULL)
        goto out;
    static struct fh_test_trade g;
    uint32_t idx = 0;
    for (int i = 0; i < FH_TG_EDGE_COUNT; i++, idx++) {
        fh_tg_edge(&g, i);
        if (emit(bin, jsonl, &g.t, idx) != 0)
            goto out;
    }
    uint64_t seed = SEED;
    for (long i = 0; i < n; i++, idx++) {
        fh_tg_random(&g, &seed);
        if (emit(bin, jsonl, &g.t, idx) != 0)
            goto out;
    }
    printf("fingerprint 0x%016" PRIx64 "\n", fh_trade_schema_fingerprint());
    printf("records %" PRIu32 "\n", idx);
    status = 0;
out:
    if (bin != NULL && fclose(bin) != 0)
        status = 1;
    if (jsonl != NULL && fclose(jsonl) != 0)
        status = 1;
    return status;
}
