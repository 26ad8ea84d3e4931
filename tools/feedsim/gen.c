/*
 * gen.c - the deterministic trade generator.
 *
 * Each book (one symbol on one exchange) has its own PRNG seeded from --seed, the exchange
 * and the canonical symbol, so a symbol's sequence (ids, prices, quantities, sides, gaps
 * between taker orders) does not depend on which other symbols run. Time is virtual: a taker
 * order happens at start + offset, offsets drawn from an exponential distribution, and the
 * tick emits every order whose offset has passed. Trade times are therefore reproducible
 * relative to the start; only the start itself comes from the clock.
 *
 * A taker order is one trade, or with probability --burst-prob a sweep of 2..--burst-max
 * trades through one or more price levels: all at the same time, consecutive ids, one
 * Binance aggregate id per price level. The price follows a bounded random walk in ticks.
 */
#include "fs_core.h"

#include "core/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room in the truth buffer required before generating one taker order. */
#define TRUTH_LINE_MAX 320

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void fs_rand_seed(uint64_t s[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** */
uint64_t fs_rand64(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static double rnd01(uint64_t s[4])
{
    return (double)(fs_rand64(s) >> 11) * 0x1.0p-53;
}

static uint64_t rnd_below(uint64_t s[4], uint64_t n)
{
    return n == 0 ? 0 : fs_rand64(s) % n;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int64_t pow10i(int n)
{
    int64_t p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

static double mean_trades_per_order(const struct fs_config *cfg)
{
    if (cfg->burst_max < 2 || cfg->burst_prob <= 0)
        return 1.0;
    return 1.0 + cfg->burst_prob * ((2.0 + cfg->burst_max) / 2.0 - 1.0);
}

static int64_t next_gap_ns(struct fs_sim *sim, struct fs_book *b)
{
    if (sim->cfg.rate <= 0)
        return INT64_MAX / 4;
    double orders_per_s = sim->cfg.rate / mean_trades_per_order(&sim->cfg);
    double u = rnd01(b->rng);
    double gap = -log(1.0 - u) / orders_per_s * 1e9;
    if (gap < 1.0)
        gap = 1.0;
    if (gap > 3.6e12)
        gap = 3.6e12;
    return (int64_t)gap;
}

int fs_gen_init(struct fs_sim *sim)
{
    sim->batch_cap = 8192;
    sim->batch = calloc(sim->batch_cap, sizeof(*sim->batch));
    if (sim->batch == NULL)
        return FH_ENOMEM;
    for (int e = 0; e < FS_NEXCH; e++) {
        if (!sim->exch_on[e])
            continue;
        for (size_t i = 0; i < sim->nsyms; i++) {
            struct fs_book *b = &sim->books[e][i];
            memset(b, 0, sizeof(*b));
            b->sym = &sim->syms[i];
            b->exch = e;
            uint64_t h = fnv1a(sim->syms[i].canon, 0xcbf29ce484222325ULL ^ (uint64_t)(e + 1));
            fs_rand_seed(b->rng, sim->cfg.seed ^ h);
            if (e == FS_EX_BINANCE) {
                b->next_id = 100000000 + (int64_t)rnd_below(b->rng, 800000000);
                b->next_agg_id = 10000000 + (int64_t)rnd_below(b->rng, 80000000);
            } else {
                b->next_id = 10000000 + (int64_t)rnd_below(b->rng, 80000000);
                b->next_agg_id = 1;
            }
            b->price = sim->syms[i].start_price[e];
            b->min_price = b->price * 4 / 5;
            b->max_price = b->price * 5 / 4;
            b->next_event_ns = next_gap_ns(sim, b);
            b->hist_cap = sim->cfg.history < 64 ? 64 : sim->cfg.history;
            b->hist = calloc(b->hist_cap, sizeof(*b->hist));
            if (b->hist == NULL)
                return FH_ENOMEM;
        }
    }
    return 0;
}

void fs_gen_release(struct fs_sim *sim)
{
    for (int e = 0; e < FS_NEXCH; e++) {
        for (size_t i = 0; i < FS_MAX_SYMBOLS; i++) {
            free(sim->books[e][i].hist);
            sim->books[e][i].hist = NULL;
        }
    }
    free(sim->batch);
    sim->batch = NULL;
}

void fs_gen_resync(struct fs_sim *sim, int exch, int64_t now_ns)
{
    int64_t elapsed = now_ns - sim->start_mono_ns;
    for (size_t i = 0; i < sim->nsyms; i++) {
        struct fs_book *b = &sim->books[exch][i];
        if (b->next_event_ns < elapsed)
            b->next_event_ns = elapsed + next_gap_ns(sim, b);
    }
}

static void hist_push(struct fs_book *b, const struct fs_trade *t)
{
    size_t i;
    if (b->hist_len < b->hist_cap) {
        i = b->hist_head + b->hist_len;
        if (i >= b->hist_cap)
            i -= b->hist_cap;
        b->hist_len++;
    } else {
        i = b->hist_head;
        b->hist_head = b->hist_head + 1 == b->hist_cap ? 0 : b->hist_head + 1;
    }
    b->hist[i] = *t;
}

static int truth_line(struct fs_sim *sim, int venue, const char *native, const struct fs_book *b,
                      const struct fs_trade *t)
{
    char *p = fs_truth_reserve(&sim->truth, TRUTH_LINE_MAX);
    if (p == NULL)
        return FH_ENOSPACE;
    char px[FH_DECIMAL_TEXT_MAX + 1], qty[FH_DECIMAL_TEXT_MAX + 1];
    fs_fmt_min(t->price, b->sym->price_dec[b->exch], px);
    fs_fmt_min(t->qty, b->sym->qty_dec[b->exch], qty);
    int n = snprintf(p, TRUTH_LINE_MAX,
                     "{\"venue\":\"%s\",\"native_symbol\":\"%s\",\"trade_id\":%lld,"
                     "\"price\":\"%s\",\"quantity\":\"%s\",\"side\":\"%s\","
                     "\"trade_time_us\":%lld}\n",
                     fs_venue_name(venue), native, (long long)t->id, px, qty,
                     t->side ? "sell" : "buy", (long long)t->time_us);
    if (n <= 0 || n >= TRUTH_LINE_MAX)
        return FH_ENOSPACE;
    fs_truth_commit(&sim->truth, (size_t)n);
    return 0;
}

/* Truth-log lines for one trade (one per enabled protocol of the exchange). */
static bool truth_trade(struct fs_sim *sim, const struct fs_book *b, const struct fs_trade *t)
{
    if (!sim->truth.on)
        return true;
    if (b->exch == FS_EX_BINANCE)
        return truth_line(sim, FS_BINANCE, b->sym->bn, b, t) == 0;
    bool ok = true;
    if (sim->venue_on[FS_KRAKEN_V1])
        ok = truth_line(sim, FS_KRAKEN_V1, b->sym->kr_ws1, b, t) == 0 && ok;
    if (sim->venue_on[FS_KRAKEN_V2])
        ok = truth_line(sim, FS_KRAKEN_V2, b->sym->kr_ws2, b, t) == 0 && ok;
    return ok;
}

static int64_t walk_price(struct fs_book *b, int64_t p, int64_t delta)
{
    p += delta;
    if (p < b->min_price)
        p = b->min_price + (b->min_price - p);
    if (p > b->max_price)
        p = b->max_price - (p - b->max_price);
    return p < 1 ? 1 : p;
}

/* A quantity worth a log-uniform notional between about 5 and 50,000 USD, in qty units,
 * sometimes rounded to two significant digits as people do. */
static int64_t gen_qty(struct fs_book *b, int64_t price_units)
{
    const struct fs_symbol *s = b->sym;
    int pd = s->price_dec[b->exch], qd = s->qty_dec[b->exch];
    double price = (double)price_units / (double)pow10i(pd);
    double notional_usd = exp(log(5.0) + rnd01(b->rng) * (log(50000.0) - log(5.0)));
    double qty = notional_usd / s->quote_usd / price;
    double units = floor(qty * (double)pow10i(qd));
    if (units < 1)
        units = 1;
    if (units > 9e15)
        units = 9e15;
    int64_t q = (int64_t)units;
    if (rnd_below(b->rng, 7) == 0) {
        int64_t scale = 1;
        while (q / scale >= 100)
            scale *= 10;
        q = q / scale * scale;
    }
    return q < 1 ? 1 : q;
}

/* Generates one taker order (one or more trades) into out. Returns the number of trades. */
static size_t gen_order(struct fs_sim *sim, struct fs_book *b, struct fs_trade *out, size_t cap)
{
    int64_t t_us = sim->start_real_us + b->next_event_ns / 1000;
    b->next_event_ns += next_gap_ns(sim, b);

    uint8_t side = (uint8_t)(fs_rand64(b->rng) & 1);
    size_t n = 1;
    if (sim->cfg.burst_max >= 2 && rnd01(b->rng) < sim->cfg.burst_prob)
        n = 2 + rnd_below(b->rng, (uint64_t)sim->cfg.burst_max - 1);
    if (n > cap)
        n = cap;
    uint8_t ord_type = (n > 1 || rnd_below(b->rng, 10) < 3) ? 1 : 0;
    b->price = walk_price(b, b->price, (int64_t)rnd_below(b->rng, 5) - 2);
    int64_t level_price = b->price;
    size_t fills_left_at_level = 1 + rnd_below(b->rng, 3);

    if (t_us < b->last_time_us)
        t_us = b->last_time_us; /* times never go backwards within a book */
    for (size_t k = 0; k < n; k++) {
        if (b->skip_pending > 0) {
            /* A gap: these ids never trade anywhere (see docs/FEEDSIM.md, kind=skip). */
            b->next_id += b->skip_pending;
            b->next_agg_id += 1;
            b->skipped += (uint64_t)b->skip_pending;
            b->skip_pending = 0;
        }
        if (fills_left_at_level == 0) {
            b->next_agg_id++;
            level_price = walk_price(b, level_price, side == 0 ? 1 : -1);
            fills_left_at_level = 1 + rnd_below(b->rng, 3);
        }
        fills_left_at_level--;
        struct fs_trade *t = &out[k];
        memset(t, 0, sizeof(*t));
        t->id = b->next_id++;
        t->agg_id = b->next_agg_id;
        if (t_us == b->last_time_us) {
            if (b->last_ns_sub >= 999) {
                t_us++;
                t->ns_sub = 0;
            } else {
                t->ns_sub = (uint16_t)(b->last_ns_sub + 1);
            }
        }
        t->time_us = t_us;
        b->last_time_us = t_us;
        b->last_ns_sub = t->ns_sub;
        t->price = level_price;
        t->qty = gen_qty(b, level_price);
        t->side = side;
        t->ord_type = ord_type;
        uint64_t r = fs_rand64(b->rng);
        if ((r & 31) == 0)
            t->variant |= FS_VAR_QTY_EXP_UPPER;
        if (((r >> 5) & 15) == 0)
            t->variant |= FS_VAR_QTY_POINT_ZERO;
        if (((r >> 9) & 63) == 0)
            t->variant |= FS_VAR_PRICE_EXP_UPPER;
        hist_push(b, t);
        b->generated++;
    }
    b->next_agg_id++;
    b->price = level_price;
    return n;
}

/* Hands one book's new trades to every open connection of its exchange, through the
 * connection's venue module. */
static void deliver(struct fs_sim *sim, const struct fs_book *b, const struct fs_trade *t, size_t n)
{
    for (struct fs_conn *c = sim->conns; c != NULL; c = c->next) {
        if (c->phase != FS_PH_WS || c->venue == FS_CONTROL || c->feeder != NULL)
            continue;
        if (fs_venue_exch(c->venue) != b->exch)
            continue;
        sim->venues[c->venue]->deliver(c, b, t, n);
    }
}

void fs_gen_tick(struct fs_sim *sim, int64_t now_ns)
{
    if (sim->cfg.blast)
        return;
    int64_t elapsed = now_ns - sim->start_mono_ns;
    size_t per_order = sim->cfg.burst_max > 1 ? (size_t)sim->cfg.burst_max : 1;
    size_t truth_need = per_order * 2 * TRUTH_LINE_MAX;
    for (int e = 0; e < FS_NEXCH; e++) {
        if (!sim->exch_on[e])
            continue;
        if (e == FS_EX_KRAKEN && sim->kr_maintenance)
            continue; /* no matching during maintenance */
        if (sim->replay != NULL && fs_venue_exch(sim->cfg.replay_venue) == e)
            continue;
        for (size_t i = 0; i < sim->nsyms; i++) {
            struct fs_book *b = &sim->books[e][i];
            size_t n = 0;
            while (b->next_event_ns <= elapsed && n + per_order <= sim->batch_cap) {
                if (sim->truth.on && fs_truth_reserve(&sim->truth, truth_need) == NULL) {
                    /* The writer is behind: hold generation (trades keep their times and
                     * come out when it catches up), never lose a truth line. */
                    sim->truth.stalls++;
                    break;
                }
                size_t k = gen_order(sim, b, sim->batch + n, sim->batch_cap - n);
                for (size_t j = 0; j < k; j++)
                    truth_trade(sim, b, &sim->batch[n + j]);
                n += k;
            }
            if (n > 0)
                deliver(sim, b, sim->batch, n);
        }
    }
}
