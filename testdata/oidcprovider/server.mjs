// Loopback OAuth2 authorization server for tokenkeeper's tests: panva's oidc-provider (npm),
// driven from Go by internal/oidctest. Install: npm ci --prefix testdata/oidcprovider
//
// Run: node server.mjs. It listens on 127.0.0.1 only and prints the issuer
// (http://127.0.0.1:PORT) as the first line of stdout. Warnings go to stderr; Node 20 adds
// "Unsupported runtime. Use Node.js v22.x LTS", and everything below works on it.
//
// Environment (all optional):
//   PORT               port to listen on; unset or 0: a free port
//   REDIRECT_URIS      comma-separated redirect URIs registered for every client
//                      (default http://127.0.0.1:8080/v1/oauth/callback)
//   LOOPBACK_ANY_PORT  1: clients are "native" (RFC 8252 §7.3), so a registered
//                      http://127.0.0.1/... redirect URI matches on any port
//   AT_TTL, RT_TTL     access / refresh token lifetime in seconds (default 300 / 86400)
//   ROTATION_GRACE     seconds a rotated refresh token stays usable (default 0: none)
//   STRICT_CLIENT_AUTH 1: answer 401 invalid_client to the client auth style a client
//                      was not registered with (oidc-provider accepts both by default)
//   EXIT_WITH_STDIN    1: exit when stdin reaches EOF (the parent process is gone)
//
// Clients (client_id / secret / token endpoint auth):
//   rotating-basic / rotating-basic-secret / client_secret_basic
//   rotating-post  / rotating-post-secret  / client_secret_post
//   static-basic   / static-basic-secret   / client_secret_basic
//   static-post    / static-post-secret    / client_secret_post
// rotating-* get a new refresh token on every refresh; replaying a consumed one (after
// ROTATION_GRACE) revokes the whole grant. static-* keep their refresh token.
// PKCE (S256) is required; plain scopes ("read write") work through resourceIndicators.
//
// Test endpoints (see glue.mjs): POST /__fault, GET /__stats.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

import { memoryAdapter } from './adapter.mjs';
import { glue } from './glue.mjs';

function seconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name} must be a whole number of seconds, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const atTTL = seconds('AT_TTL', 300);
const rtTTL = seconds('RT_TTL', 86400);
const graceSeconds = seconds('ROTATION_GRACE', 0);
const strict = process.env.STRICT_CLIENT_AUTH === '1';
const native = process.env.LOOPBACK_ANY_PORT === '1';
const redirectURIs = (process.env.REDIRECT_URIS || 'http://127.0.0.1:8080/v1/oauth/callback')
  .split(',').map((s) => s.trim()).filter(Boolean);

const client = (id, method) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  token_endpoint_auth_method: method,
  application_type: native ? 'native' : 'web',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: redirectURIs,
});
const clients = [
  client('rotating-basic', 'client_secret_basic'),
  client('rotating-post', 'client_secret_post'),
  client('static-basic', 'client_secret_basic'),
  client('static-post', 'client_secret_post'),
];

function newProvider(issuer) {
  const adapter = memoryAdapter({ graceSeconds });
  const provider = new Provider(issuer, {
    clients,
    adapter: adapter.factory,
    // PKCE (S256 only) on every authorization request, confidential clients included.
    pkce: { required: () => true },
    // A refresh token for every code grant (no offline_access + prompt=consent needed).
    issueRefreshToken: async (ctx, c) => c.grantTypeAllowed('refresh_token'),
    // rotating-*: a new refresh token on every use; replaying a consumed one destroys it and
    // revokes the whole grant -> invalid_grant from then on. static-*: the same one comes back.
    rotateRefreshToken: (ctx) => ctx.oidc.client.clientId.startsWith('rotating-'),
    ttl: { AccessToken: atTTL, RefreshToken: rtTTL },
    features: {
      devInteractions: { enabled: true }, // built-in login + consent forms; any login is accepted
      revocation: { enabled: true }, // RFC 7009 at /token/revocation
      introspection: { enabled: true }, // RFC 7662 at /token/introspection
      // Plain OAuth2 scopes ("read write", no openid), like GitHub or Spotify; openid works too.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:tokenkeeper:test-api',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'read write', accessTokenFormat: 'opaque', accessTokenTTL: atTTL }),
      },
    },
    cookies: { keys: ['test-only-cookie-key'] },
  });
  glue(provider, {
    strict,
    registered: Object.fromEntries(clients.map((c) => [c.client_id, c.token_endpoint_auth_method])),
    refreshTokenState: adapter.state,
  });
  return provider;
}

const server = createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = newProvider(issuer);
  server.on('request', provider.callback());
  process.stdout.write(`${issuer}\n`);
});
// EXIT_WITH_STDIN=1: exit when stdin closes, so a crashed parent leaves no server behind.
if (process.env.EXIT_WITH_STDIN === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
