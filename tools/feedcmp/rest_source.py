"""rest_source - an exchange's public REST trade history for a time window (feedcmp rest: sides).

    h = RestHistory("binance", "https://api.binance.com")
    for t in h.trades("BTCUSDT", start_us, end_us):   # start_us <= trade_time < end_us
        ...                                           # ascending by trade id, one page in memory
    h.stats   # requests, pages, rows, throttled, waited_s, duplicates, retries, history_truncated

Each trade is a dict in feedhandler's normalized field names (schemas/trade.avsc): venue,
native_symbol (as given), kind "TRADE", trade_id (int), price and quantity (decimal text exactly
as on the wire, never through float), side "BUY"/"SELL", order_type, trade_time (int µs),
source "REST". Standard library only. Facts: ../../../shared/protocols.md 1.9 and 2.3-2.5;
feedsim's side: tools/feedsim/binance_rest.c, kraken_rest.c, docs/FEEDSIM.md.

Binance (venue "binance", symbol as Binance spells it: BTCUSDT)
  * Every request carries X-MBX-TIME-UNIT: MICROSECOND, so times are µs; a row whose time is
    below 10^14 means the server ignored it (ms) and is an error, not a guess.
  * The window's first trade: GET /api/v3/aggTrades?symbol=S&startTime=<start_us>&limit=1
    (startTime is inclusive on T and taken as µs when it has 16 digits, protocols.md 1.3;
    feedsim: binance_rest.c to_us). Its "f" is the first trade id at or after the start (the
    fills of one aggregate share T). No aggregate: no trades.
  * Then GET /api/v3/historicalTrades?symbol=S&fromId=N&limit=1000, first from f - 1: that row
    lies before the window, which proves nothing of the window precedes f. (If it does lie in
    the window - feedsim's aggTrades skips a group whose head left the bounded history - the
    walk steps back a page at a time until a row before the window.) Each next page starts at
    the previous page's last id, so pages overlap by one row (deduplicated by id) and a page
    whose first row is not that id shows the history moved under us.
  * history_truncated: when the first row returned has an id above the fromId asked (feedsim's
    --history: a fromId older than the oldest kept trade starts at the oldest kept one), the
    walk goes on from there and stats["history_truncated"] gets {"symbol", "asked", "got"}
    ("got" None: an empty page where rows were a moment ago); the window's trades before
    "got" may be missing from the answer. At the start (asked = f - 1, or a page further back
    after a step back) the same sign also appears when f - 1 never existed (an id gap just
    before the window, e.g. feedsim's skip fault): REST cannot tell those apart, so it is
    reported, not hidden.
  * Side as feedhandler's parser (src/venue/binance.c): isBuyerMaker true -> the taker sold ->
    "SELL", false -> "BUY". order_type "UNKNOWN" (Binance does not say).
  * Weight: historicalTrades 25, aggTrades 4, against weight_limit (6000/min, not read from
    exchangeInfo: a smaller limit shows itself as 429s, which are honoured). Before a request
    that would take X-MBX-USED-WEIGHT-1M (read from every answer) above weight_share of the
    limit, sleep to the next wall-clock minute (+0.5 s for clock skew). 429/418: sleep
    Retry-After seconds (to the next minute when absent), retry the same request; the 5th in a
    row, or a Retry-After above max_retry_after_s (an IP ban can last days), is a RestError.

Kraken (venue "kraken": WebSocket v2 ids; the REST trade_id is the v2 trade_id)
  * GET /0/public/Trades?pair=<P>&since=<ns>&count=1000&assetVersion=1, P percent-encoded.
  * Pair naming: P is the native symbol as feedhandler's v2 records carry it ("BTC/USD"), with
    assetVersion=1 - exactly what our C backfill sends (src/venue/kraken_common.c,
    fh_kraken_build_rest_trades with v2). feedsim's find_pair accepts the altname (XBTUSD), the
    REST key (XXBTZUSD) or, with assetVersion=1 only, the v2 display name (BTC/USD), in any
    case; without assetVersion=1 "BTC/USD" is "EQuery:Unknown asset pair". UNVERIFIED against
    the real Kraken: protocols.md 2.3 documents assetVersion=1 as switching the result *keys*
    to display names, not that the pair parameter accepts them (the altname XBTUSD or key
    XXBTZUSD is documented to work). If the real API refuses BTC/USD, pass the altname
    instead; the result key is read whatever it is (the one key that is not "last").
  * since: feedsim takes seconds (fractional) or a nanosecond cursor (16+ digits) and returns
    trades strictly after it (kraken_rest.c: rows with time_ns <= since are skipped). The
    first since is start_us * 1000 - 1 ns, so a trade at exactly start_us (any sub-µs digits)
    is included; rows before start_us are dropped anyway, so a looser "since" on the real
    API (UNVERIFIED: strictly after, or at) costs a few rows, not correctness. Then since =
    the answer's "last" until a row at or after end_us, an empty page, or a page with no new
    id whose "last" did not move.
  * Time: a JSON number with more digits than a double, parsed with parse_float=Decimal and
    floored to µs - the rule of feedhandler's parser (src/venue/kraken_common.c
    fh_kraken_epoch_us: digits beyond the sixth truncated, exponents allowed). feedsim prints
    time_us plus three ns digits (fs_fmt_kr_rest_time), so the floor is the µs of the v2
    WebSocket timestamp and of the truth log.
  * Side "b"/"buy" -> BUY, "s"/"sell" -> SELL; type "m"/"market" -> MARKET, "l"/"limit" ->
    LIMIT (fh_kraken_side, fh_kraken_order_type). A row without the 7th element (trade_id,
    very old answers) is an error: these sides are matched by id.
  * Errors come with HTTP 200 in "error" (entries starting with "W" are warnings):
    "EQuery:Unknown asset pair" -> RestError naming the pair; "EGeneral:Too many requests"
    (or HTTP 429) -> back off 1 s, doubling, capped at 16 s, retry; the 6th in a row is a
    RestError. Trades calls of one pair are spaced kraken_interval_s apart (0: no spacing).
    History depth cannot be checked from REST here (no ids to ask for), so a truncated
    history (feedsim --history) just starts at its oldest kept trade.

Both: a page is sorted by id and deduplicated against the last id given out, so the output
ascends by id; a row at or below it again is counted in stats["duplicates"]. Non-2xx answers
other than 429/418 are a RestError with the status and the body's first 200 characters
(Binance's {"code":..,"msg":..} as "code -1121: Invalid symbol."). Connection errors and
timeouts (timeout_s per request) are retried 3 times, 1 s apart, then a RestError.
sleep, clock (monotonic) and wall (epoch seconds, for Binance's wall-clock minute) can be
replaced for tests; waited_s is the sum of the sleeps asked for.
"""

