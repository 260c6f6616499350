/**
 * Property-based fuzzing of every HTTP parser that reads untrusted input, through the real
 * Fastify app (inject): the Basic header of /auth/basic, nginx's Auth-* headers on
 * /auth/nginx-mail, the JSON bodies of /auth/mail and /oauth2/introspect (and its form bodies),
 * the JSON bodies of POST /api/v1/sessions, PUT /api/v1/policy and POST /api/v1/users, and raw
 * body text (deep nesting, broken JSON, other content types) on all of these.
 *
 * For each request: no 5xx (the store is up here), an answer within a second, and "ok" exactly
 * for a good credential, decided by a model written from the endpoint's contract: the address
 * normalises to an account's, and the password is that account's app password (any typed form) or,
 * where the main password is still allowed on legacy protocols, exactly the main password. The
 * generators mix the good credentials, their variants and near misses with hostile strings, so
 * that both answers are exercised (each property checks that some cases were good). After each
 * property the good credential is still accepted and /healthz still answers.
 *
 * SQLite store, real Argon2: the lockout limits are raised so that thousands of wrong attempts
 * lock nothing (a lock would hide a wrongly accepted password). Seed and size: settings.ts.
 */
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { normalizeAddress, normalizeDisplayName } from '../../src/domain/accounts/model.js';
import { normalizeAppPassword } from '../../src/domain/app-passwords/format.js';
import { PROTOCOLS } from '../../src/domain/app-passwords/model.js';
import { METHOD_KINDS, MFA_STATES } from '../../src/domain/mfa/model.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { ADMIN, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

/** A plain user whose MFA is off: their main password works on the legacy endpoints (an admin's never does). */
const MAIN = { address: 'carl@contoso.test', password: 'pebble-orchard-silver-25' };
import {
  appPassword,
  edited,
  headerValue,
  hostileString,
  NASTY_STRINGS,
  params,
  scaled,
  typedForms,
} from './settings.js';

/** The longest any single answer may take: far above the slowest real one (an Argon2 check, ~15 ms). */
const MAX_MS = 1000;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Dovecot's service names that the contract maps to a protocol. */
const SERVICES = new Set(['imap', 'pop3', 'submission', 'smtp', 'dav', 'http']);

