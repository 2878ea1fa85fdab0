'use strict';
/**
 * marvel-collection: the Node.js half of kuberya's polyglot demo.
 *
 * Serves a collection of Marvel characters from the bundled data/characters.json and sells them
 * through the payment service, found by its Kubernetes Service name: service discovery is the
 * point of the buy endpoint. Node 18+ and the standard library only (no npm install).
 *
 *   GET  /                      what this is: service, version, pod, payment URL
 *   GET  /characters            the collection (?team=avengers filters by team)
 *   GET  /characters/:id        one character, by number or slug (/characters/1, /characters/iron-man)
 *   POST /characters/:id/buy    pay through payment; body optional: {"card": "...", "currency": "USD"}
 *   GET  /healthz, /readyz      liveness; readiness (503 once shutdown has begun)
 *
 * Environment: PORT (3000; 0 picks a free port, logged), HOST (all interfaces), VERSION (v1),
 * PAYMENT_URL (full URL of payment's /pay), else PAYMENT_SERVICE_HOST/PAYMENT_SERVICE_PORT (set by
 * Kubernetes in pods created after the payment Service), else http://payment:8080/pay (cluster
 * DNS). PRICE (9.99) and CURRENCY (USD) of one character, PAYMENT_TIMEOUT_MS (3000),
 * GRACE_PERIOD seconds (25) for in-flight requests after SIGTERM.
 */

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');

const DEFAULT_CARD = '4242424242424242'; // the processors' "always approved" test card
const MAX_BODY_BYTES = 64 * 1024;

function loadSettings(env) {
  const number = (name, fallback) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  return {
    port: number('PORT', 3000),
    host: env.HOST || undefined, // undefined: every interface, IPv4 and IPv6
    version: env.VERSION || 'v1',
    pod: env.HOSTNAME || os.hostname(),
    paymentUrl: paymentUrl(env),
    price: number('PRICE', 9.99),
    currency: env.CURRENCY || 'USD',
    paymentTimeoutMs: number('PAYMENT_TIMEOUT_MS', 3000),
    gracePeriodMs: number('GRACE_PERIOD', 25) * 1000,
  };
}

/** Where payment's /pay is: an explicit URL, else Kubernetes' service variables, else its DNS name. */
function paymentUrl(env) {
  if (env.PAYMENT_URL) return env.PAYMENT_URL;
  if (env.PAYMENT_SERVICE_HOST) {
    const host = env.PAYMENT_SERVICE_HOST.includes(':') ? `[${env.PAYMENT_SERVICE_HOST}]` : env.PAYMENT_SERVICE_HOST;
    return `http://${host}:${env.PAYMENT_SERVICE_PORT || 8080}/pay`;
  }
  return 'http://payment:8080/pay';
}

function loadCharacters(file) {
  const characters = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!Array.isArray(characters) || characters.some((c) => !Number.isInteger(c.id) || !c.slug || !c.alias)) {
    throw new Error(`${file} must be a JSON array of characters with id, slug and alias`);
  }
  return characters;
}

function log(message) {
  console.log(`${new Date().toISOString()} marvel-collection: ${message}`);
}

class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

