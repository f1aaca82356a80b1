// In-memory storage adapter for server.mjs (https://github.com/panva/node-oidc-provider/blob/main/example/my_adapter.js).
//
// It replaces oidc-provider's built-in development adapter for two reasons:
//   - the built-in one is an LRU of 1000 entries, so a test that issues many tokens could
//     silently evict a live grant and see a spurious invalid_grant;
//   - ROTATION_GRACE: a consumed (rotated) refresh token reads as not consumed for `graceSeconds`
//     after its first use, so oidc-provider accepts it again in that window (and rotates again).
//     After the window its replay is reuse: oidc-provider destroys it and revokes the whole grant.
// Everything lives in one process's memory; a restart forgets every grant.

const epoch = () => Math.floor(Date.now() / 1000);

// Store is a Map whose entries may expire.
class Store {
  #entries = new Map();

  get(key) {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key, value, ttlSeconds) {
    const expiresAt = typeof ttlSeconds === 'number' ? Date.now() + ttlSeconds * 1000 : undefined;
    this.#entries.set(key, { value, expiresAt });
  }

  delete(key) {
    this.#entries.delete(key);
  }
}

// Grant-bound kinds: revokeByGrantId removes them all at once.
const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

class Adapter {
  constructor(model, store, graceSeconds) {
    this.model = model;
    this.store = store;
    this.graceSeconds = graceSeconds;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    if (this.model === 'Session') this.store.set(`sessionUid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) this.store.set(`userCode:${payload.userCode}`, id, expiresIn);
    if (grantable.has(this.model) && payload.grantId) {
      const gkey = `grant:${payload.grantId}`;
      const members = this.store.get(gkey) ?? new Set();
      members.add(key);
      this.store.set(gkey, members);
    }
    this.store.set(key, payload, expiresIn);
  }

  async find(id) {
    const payload = this.store.get(this.key(id));
    if (payload && this.inGrace(payload)) {
      const { consumed, ...rest } = payload;
      return rest;
    }
    return payload;
  }

  // inGrace reports whether payload is a refresh token consumed less than graceSeconds ago.
  inGrace(payload) {
    return this.model === 'RefreshToken' && this.graceSeconds > 0
      && typeof payload.consumed === 'number' && epoch() - payload.consumed < this.graceSeconds;
  }

  async findByUid(uid) {
    const id = this.store.get(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = this.store.get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  // consume keeps the first consumption time, so repeated use inside the grace window
  // does not extend it.
  async consume(id) {
    const payload = this.store.get(this.key(id));
    if (payload && typeof payload.consumed !== 'number') payload.consumed = epoch();
  }

  async destroy(id) {
    this.store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const gkey = `grant:${grantId}`;
    for (const key of this.store.get(gkey) ?? []) this.store.delete(key);
    this.store.delete(gkey);
  }
}

// memoryAdapter returns the factory for oidc-provider's `adapter` option, and `state`,
// which classifies a refresh token value without changing it:
// 'unknown' | 'live' | 'grace' (consumed, still accepted) | 'consumed' (its use is reuse).
export function memoryAdapter({ graceSeconds = 0 } = {}) {
  const store = new Store();
  const factory = (model) => new Adapter(model, store, graceSeconds);
  const refreshTokens = new Adapter('RefreshToken', store, graceSeconds);
  const state = (value) => {
    const payload = value ? store.get(refreshTokens.key(value)) : undefined;
    if (!payload) return 'unknown';
    if (typeof payload.consumed !== 'number') return 'live';
    return refreshTokens.inGrace(payload) ? 'grace' : 'consumed';
  };
  return { factory, state };
}