describe('fuzz: HTTP parsers of untrusted input (inject)', () => {
  let w: World;
  let key = '';
  /** Bob's app password (canonical): Bob's MFA is enforced, so it is his only legacy credential. */
  let canonical = '';
  let grouped = '';
  /** Eve's session token: the admin of fabrikam.test, whose policy and users the API properties change. */
  let eveToken = '';
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => void rejections.push(e);

  before(async () => {
    process.on('unhandledRejection', onRejection);
    w = await makeWorld('sqlite', {
      accountFailureLimit: 1_000_000,
      ipFailureLimit: 1_000_000,
      // The fuzzer checks parsers with thousands of requests from one loopback IP, not the limits.
      ipPasswordChecksPerMinute: 1_000_000,
      mailBackendImap: '127.0.0.1:10143',
      mailBackendPop3: '127.0.0.1:10110',
      mailBackendSmtp: '127.0.0.1:10587',
    });
    key = (await w.ctx.integrations.add('fuzz')).key;
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
    await w.ctx.accounts.addUser(OPERATOR, MAIN);
    await w.ctx.mfaAdmin.setUserState(OPERATOR, MAIN.address, 'disabled');
    const bob = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    const s = (await w.ctx.sessions.start(bob.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 'fuzz' }, Date.now()))
      .session;
    grouped = (await w.ctx.appPasswords.create(bob, s, 'Fuzz', { ip: '127.0.0.1', locale: 'en' })).password;
    canonical = normalizeAppPassword(grouped)!;
    eveToken = await adminApiToken(w.app, OTHER_ADMIN);
  });
  after(async () => {
    process.off('unhandledRejection', onRejection);
    await w.close();
  });

  /** The model: is this (user, password) pair, as the endpoint received it, a good legacy credential? */
  function goodLegacy(user: unknown, password: unknown): boolean {
    if (typeof user !== 'string' || typeof password !== 'string') return false;
    if (
      user.length === 0 ||
      user.length > 320 ||
      password.length === 0 ||
      password.length > 1024 ||
      CONTROL.test(user) ||
      CONTROL.test(password)
    )
      return false;
    let address: string;
    try {
      address = normalizeAddress(user).address;
    } catch {
      return false;
    }
    if (address === USER.address) return normalizeAppPassword(password) === canonical; // MFA enforced: app password only
    if (address === MAIN.address) return password === MAIN.password; // a plain user with MFA off: the main password, exactly
    return false;
  }

  /** Account names: Bob's and Ada's in many spellings, near misses, and hostile strings. */
  const users = () =>
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .tuple(
            fc.constantFrom('', '', ' ', '\u00a0', '\ufeff', '\t', '\u2028'),
            fc.mixedCase(fc.constant(USER.address)),
            fc.constantFrom('', '', ' ', '\u3000', '\n', '\u0000', '.', 'x'),
          )
          .map((p) => p.join('')),
      },
      { weight: 2, arbitrary: fc.mixedCase(fc.constant(MAIN.address)) },
      { weight: 1, arbitrary: edited(fc.constantFrom(USER.address, MAIN.address)) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'carol@contoso.test',
          'bob@fabrikam.test',
          'bob@contoso.test.',
          'bob@@contoso.test',
          `${USER.address}@contoso.test`,
          'bob',
          '\u212aate@contoso.test',
          'BOB@CONTOSO.TEST',
        ),
      },
      { weight: 4, arbitrary: hostileString(100) },
    );
  /** Passwords: Bob's app password in any typed form, near misses, the main passwords, other well-formed app passwords, hostile strings. */
  const passwords = () =>
    fc.oneof(
      { weight: 4, arbitrary: typedForms(canonical) },
      { weight: 2, arbitrary: edited(fc.constantFrom(grouped, canonical)) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          MAIN.password,
          USER.password,
          `${MAIN.password} `,
          MAIN.password.toUpperCase(),
          ` ${MAIN.password}`,
          `${grouped}\u0000`,
        ),
      },
      { weight: 1, arbitrary: appPassword.chain(typedForms) },
      { weight: 3, arbitrary: hostileString(100) },
    );
  /** (user, password) pairs: Bob's or Ada's in good and near-miss spellings, and independent mixes of the above. */
  const credentials = (): fc.Arbitrary<[string, string]> =>
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.tuple(
          fc
            .tuple(
              fc.constantFrom('', ' ', '\u00a0'),
              fc.mixedCase(fc.constant(USER.address)),
              fc.constantFrom('', ' '),
            )
            .map((p) => p.join('')),
          fc.oneof(typedForms(canonical), edited(fc.constant(grouped))),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(
          fc.mixedCase(fc.constant(MAIN.address)),
          fc.oneof(fc.constant(MAIN.password), edited(fc.constant(MAIN.password))),
        ),
      },
      { weight: 4, arbitrary: fc.tuple(users(), passwords()) },
    );
  /** Any JSON value, for fields and whole bodies. */
  const json = fc.jsonValue({ maxDepth: 3 });

  /** inject, timed: every answer comes within MAX_MS and is never a 5xx. */
  async function send(opts: InjectOptions, what: () => string): Promise<LightMyRequestResponse> {
    const t = performance.now();
    const res = await w.app.inject(opts);
    const ms = performance.now() - t;
    assert.ok(ms < MAX_MS, `${ms.toFixed(0)} ms for ${what()}`);
    assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body.slice(0, 200)} for ${what()}`);
    return res;
  }

  /** nginx percent-encodes Auth-User and Auth-Pass; a string with a lone surrogate cannot be encoded, and goes raw with "?" for what HTTP cannot carry. */
  const pct = (s: string) => {
    try {
      return encodeURIComponent(s);
    } catch {
      return s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');
    }
  };

  async function stillAlive() {
    const h = await w.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(h.statusCode, 200);
    assert.deepEqual(h.json(), { status: 'ok' });
    const ok = await w.app.inject({
      method: 'POST',
      url: '/auth/mail',
      headers: { authorization: `Bearer ${key}` },
      payload: { user: USER.address, password: grouped, service: 'imap' },
    });
    assert.equal(ok.statusCode, 200, 'the good credential is still accepted');
    assert.equal(rejections.length, 0, `unhandled rejections: ${rejections.map(String).join('; ')}`);
  }

  // Found by the /auth/mail and /oauth2/introspect properties below (seed 707042026): the service
  // name was looked up on a plain object, so "constructor" or "__proto__" named a function or
  // Object.prototype, which the verifier then failed on (503, "temporary failure", for garbage);
  // and String() of a JSON value such as [{"toString":{}}] threw (500). Only a string names a service now.
  it('examples found by fuzzing: a service or client_id that is a prototype key or no string is unknown, not a 5xx', async () => {
    const mail = (body: object) =>
      w.app.inject({ method: 'POST', url: '/auth/mail', headers: { authorization: `Bearer ${key}` }, payload: body });
    for (const service of [
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
      [{ toString: {} }],
      { toString: 1 },
      ['imap'],
    ]) {
      // An unknown service is the integration's configuration error (issue #15, item 5): 400, never 5xx.
      const r = await mail({ user: 'carol@contoso.test', password: 'ccbtkteftpaaqfhhwkpp', service });
      assert.equal(r.statusCode, 400, `${JSON.stringify(service)}: ${r.statusCode} ${r.body}`);
      assert.equal(
        (await mail({ user: USER.address, password: grouped, service })).statusCode,
        400,
        `${JSON.stringify(service)} with a good password`,
      );
    }
    const introspect = (body: object) =>
      w.app.inject({
        method: 'POST',
        url: '/oauth2/introspect',
        headers: { authorization: `Bearer ${key}` },
        payload: body,
      });
    for (const client_id of [[{ toString: {} }], { toString: 1 }, 'constructor', '__proto__']) {
      const garbage = await introspect({ client_id });
      assert.equal(garbage.statusCode, 200, `${JSON.stringify(client_id)}: ${garbage.statusCode} ${garbage.body}`);
      assert.deepEqual(garbage.json(), { active: false });
      // An unknown client_id means IMAP, as before: the app password is active.
      assert.deepEqual((await introspect({ client_id, token: grouped })).json(), {
        active: true,
        username: USER.address,
      });
    }
  });

  it('/auth/basic: any Authorization header; 200 exactly for a good credential', async () => {
    let good = 0;
    const header = fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .tuple(credentials(), fc.constantFrom(':', ':', ':', '::', '', ' :'))
          .map(([[u, p], sep]) => `Basic ${Buffer.from(u + sep + p).toString('base64')}`),
      },
      {
        weight: 1,
        arbitrary: fc.uint8Array({ maxLength: 3500 }).map((b) => `Basic ${Buffer.from(b).toString('base64')}`),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(
            fc.constantFrom(
              'Basic ',
              'basic ',
              'BASIC ',
              'Basic  ',
              'Basic',
              ' Basic ',
              'Basic\t',
              'Bearer ',
              'Digest ',
              '',
            ),
            fc.oneof(fc.base64String({ maxLength: 300 }), headerValue(300)),
          )
          .map(([a, b]) => a + b),
      },
      { weight: 1, arbitrary: headerValue(300) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 3000, max: 20_000 })
          .map((n) => `Basic ${Buffer.from(`${USER.address}:${grouped}${' '.repeat(n)}`).toString('base64')}`),
      },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
    /** RFC 7617 as the endpoint states it: "Basic" in any case, spaces and base64 (at most 4096 characters), user-id up to the first colon. */
    const expected = (h: string | undefined) => {
      const m = h !== undefined && h.length <= 4096 ? /^basic +([A-Za-z0-9+/]+={0,2})$/i.exec(h) : null;
      if (!m) return false;
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon > 0 && goodLegacy(decoded.slice(0, colon), decoded.slice(colon + 1));
    };
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const res = await send(
          { method: 'GET', url: '/auth/basic', headers: h === undefined ? {} : { authorization: h } },
          () => String(JSON.stringify(h)).slice(0, 300),
        );
        const want = expected(h);
        if (want) good++;
        assert.equal(
          res.statusCode,
          want ? 200 : 401,
          `${String(JSON.stringify(h)).slice(0, 300)} -> ${res.statusCode}`,
        );
        if (want) assert.ok(res.headers['remote-user'] === USER.address || res.headers['remote-user'] === MAIN.address);
        else assert.equal(res.headers['www-authenticate'], 'Basic realm="Sesame", charset="UTF-8"');
      }),
      params(700),
    );
    assert.ok(good >= scaled(20), `only ${good} good credentials generated`);
    await stillAlive();
  });

  it('/auth/nginx-mail: any Auth-User, Auth-Pass, Auth-Protocol, Client-IP; Auth-Status OK exactly for a good credential', async () => {
    let good = 0;
    const userAndPass = fc.oneof(
      { weight: 5, arbitrary: credentials().map(([u, p]) => ({ 'auth-user': pct(u), 'auth-pass': pct(p) })) },
      {
        weight: 2,
        arbitrary: fc.record(
          {
            'auth-user': fc.oneof(users().map(pct), headerValue(200)),
            'auth-pass': fc.oneof(passwords().map(pct), headerValue(200)),
          },
          { requiredKeys: [] },
        ),
      },
    );
    const others = fc.record(
      {
        'auth-protocol': fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom('imap', 'pop3', 'smtp', 'IMAP', 'Smtp') },
          { weight: 2, arbitrary: fc.constantFrom('dav', 'http', '', 'imap ', 'imaps', '__proto__', 'constructor') },
          { weight: 1, arbitrary: headerValue(30) },
        ),
        'client-ip': fc.oneof(fc.ipV4(), fc.ipV6(), headerValue(120)),
        'auth-method': fc.constantFrom('plain', 'login', 'cram-md5', 'apop', 'external', ''),
        'auth-login-attempt': fc.oneof(fc.nat().map(String), headerValue(10)),
      },
      { requiredKeys: ['auth-protocol'] },
    );
    const headers = fc
      .tuple(userAndPass, others)
      .map(([a, b]) => ({ ...a, ...b }) as Record<string, string | undefined>);
    const expected = (h: Record<string, string | undefined>) => {
      let user: string;
      let pass: string;
      try {
        user = decodeURIComponent(h['auth-user'] ?? '');
        pass = decodeURIComponent(h['auth-pass'] ?? '');
      } catch {
        return false;
      }
      return ['imap', 'pop3', 'smtp'].includes((h['auth-protocol'] ?? '').toLowerCase()) && goodLegacy(user, pass);
    };
    await fc.assert(
      fc.asyncProperty(headers, async (h) => {
        const all = Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as Record<string, string>;
        const res = await send(
          { method: 'GET', url: '/auth/nginx-mail', headers: { authorization: `Bearer ${key}`, ...all } },
          () => JSON.stringify(all).slice(0, 300),
        );
        const want = expected(h);
        if (want) good++;
        // A protocol nginx never sends is a configuration error: 400 (nginx answers a temporary error).
        if (!['imap', 'pop3', 'smtp'].includes((h['auth-protocol'] ?? '').toLowerCase())) {
          assert.equal(res.statusCode, 400, JSON.stringify(all).slice(0, 300));
          return;
        }
        assert.equal(res.statusCode, 200);
        assert.equal(
          res.headers['auth-status'],
          want ? 'OK' : 'Invalid login or password',
          `${JSON.stringify(all).slice(0, 300)}`,
        );
        if (want) assert.ok(['10143', '10110', '10587'].includes(String(res.headers['auth-port'])));
        // The backend gets the account Sesame checked, canonical, whatever the client typed.
        if (want)
          assert.equal(res.headers['auth-user'], normalizeAddress(decodeURIComponent(h['auth-user'] ?? '')).address);
        else assert.ok(Number(res.headers['auth-wait']) >= 3);
      }),
      params(600),
    );
    assert.ok(good >= scaled(20), `only ${good} good credentials generated`);
    await stillAlive();
  });

  it('/auth/mail: any JSON body; 200 exactly for a good credential and a known service', async () => {
    let good = 0;
    const services = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom(
          'imap',
          'pop3',
          'submission',
          'smtp',
          'dav',
          'http',
          'IMAP',
          'ftp',
          '',
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
          'valueOf',
        ),
      },
      { weight: 1, arbitrary: hostileString(20) },
      { weight: 1, arbitrary: json },
    );
    const body = fc.oneof(
      {
        weight: 8,
        arbitrary: fc
          .tuple(
            fc.oneof(
              { weight: 12, arbitrary: credentials() },
              { weight: 1, arbitrary: fc.tuple(json, passwords()) },
              { weight: 1, arbitrary: fc.tuple(users(), json) },
            ),
            fc.record(
              {
                service: services,
                remoteIp: fc.oneof(
                  { weight: 3, arbitrary: fc.ipV4() },
                  { weight: 3, arbitrary: fc.ipV6() },
                  { weight: 1, arbitrary: fc.constantFrom('', null) },
                  { weight: 1, arbitrary: hostileString(80) },
                  { weight: 1, arbitrary: json },
                ),
              },
              { requiredKeys: ['service'] },
            ),
          )
          .map(([[user, password], rest]) => ({ user, password, ...rest })),
      },
      { weight: 1, arbitrary: json },
      {
        weight: 1,
        arbitrary: fc.dictionary(
          fc.oneof(
            fc.constantFrom('user', 'password', 'service', 'remoteIp', ...NASTY_STRINGS.slice(0, 12)),
            hostileString(20),
          ),
          json,
          { maxKeys: 6 },
        ),
      },
    );
    /** remoteIp: absent, null or empty (the caller's address), else an IP literal; anything else is a 400. */
    const badRemoteIp = (b: unknown) => {
      if (typeof b !== 'object' || b === null || Array.isArray(b)) return false;
      const v = (b as Record<string, unknown>).remoteIp;
      return !(v === undefined || v === null || v === '' || (typeof v === 'string' && v.length <= 64 && isIP(v) !== 0));
    };
    const unknownService = (b: unknown) => {
      const v =
        typeof b === 'object' && b !== null && !Array.isArray(b) ? (b as Record<string, unknown>).service : undefined;
      return !(typeof v === 'string' && SERVICES.has(v));
    };
    const expected = (b: unknown) => {
      if (typeof b !== 'object' || b === null || Array.isArray(b) || badRemoteIp(b)) return false;
      const r = b as Record<string, unknown>;
      return typeof r.service === 'string' && SERVICES.has(r.service) && goodLegacy(r.user, r.password);
    };
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const payload = JSON.stringify(b) ?? 'null';
        const res = await send(
          {
            method: 'POST',
            url: '/auth/mail',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            payload,
          },
          () => payload.slice(0, 300),
        );
        if (res.statusCode === 413) return; // over the 32 KiB body limit: refused before any parsing
        if (res.statusCode === 400) {
          // Only what the JSON parser refuses (prototype poisoning), a service Sesame does not know
          // (the integration's configuration error), or a remoteIp that is no IP address.
          if (!badRemoteIp(b) && !unknownService(b))
            assert.match(payload, /"(__proto__|constructor)"/, `400 for ${payload.slice(0, 300)}`);
          return;
        }
        assert.ok(!badRemoteIp(b) && !unknownService(b), `${res.statusCode}, not 400, for ${payload.slice(0, 300)}`);
        const want = expected(b);
        if (want) good++;
        assert.equal(
          res.statusCode === 200,
          want,
          `${payload.slice(0, 300)} -> ${res.statusCode} ${res.body.slice(0, 100)}`,
        );
        if (want) assert.equal(res.json().user, normalizeAddress((b as { user: string }).user).address);
        else assert.ok([401, 403].includes(res.statusCode));
      }),
      params(600),
    );
    assert.ok(good >= scaled(20), `only ${good} good credentials generated`);
    await stillAlive();
  });

  it('/oauth2/introspect: any JSON or form body, any Authorization; active exactly for the app password and a valid integration key', async () => {
    let good = 0;
    const auth = fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.constant(`Bearer ${key}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          `Bearer ${key.slice(0, -1)}A`,
          `bearer ${key}`,
          `Bearer ${key} `,
          `Bearer  ${key}`,
          `Basic ${key}`,
          'Bearer ',
          key,
        ),
      },
      { weight: 1, arbitrary: headerValue(200) },
    );
    const field = (arb: fc.Arbitrary<string>) =>
      fc.oneof({ weight: 9, arbitrary: arb }, { weight: 1, arbitrary: json });
    const body = fc.record(
      {
        token: field(passwords()),
        client_id: field(
          fc.oneof(
            fc.constantFrom(
              'imap',
              'pop3',
              'smtp',
              'submission',
              'dav',
              'http',
              'dovecot',
              '__proto__',
              'constructor',
              'toString',
              'valueOf',
            ),
            hostileString(20),
          ),
        ),
        client_secret: field(fc.oneof(fc.constant(key), fc.constant(`${key}x`), hostileString(60))),
      },
      { requiredKeys: [] },
    );
    const asForm = fc.boolean();
    await fc.assert(
      fc.asyncProperty(auth, body, asForm, async (authorization, b, form) => {
        // A form carries strings only: other values are sent as JSON whatever was drawn.
        const isForm = form && Object.values(b).every((v) => typeof v === 'string');
        const payload = isForm ? new URLSearchParams(b as Record<string, string>).toString() : JSON.stringify(b);
        const headers: Record<string, string> = {
          'content-type': isForm ? 'application/x-www-form-urlencoded' : 'application/json',
        };
        if (authorization !== undefined) headers.authorization = authorization;
        const what = () => `${JSON.stringify(authorization)} ${payload.slice(0, 300)}`;
        const res = await send({ method: 'POST', url: '/oauth2/introspect', headers, payload }, what);
        if (res.statusCode === 413) return;
        if (res.statusCode === 400) {
          assert.match(payload, /"(__proto__|constructor)"/, `400 for ${what()}`);
          return;
        }
        // What the endpoint received: a form is parsed back (the same strings), JSON as sent.
        const got = (isForm ? Object.fromEntries(new URLSearchParams(payload)) : b) as Record<string, unknown>;
        const authed = authorization !== undefined ? authorization === `Bearer ${key}` : got.client_secret === key;
        if (!authed) {
          assert.equal(res.statusCode, 401, what());
          return;
        }
        assert.equal(res.statusCode, 200, what());
        const token = got.token;
        const want =
          typeof token === 'string' &&
          token.length > 0 &&
          token.length <= 1024 &&
          !CONTROL.test(token) &&
          normalizeAppPassword(token) === canonical;
        if (want) good++;
        assert.deepEqual(res.json(), want ? { active: true, username: USER.address } : { active: false }, what());
      }),
      params(600),
    );
    assert.ok(good >= scaled(20), `only ${good} good tokens generated`);
    await stillAlive();
  });

  it('any body text (deep nesting, truncated or broken JSON, forms, other types) on every JSON endpoint: no 5xx, no "ok", always in time', async () => {
    const depth = fc.integer({ min: 1, max: 20_000 });
    const text = fc.oneof(
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            depth,
            fc.constantFrom(['[', ']'], ['{"a":', '}'], ['{"constructor":', '}'], ['{"a":[', ']}'], ['{"user":', '}']),
          )
          .map(([n, [open, close]]) => `${open!.repeat(n)}1${close!.repeat(n)}`),
      },
      {
        weight: 2,
        arbitrary: fc.tuple(fc.json({ maxDepth: 4 }), fc.nat()).map(([j, cut]) => j.slice(0, cut % (j.length + 1))),
      },
      { weight: 1, arbitrary: fc.tuple(fc.json({ maxDepth: 2 }), hostileString(30)).map(([j, tail]) => j + tail) },
      { weight: 2, arbitrary: hostileString(300) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '{"__proto__":{"admin":true}}',
          '{"constructor":{"prototype":{"admin":true}}}',
          '',
          'null',
          '[]',
          '"x"',
          '1e309',
          '{"user":"a","user":"b"}',
          '\ufeff{}',
        ),
      },
    );
    const type = fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/x-www-form-urlencoded',
      'text/plain',
      'application/json\t',
      'multipart/form-data; boundary=x',
      'application/jsonx',
    );
    const target = fc.constantFrom(
      { method: 'POST', url: '/auth/mail', auth: () => `Bearer ${key}` },
      { method: 'POST', url: '/oauth2/introspect', auth: () => `Bearer ${key}` },
      { method: 'POST', url: '/api/v1/sessions', auth: () => undefined },
      { method: 'PUT', url: '/api/v1/policy', auth: () => `Bearer ${eveToken}` },
      { method: 'POST', url: '/api/v1/users', auth: () => `Bearer ${eveToken}` },
    );
    await fc.assert(
      fc.asyncProperty(target, type, text, async (t, contentType, payload) => {
        const authorization = t.auth();
        const headers: Record<string, string> = {
          'content-type': contentType,
          ...(authorization ? { authorization } : {}),
        };
        const res = await send(
          { method: t.method as 'POST' | 'PUT', url: t.url, headers, payload },
          () => `${t.method} ${t.url} ${contentType} ${payload.slice(0, 200)}`,
        );
        assert.notEqual(res.statusCode, 201, `${t.url} created something from ${payload.slice(0, 200)}`);
        if (t.url === '/auth/mail') assert.notEqual(res.statusCode, 200);
        if (t.url === '/oauth2/introspect' && res.statusCode === 200) assert.deepEqual(res.json(), { active: false });
      }),
      params(400),
    );
    await stillAlive();
  });

  /** What Fastify's validator (Ajv, coerceTypes "array") makes of a JSON value declared as a string. */
  const asSchemaString = (v: unknown): string | undefined => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (v === null) return '';
    if (Array.isArray(v) && v.length === 1 && !Array.isArray(v[0]) && typeof v[0] !== 'object')
      return asSchemaString(v[0]);
    if (Array.isArray(v) && v.length === 1 && v[0] === null) return '';
    return undefined;
  };

  it('POST /api/v1/sessions: any JSON body; a session or a second-factor step only for an account and its exact main password', async () => {
    let good = 0;
    const secret = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(ADMIN.password, USER.password, OTHER_ADMIN.password, [ADMIN.password]) },
      { weight: 2, arbitrary: edited(fc.constantFrom(ADMIN.password, USER.password)) },
      { weight: 1, arbitrary: fc.constant(grouped) },
      { weight: 2, arbitrary: hostileString(100) },
      { weight: 1, arbitrary: json },
    );
    const body = fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .constantFrom(ADMIN, USER, OTHER_ADMIN)
          .chain((a) =>
            fc.tuple(
              fc.mixedCase(fc.constant(a.address)),
              fc.oneof(fc.constant(a.password), fc.constant([a.password]), edited(fc.constant(a.password))),
            ),
          )
          .map(([email, password]) => ({ email, password })),
      },
      {
        weight: 5,
        arbitrary: fc.record(
          {
            email: fc.oneof({ weight: 9, arbitrary: users() }, { weight: 1, arbitrary: json }),
            password: secret,
            extra: json,
          },
          { requiredKeys: ['email', 'password'] },
        ),
      },
      { weight: 1, arbitrary: json },
      { weight: 1, arbitrary: fc.dictionary(hostileString(20), json, { maxKeys: 4 }) },
    );
    const accounts = new Map([ADMIN, USER, OTHER_ADMIN].map((a) => [a.address, a.password]));
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const payload = JSON.stringify(b) ?? 'null';
        const res = await send(
          { method: 'POST', url: '/api/v1/sessions', headers: { 'content-type': 'application/json' }, payload },
          () => payload.slice(0, 300),
        );
        if (res.statusCode !== 200 && res.statusCode !== 201) {
          assert.ok([400, 401, 413].includes(res.statusCode), `${res.statusCode} for ${payload.slice(0, 300)}`);
          return;
        }
        good++;
        // Accepted: a plain object with exactly these fields, whose values (as coerced by the schema) are an account's address and its password.
        assert.ok(typeof b === 'object' && b !== null && !Array.isArray(b), payload);
        const r = b as Record<string, unknown>;
        assert.deepEqual(Object.keys(r).sort(), ['email', 'password'], payload.slice(0, 300));
        const email = asSchemaString(r.email);
        const password = asSchemaString(r.password);
        assert.ok(email !== undefined && password !== undefined && email.length <= 254, payload.slice(0, 300));
        assert.equal(accounts.get(normalizeAddress(email).address), password, payload.slice(0, 300));
      }),
      params(250),
    );
    assert.ok(good >= scaled(5), `only ${good} sign-ins succeeded`);
    await stillAlive();
  });

  it('PUT /api/v1/policy (admin): any JSON body; the stored policy is always a valid one, and unknown fields are refused', async () => {
    const bearer = { authorization: `Bearer ${eveToken}`, 'content-type': 'application/json' };
    let changed = 0;
    /** A field's value: mostly a valid one, sometimes one just outside the rules, sometimes anything. */
    const field = (valid: fc.Arbitrary<unknown>, near: fc.Arbitrary<unknown>) =>
      fc.oneof(
        { weight: 8, arbitrary: valid },
        { weight: 2, arbitrary: near },
        { weight: 1, arbitrary: json },
        { weight: 1, arbitrary: hostileString(20) },
      );
    const bool = field(fc.boolean(), fc.constantFrom(null, 0, 1, 'true', 'no', [true]));
    const days = field(
      fc.oneof(fc.integer({ min: 1, max: 3650 }), fc.constant(null)),
      fc.oneof(fc.constantFrom(0, -1, 3651, 1.5, '30', [30]), fc.double()),
    );
    const someOf = (items: readonly string[], extra: string[]) =>
      field(
        fc.uniqueArray(fc.constantFrom(...items), { minLength: 1, maxLength: items.length }),
        fc.array(fc.constantFrom(...items, ...extra), { maxLength: 7 }),
      );
    const appPasswords = fc.record(
      {
        allowed: bool,
        keepExistingWhenOff: bool,
        cap: field(
          fc.integer({ min: 1, max: 200 }),
          fc.oneof(fc.constantFrom(0, 201, -1, 2.5, null, '10'), fc.double()),
        ),
        protocols: someOf(PROTOCOLS, ['ftp', 'IMAP', '']),
        maxLifetimeDays: days,
        revokeUnusedDays: days,
        revokeOnPasswordChange: bool,
        notifyAdminsNewCountry: bool,
      },
      { requiredKeys: [] },
    );
    const unknownField = fc.oneof(
      { weight: 8, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: fc.constantFrom({ orgId: 'other-org' }, { admin: true }) },
    );
    const body = fc.oneof(
      {
        weight: 8,
        arbitrary: fc
          .tuple(
            fc.record(
              {
                mfaDefault: field(fc.constantFrom(...MFA_STATES), fc.constantFrom('ENFORCED', 'none', '', null)),
                allowedMethods: someOf(METHOD_KINDS, ['password', 'TOTP', '']),
                rememberDays: field(
                  fc.integer({ min: 0, max: 365 }),
                  fc.oneof(fc.constantFrom(-1, 366, 1.5, null, '7', [7]), fc.double()),
                ),
                legacyMainPassword: field(
                  fc.constantFrom('until_enforced', 'never'),
                  fc.constantFrom('always', 'NEVER', '', null),
                ),
                appPasswords: fc.oneof(
                  { weight: 8, arbitrary: appPasswords },
                  { weight: 1, arbitrary: appPasswords.map((a) => ({ ...a, unknown: 1 })) },
                  { weight: 1, arbitrary: json },
                ),
              },
              { requiredKeys: [] },
            ),
            unknownField,
          )
          .map(([b, extra]) => ({ ...b, ...extra })),
      },
      { weight: 1, arbitrary: json },
    );
    const isInt = (v: unknown, min: number, max: number) =>
      Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
    const subsetOf = (v: unknown, of: readonly string[]) =>
      Array.isArray(v) && v.length > 0 && new Set(v).size === v.length && v.every((x) => of.includes(x as string));
    const validPolicy = (p: Record<string, unknown>) => {
      const a = p.appPasswords as Record<string, unknown>;
      return (
        MFA_STATES.includes(p.mfaDefault as never) &&
        subsetOf(p.allowedMethods, METHOD_KINDS) &&
        isInt(p.rememberDays, 0, 365) &&
        ['until_enforced', 'never'].includes(p.legacyMainPassword as string) &&
        typeof a.allowed === 'boolean' &&
        typeof a.keepExistingWhenOff === 'boolean' &&
        typeof a.revokeOnPasswordChange === 'boolean' &&
        typeof a.notifyAdminsNewCountry === 'boolean' &&
        isInt(a.cap, 1, 200) &&
        subsetOf(a.protocols, PROTOCOLS) &&
        (a.maxLifetimeDays === null || isInt(a.maxLifetimeDays, 1, 3650)) &&
        (a.revokeUnusedDays === null || isInt(a.revokeUnusedDays, 1, 3650))
      );
    };
    const hasUnknownField = (b: unknown) => {
      if (typeof b !== 'object' || b === null || Array.isArray(b)) return false;
      const r = b as Record<string, unknown>;
      if ('orgId' in r || 'admin' in r) return true;
      return (
        typeof r.appPasswords === 'object' &&
        r.appPasswords !== null &&
        !Array.isArray(r.appPasswords) &&
        'unknown' in r.appPasswords
      );
    };
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const payload = JSON.stringify(b) ?? 'null';
        const res = await send({ method: 'PUT', url: '/api/v1/policy', headers: bearer, payload }, () =>
          payload.slice(0, 300),
        );
        assert.ok([200, 400, 413].includes(res.statusCode), `${res.statusCode} for ${payload.slice(0, 300)}`);
        const stored = await send(
          { method: 'GET', url: '/api/v1/policy', headers: { authorization: bearer.authorization } },
          () => 'GET /api/v1/policy',
        );
        assert.equal(stored.statusCode, 200);
        assert.ok(validPolicy(stored.json()), `stored ${stored.body} after ${payload.slice(0, 300)}`);
        if (res.statusCode === 200) {
          changed++;
          assert.ok(!hasUnknownField(b), `unknown field accepted: ${payload.slice(0, 300)}`);
          assert.deepEqual(res.json(), stored.json());
        }
      }),
      params(400),
    );
    assert.ok(changed >= scaled(5), `only ${changed} policy changes accepted`);
    await stillAlive();
  });

  it('POST /api/v1/users (admin): any JSON body; a user is added only with a well-formed address in the admin’s domain and a clean name', async () => {
    const bearer = { authorization: `Bearer ${eveToken}`, 'content-type': 'application/json' };
    let added = 0;
    const statuses = new Map<string, number>();
    const address = fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .tuple(
            fc.stringMatching(/^[a-zA-Z0-9._%+-]{1,20}$/),
            fc.constantFrom(
              '@fabrikam.test',
              '@FABRIKAM.test',
              '@contoso.test',
              '@fabrikam.test.',
              '@@fabrikam.test',
              '@sub.fabrikam.test',
              ' @fabrikam.test',
            ),
          )
          .map(([l, d]) => l + d),
      },
      { weight: 1, arbitrary: edited(fc.constant('new.user@fabrikam.test')) },
      { weight: 2, arbitrary: hostileString(80) },
      { weight: 1, arbitrary: json },
    );
    const body = fc.oneof(
      {
        weight: 8,
        arbitrary: fc
          .tuple(
            fc.record(
              {
                address,
                name: fc.oneof(
                  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }) },
                  { weight: 2, arbitrary: hostileString(120) },
                  { weight: 1, arbitrary: json },
                ),
                role: fc.oneof(
                  { weight: 4, arbitrary: fc.constantFrom('user', 'admin') },
                  { weight: 1, arbitrary: fc.constantFrom('root', 'ADMIN', '') },
                  { weight: 1, arbitrary: json },
                ),
              },
              { requiredKeys: ['address'] },
            ),
            fc.oneof(
              { weight: 8, arbitrary: fc.constant({}) },
              { weight: 1, arbitrary: fc.constantFrom({ password: 'x' }, { orgId: 'x' }, { status: 'active' }) },
            ),
          )
          .map(([a, extra]) => ({ ...a, ...extra })),
      },
      { weight: 1, arbitrary: json },
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const payload = JSON.stringify(b) ?? 'null';
        const res = await send({ method: 'POST', url: '/api/v1/users', headers: bearer, payload }, () =>
          payload.slice(0, 300),
        );
        const code = `${res.statusCode} ${res.statusCode === 201 ? '' : (res.json() as { error?: { code?: string } }).error?.code}`;
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
        if (res.statusCode !== 201) {
          assert.ok([400, 403, 409, 413].includes(res.statusCode), `${res.statusCode} for ${payload.slice(0, 300)}`);
          return;
        }
        added++;
        const r = b as Record<string, unknown>;
        assert.ok(!('password' in r || 'orgId' in r || 'status' in r), 'unknown field accepted');
        const typed = asSchemaString(r.address)!;
        const user = res.json().user as { address: string; name: string; role: string };
        assert.equal(user.address, normalizeAddress(typed).address);
        assert.ok(user.address.endsWith('@fabrikam.test'), user.address);
        assert.equal(
          user.name,
          normalizeDisplayName(r.name === undefined ? user.address.split('@')[0]! : asSchemaString(r.name)!),
        );
        assert.ok(['user', 'admin'].includes(user.role));
      }),
      params(250),
    );
    assert.ok(added >= scaled(5), `only ${added} users added: ${JSON.stringify([...statuses])}`);
    await stillAlive();
  });
});