/** POST a JSON body to the payment service; resolves {status, body} or rejects when unreachable. */
function callPayment(settings, payload) {
  return new Promise((resolve, reject) => {
    let url;
    try {
      url = new URL(settings.paymentUrl);
    } catch {
      reject(new Error(`PAYMENT_URL ${JSON.stringify(settings.paymentUrl)} is not a URL`));
      return;
    }
    const body = JSON.stringify(payload);
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        // A fresh connection per payment (Node 19+ keeps them alive by default): the Service then
        // spreads purchases over every payment pod, and none is pinned to a pod being rolled out.
        agent: false,
        timeout: settings.paymentTimeoutMs,
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: response.statusCode, body: parsed, text });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => {
      const error = new Error(`no answer within ${settings.paymentTimeoutMs} ms`);
      error.code = 'ETIMEDOUT';
      request.destroy(error);
    });
    request.on('error', reject);
    request.end(body);
  });
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function createApp(settings, characters) {
  const state = { shuttingDown: false };
  const byId = new Map(characters.map((c) => [String(c.id), c]));
  const bySlug = new Map(characters.map((c) => [c.slug, c]));

  function find(id) {
    const character = byId.get(id) || bySlug.get(id.toLowerCase());
    if (!character) throw new HttpError(404, `no character ${JSON.stringify(id)}; see GET /characters`);
    return character;
  }

  async function buy(id, request) {
    const character = find(id);
    const text = await readBody(request);
    let order = {};
    if (text.trim()) {
      try {
        order = JSON.parse(text);
      } catch (error) {
        throw new HttpError(400, `request body is not valid JSON: ${error.message}`);
      }
      if (order === null || typeof order !== 'object' || Array.isArray(order)) {
        throw new HttpError(400, 'request body must be a JSON object like {"card": "4242 4242 4242 4242"}');
      }
    }
    const payment = {
      amount: settings.price,
      currency: order.currency || settings.currency,
      card: order.card || DEFAULT_CARD,
    };
    let answer;
    try {
      answer = await callPayment(settings, payment);
    } catch (error) {
      throw new HttpError(502, `payment service unreachable at ${settings.paymentUrl}: ${error.code || error.message}`, {
        hint: 'is the payment Deployment running and its Service named "payment"? (kubectl get svc,endpoints payment)',
      });
    }
    if (answer.status === 200 && answer.body) {
      return { status: 200, payload: { character, receipt: answer.body } };
    }
    if (answer.status >= 400 && answer.status < 500 && answer.body) {
      // The payment was refused (declined card, invalid currency…): the caller's problem, passed on.
      const reason = answer.status === 402 ? 'payment declined' : 'payment rejected the order';
      return { status: answer.status, payload: { error: reason, character, payment: answer.body } };
    }
    throw new HttpError(502, `payment service at ${settings.paymentUrl} answered ${answer.status}`, {
      payment: answer.body === undefined ? answer.text.slice(0, 500) : answer.body,
    });
  }

  async function route(method, pathname, query, request) {
    const allow = (...methods) => {
      const wanted = method === 'HEAD' ? 'GET' : method;
      if (!methods.includes(wanted)) {
        throw new HttpError(405, `${method} is not allowed on ${pathname}; use ${methods.join(', ')}`, {
          allow: methods.join(', '),
        });
      }
    };
    if (pathname === '/') {
      allow('GET');
      return {
        status: 200,
        payload: {
          service: 'marvel-collection',
          version: settings.version,
          pod: settings.pod,
          payment: settings.paymentUrl,
          characters: characters.length,
        },
      };
    }
    if (pathname === '/healthz') {
      allow('GET');
      return { status: 200, payload: { healthy: true } };
    }
    if (pathname === '/readyz') {
      allow('GET');
      return state.shuttingDown
        ? { status: 503, payload: { ready: false, reason: 'shutting down' } }
        : { status: 200, payload: { ready: true } };
    }
    if (pathname === '/characters') {
      allow('GET');
      const team = query.get('team');
      const selected = team ? characters.filter((c) => c.team.toLowerCase() === team.toLowerCase()) : characters;
      return { status: 200, payload: { count: selected.length, characters: selected } };
    }
    const match = /^\/characters\/([^/]+)(\/buy)?$/.exec(pathname);
    if (match) {
      const id = decodeURIComponent(match[1]);
      if (match[2]) {
        allow('POST');
        return buy(id, request);
      }
      allow('GET');
      return { status: 200, payload: find(id) };
    }
    throw new HttpError(404, `no route for ${pathname}`);
  }

  async function handle(request, response) {
    let status;
    let payload;
    let headers = {};
    try {
      const url = new URL(request.url, 'http://localhost');
      ({ status, payload } = await route(request.method, url.pathname, url.searchParams, request));
    } catch (error) {
      if (error instanceof HttpError) {
        status = error.status;
        const { allow, ...extra } = error.extra;
        if (allow) headers = { allow };
        payload = { error: error.message, ...extra };
      } else {
        log(`error answering ${request.method} ${request.url}: ${error.stack || error}`);
        status = 500;
        payload = { error: 'internal error' };
      }
    }
    const body = `${JSON.stringify({ ...payload, ...(status < 400 ? { servedBy: served() } : {}) })}\n`;
    response.writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-version': settings.version,
      'x-pod': settings.pod,
      // While draining, tell keep-alive clients to reconnect (elsewhere) after this response.
      ...(state.shuttingDown ? { connection: 'close' } : {}),
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  }

  function served() {
    return { pod: settings.pod, version: settings.version };
  }

  return { state, handle };
}

function main() {
  const settings = loadSettings(process.env);
  const characters = loadCharacters(path.join(__dirname, 'data', 'characters.json'));
  const app = createApp(settings, characters);
  const server = http.createServer((request, response) => {
    app.handle(request, response);
  });

  function shutdown(signal) {
    if (app.state.shuttingDown) {
      log(`second ${signal}: exiting without waiting for in-flight requests`);
      process.exit(0);
    }
    app.state.shuttingDown = true;
    log(`${signal} received: shutting down gracefully`);
    // Stop accepting (new connections are refused) and close idle keep-alive connections; the
    // callback runs once the in-flight requests have been answered.
    server.close(() => {
      log('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => {
      log(`grace period of ${settings.gracePeriodMs / 1000}s over: closing the remaining connections`);
      server.closeAllConnections();
      process.exit(0);
    }, settings.gracePeriodMs).unref();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  server.listen(settings.port, settings.host, () => {
    const { address, port } = server.address();
    const host = address.includes(':') ? `[${address}]` : address;
    log(`listening on http://${host}:${port} (pid ${process.pid}, ${characters.length} characters, payment at ${settings.paymentUrl})`);
  });
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    console.error(`marvel-collection: ${error.message}`);
    process.exit(1);
  }
}

module.exports = { createApp, loadSettings, paymentUrl, loadCharacters };
