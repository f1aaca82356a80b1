// Test glue for server.mjs: koa middleware in front of oidc-provider's own routes.
//
// POST /__fault?status=503&count=2&retry_after=7[&path=/token]
//   The next `count` POST requests to `path` (default /token) answer `status` (with Retry-After
//   when given) without reaching oidc-provider. A 429 answers {"error":"rate_limited"}, a 4xx
//   {"error":"injected_failure"}, anything else the text "injected failure". count=0 clears it.
//   Answers 204.
// GET /__stats
//   JSON counters since start (the Go mirror is oidctest.Stats):
//   token_requests             every POST /token
//   refresh_requests[_by_client] grant_type=refresh_token requests received (faulted ones too),
//                              by the client id the request claims
//   refresh_successes[_by_client] refresh grants answered 200
//   code_exchanges             authorization_code grants answered 200
//   invalid_grant, invalid_client  /token answers with that error (strict-mode rejections included)
//   reuse_detections           replays of a consumed refresh token (each revoked its grant)
//   grace_uses                 refreshes accepted with a rotated token inside ROTATION_GRACE
//   revocations                POST /token/revocation answered 200
//   faults_injected            requests answered by /__fault
//
// strict: answer 401 invalid_client when a client authenticates at /token with the style
// it was not registered with (registered: client_id -> token_endpoint_auth_method).

function newStats() {
  return {
    token_requests: 0,
    refresh_requests: 0,
    refresh_requests_by_client: {},
    refresh_successes: 0,
    refresh_successes_by_client: {},
    code_exchanges: 0,
    invalid_grant: 0,
    invalid_client: 0,
    reuse_detections: 0,
    grace_uses: 0,
    revocations: 0,
    faults_injected: 0,
  };
}

function countFor(byClient, id) {
  const key = id || '';
  byClient[key] = (byClient[key] || 0) + 1;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// clientAuth returns the client id a token request claims and the auth style it used.
function clientAuth(ctx, form) {
  const auth = ctx.get('authorization');
  if (/^basic /i.test(auth)) {
    const pair = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const raw = pair.slice(0, Math.max(pair.indexOf(':'), 0));
    let id = raw;
    try {
      id = decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch {
      // keep the raw id; oidc-provider rejects it anyway
    }
    return { id, style: 'client_secret_basic' };
  }
  return { id: form.get('client_id') || '', style: form.has('client_secret') ? 'client_secret_post' : 'none' };
}

export function glue(provider, { strict, registered, refreshTokenState }) {
  const stats = newStats();
  let fault = { count: 0 };

  provider.on('grant.error', (ctx, err) => {
    if (err?.error_detail === 'refresh token already used') stats.reuse_detections += 1;
  });

  const injectFault = (ctx) => {
    fault.count -= 1;
    stats.faults_injected += 1;
    if (fault.retryAfter) ctx.set('Retry-After', fault.retryAfter);
    ctx.status = fault.status;
    if (fault.status === 429) ctx.body = { error: 'rate_limited' };
    else if (fault.status < 500) ctx.body = { error: 'injected_failure' };
    else ctx.body = 'injected failure';
  };

  const token = async (ctx, next) => {
    const raw = await readBody(ctx.req);
    ctx.req.body = raw; // oidc-provider parses this instead of the drained stream (warns once)
    const form = new URLSearchParams(raw);
    const grant = form.get('grant_type');
    const { id, style } = clientAuth(ctx, form);
    stats.token_requests += 1;
    if (grant === 'refresh_token') {
      stats.refresh_requests += 1;
      countFor(stats.refresh_requests_by_client, id);
    }
    if (fault.count > 0 && fault.path === '/token') {
      injectFault(ctx);
      return;
    }
    if (strict && registered[id] && registered[id] !== style) {
      stats.invalid_client += 1;
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: `client must use ${registered[id]}` };
      return;
    }
    const before = grant === 'refresh_token' ? refreshTokenState(form.get('refresh_token')) : undefined;
    await next();
    const error = ctx.status >= 400 && ctx.body && typeof ctx.body === 'object' ? ctx.body.error : undefined;
    if (error === 'invalid_grant') stats.invalid_grant += 1;
    if (error === 'invalid_client') stats.invalid_client += 1;
    if (ctx.status !== 200) return;
    if (grant === 'authorization_code') stats.code_exchanges += 1;
    if (grant === 'refresh_token') {
      stats.refresh_successes += 1;
      countFor(stats.refresh_successes_by_client, id);
      if (before === 'grace') stats.grace_uses += 1;
    }
  };

  provider.use(async (ctx, next) => {
    if (ctx.path === '/__stats' && ctx.method === 'GET') {
      ctx.body = stats;
      return;
    }
    if (ctx.path === '/__fault' && ctx.method === 'POST') {
      const q = ctx.query;
      fault = {
        status: Number(q.status || 503),
        count: Number(q.count ?? 1),
        retryAfter: q.retry_after ? String(q.retry_after) : '',
        path: q.path || '/token',
      };
      ctx.status = 204;
      return;
    }
    if (ctx.method !== 'POST') {
      await next();
      return;
    }
    if (ctx.path === '/token') {
      await token(ctx, next);
      return;
    }
    if (fault.count > 0 && ctx.path === fault.path) {
      injectFault(ctx);
      return;
    }
    await next();
    if (ctx.path === '/token/revocation' && ctx.status === 200) stats.revocations += 1;
  });
}
