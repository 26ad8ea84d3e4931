#!/usr/bin/env node
// run_ccxt.js - ccxt (unmodified, ccxt.pro watchTrades) as a benchmark peer of feedhandler.
//
// Binance spot and Kraken trades from ccxt.pro's watchTrades, one loop per symbol, every trade
// produced to Kafka as a JSON value with kafkajs (acks=all, idempotent). Everything that
// points ccxt at feedsim is in the exchange constructor's config below (urls, options, has):
// ccxt's own source is not touched. See README.md.
//
//   NODE_PATH=$(bench/peers/ccxt/install.sh)/node_modules node bench/peers/ccxt/run_ccxt.js \
//       --binance-ws ws://127.0.0.1:P/ws --binance-rest http://127.0.0.1:P \
//       --kraken-ws ws://127.0.0.1:Q/v2 --kraken-rest http://127.0.0.1:Q \
//       --symbols BTC-USDT,ETH-USD --bootstrap 127.0.0.1:9092 --topic trades-ccxt --duration 20
//
// For TLS give wss:// and https:// URLs and start node with NODE_EXTRA_CA_CERTS=<feedsim's CA>.
//
// stdout: one JSON line when every watch loop has subscribed ({"ready":true,...}) and one at
// exit with the counters ({"final":true,...}). Logs on stderr. Exit 0 after SIGTERM/SIGINT or
// --duration, once every send is acknowledged (or failed: counted in "send_errors").
'use strict';

const ccxt = require('ccxt');
const { Kafka, Partitioners, CompressionTypes, logLevel } = require('kafkajs');

function usage(msg) {
    if (msg) console.error('run_ccxt: ' + msg);
    console.error('usage: run_ccxt.js [--binance-ws URL --binance-rest URL] [--kraken-ws URL --kraken-rest URL]\n' +
        '  --symbols BTC-USDT,ETH-USD --bootstrap HOST:PORT --topic T [--duration SEC]\n' +
        '  [--send await|chain] [--binance-stream-index query|path] [--client-id ID] [--no-idempotent]');
    process.exit(2);
}

function parseArgs(argv) {
    const o = { streamIndex: 'path', symbols: 'BTC-USDT,ETH-USD,DOGE-USD', topic: 'trades-ccxt', duration: 0,
                send: 'await', clientId: 'ccxt-peer', idempotent: true };
    const names = { '--binance-ws': 'binanceWs', '--binance-rest': 'binanceRest',
                    '--kraken-ws': 'krakenWs', '--kraken-rest': 'krakenRest',
                    '--symbols': 'symbols', '--bootstrap': 'bootstrap', '--topic': 'topic',
                    '--duration': 'duration', '--send': 'send', '--client-id': 'clientId',
                    '--binance-stream-index': 'streamIndex' };
    for (let i = 2; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--no-idempotent') { o.idempotent = false; continue; }
            if (a === '-h' || a === '--help') usage();
        const k = names[a];
        if (k === undefined) usage('unknown option ' + a);
        if (i + 1 >= argv.length) usage(a + ' needs a value');
        o[k] = argv[++i];
    }
    o.duration = Number(o.duration);
    if (!(o.duration >= 0)) usage('bad --duration');
    if (!o.bootstrap) usage('--bootstrap is required');
    if (!o.binanceWs && !o.krakenWs) usage('give --binance-ws and/or --kraken-ws');
    if ((o.binanceWs && !o.binanceRest) || (o.krakenWs && !o.krakenRest)) usage('each venue needs its REST URL too');
    if (o.streamIndex !== 'query' && o.streamIndex !== 'path') usage('--binance-stream-index is query or path');
    if (o.send !== 'await' && o.send !== 'chain') usage('--send is await or chain');
    // canonical BASE-QUOTE -> ccxt's unified BASE/QUOTE
    o.unified = o.symbols.split(',').filter((s) => s).map((s) => s.trim().toUpperCase().replace('-', '/'));
    return o;
}

const opts = parseArgs(process.argv);
const log = (...a) => console.error(new Date().toISOString(), 'run_ccxt:', ...a);
const stripSlash = (u) => u.replace(/\/+$/, '');

// ---- the exchanges, pointed at feedsim through their constructor config only ----

