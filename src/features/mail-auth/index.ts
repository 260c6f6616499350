/**
 * The endpoints mail servers and proxies ask: Dovecot's Lua passdb (/auth/mail), nginx's mail
 * auth_http (/auth/nginx-mail), HTTP forward-auth (/auth/basic) and RFC 7662 introspection for
 * Dovecot's oauth2 passdb (/oauth2/introspect), and FreeRADIUS's rlm_rest (/auth/radius). All but /auth/basic answer only registered
 * integrations (Bearer key); only an integration's word about the client IP is believed.
 * Whatever the reason a password is not accepted (wrong, locked, refused by policy), the client
 * sees the same "wrong password"; a store failure is a *temporary* failure, never "wrong".
 */
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Feature } from '../../web/feature.js';
import type { Services } from '../../web/services.js';
import type { Integration, IntegrationEndpoint } from '../../domain/legacy/integrations.js';
import { normalizeAddress } from '../../domain/accounts/model.js';
import type { LegacyResult } from '../../domain/legacy/verifier.js';
import { storeFault } from '../../storage/store-faults.js';
import { isProtocol } from '../../domain/app-passwords/model.js';
import { isSesameError } from '../../domain/errors.js';

/** Control characters (CR, LF, NUL, ...) never belong in a user name or password sent by a mail client. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_USER = 320;
const MAX_PASSWORD = 1024;

function clean(user: unknown, password: unknown): { user: string; password: string } | undefined {
  if (typeof user !== 'string' || typeof password !== 'string') return undefined;
  if (user.length === 0 || user.length > MAX_USER || password.length === 0 || password.length > MAX_PASSWORD)
    return undefined;
  if (CONTROL.test(user) || CONTROL.test(password)) return undefined;
  return { user, password };
}

/** Dovecot service names to Sesame's protocols. */
const SERVICE = new Map(
  Object.entries({ imap: 'imap', pop3: 'pop3', submission: 'smtp', smtp: 'smtp', dav: 'dav', http: 'http' }),
);

/**
 * The protocol a body's service name stands for. Only a string names one: a lookup on a plain
 * object found "constructor" and "__proto__" (answered 503), and String() of a JSON value such as
 * [{"toString":1}] threw (500); see test/fuzz/http-parsers.test.ts.
 */
const protocolOf = (service: unknown) => (typeof service === 'string' ? SERVICE.get(service) : undefined);

/** The protocols a forward-auth proxy may name (`/auth/basic?protocol=`): plain HTTP apps, or CalDAV/CardDAV. */
const BASIC_PROTOCOLS = new Map(Object.entries({ http: 'http', dav: 'dav' }));

/** The protocols nginx's mail proxy sends as Auth-Protocol. */
const NGINX_PROTOCOLS = ['imap', 'pop3', 'smtp'];

/**
 * The client address an integration reports (`remoteIp` of /auth/mail): absent, null or empty (what
 * Dovecot's Lua sends when it has none) means the caller's own address; an IP literal is taken as
 * is; anything else is `invalid`, since it would key the per-IP throttle and fill the sign-in log
 * with whatever the caller wrote.
 */
function reportedIp(v: unknown, peer: string): string | 'invalid' {
  if (v === undefined || v === null || v === '') return peer;
  return typeof v === 'string' && v.length <= 64 && isIP(v) !== 0 ? v : 'invalid';
}

/**
 * The client address Dovecot's oauth2 passdb reports with `send_auth_headers = yes`:
 * X-Dovecot-Auth-Remote is `ip:port`, or `[ipv6]:port` (Dovecot's net_ipport2str). Believed only
 * from an integration whose key was checked, as `remoteIp` of /auth/mail; absent means the caller's
 * own address (an older configuration), anything else is `invalid`.
 */
function dovecotRemote(v: unknown, peer: string): string | 'invalid' {
  if (v === undefined) return peer;
  if (typeof v !== 'string' || v.length > 64) return 'invalid';
  const v6 = /^\[([^\]]+)\]:\d{1,5}$/.exec(v)?.[1];
  if (v6 !== undefined) return isIP(v6) === 6 ? v6 : 'invalid';
  const v4 = /^([^:]+):\d{1,5}$/.exec(v)?.[1];
  return v4 !== undefined && isIP(v4) === 4 ? v4 : 'invalid';
}

/**
 * One attribute of FreeRADIUS's rlm_rest JSON body (`body = 'json'`): `{"User-Name": {"type":
 * "string", "value": ["alice@example.com"]}}`; its first value when that is a string. Only own
 * properties are read (a body naming "__proto__" or "constructor" finds nothing).
 */
