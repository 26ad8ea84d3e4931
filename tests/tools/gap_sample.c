/*
 * gap_sample - writes gap records encoded by our codecs for an independent decoder to check
 * (tests/integration/avro_crossdecode.py --schema gap).
 *
 * Usage: gap_sample OUTDIR [N]
 * Produces, for the edge-value records followed by N randomized ones (fixed seed), the same
 * files as avro_sample (see there): OUTDIR/records.bin (framing byte 'S' or 'C', length, the
 * message; the Confluent schema id of record i is (uint32_t)(i * 2654435761)),
 * OUTDIR/gaps.jsonl (fh_jsonl_encode_gap()), OUTDIR/canonical.txt (our Parsing Canonical Form
 * of schemas/gap.avsc), and prints "fingerprint 0x<16 hex digits>" and "records <n>".
 */
#include "gap_gen.h"

#include "codec/gap.h"
#include "core/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define SEED 0x9a95eedULL

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        perror(path);
    return f;
}

static int emit(FILE *bin, FILE *jsonl, const struct fh_gap_record *g, uint32_t i)
{
    static uint8_t msg[FH_AVRO_GAP_MAX + FH_AVRO_SINGLE_OBJECT_HEADER_LEN];
    static uint8_t line[FH_JSONL_GAP_MAX];
    struct fh_fbuf b;
    fh_fbuf_init(&b, msg, sizeof(msg));
    char framing = (i % 2 == 0) ? 'S' : 'C';
    int rc = framing == 'S' ? fh_avro_encode_gap_single_object(&b, g)
                            : fh_avro_encode_gap_confluent(&b, i * 2654435761u, g);
    if (rc != 0) {
        fprintf(stderr, "gap_sample: record %" PRIu32 ": %s\n", i, fh_strerror(rc));
        return -1;
    }
    uint8_t hdr[5] = {(uint8_t)framing, (uint8_t)(b.len >> 24), (uint8_t)(b.len >> 16),
                      (uint8_t)(b.len >> 8), (uint8_t)b.len};
    if (fwrite(hdr, 1, sizeof(hdr), bin) != sizeof(hdr) || fwrite(msg, 1, b.len, bin) != b.len)
        return -1;
    fh_fbuf_init(&b, line, sizeof(line));
    rc = fh_jsonl_encode_gap(&b, g);
    if (rc != 0) {
        fprintf(stderr, "gap_sample: record %" PRIu32 " as JSON: %s\n", i, fh_strerror(rc));
        return -1;
    }
    return fwrite(line, 1, b.len, jsonl) == b.len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gap_sample OUTDIR [N]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n = argc == 3 ? strtol(argv[2], NULL, 10) : 2000;
    if (n < 0 || n > 10000000) {
        fprintf(stderr, "gap_sample: bad N\n");
        return 2;
    }
    int rc = fh_codec_init();
    if (rc != 0) {
        fprintf(stderr, "gap_sample: fh_codec_init: %s\n", fh_strerror(rc));
        return 1;
    }
    int status = 1;
    FILE *pcf_file = open_out(dir, "canonical.txt");
    FILE *bin = open_out(dir, "records.bin");
    FILE *jsonl = open_out(dir, "gaps.jsonl");
    if (pcf_file == NULL || bin == NULL || jsonl == NULL)
        goto out;
    size_t pcf_len;
    const char *pcf = fh_gap_schema_canonical(&pcf_len);
    if (fwrite(pcf, 1, pcf_len, pcf_file) != pcf_len)
        goto out;
    static struct fh_test_gap t;
    uint32_t idx = 0;
    for (int i = 0; i < FH_GG_EDGE_COUNT; i++, idx++) {
        fh_gg_edge(&t, i);
        if (emit(bin, jsonl, &t.g, idx) != 0)
            goto out;
    }
    uint64_t seed = SEED;
    for (long i = 0; i < n; i++, idx++) {
        fh_gg_random(&t, &seed);
        if (emit(bin, jsonl, &t.g, idx) != 0)
            goto out;
    }
    printf("fingerprint 0x%016" PRIx64 "\n", fh_gap_schema_fingerprint());
    printf("records %" PRIu32 "\n", idx);
    status = 0;
out:
    if (pcf_file != NULL && fclose(pcf_file) != 0)
        status = 1;
    if (bin != NULL && fclose(bin) != 0)
        status = 1;
    if (jsonl != NULL && fclose(jsonl) != 0)
        status = 1;
    return status;
}
