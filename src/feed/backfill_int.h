/*
 * backfill_int.h - what backfill.c and backfill_budget.c share (not for other modules).
 */
#ifndef FH_FEED_BACKFILL_INT_H
#define FH_FEED_BACKFILL_INT_H

#include "feed/backfill.h"

void fh__bf_budget_init(struct fh_backfill_budget *b, const struct fh_backfill_config *c);
/* Charges a request sent at now (Binance weight w; Kraken: its per-IP spacing). */
void fh__bf_budget_charge(struct fh_backfill_budget *b, const struct fh_backfill_config *c,
                          int64_t now_ns, int64_t w);
/* X-MBX-USED-WEIGHT-1M = used at now: the rolling minute counts at least that much. */
void fh__bf_budget_report(struct fh_backfill_budget *b, int64_t now_ns, int64_t used);
/* 429 (Binance) with Retry-After seconds (-1 absent). */
void fh__bf_budget_throttled(struct fh_backfill_budget *b, const struct fh_backfill_config *c,
                             int64_t now_ns, int64_t retry_after_s);
/* 418 (Binance IP ban). */
void fh__bf_budget_banned(struct fh_backfill_budget *b, const struct fh_backfill_config *c,
                          int64_t now_ns, int64_t retry_after_s);
/* Kraken EGeneral:Too many requests: the back-off doubles. */
void fh__bf_budget_kraken_limited(struct fh_backfill_budget *b, const struct fh_backfill_config *c,
                                  int64_t now_ns);
/* An answer that was not a refusal: the doublings start again. */
void fh__bf_budget_ok(struct fh_backfill_budget *b, const struct fh_backfill_config *c);

#endif