function radiusAttribute(body: Record<string, unknown>, name: string): string | undefined {
  if (!Object.hasOwn(body, name)) return undefined;
  const a = body[name];
  if (typeof a === 'string') return a;
  if (typeof a !== 'object' || a === null || !Object.hasOwn(a, 'value')) return undefined;
  const v = (a as { value: unknown }).value;
  const first = Array.isArray(v) ? (v as unknown[])[0] : v;
  return typeof first === 'string' ? first : undefined;
}

/** A RADIUS attribute that should hold an IP address: the literal, or undefined. */
function radiusIp(body: Record<string, unknown>, name: string): string | undefined {
  const v = radiusAttribute(body, name);
  return v !== undefined && v.length <= 64 && isIP(v) !== 0 ? v : undefined;
}

/**
 * The client address of a RADIUS request, for the sign-in log and the per-IP throttle. A VPN
 * gateway reports the client's own IP as Calling-Station-Id, and that is taken; a Wi-Fi access
 * point reports the device's MAC address there, which the device chooses freely, so it never keys
 * a throttle: the access point's (NAS-IP-Address, NAS-IPv6-Address) is taken instead, and failing
 * both FreeRADIUS's own. docs/radius.md says what this means for users behind one access point.
 */
function radiusClientIp(body: Record<string, unknown>, peer: string): string {
  return (
    radiusIp(body, 'Calling-Station-Id') ??
    radiusIp(body, 'NAS-IP-Address') ??
    radiusIp(body, 'NAS-IPv6-Address') ??
    peer
  );
}

/** What the sign-in log shows as the "user agent" of a RADIUS attempt: the access point and the device, cut short. */
function radiusAgent(body: Record<string, unknown>): string {
  const part = (label: string, name: string) => {
    const v = radiusAttribute(body, name);
    return v !== undefined && v !== '' && !CONTROL.test(v) ? `${label} ${v.slice(0, 64)}` : undefined;
  };
  return [
    'RADIUS',
    part('NAS', 'NAS-Identifier'),
    part('station', 'Calling-Station-Id'),
    part('called', 'Called-Station-Id'),
  ]
    .filter(Boolean)
    .join('; ');
}

/** Whether a user name is an address (what Sesame's accounts are named by); never throws. */
function isAddress(user: string): boolean {
  try {
    normalizeAddress(user);
    return true;
  } catch {
    return false;
  }
}

/** RFC 7617 Basic credentials; the scheme name is case-insensitive (RFC 9110 11.1), one or more spaces before the token68. */
const BASIC = /^basic +([A-Za-z0-9+/]+={0,2})$/i;

