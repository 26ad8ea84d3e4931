/*
 * crc32c.h - CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected).
 *
 * The checksum of the disk spool's records and checkpoint (src/sink/spool.h). On x86-64 CPUs
 * with SSE4.2 it uses the crc32 instruction, chosen at run time; elsewhere a table-driven
 * loop that takes eight bytes at a time. Both give the same results.
 */
#ifndef FH_CORE_CRC32C_H
#define FH_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C (Castagnoli) of p[0..n), continuing from crc (start with 0). Thread-safe. */
uint32_t fh_crc32c(uint32_t crc, const void *p, size_t n);

#endif
