// A web app that signs people in through Roster's OpenID Provider and shows who they
// are: their organizations, roles and teams. Only `openid-client` and Node's own
// modules. Configuration from the environment:
//   ROSTER_ISSUER   Roster's public URL, e.g. https://roster.example.com
//   CLIENT_ID       the app's client_id        (POST /api/v1/apps)
//   CLIENT_SECRET   the app's client_secret
//   APP_URL         where this app is reached, e.g. http://127.0.0.1:3000
//   PORT            the port to listen on (default: APP_URL's)

import http from 'node:http';
import crypto from 'node:crypto';
import * as client from 'openid-client';

const issuer = new URL(process.env.ROSTER_ISSUER);
const appUrl = new URL(process.env.APP_URL ?? 'http://127.0.0.1:3000');
const redirectUri = new URL('/callback', appUrl).href;

const config = await client.discovery(
  issuer,
  process.env.CLIENT_ID,
  process.env.CLIENT_SECRET,
  client.ClientSecretBasic(process.env.CLIENT_SECRET),
  // Plain http is for trying it on one machine; use https in production.
  issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined,
);

// Sessions in memory, by a random cookie: enough for an example.
const sessions = new Map();
const sessionOf = (req) => {
  const id = /(?:^|;\s*)app_session=([\w-]+)/.exec(req.headers.cookie ?? '')?.[1];
  return id && sessions.has(id) ? [id, sessions.get(id)] : [null, null];
};
const newSession = (res, data) => {
  const id = crypto.randomUUID();
  sessions.set(id, data);
  res.setHeader('Set-Cookie', `app_session=${id}; HttpOnly; SameSite=Lax; Path=/`);
  return id;
};
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (res, status, body) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><meta charset="utf-8"><title>Example app</title><body>${body}</body></html>`);
};

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, appUrl);
    const [sid, session] = sessionOf(req);
    try {
      if (url.pathname === '/login') {
        // PKCE, state and nonce, kept until Roster sends the person back.
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const nonce = client.randomNonce();
        newSession(res, { verifier, state, nonce });
        const to = client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'openid email profile',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
          ...(url.searchParams.get('email') ? { login_hint: url.searchParams.get('email') } : {}),
        });
        res.writeHead(302, { Location: to.href }).end();
      } else if (url.pathname === '/callback') {
        if (!session?.verifier) return page(res, 400, '<p>Start at <a href="/login">sign in</a>.</p>');
        const tokens = await client.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: session.verifier,
          expectedState: session.state,
          expectedNonce: session.nonce,
        });
        // Signed in: a new session id, so that one set before the sign-in cannot be
        // planted in someone's browser and ride on their sign-in.
        sessions.delete(sid);
        newSession(res, { claims: tokens.claims(), idToken: tokens.id_token });
        res.writeHead(302, { Location: '/' }).end();
      } else if (url.pathname === '/logout' && req.method === 'POST') {
        sessions.delete(sid);
        const to = session?.idToken
          ? client.buildEndSessionUrl(config, { id_token_hint: session.idToken, post_logout_redirect_uri: appUrl.href })
          : appUrl;
        res.writeHead(302, { Location: to.href, 'Set-Cookie': 'app_session=; Max-Age=0; Path=/' }).end();
      } else if (url.pathname === '/') {
        const c = session?.claims;
        if (!c) return page(res, 200, '<h1>Example app</h1><p><a href="/login">Sign in with your company account</a></p>');
        const orgs = (c.organizations ?? [])
          .map((o) => `<li>${escape(o.name)} (${escape(o.role)}): ${o.teams.map(escape).join(', ') || 'no teams'}</li>`)
          .join('');
        page(res, 200, `<h1>Hello, ${escape(c.name)}</h1><p id="email">${escape(c.email)}</p>` +
          `<h2>Organizations</h2><ul id="organizations">${orgs}</ul>` +
          '<form method="post" action="/logout"><button type="submit">Sign out</button></form>');
      } else {
        page(res, 404, '<p>Not found.</p>');
      }
    } catch (e) {
      page(res, 500, `<p>Sign-in failed: ${escape(e.message)}</p>`);
    }
  })
  .listen(Number(process.env.PORT ?? appUrl.port ?? 3000), appUrl.hostname, () => {
    console.log(JSON.stringify({ listening: appUrl.href }));
  });
