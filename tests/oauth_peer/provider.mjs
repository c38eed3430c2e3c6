// A real OpenID Connect provider for the OAuth end-to-end tests: panva's certified `oidc-provider`
// (npm), configured here and started on a loopback port of its own. Installed by install.sh.
//
// Prints `{"issuer": "http://127.0.0.1:PORT"}` on stdout once it listens. Besides the standard
// endpoints (discovery, authorize with its development login/consent pages, token, userinfo,
// revocation) it answers a few test controls under /__control:
//   POST /__control/clients        {client_id, client_secret, redirect_uris}: register a client
//   POST /__control/ttl            {seconds}: lifetime of access tokens issued from now on
//   POST /__control/revoke-grants  forget every grant and refresh token (the next refresh fails
//                                  with invalid_grant, as after a user revokes access)
//   POST /__control/token-delay    {ms}: answer every token request this much later (a slow provider)
//   GET  /__control/stats          {refreshes, refreshFailures, codeExchanges, revocations}
import http from 'node:http';
import Provider from 'oidc-provider';

const store = new Map();
const grants = new Map();

// oidc-provider's storage interface, in memory; clients registered through the control endpoint
// are found here like dynamically registered ones.
class MemoryAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload) {
    store.set(this.key(id), payload);
    if (payload.grantId) {
      const keys = grants.get(payload.grantId) ?? [];
      keys.push(this.key(id));
      grants.set(payload.grantId, keys);
    }
    if (payload.uid) store.set(`uid:${payload.uid}`, id);
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, id);
  }
  async find(id) { return store.get(this.key(id)); }
  async findByUid(uid) { return this.find(store.get(`uid:${uid}`)); }
  async findByUserCode(code) { return this.find(store.get(`userCode:${code}`)); }
  async consume(id) {
    const payload = store.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) ?? []) store.delete(key);
    grants.delete(grantId);
  }
}

const stats = { refreshes: 0, refreshFailures: 0, codeExchanges: 0, revocations: 0 };
let tokenDelayMs = 0;
let accessTokenTtl = 3600;

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: [],
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, email: `${sub}@example.test`, email_verified: true }),
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'offline_access', 'email', 'calendar.readonly', 'drive.readonly'],
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    pkce: { required: () => true },
    // Every code grant of a client allowed to refresh gets a refresh token, and every refresh
    // rotates it: reusing a consumed refresh token revokes the whole grant.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: () => accessTokenTtl,
      AuthorizationCode: 600,
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
    },
  });

  provider.on('grant.success', (ctx) => {
    const grantType = ctx.oidc.params.grant_type;
    if (grantType === 'refresh_token') stats.refreshes += 1;
    if (grantType === 'authorization_code') stats.codeExchanges += 1;
  });
  provider.on('grant.error', (ctx) => {
    if (ctx.oidc?.params?.grant_type === 'refresh_token') {
      stats.refreshes += 1;
      stats.refreshFailures += 1;
    }
  });

  const readJson = (ctx) => new Promise((resolve, reject) => {
    let body = '';
    ctx.req.on('data', (chunk) => { body += chunk; });
    ctx.req.on('end', () => { try { resolve(body ? JSON.parse(body) : {}); } catch (e) { reject(e); } });
  });

  provider.use(async (ctx, next) => {
    if (ctx.path.startsWith('/__control/')) {
      const route = `${ctx.method} ${ctx.path}`;
      if (route === 'GET /__control/stats') {
        ctx.body = stats;
      } else if (route === 'POST /__control/token-delay') {
        tokenDelayMs = (await readJson(ctx)).ms;
        ctx.body = { ms: tokenDelayMs };
      } else if (route === 'POST /__control/ttl') {
        accessTokenTtl = (await readJson(ctx)).seconds;
        ctx.body = { seconds: accessTokenTtl };
      } else if (route === 'POST /__control/clients') {
        const client = await readJson(ctx);
        store.set(`Client:${client.client_id}`, {
          client_id: client.client_id,
          client_secret: client.client_secret,
          redirect_uris: client.redirect_uris,
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        });
        ctx.body = { ok: true };
      } else if (route === 'POST /__control/revoke-grants') {
        for (const grantId of [...grants.keys()]) {
          for (const key of grants.get(grantId)) store.delete(key);
          grants.delete(grantId);
        }
        ctx.body = { ok: true };
      } else {
        ctx.status = 404;
      }
      return;
    }
    if (tokenDelayMs > 0 && ctx.method === 'POST' && ctx.path === '/token') {
      await new Promise((resolve) => setTimeout(resolve, tokenDelayMs));
    }
    await next();
    if (ctx.method === 'POST' && ctx.path === '/token/revocation' && ctx.status === 200) {
      stats.revocations += 1;
    }
  });

  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// Ends with the test that started it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
