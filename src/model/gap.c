#include "model/gap.h"

#include "core/err.h"

const char *fh_gap_status_name(enum fh_gap_status s)
{
    switch (s) {
    case FH_GAP_DETECTED:
        break;
    case FH_GAP_FILLED:
        return "FILLED";
    case FH_GAP_PARTIAL:
        return "PARTIAL";
    case FH_GAP_UNRECOVERABLE:
        return "UNRECOVERABLE";
    }
    return "DETECTED";
}

/* FH_ERANGE if longer than max, FH_EINVAL for a NULL pointer with a length. */
static int check_str(struct fh_str s, size_t max)
{
    if (s.n > 0 && s.p == NULL)
        return FH_EINVAL;
    return s.n > max ? FH_ERANGE : 0;
}

int fh_gap_record_check(const struct fh_gap_record *g)
{
    /* Unsigned comparisons also catch negative values stored in the enums. */
    if ((unsigned)g->kind > FH_KIND_AGG_TRADE || (unsigned)g->status > FH_GAP_UNRECOVERABLE)
        return FH_EINVAL;
    if (g->first_missing_id > g->last_missing_id || g->missing_count < 0 || g->filled_count < 0)
        return FH_EINVAL;
    int rc = check_str(g->venue, FH_GAP_NAME_MAX);
    if (rc == 0)
        rc = check_str(g->symbol, FH_GAP_NAME_MAX);
    if (rc == 0)
        rc = check_str(g->native_symbol, FH_GAP_NAME_MAX);
    if (rc == 0)
        rc = check_str(g->reason, FH_GAP_REASON_MAX);
    if (rc != 0)
        return rc;
    if (g->n_ranges > FH_GAP_RANGES_MAX)
        return FH_ERANGE;
    if (g->n_ranges > 0 && g->ranges == NULL)
        return FH_EINVAL;
    for (size_t i = 0; i < g->n_ranges; i++) {
        const struct fh_gap_range *r = &g->ranges[i];
        if (r->first > r->last || r->first < g->first_missing_id || r->last > g->last_missing_id)
            return FH_EINVAL;
        rc = check_str(r->reason, FH_GAP_REASON_MAX);
        if (rc != 0)
            return rc;
    }
    return 0;
}