export function registerLegacyRoutes(app: FastifyInstance, ctx: Services) {
  // Mail servers ask on every connection: these answers never reach a browser (no security headers
  // needed), and every attempt is already in the sign-in log (no per-request access log lines).
  const hidden = { schema: { hide: true }, helmet: false as const, logLevel: 'warn' as const };
  const backends: Record<string, string> = {
    imap: ctx.config.mailBackendImap,
    pop3: ctx.config.mailBackendPop3,
    smtp: ctx.config.mailBackendSmtp,
  };

  /** The protocol as a metrics label: a client-chosen string (nginx's Auth-Protocol) must not make new series. */
  const protocolLabel = (p: string) => (isProtocol(p) ? p : 'other');

  /** Runs a verification; a store failure becomes `temporary`. Counted either way (by protocol, outcome and reason). */
  function verify(
    req: FastifyRequest,
    a: { user: string; password: string; protocol: string; ip: string },
  ): Promise<LegacyResult | 'temporary'> {
    return verifyAs(req, a, String(req.headers['user-agent'] ?? ''));
  }

  /** verify() with the user agent the sign-in log shows given (RADIUS: the access point and the device). */
  async function verifyAs(
    req: FastifyRequest,
    a: { user: string; password: string; protocol: string; ip: string },
    userAgent: string,
  ): Promise<LegacyResult | 'temporary'> {
    try {
      const r = await ctx.legacy.verify({ ...a, userAgent });
      ctx.metrics.verification(protocolLabel(a.protocol), r.outcome, r.reason);
      return r;
    } catch (e) {
      // Password hashing saturated (the Argon2 queue refused to wait longer): the client retries later.
      if (isSesameError(e) && e.code === 'busy') {
        req.log.warn({ code: 'busy', detail: e.detail }, 'legacy verification refused: answering temporary failure');
        ctx.metrics.verification(protocolLabel(a.protocol), 'temporary', 'busy');
        return 'temporary';
      }
      req.log.error(
        { code: storeFault(e)?.code ?? 'internal', err: e instanceof Error ? e.message : String(e) },
        'legacy verification failed: answering temporary failure',
      );
      ctx.metrics.verification(protocolLabel(a.protocol), 'temporary', 'store_unavailable');
      return 'temporary';
    }
  }

  /** Logs an attempt refused before any check (bad input), so it still shows in the sign-in log. */
  async function logInvalid(req: FastifyRequest, user: unknown, protocol: string, ip: string) {
    ctx.metrics.verification(protocolLabel(protocol), 'wrong', 'invalid_input');
    await ctx.legacy
      .logRejected({
        user: typeof user === 'string' ? user : '',
        protocol,
        ip,
        userAgent: String(req.headers['user-agent'] ?? ''),
      })
      .catch(() => undefined);
  }

  /** The calling integration, or an answer already sent: 401 for a missing or wrong key, a temporary failure when the store cannot say. */
  async function integration(req: FastifyRequest, reply: FastifyReply) {
    let i;
    try {
      i = await ctx.integrations.verify(req.headers.authorization);
    } catch (e) {
      req.log.error(
        { code: storeFault(e)?.code ?? 'internal', err: e instanceof Error ? e.message : String(e) },
        'integration key check failed: answering temporary failure',
      );
      if (req.url.startsWith('/auth/nginx-mail'))
        void reply
          .code(200)
          .header('auth-status', 'Temporary server problem, try again later')
          .header('auth-wait', '5')
          .send();
      else void reply.code(503).send({ result: 'temporary' });
      return undefined;
    }
    if (!i) {
      // Remembered (bounded, in memory, saved every ~10 s) for `sesame integration check`: it cannot be tied to a name.
      ctx.integrations.noteBadKey({
        endpoint: endpointOf(req),
        peer: req.ip,
        keySent: /^Bearer sesame_int_/.test(req.headers.authorization ?? ''),
      });
      req.log.warn('legacy auth call without a valid integration key');
      void reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="sesame-integrations"')
        .send({ error: 'integration key required' });
    }
    return i;
  }

  /**
   * A call that names a service or protocol Sesame does not know is the integration's configuration
   * error, not a wrong password (`doveadm auth test` sends service `doveadm`): answered 400 with what
   * is wrong, logged as a warning naming the integration, kept as its last configuration error
   * (`sesame integration list`), and neither logged as a sign-in nor counted by any lockout.
   */
  function configError(
    req: FastifyRequest,
    i: Integration,
    what: 'service' | 'protocol' | 'remoteIp' | 'user',
    value: unknown,
  ) {
    const shown =
      typeof value === 'string'
        ? JSON.stringify(value.slice(0, 40))
        : `(${value === undefined ? 'none' : typeof value})`;
    const endpoint = endpointOf(req);
    // A malformed address: never the user name itself in the log or the store (it may be a
    // person's login typed wrong); a remoteIp is the integration's own field and shown cut short.
    const detail =
      what === 'user'
        ? `a user name that is not an address (no @domain) on ${endpoint}; send the full address (Dovecot: %{user}, not %{username})`
        : what === 'remoteIp'
          ? `remoteIp ${shown} is not an IP address on ${endpoint}; send the client's IP (Dovecot: %{client_ip}) or nothing`
          : `unknown ${what} name ${shown} on ${endpoint}; Sesame knows ${what === 'service' ? [...SERVICE.keys()].join(', ') : NGINX_PROTOCOLS.join(', ')}`;
    req.log.warn(
      { integration: i.name, code: 'integration_config_error', detail },
      `integration configuration error: ${what === 'user' ? 'answered as a wrong password' : 'answered 400'}`,
    );
    ctx.integrations.reportConfigError(i, detail);
    return detail;
  }

  /** The route a request reached (no query string): one of a few fixed names. */
  function endpointOf(req: FastifyRequest): IntegrationEndpoint {
    return (req.routeOptions.url ?? req.url.split('?')[0]) as IntegrationEndpoint;
  }

  /** Notes what an integration sent with its good key (memory only: see Integrations.noteUse). */
  function seen(
    req: FastifyRequest,
    i: Integration,
    outcome: 'answered' | 'config_error',
    service: unknown,
    reported?: unknown,
  ) {
    // No object spread: this runs on every request (see Integrations.noteUse).
    ctx.integrations.noteUse(i, {
      endpoint: endpointOf(req),
      outcome,
      peer: req.ip,
      service: typeof service === 'string' ? service : undefined,
      reportedAddress: typeof reported === 'string' && reported !== '' ? reported : undefined,
    });
  }

  app.post('/auth/mail', { ...hidden, bodyLimit: 32 * 1024 }, async (req, reply) => {
    const caller = await integration(req, reply);
    if (!caller) return reply;
    const b = (req.body ?? {}) as Record<string, unknown>;
    const protocol = protocolOf(b.service);
    if (!protocol) {
      seen(req, caller, 'config_error', b.service, b.remoteIp);
      return reply.code(400).send({ result: 'invalid', error: configError(req, caller, 'service', b.service) });
    }
    const ip = reportedIp(b.remoteIp, req.ip);
    if (ip === 'invalid') {
      // A broken integration, not a wrong password: Dovecot's script answers a temporary failure and logs the status.
      seen(req, caller, 'config_error', b.service, typeof b.remoteIp === 'string' ? b.remoteIp : undefined);
      configError(req, caller, 'remoteIp', b.remoteIp);
      await logInvalid(req, b.user, protocol, req.ip);
      return reply.code(400).send({ result: 'invalid', error: 'remoteIp must be an IP address' });
    }
    const input = clean(b.user, b.password);
    // A user name that is no address: Dovecot sending %{username} (no domain) makes every login
    // fail; a person's typo looks the same, so it is answered as ever and only shown to the operator.
    const malformed = input !== undefined && !isAddress(input.user);
    seen(req, caller, malformed ? 'config_error' : 'answered', b.service, b.remoteIp);
    if (malformed) configError(req, caller, 'user', undefined);
    if (!input) {
      await logInvalid(req, b.user, protocol, ip);
      return reply.code(401).send({ result: 'wrong' });
    }
    const r = await verify(req, { ...input, protocol, ip });
    if (r === 'temporary') return reply.code(503).send({ result: 'temporary' });
    if (r.outcome === 'ok') return reply.code(200).send({ result: 'ok', user: r.address });
    return reply.code(r.outcome === 'refused' ? 403 : 401).send({ result: 'wrong' });
  });

  /**
   * FreeRADIUS's rlm_rest, in the authenticate section (`sesame integration config freeradius`):
   * PAP, on its own or inside EAP-TTLS. The body is rlm_rest's JSON of the request's attributes.
   * rlm_rest maps 204 to `ok` and 401 to `reject` (and reads a 401's body as attributes: it has
   * none); 503 is `fail`, which FreeRADIUS answers with a reject as well, but logs as a failure.
   * Every refusal looks the same to the client, as on the mail endpoints.
   */
  app.post('/auth/radius', { ...hidden, bodyLimit: 32 * 1024 }, async (req, reply) => {
    const caller = await integration(req, reply);
    if (!caller) return reply;
    const b = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const ip = radiusClientIp(b, req.ip);
    const user = radiusAttribute(b, 'User-Name');
    const input = clean(user, radiusAttribute(b, 'User-Password'));
    seen(req, caller, 'answered', 'radius', ip === req.ip ? undefined : ip);
    const userAgent = radiusAgent(b);
    if (!input) {
      ctx.metrics.verification('radius', 'wrong', 'invalid_input');
      await ctx.legacy.logRejected({ user: user ?? '', protocol: 'radius', ip, userAgent }).catch(() => undefined);
      return reply.code(401).send();
    }
    const r = await verifyAs(req, { ...input, protocol: 'radius', ip }, userAgent);
    if (r === 'temporary') return reply.code(503).send();
    return reply.code(r.outcome === 'ok' ? 204 : 401).send();
  });

  app.get('/auth/nginx-mail', hidden, async (req, reply) => {
    const caller = await integration(req, reply);
    if (!caller) return reply;
    const h = req.headers;
    const protocol = String(h['auth-protocol'] ?? '').toLowerCase();
    // nginx takes any answer but 200 as its auth server failing: it logs it and gives the client a
    // temporary error, which is what a configuration error should be (never "wrong password").
    if (!NGINX_PROTOCOLS.includes(protocol)) {
      seen(req, caller, 'config_error', h['auth-protocol'], h['client-ip']);
      return reply
        .code(400)
        .send({ result: 'invalid', error: configError(req, caller, 'protocol', h['auth-protocol']) });
    }
    const smtp = protocol === 'smtp';
    const fail = (wait: number) => {
      void reply.header('auth-status', 'Invalid login or password').header('auth-wait', String(wait));
      if (smtp) void reply.header('auth-error-code', '535 5.7.8');
      return reply.code(200).send();
    };
    let user: string | undefined;
    let password: string | undefined;
    try {
      user = decodeURIComponent(String(h['auth-user'] ?? ''));
      password = decodeURIComponent(String(h['auth-pass'] ?? ''));
    } catch {
      user = undefined;
    }
    const ip = String(h['client-ip'] ?? req.ip).slice(0, 64);
    const input = clean(user, password);
    const malformed = input !== undefined && !isAddress(input.user);
    seen(req, caller, malformed ? 'config_error' : 'answered', protocol, h['client-ip']);
    if (malformed) configError(req, caller, 'user', undefined);
    if (!input) {
      await logInvalid(req, user, protocol, ip);
      return fail(3);
    }
    const r = await verify(req, { ...input, protocol, ip });
    if (r === 'temporary') {
      void reply.header('auth-status', 'Temporary server problem, try again later').header('auth-wait', '5');
      if (smtp) void reply.header('auth-error-code', '451 4.3.0');
      return reply.code(200).send();
    }
    if (r.outcome !== 'ok') return fail(Math.min(Math.max(r.retryAfterSeconds ?? 3, 3), 60));
    const backend = backends[protocol];
    const m = backend ? /^(.*):(\d+)$/.exec(backend) : null;
    if (!m) {
      req.log.error({ protocol }, 'no mail backend configured for this protocol (SESAME_MAIL_BACKEND_*)');
      void reply.header('auth-status', 'Temporary server problem, try again later').header('auth-wait', '5');
      return reply.code(200).send();
    }
    // Auth-User: nginx logs in to the backend (or sends XCLIENT LOGIN=) as this name instead of what
    // the client typed, so the backend serves exactly the account Sesame checked, in its canonical form.
    return reply
      .code(200)
      .header('auth-status', 'OK')
      .header('auth-user', r.address!)
      .header('auth-server', m[1]!.replace(/^\[|\]$/g, ''))
      .header('auth-port', m[2]!)
      .send();
  });

  app.get('/auth/basic', hidden, async (req, reply) => {
    // The protocol the proxy protects, fixed in its generated configuration (`?protocol=dav` in
    // front of a CalDAV/CardDAV server): an app password allowed for DAV only works there and
    // nowhere else. A name Sesame does not know is the proxy's configuration error, as an unknown
    // service on /auth/mail: 400 saying so, before any check, and neither logged as a sign-in nor
    // counted (no integration key here, so there is no integration to keep it on).
    const asked = (req.query as Record<string, unknown> | undefined)?.protocol;
    const protocol = asked === undefined ? 'http' : typeof asked === 'string' ? BASIC_PROTOCOLS.get(asked) : undefined;
    if (!protocol) {
      const shown = typeof asked === 'string' ? JSON.stringify(asked.slice(0, 40)) : '(several)';
      const error = `unknown protocol name ${shown} on /auth/basic; Sesame knows ${[...BASIC_PROTOCOLS.keys()].join(', ')}`;
      req.log.warn(
        { code: 'integration_config_error', detail: error },
        'forward-auth configuration error: answered 400',
      );
      return reply.code(400).send({ result: 'invalid', error });
    }
    const challenge = () => reply.code(401).header('www-authenticate', 'Basic realm="Sesame", charset="UTF-8"').send();
    const hdr = req.headers.authorization;
    const m = hdr && hdr.length <= 4096 ? BASIC.exec(hdr) : null;
    if (!m) return challenge();
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // RFC 7617: the user-id ends at the first colon; without one there is no password.
    const input = colon > 0 ? clean(decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined;
    if (!input) {
      await logInvalid(req, colon > 0 ? decoded.slice(0, colon) : '', protocol, req.ip);
      return challenge();
    }
    const r = await verify(req, { ...input, protocol, ip: req.ip });
    if (r === 'temporary') return reply.code(503).header('retry-after', '5').send();
    if (r.outcome !== 'ok') return challenge();
    // Header values must not carry CR/LF: names are checked at creation, and encoded here as well.
    // X-Remote-User carries the same address as Remote-User: it is the header Radicale's
    // `http_x_remote_user` trusts, so a proxy copies it to the backend as it is (docs/forward-auth.md).
    return reply
      .code(200)
      .header('remote-user', r.address!)
      .header('x-remote-user', r.address!)
      .header('remote-email', r.address!)
      .header('remote-name', encodeURIComponent(r.name ?? r.address!))
      .header('cache-control', 'no-store')
      .send();
  });

  app.post('/oauth2/introspect', { ...hidden, bodyLimit: 16 * 1024 }, async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const bearer =
      req.headers.authorization ?? (typeof b.client_secret === 'string' ? `Bearer ${b.client_secret}` : undefined);
    let i;
    try {
      i = await ctx.integrations.verify(bearer);
    } catch (e) {
      // The store cannot say whether the key is good: a temporary failure, never "invalid client".
      req.log.error(
        { code: storeFault(e)?.code ?? 'internal', err: e instanceof Error ? e.message : String(e) },
        'integration key check failed: answering temporary failure',
      );
      return reply.code(503).send({ error: 'temporarily_unavailable' });
    }
    if (!i) {
      ctx.integrations.noteBadKey({ endpoint: endpointOf(req), peer: req.ip, keySent: bearer !== undefined });
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="sesame-integrations"')
        .send({ error: 'invalid_client' });
    }
    const token = typeof b.token === 'string' ? b.token : '';
    const protocol = protocolOf(b.client_id) ?? 'imap';
    const remote = req.headers['x-dovecot-auth-remote'];
    const ip = dovecotRemote(remote, req.ip);
    if (ip === 'invalid') {
      // Dovecot never sends this: a configuration error of the integration, nothing checked or logged as a sign-in.
      seen(req, i, 'config_error', b.client_id, typeof remote === 'string' ? remote : undefined);
      configError(req, i, 'remoteIp', remote);
      return reply.code(400).send({ error: 'invalid_request' });
    }
    seen(req, i, 'answered', b.client_id, ip);
    if (!token || token.length > MAX_PASSWORD || CONTROL.test(token)) return reply.send({ active: false });
    try {
      const owner = await ctx.legacy.ownerOf(token);
      if (!owner) return reply.send({ active: false });
      const r = await ctx.legacy.verify({
        user: owner,
        password: token,
        protocol,
        ip,
        userAgent: `introspection:${i.name}`,
      });
      ctx.metrics.verification(protocol, r.outcome, r.reason);
      return reply
        .header('cache-control', 'no-store')
        .send(r.outcome === 'ok' ? { active: true, username: owner } : { active: false });
    } catch (e) {
      req.log.error({ err: e instanceof Error ? e.message : String(e) }, 'introspection failed');
      ctx.metrics.verification(protocol, 'temporary', 'store_unavailable');
      return reply.code(503).send({ error: 'temporarily_unavailable' });
    }
  });
}

