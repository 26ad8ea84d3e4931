/*
 * err.h - error codes.
 *
 * Functions return 0 on success or a negative code: either -errno from the OS or one of the
 * FH_E* values below, which live above the errno range. fh_strerror() names both.
 */
#ifndef FH_CORE_ERR_H
#define FH_CORE_ERR_H

enum fh_err {
    FH_OK = 0,
    FH_EBASE = -10000,
    FH_EINVAL = FH_EBASE - 1,    /* invalid argument or input */
    FH_ENOSPACE = FH_EBASE - 2,  /* a bounded buffer or queue is full */
    FH_ENOMEM = FH_EBASE - 3,    /* allocation failed */
    FH_EPARSE = FH_EBASE - 4,    /* malformed input */
    FH_ERANGE = FH_EBASE - 5,    /* value out of range */
    FH_ENOTFOUND = FH_EBASE - 6, /* no such item */
    FH_ECONFIG = FH_EBASE - 7,   /* configuration error */
    FH_EIO = FH_EBASE - 8,       /* I/O error without an errno */
    FH_ESTATE = FH_EBASE - 9,    /* call not valid in the current state */
    FH_EUNSUPPORTED = FH_EBASE - 10,
    FH_ELAST = FH_EBASE - 11
};

/* Returns a static English description of err (an FH_E* value or -errno). Thread-safe. */
const char *fh_strerror(int err);

#endif
