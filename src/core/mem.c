/*
 * mem.c - zeroed arrays whose pages become resident only when touched (mem.h).
 */
#include "core/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

void *fh_lazy_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    if (bytes < FH_LAZY_MIN_BYTES)
        return calloc(n, size);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void fh_lazy_free(void *p, size_t n, size_t size)
{
    if (p == NULL)
        return;
    size_t bytes = n * size;
    if (bytes < FH_LAZY_MIN_BYTES)
        free(p);
    else
        munmap(p, bytes);
}