/**
 * GET /auth/integration-check: an operator's test of a key by hand (curl, docs/integrations.md).
 * The same key check as the endpoints above (a keyed hash, cached a minute), nothing more, so it
 * costs no more than their refusal of a bad key; a good key counts as seen (`sesame integration check`).
 */
export function registerIntegrationCheck(app: FastifyInstance, ctx: Services) {
  app.get(
    '/auth/integration-check',
    { schema: { hide: true }, helmet: false, logLevel: 'warn' },
    async (req, reply) => {
      let i;
      try {
        i = await ctx.integrations.verify(req.headers.authorization);
      } catch (e) {
        req.log.error(
          { code: storeFault(e)?.code ?? 'internal', err: e instanceof Error ? e.message : String(e) },
          'integration key check failed: answering temporary failure',
        );
        return reply.code(503).send({ result: 'temporary' });
      }
      if (!i) {
        ctx.integrations.noteBadKey({
          endpoint: '/auth/integration-check',
          peer: req.ip,
          keySent: /^Bearer sesame_int_/.test(req.headers.authorization ?? ''),
        });
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="sesame-integrations"')
          .header('cache-control', 'no-store')
          .send({ error: 'integration key required' });
      }
      ctx.integrations.noteUse(i, { endpoint: '/auth/integration-check', peer: req.ip, outcome: 'answered' });
      return reply.header('cache-control', 'no-store').send({ integration: i.name });
    },
  );
}

/** The endpoints mail servers and proxies ask: /auth/mail, /auth/nginx-mail, /auth/basic, /oauth2/introspect, /auth/radius. */
export const mailAuth: Feature = {
  machines: (app, s) => {
    registerLegacyRoutes(app, s);
    registerIntegrationCheck(app, s);
  },
};