function binanceWsBase() {
    // ccxt connects to urls.api.ws.spot + '/' + <stream index> (wss://stream.binance.com:9443/ws/0,
    // /ws/1, ...: one connection per watchTrades symbol here) and then sends SUBSCRIBE. 'path'
    // (the default) uses the URL as given, as against Binance; feedsim accepts /ws/0 like
    // Binance does. 'query' ends the base in '?' so that ccxt's '/0' lands in the query string
    // (ws://127.0.0.1:P/ws?/0), for feedsim builds older than that.
    const u = stripSlash(opts.binanceWs);
    if (opts.streamIndex === 'path' || u.endsWith('?')) return u;
    return u + (u.includes('?') ? '&' : '?');
}

function makeBinance() {
    const rest = stripSlash(opts.binanceRest);
    return new ccxt.pro.binance({
        urls: {
            api: {
                // loadMarkets -> GET <public>/exchangeInfo; watchTrades connects to <ws.spot>/<n>
                // (ccxt appends a stream index, e.g. /ws/0) and sends SUBSCRIBE <sym>@trade
                public: rest + '/api/v3',
                private: rest + '/api/v3',
                v1: rest + '/api/v1',
                ws: { spot: binanceWsBase() },
            },
        },
        options: {
            // only spot markets: the default also loads fapi/dapi exchangeInfo (linear, inverse)
            fetchMarkets: { types: ['spot'] },
            // fetchCurrencies is a private sapi call; without keys ccxt skips it anyway
            fetchCurrencies: false,
        },
    });
}

function makeKraken() {
    const rest = stripSlash(opts.krakenRest);
    return new ccxt.pro.kraken({
        urls: {
            api: {
                // loadMarkets -> GET <public>/0/public/AssetPairs
                public: rest,
                private: rest,
                // watchTrades speaks WebSocket v2 on ws.publicV2 only
                ws: { publicV2: stripSlash(opts.krakenWs) },
            },
        },
        // fetchCurrencies would GET /0/public/Assets, which feedsim does not serve; ccxt then
        // derives the currencies from the markets (precision from AssetPairs)
        has: { fetchCurrencies: false },
    });
}

// ---- Kafka ----

const kafka = new Kafka({
    clientId: opts.clientId,
    brokers: opts.bootstrap.split(','),
    logLevel: logLevel.WARN,
});
const producer = kafka.producer({
    idempotent: opts.idempotent,
    maxInFlightRequests: opts.idempotent ? 1 : 5, // kafkajs requires 1 for idempotence
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner, // Java-compatible murmur2 on the key
});

const stats = { received: 0, produced: 0, acked: 0, send_errors: 0, sends: 0, watch_errors: 0,
                id_gaps: 0, ids_skipped: 0, per_symbol: {} };
let stopping = false;
const pending = new Set();

function record(exId, venueTag, t, recvMs) {
    // ccxt's unified trade, minus `info` (the raw message) and `fee` (none on public trades),
    // plus where it came from and when the harness got it
    return {
        exchange: exId,             // 'binance', 'kraken'
        venue: venueTag,            // the feedsim protocol: 'binance', 'kraken_v2'
        symbol: t.symbol,           // unified 'BTC/USDT'
        id: t.id,                   // string (ccxt's)
        // the same id as a JSON integer: feedcmp's map check (check_json) wants an integer
        // for trade_id and refuses ccxt's digit string, although its to_int would accept it
        tradeId: /^[0-9]+$/.test(t.id) && Number.isSafeInteger(Number(t.id)) ? Number(t.id) : null,
        timestamp: t.timestamp,     // ms
        datetime: t.datetime,
        side: t.side,               // taker side 'buy' | 'sell'
        price: t.price,             // float
        amount: t.amount,           // float
        cost: t.cost,
        takerOrMaker: t.takerOrMaker,
        type: t.type,
        received: recvMs,           // Date.now() when watchTrades resolved (ms)
    };
}