import decimal
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

BINANCE_WEIGHT_LIMIT = 6000  # REQUEST_WEIGHT per minute (protocols.md 1.9)
WEIGHT_HISTORICAL = 25
WEIGHT_AGG = 4
MINUTE_MARGIN_S = 0.5  # past the minute boundary, for a server clock a little behind ours
MAX_THROTTLED = 5  # Binance: the 5th 429/418 in a row gives up
PAGE_MAX = 1000  # historicalTrades limit / Trades count

KRAKEN_BACKOFF_S = 1.0
KRAKEN_BACKOFF_CAP_S = 16.0
KRAKEN_MAX_REFUSED = 6  # the 6th "Too many requests" in a row gives up

CONN_RETRIES = 3
CONN_RETRY_S = 1.0

MIN_US_TIME = 10 ** 14  # below this a Binance time is in ms (X-MBX-TIME-UNIT not honoured)
MAX_TIME_US = 253402300799999999  # 9999-12-31T23:59:59.999999Z, as feedhandler's parser

_KR_SIDES = {"b": "BUY", "buy": "BUY", "s": "SELL", "sell": "SELL"}
_KR_TYPES = {"m": "MARKET", "market": "MARKET", "l": "LIMIT", "limit": "LIMIT"}
_CONN_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
                TimeoutError, OSError)


class RestError(Exception):
    """A REST side that cannot be read; a one-line message (feedcmp: exit status 2)."""


# ---- exact values -----------------------------------------------------------------------------


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _decimal_text(v, what):
    """A price or quantity as the wire's text; it must be a finite decimal string."""
    if not isinstance(v, str):
        raise RestError("%s: %r is not a decimal string" % (what, v))
    try:
        d = Decimal(v)
    except decimal.InvalidOperation:
        raise RestError("%s: %r is not a decimal" % (what, v))
    if not d.is_finite():
        raise RestError("%s: %r is not a finite decimal" % (what, v))
    return v


