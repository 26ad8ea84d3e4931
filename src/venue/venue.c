#include "venue/venue.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

const char *fh_reject_name(enum fh_reject r)
{
    switch (r) {
    case FH_REJ_NONE:
        return "none";
    case FH_REJ_OVERSIZE:
        return "oversize";
    case FH_REJ_UTF8:
        return "bad_utf8";
    case FH_REJ_JSON:
        return "bad_json";
    case FH_REJ_TOO_MANY_TOKENS:
        return "too_many_tokens";
    case FH_REJ_UNKNOWN_MESSAGE:
        return "unknown_message";
    case FH_REJ_MISSING_FIELD:
        return "missing_field";
    case FH_REJ_BAD_FIELD:
        return "bad_field";
    case FH_REJ_BAD_PRICE:
        return "bad_price";
    case FH_REJ_BAD_QUANTITY:
        return "bad_quantity";
    case FH_REJ_BAD_TIME:
        return "bad_time";
    case FH_REJ_UNKNOWN_SYMBOL:
        return "unknown_symbol";
    case FH_REJ_TOO_MANY_TRADES:
        return "too_many_trades";
    case FH_REJ_BINARY_FRAME:
        return "binary_frame";
    case FH_REJ_COUNT:
        break;
    }
    return "unknown";
}

int fh_venue_parser_init(struct fh_venue_parser *p, const struct fh_venue_ops *ops,
                         const struct fh_symbols *symbols, const struct fh_venue_parser_opts *opts)
{
    memset(p, 0, sizeof(*p));
    if (ops == NULL)
        return FH_EINVAL;
    p->ops = ops;
    p->symbols = symbols;
    if (opts != NULL) {
        p->opts = *opts;
    }
    if (p->opts.max_message_bytes == 0)
        p->opts.max_message_bytes = FH_VENUE_DEFAULT_MAX_MESSAGE;
    if (p->opts.max_tokens == 0)
        p->opts.max_tokens = FH_VENUE_DEFAULT_MAX_TOKENS;
    if (p->opts.max_trades == 0)
        p->opts.max_trades = FH_VENUE_DEFAULT_MAX_TRADES;
    int rc = fh_json_init(&p->json, p->opts.max_tokens);
    if (rc != 0)
        return rc;
    p->trades = calloc(p->opts.max_trades, sizeof(*p->trades));
    if (p->trades == NULL) {
        fh_venue_parser_release(p);
        return FH_ENOMEM;
    }
    return 0;
}

void fh_venue_parser_release(struct fh_venue_parser *p)
{
    fh_json_release(&p->json);
    free(p->trades);
    p->trades = NULL;
}

static enum fh_reject json_reject(int err)
{
    switch (err) {
    case FH_JSON_ETOKENS:
        return FH_REJ_TOO_MANY_TOKENS;
    case FH_JSON_EUTF8:
        return FH_REJ_UTF8;
    default:
        return FH_REJ_JSON;
    }
}

static int parse(struct fh_venue_parser *p, const char *msg, size_t len, bool utf8_checked,
                 struct fh_venue_msg *out)
{
    memset(out, 0, sizeof(*out));
    out->trades = p->trades;
    if (len > p->opts.max_message_bytes) {
        out->reject = FH_REJ_OVERSIZE;
        return -1;
    }
    /* WebSocket text frames must be UTF-8 anyway; checking the whole frame here also covers
     * bytes outside JSON strings. */
    if (!utf8_checked && !fh_utf8_valid(msg, len)) {
        out->reject = FH_REJ_UTF8;
        return -1;
    }
    if (p->ops->parse_fast != NULL && !p->opts.general_only &&
        p->ops->parse_fast(p, msg, len, out) > 0)
        return 0;
    int rc = fh_json_parse(&p->json, msg, len);
    if (rc != 0) {
        out->reject = json_reject(rc);
        return -1;
    }
    rc = p->ops->parse(p, msg, len, out);
    if (rc < 0) {
        if (out->reject == FH_REJ_NONE)
            out->reject = FH_REJ_UNKNOWN_MESSAGE;
        out->n_trades = 0;
        out->event = FH_EV_NONE;
        return -1;
    }
    return 0;
}

int fh_venue_parse(struct fh_venue_parser *p, const char *msg, size_t len, struct fh_venue_msg *out)
{
    return parse(p, msg, len, false, out);
}

int fh_venue_parse_utf8(struct fh_venue_parser *p, const char *msg, size_t len,
                        struct fh_venue_msg *out)
{
    return parse(p, msg, len, true, out);
}