async function watchLoop(ex, venueTag, symbol, onSubscribed) {
    const key = ex.id + ':' + symbol;
    const st = (stats.per_symbol[key] = { received: 0, produced: 0, last_id: null });
    let chain = Promise.resolve();
    let subscribed = false;
    while (!stopping) {
        let trades;
        try {
            trades = await ex.watchTrades(symbol);
        } catch (e) {
            if (stopping) break;
            stats.watch_errors++;
            log(key, 'watchTrades error:', e.constructor.name, e.message);
            await new Promise((r) => setTimeout(r, 1000)); // ccxt reconnects on the next call
            continue;
        }
        const recv = Date.now();
        // ccxt does not expose the subscription ack: the first trades count as subscribed
        if (!subscribed) { subscribed = true; onSubscribed(); }
        if (trades.length === 0) continue;
        stats.received += trades.length;
        st.received += trades.length;
        // ids are consecutive per symbol on both venues (feedsim), so a jump means trades
        // that reached ccxt but not this loop (its per-symbol cache of `tradesLimit` (1000)
        // overflowed between two calls) or never reached ccxt
        for (const t of trades) {
            const id = Number(t.id);
            if (st.last_id !== null && id !== st.last_id + 1 && id > st.last_id) {
                stats.id_gaps++;
                stats.ids_skipped += id - st.last_id - 1;
            }
            if (st.last_id === null || id > st.last_id) st.last_id = id;
        }
        const messages = trades.map((t) => ({ key, value: JSON.stringify(record(ex.id, venueTag, t, recv)) }));
        stats.produced += messages.length;
        st.produced += messages.length;
        const send = () => producer.send({ topic: opts.topic, acks: -1, messages })
            .then(() => { stats.acked += messages.length; stats.sends++; },
                  (e) => { stats.send_errors += messages.length; log(key, 'send failed:', e.message); });
        if (opts.send === 'await') {
            // what ccxt's examples do: await each step in the loop
            await send();
        } else {
            // chain: the loop goes back to watchTrades at once; sends of one symbol stay in order
            chain = chain.then(send);
            pending.add(chain);
            const c = chain;
            c.then(() => pending.delete(c));
        }
    }
    await chain;
}

async function main() {
    const t0 = Date.now();
    await producer.connect();
    const exchanges = [];
    if (opts.binanceWs) exchanges.push([makeBinance(), 'binance']);
    if (opts.krakenWs) exchanges.push([makeKraken(), 'kraken_v2']);
    const loops = [];
    let total = 0;
    let subscribed = 0;
    for (const [ex, tag] of exchanges) {
        // ccxt refuses plain ws:// URLs in Node ("to use proxy with non-ssl ws:// urls, at
        // first run `await exchange.loadHttpProxyAgent()`") until this has created the
        // node:http agent it hands to the ws client; no proxy is involved
        await ex.loadHttpProxyAgent();
        await ex.loadMarkets();
        const symbols = opts.unified.filter((s) => ex.markets[s] !== undefined);
        const skipped = opts.unified.filter((s) => ex.markets[s] === undefined);
        if (skipped.length) log(ex.id, 'not listed, skipped:', skipped.join(','));
        log(ex.id, 'markets loaded:', Object.keys(ex.markets).length, 'watching', symbols.join(','));
        for (const s of symbols) {
            total++;
            loops.push(watchLoop(ex, tag, s, () => {
                if (++subscribed === total) {
                    console.log(JSON.stringify({ ready: true, symbols: total, startup_ms: Date.now() - t0,
                                                 ccxt: ccxt.version, pid: process.pid }));
                }
            }));
        }
    }
    const stop = async (why) => {
        if (stopping) return;
        stopping = true;
        log('stopping:', why);
        for (const [ex] of exchanges) {
            try { await ex.close(); } catch (e) { log(ex.id, 'close:', e.message); }
        }
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    if (opts.duration > 0) setTimeout(() => stop('duration'), opts.duration * 1000).unref();
    await Promise.all(loops);
    await Promise.all([...pending]);
    await producer.disconnect();
    const cpu = process.cpuUsage();
    console.log(JSON.stringify(Object.assign({ final: true }, stats,
        { cpu_s: (cpu.user + cpu.system) / 1e6 })));
}

main().then(() => process.exit(0), (e) => {
    log('fatal:', e && e.constructor ? e.constructor.name : '', e && e.message, e && e.stack);
    process.exit(1);
});
