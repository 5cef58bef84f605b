// Benchmark peer: the Directory Sync (SCIM 2.0 server) of @boxyhq/saml-jackson (Ory
// Polis), on its in-memory engine, behind a plain node:http server, so that the SCIM load
// generator can drive it exactly as it drives Roster.
//
//   bash bench/peer/install.sh                  # once: installs the pinned package
//   PORT=18099 node bench/peer/jackson.mjs      # ($ROSTER_NODE/bin/node if that exists)
//
// At start it creates one directory (tenant `acme`, product `bench`, type
// generic-scim-v2) and prints one line of JSON to stdout:
//   {"ready":true,"scim_base":"http://127.0.0.1:PORT/api/scim/v2.0/<directoryId>","token":"..."}
// Requests to SCIM_BASE/Users[/<id>] and SCIM_BASE/Groups[/<id>] go to the package's own
// handler (directorySyncController.requests.handle), which checks the bearer token;
// anything else is 404. Nothing reaches the network (no webhooks, no analytics) and
// nothing is written to disk. The package's logs go to stderr (JACKSON_DEBUG=1 for its
// info lines too). SIGTERM or SIGINT stops it.
//
// Environment: PORT (default 18099); ROSTER_JACKSON, the npm prefix the package was
// installed into (default ${XDG_CACHE_HOME:-$HOME/.cache}/roster-jackson).
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const port = Number(process.env.PORT || 18099);
const host = '127.0.0.1';
const prefix =
  process.env.ROSTER_JACKSON ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'roster-jackson');

// Before the package loads: it also reads these to turn its analytics off.
process.env.DO_NOT_TRACK = '1';
process.env.BOXYHQ_NO_ANALYTICS = '1';

const require = createRequire(path.join(prefix, 'package.json'));
let jackson;
try {
  jackson = require('@boxyhq/saml-jackson');
} catch (err) {
  console.error(`cannot load @boxyhq/saml-jackson from ${prefix}: run bash bench/peer/install.sh (${err.message})`);
  process.exit(1);
}

const debug = process.env.JACKSON_DEBUG === '1';
const logger = {
  info: debug ? (...a) => console.error(...a) : () => {},
  warn: (...a) => console.error(...a),
  error: (...a) => console.error(...a),
};

const scimPath = '/api/scim/v2.0';
const { directorySyncController } = await jackson.controllers({
  externalUrl: `http://${host}:${port}`,
  samlPath: '/api/oauth/saml',
  scimPath,
  db: { engine: 'mem' },
  noAnalytics: true,
  logger,
  // Directory Sync events go to this no-op instead of the internal callback, which would
  // look the directory up again and post to its webhook (none is configured anyway).
  dsync: { callback: async () => {} },
});

const { data: directory, error } = await directorySyncController.directories.create({
  name: 'bench',
  tenant: 'acme',
  product: 'bench',
  type: 'generic-scim-v2',
});
if (error) {
  console.error(`cannot create the directory: ${error.message}`);
  process.exit(1);
}
const base = directory.scim.path; // `${scimPath}/${directory.id}`
const token = directory.scim.secret;

const scimJson = 'application/scim+json';

function send(res, status, data) {
  if (status === 204 || data === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const body = JSON.stringify(data);
  res.writeHead(status, { 'Content-Type': scimJson, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function scimError(res, status, detail, scimType) {
  const data = { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: String(status), detail };
  if (scimType) data.scimType = scimType;
  send(res, status, data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function bearer(req) {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1] : null;
}

async function handle(req, res) {
  const url = new URL(req.url, `http://${host}:${port}`);
  const raw = await readBody(req);
  if (url.pathname !== base && !url.pathname.startsWith(base + '/')) {
    return scimError(res, 404, 'Not found');
  }
  // SCIM_BASE/<Users|Groups>[/<id>]
  const parts = url.pathname.slice(base.length + 1).split('/').map(decodeURIComponent);
  const [resourceType, resourceId, ...rest] = parts;
  if ((resourceType !== 'Users' && resourceType !== 'Groups') || rest.length > 0 || resourceId === '') {
    return scimError(res, 404, 'Not found');
  }
  let body;
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return scimError(res, 400, 'Request body is not valid JSON', 'invalidSyntax');
    }
  }
  const q = url.searchParams;
  const request = {
    method: req.method,
    body,
    directoryId: directory.id,
    resourceType,
    resourceId,
    apiSecret: bearer(req),
    query: {
      count: q.has('count') ? parseInt(q.get('count'), 10) : undefined,
      startIndex: q.has('startIndex') ? parseInt(q.get('startIndex'), 10) : undefined,
      filter: q.get('filter') ?? undefined,
    },
  };
  const { status, data } = await directorySyncController.requests.handle(request);
  send(res, status, data);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    // The package throws on input it does not parse (a filter without `eq`, a PATCH
    // without Operations, ...): answer 500 with its message, as its own app would.
    logger.error(`${req.method} ${req.url}: ${err && err.stack ? err.stack : err}`);
    if (!res.headersSent) scimError(res, 500, String((err && err.message) || err));
    else res.destroy();
  });
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.on('error', (err) => {
  console.error(`cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, host, () => {
  process.stdout.write(
    JSON.stringify({ ready: true, scim_base: `http://${host}:${port}${base}`, token }) + '\n',
  );
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
