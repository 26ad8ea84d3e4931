#include "core/err.h"

#include <string.h>

const char *fh_strerror(int err)
{
    switch (err) {
    case FH_OK:
        return "success";
    case FH_EINVAL:
        return "invalid argument";
    case FH_ENOSPACE:
        return "no space left in a bounded buffer";
    case FH_ENOMEM:
        return "out of memory";
    case FH_EPARSE:
        return "malformed input";
    case FH_ERANGE:
        return "value out of range";
    case FH_ENOTFOUND:
        return "not found";
    case FH_ECONFIG:
        return "configuration error";
    case FH_EIO:
        return "I/O error";
    case FH_ESTATE:
        return "invalid state";
    case FH_EUNSUPPORTED:
        return "unsupported";
    default:
        break;
    }
    if (err < 0 && err > FH_EBASE) {
        /* strerrordesc_np is thread-safe and never formats into a shared buffer. */
        const char *s = strerrordesc_np(-err);
        if (s != NULL)
            return s;
    }
    return "unknown error";
}
