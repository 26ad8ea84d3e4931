#include "model/trade.h"

const char *fh_trade_kind_name(enum fh_trade_kind k)
{
    switch (k) {
    case FH_KIND_TRADE:
        return "TRADE";
    case FH_KIND_AGG_TRADE:
        return "AGG_TRADE";
    }
    return "TRADE";
}

const char *fh_side_name(enum fh_side s)
{
    switch (s) {
    case FH_SIDE_BUY:
        return "BUY";
    case FH_SIDE_SELL:
        return "SELL";
    case FH_SIDE_UNKNOWN:
        break;
    }
    return "UNKNOWN";
}

const char *fh_order_type_name(enum fh_order_type t)
{
    switch (t) {
    case FH_ORDER_MARKET:
        return "MARKET";
    case FH_ORDER_LIMIT:
        return "LIMIT";
    case FH_ORDER_UNKNOWN:
        break;
    }
    return "UNKNOWN";
}

const char *fh_source_name(enum fh_source s)
{
    switch (s) {
    case FH_SOURCE_LIVE:
        return "LIVE";
    case FH_SOURCE_SNAPSHOT:
        return "SNAPSHOT";
    case FH_SOURCE_BACKFILL:
        return "BACKFILL";
    case FH_SOURCE_REPLAY:
        return "REPLAY";
    }
    return "LIVE";
}