def kraken_time_us(v, what="time"):
    """Kraken's epoch seconds (a Decimal from parse_float, an int, or a string) as µs, floored
    like feedhandler's fh_kraken_epoch_us: 1688669597.8277369 -> 1688669597827736."""
    if isinstance(v, Decimal):
        d = v
    elif _is_int(v):
        d = Decimal(v)
    elif isinstance(v, str):
        try:
            d = Decimal(v)
        except decimal.InvalidOperation:
            raise RestError("%s: %r is not a time" % (what, v))
    else:
        raise RestError("%s: %r is not a time" % (what, v))
    if not d.is_finite() or d < 0:
        raise RestError("%s: %r is not a time" % (what, v))
    with decimal.localcontext() as ctx:
        ctx.prec = 200  # exact for any token a sane server sends; the range check follows
        ctx.Emax = 10 ** 6
        ctx.Emin = -10 ** 6
        if d.adjusted() > 20:
            raise RestError("%s: %r is out of range" % (what, v))
        us = int(d.scaleb(6).to_integral_value(rounding=decimal.ROUND_FLOOR))
    if us > MAX_TIME_US:
        raise RestError("%s: %r is out of range" % (what, v))
    return us


# ---- the reader -------------------------------------------------------------------------------


class RestHistory:
    """One venue's public REST trade history (see the module docstring). log, when given, is
    called with one-line messages (waits, retries, truncated history); weight_limit, page_limit,
    wall and max_retry_after_s exist for tests and unusual servers."""

    def __init__(self, venue, base_url, *, timeout_s=10.0, weight_share=0.5, log=None,
                 sleep=time.sleep, clock=time.monotonic, kraken_interval_s=1.0,
                 weight_limit=BINANCE_WEIGHT_LIMIT, page_limit=PAGE_MAX, wall=time.time,
                 max_retry_after_s=300.0):
        v = str(venue).strip().lower().replace("-", "_")
        if v in ("kraken", "kraken_v2"):
            v = "kraken"
        elif v == "kraken_v1":
            raise RestError("rest: kraken_v1 has no trade ids; use kraken (v2 ids)")
        elif v != "binance":
            raise RestError("rest: unknown venue %r (binance or kraken)" % venue)
        self.venue = v
        url = str(base_url).strip().rstrip("/")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RestError("rest: %r is not an http(s) base URL" % base_url)
        self.base_url = url
        if not 0 < weight_share <= 1:
            raise RestError("rest: weight_share must be in (0, 1]")
        if not 1 <= page_limit <= PAGE_MAX:
            raise RestError("rest: page_limit must be 1..%d" % PAGE_MAX)
        self.timeout_s = timeout_s
        self.weight_share = weight_share
        self.weight_limit = weight_limit
        self.page_limit = page_limit
        self.kraken_interval_s = kraken_interval_s
        self.max_retry_after_s = max_retry_after_s
        self._log = log
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        self._bn_minute = None  # wall-clock minute of _bn_used
        self._bn_used = 0  # Binance weight used in that minute (the server's count when known)
        self._kr_last = {}  # pair -> clock() of its last Trades call
        self._stats = {"requests": 0, "pages": 0, "rows": 0, "throttled": 0, "waited_s": 0.0,
                       "duplicates": 0, "retries": 0, "history_truncated": []}

    @property
    def stats(self):
        s = dict(self._stats)
        s["waited_s"] = round(s["waited_s"], 3)
        s["history_truncated"] = [dict(x) for x in s["history_truncated"]]
        return s

    def trades(self, native_symbol, start_us, end_us):
        """Yields every trade with start_us <= trade_time < end_us, ascending by trade id, as
        dicts in feedhandler's normalized field names (see the module docstring)."""
        if not isinstance(native_symbol, str) or not native_symbol.strip():
            raise RestError("rest: %s: empty symbol" % self.venue)
        if not _is_int(start_us) or not _is_int(end_us) or start_us < 0 or end_us <= start_us:
            raise RestError("rest: %s %s: window [%r, %r) is not µs with end after start" %
                            (self.venue, native_symbol, start_us, end_us))
        if self.venue == "binance":
            return self._bn_trades(native_symbol, start_us, end_us)
        return self._kr_trades(native_symbol, start_us, end_us)

    # -- shared --

    def _say(self, msg):
        if self._log is not None:
            self._log("rest: %s: %s" % (self.venue, msg))

    def _wait(self, seconds):
        if seconds > 0:
            self._stats["waited_s"] += seconds
            self._sleep(seconds)

    def _get(self, path, headers):
        """GET base_url + path: (status, headers with lower-case names, body bytes). Connection
        errors and timeouts are retried CONN_RETRIES times; HTTP statuses are returned."""
        url = self.base_url + path
        req = urllib.request.Request(url, headers=dict(headers, **{
            "User-Agent": "feedcmp-rest/1", "Accept": "application/json"}))
        attempt = 0
        while True:
            self._stats["requests"] += 1
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                    return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
            except urllib.error.HTTPError as e:
                try:
                    body = e.read()
                except _CONN_ERRORS:
                    body = b""
                hdrs = {k.lower(): v for k, v in e.headers.items()} if e.headers else {}
                return e.code, hdrs, body
            except _CONN_ERRORS as e:
                why = getattr(e, "reason", None) or e
                if attempt >= CONN_RETRIES:
                    raise RestError("rest: %s %s: %s (after %d retries)" %
                                    (self.venue, url, why, CONN_RETRIES))
                attempt += 1
                self._stats["retries"] += 1
                self._say("%s: %s; retry %d of %d" % (url, why, attempt, CONN_RETRIES))
                self._wait(CONN_RETRY_S)

    def _json(self, body, what):
        try:
            return json.loads(body, parse_float=Decimal)
        except ValueError as e:
            raise RestError("%s: the answer is not JSON (%s): %s" % (what, e, _snippet(body)))

    def _emit(self, rows, state, start_us, end_us):
        """Gives out the rows of one page (dicts with trade_id and trade_time) in id order:
        those not given out before and inside the window. Sets state["stop"] at a row at or
        after end_us; returns how many rows were new."""
        new = 0
        out = []
        for t in sorted(rows, key=lambda t: t["trade_id"]):
            last = state["last_id"]
            if last is not None and t["trade_id"] <= last:
                self._stats["duplicates"] += 1
                continue
            new += 1
            if t["trade_time"] >= end_us:
                state["stop"] = True
                break
            state["last_id"] = t["trade_id"]
            if t["trade_time"] >= start_us:
                out.append(t)
        return new, out

    # -- Binance --

    def _bn_pace(self, weight):
        """Sleeps to the next wall-clock minute when weight would take the minute's use past
        weight_share of weight_limit."""
        now = self._wall()
        minute = int(now // 60)
        if minute != self._bn_minute:
            self._bn_minute, self._bn_used = minute, 0
        if self._bn_used + weight > self.weight_share * self.weight_limit:
            wait = (minute + 1) * 60 - now + MINUTE_MARGIN_S
            self._say("weight %d used of %d (share %g): waiting %.1f s for the next minute" %
                      (self._bn_used, self.weight_limit, self.weight_share, wait))
            self._wait(wait)
            self._bn_minute, self._bn_used = int(self._wall() // 60), 0
        self._bn_used += weight  # until the answer's header says better

    def _bn_note_weight(self, headers):
        v = headers.get("x-mbx-used-weight-1m")
        if v is not None and v.strip().isdigit():
            minute = int(self._wall() // 60)
            if minute != self._bn_minute:
                self._bn_minute = minute
            self._bn_used = int(v)

    def _bn_call(self, symbol, path, weight):
        """One Binance GET answered 2xx with a JSON array, after pacing and 429/418 waits."""
        what = "rest: binance %s" % symbol
        refused = 0
        while True:
            self._bn_pace(weight)
            status, headers, body = self._get(path, {"X-MBX-TIME-UNIT": "MICROSECOND"})
            self._bn_note_weight(headers)
            if status in (429, 418):
                refused += 1
                self._stats["throttled"] += 1
                ra = headers.get("retry-after", "").strip()
                if ra.isdigit():
                    wait = float(ra)
                else:
                    now = self._wall()
                    wait = (int(now // 60) + 1) * 60 - now + MINUTE_MARGIN_S
                if refused >= MAX_THROTTLED:
                    raise RestError("%s: HTTP %d %d times in a row: %s" %
                                    (what, status, refused, _bn_error_text(body)))
                if wait > self.max_retry_after_s:
                    raise RestError("%s: HTTP %d with Retry-After %s s (IP ban?): %s" %
                                    (what, status, ra, _bn_error_text(body)))
                self._say("%s: HTTP %d, waiting %.1f s (Retry-After %s)" %
                          (symbol, status, wait, ra or "-"))
                self._wait(wait)
                continue
            if not 200 <= status < 300:
                raise RestError("%s: HTTP %d: %s" % (what, status, _bn_error_text(body)))
            doc = self._json(body, what)
            if not isinstance(doc, list):
                raise RestError("%s: expected a JSON array: %s" % (what, _snippet(body)))
            return doc

    def _bn_row(self, symbol, r):
        what = "rest: binance %s" % symbol
        if not isinstance(r, dict):
            raise RestError("%s: a row is not an object: %r" % (what, r))
        for k in ("id", "price", "qty", "time", "isBuyerMaker"):
            if k not in r:
                raise RestError("%s: a row has no %r: %r" % (what, k, r))
        tid, tm, maker = r["id"], r["time"], r["isBuyerMaker"]
        if not _is_int(tid) or tid < 0 or not _is_int(tm) or not isinstance(maker, bool):
            raise RestError("%s: bad id, time or isBuyerMaker in %r" % (what, r))
        if tm < MIN_US_TIME:
            raise RestError("%s: time %d is in ms: the server ignored X-MBX-TIME-UNIT" %
                            (what, tm))
        return {"venue": "binance", "native_symbol": symbol, "kind": "TRADE", "trade_id": tid,
                "price": _decimal_text(r["price"], what + " price"),
                "quantity": _decimal_text(r["qty"], what + " qty"),
                "side": "SELL" if maker else "BUY",  # buyer was the maker: the taker sold
                "order_type": "UNKNOWN", "trade_time": tm, "source": "REST"}

    def _bn_page(self, symbol, from_id):
        path = "/api/v3/historicalTrades?symbol=%s&fromId=%d&limit=%d" % (
            urllib.parse.quote(symbol, safe=""), from_id, self.page_limit)
        rows = [self._bn_row(symbol, r) for r in self._bn_call(symbol, path, WEIGHT_HISTORICAL)]
        self._stats["pages"] += 1
        self._stats["rows"] += len(rows)
        return rows

    def _bn_truncated(self, symbol, asked, got):
        self._stats["history_truncated"].append({"symbol": symbol, "asked": asked, "got": got})
        if got is None:
            self._say("%s: history asked from id %d is empty" % (symbol, asked))
        else:
            self._say("%s: history asked from id %d starts at %d: ids %d..%d are not in the "
                      "answer" % (symbol, asked, got, asked, got - 1))

    def _bn_trades(self, symbol, start_us, end_us):
        q = urllib.parse.quote(symbol, safe="")
        aggs = self._bn_call(symbol, "/api/v3/aggTrades?symbol=%s&startTime=%d&limit=1" %
                             (q, start_us), WEIGHT_AGG)
        if not aggs:
            return
        a = aggs[0]
        if not isinstance(a, dict) or not _is_int(a.get("f")) or a["f"] < 0:
            raise RestError("rest: binance %s: bad aggTrades row %r" % (symbol, a))
        # The first page starts one trade before the window's first (see the docstring).
        from_id = max(a["f"] - 1, 0)
        while True:
            rows = self._bn_page(symbol, from_id)
            if not rows:
                return
            got = min(t["trade_id"] for t in rows)
            if got > from_id:
                self._bn_truncated(symbol, from_id, got)
                break
            if from_id == 0 or min(t["trade_time"] for t in rows) < start_us:
                break
            from_id = max(from_id - self.page_limit, 0)  # the window starts further back
        state = {"last_id": None, "stop": False}
        while True:
            new, out = self._emit(rows, state, start_us, end_us)
            yield from out
            if state["stop"] or len(rows) < self.page_limit:
                return
            if new == 0:  # a full page of ids given out before: fromId is not being honoured
                raise RestError("rest: binance %s: the page from id %d brought no new trade" %
                                (symbol, from_id))
            # The next page starts at this page's last id: one row of overlap.
            from_id = max(t["trade_id"] for t in rows)
            rows = self._bn_page(symbol, from_id)
            if not rows:  # the id it had a moment ago is gone, and everything after it
                self._bn_truncated(symbol, from_id, None)
                return
            got = min(t["trade_id"] for t in rows)
            if got > from_id:
                self._bn_truncated(symbol, from_id, got)

    # -- Kraken --

    def _kr_pace(self, pair):
        if self.kraken_interval_s > 0 and pair in self._kr_last:
            self._wait(self._kr_last[pair] + self.kraken_interval_s - self._clock())
        self._kr_last[pair] = self._clock()

    def _kr_call(self, pair, since):
        """One Trades page: (rows, last cursor). Backs off on "Too many requests"."""
        what = "rest: kraken %s" % pair
        path = "/0/public/Trades?pair=%s&since=%s&count=%d&assetVersion=1" % (
            urllib.parse.quote(pair, safe=""), urllib.parse.quote(since, safe=""),
            self.page_limit)
        refused = 0
        while True:
            self._kr_pace(pair)
            status, _, body = self._get(path, {})
            errors = []
            if status == 429:
                errors = ["EGeneral:Too many requests"]  # not documented, but plain enough
            elif not 200 <= status < 300:
                raise RestError("%s: HTTP %d: %s" % (what, status, _snippet(body)))
            else:
                doc = self._json(body, what)
                if not isinstance(doc, dict) or not isinstance(doc.get("error", []), list):
                    raise RestError("%s: not a Kraken answer: %s" % (what, _snippet(body)))
                errors = [e for e in doc.get("error", [])
                          if not (isinstance(e, str) and e.startswith("W"))]
            if any(isinstance(e, str) and e.startswith("EGeneral:Too many requests")
                   for e in errors):
                refused += 1
                self._stats["throttled"] += 1
                if refused >= KRAKEN_MAX_REFUSED:
                    raise RestError("%s: \"Too many requests\" %d times in a row" %
                                    (what, refused))
                wait = min(KRAKEN_BACKOFF_S * 2 ** (refused - 1), KRAKEN_BACKOFF_CAP_S)
                self._say("%s: Too many requests, backing off %.0f s" % (pair, wait))
                self._wait(wait)
                continue
            if errors:
                if "EQuery:Unknown asset pair" in errors:
                    raise RestError("%s: unknown pair %r (EQuery:Unknown asset pair)" %
                                    (what, pair))
                raise RestError("%s: %s" % (what, ", ".join(str(e) for e in errors)))
            res = doc.get("result")
            if not isinstance(res, dict) or "last" not in res:
                raise RestError("%s: no result/last: %s" % (what, _snippet(body)))
            keys = [k for k in res if k != "last"]
            if len(keys) != 1 or not isinstance(res[keys[0]], list):
                raise RestError("%s: expected one pair in the result, got %s" % (what, keys))
            last = res["last"]
            if _is_int(last):
                last = str(last)
            if not isinstance(last, str) or (last and not last.isdigit()):
                raise RestError("%s: bad last cursor %r" % (what, last))
            return res[keys[0]], last

    def _kr_row(self, pair, r):
        what = "rest: kraken %s" % pair
        if not isinstance(r, list) or len(r) < 6:
            raise RestError("%s: a row is not [price, volume, time, side, type, misc, id]: %r" %
                            (what, r))
        if len(r) < 7:
            raise RestError("%s: a row has no trade_id: %r" % (what, r))
        tid = r[6]
        if not _is_int(tid) or tid < 0:
            raise RestError("%s: bad trade_id in %r" % (what, r))
        side, typ = _KR_SIDES.get(r[3]), _KR_TYPES.get(r[4])
        if side is None or typ is None:
            raise RestError("%s: bad side or type in %r" % (what, r))
        return {"venue": "kraken", "native_symbol": pair, "kind": "TRADE", "trade_id": tid,
                "price": _decimal_text(r[0], what + " price"),
                "quantity": _decimal_text(r[1], what + " volume"),
                "side": side, "order_type": typ,
                "trade_time": kraken_time_us(r[2], what + " time"), "source": "REST"}

    def _kr_trades(self, pair, start_us, end_us):
        # Trades strictly after since: from start_us on. A cursor of under 16 digits would be
        # read as seconds; windows starting in 1970's first months simply start at 0.
        since = str(start_us * 1000 - 1) if start_us >= 10 ** 13 else "0"
        state = {"last_id": None, "stop": False}
        while True:
            raw, last = self._kr_call(pair, since)
            rows = [self._kr_row(pair, r) for r in raw]
            self._stats["pages"] += 1
            self._stats["rows"] += len(rows)
            new, out = self._emit(rows, state, start_us, end_us)
            yield from out
            if state["stop"] or not rows or not last:
                return
            if new == 0 and int(last) <= int(since):
                return  # nothing new and the cursor stands still
            since = last


def _snippet(body):
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = " ".join(str(body).split())
    return body[:200] if body else "(empty body)"


def _bn_error_text(body):
    """Binance's {"code":-1121,"msg":"Invalid symbol."} as "code -1121: Invalid symbol."."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "code" in doc and "msg" in doc:
        return "code %s: %s" % (doc["code"], str(doc["msg"])[:200])
    return _snippet(body)
