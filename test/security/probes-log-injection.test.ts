/**
 * Black-box probe (issue #7, checklist 37): log injection. A user agent with CR/LF (sent as raw
 * bytes on a socket, since fetch refuses to), the same percent-encoded, and CR/LF in the typed
 * address, the legacy user name and the client IP an integration reports, on the sign-in form,
 * the JSON API and the legacy endpoints. None may forge a line in the operator's log (the server's
 * stdout at LOG_LEVEL=info: every line must parse as one JSON object, and none may say what the
 * attacker wrote as its own message) or a row in the sign-in log (read back through the admin API:
 * no raw CR, LF or NUL in any field).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { FetchBrowser } from '../support/fetch-browser.js';
import {
  basic,
  bearer,
  call,
  csrfOf,
  form,
  rawHttp,
  signInLog,
  startProbeServer,
  type ProbeServer,
} from '../support/probes.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42' };
const BOB = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77' };
/** What the attacker wants the log to say: a line of its own, at level fatal, with this message. */
const FORGED = '{"level":60,"time":1,"msg":"FORGED-LINE"}';

describe('probes: log injection', () => {
  let probe: ProbeServer;
  let key = '';

  before(async () => {
    const started = await startProbeServer('logs', { LOG_LEVEL: 'info' }, async (ctx) => {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
      await ctx.accounts.addUser(OPERATOR, BOB);
      return (await ctx.integrations.add('dovecot')).key;
    });
    probe = started.probe;
    key = started.setupResult;
  });
  after(async () => probe?.stop());

  /** A raw request with `userAgent` as the header's bytes, whatever they are. */
  const raw = (method: string, path: string, userAgent: string, body = '', headers: Record<string, string> = {}) =>
    rawHttp(
      probe.port,
      Buffer.concat([
        Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${probe.port}\r\n`),
        Buffer.from(`User-Agent: ${userAgent}\r\n`, 'latin1'),
        Buffer.from(
          Object.entries(headers)
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join(''),
        ),
        Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`),
      ]),
    );

  it('extra probe: a user agent with CR/LF (raw or %0d%0a) or CR/LF in typed names forges no line in the server log and no row in the sign-in log', async (t) => {
    const json = JSON.stringify({ email: BOB.address, password: 'wrong-password-1' });
    const jsonHeaders = { 'Content-Type': 'application/json' };
    // [user agent, the status it gets: 400 when Node's HTTP parser refuses the request at the door]
    const agents: [string, number][] = [
      [`Evil\r\n${FORGED}`, 400], // CRLF: ends the header; the forged text is then a malformed header line
      [`Evil\n${FORGED}`, 400], // a bare LF
      [`Evil\r${FORGED}`, 400], // a bare CR
      [`Evil\r\n ${FORGED}`, 400], // CRLF then a space: an obsolete folded continuation of the same header
      [`Evil\u0085${FORGED}`, 401], // NEL (latin-1 0x85), a line break to some log viewers: passes the parser
      [`Evil%0d%0a${FORGED}`, 401], // percent-encoded: passes, and must stay text
    ];
    const answered: string[] = [];
    for (const [ua, status] of agents) {
      for (const [method, path, body, headers] of [
        ['POST', '/api/v1/sessions', json, jsonHeaders],
        ['GET', '/auth/basic', '', { Authorization: basic(BOB.address, 'wrong-password-2').authorization }],
        [
          'POST',
          '/auth/mail',
          JSON.stringify({ user: BOB.address, password: 'wrong-password-3', service: 'imap' }),
          { ...jsonHeaders, Authorization: `Bearer ${key}` },
        ],
      ] as [string, string, string, Record<string, string>][]) {
        const r = await raw(method, path, ua, body, headers);
        answered.push(`${JSON.stringify(ua.slice(0, 8))} ${path}: ${r.status}`);
        assert.equal(r.status, status, `${JSON.stringify(ua)} on ${path}`);
      }
    }
    t.diagnostic(answered.join('; '));

    // CR/LF that arrive decoded in a field rather than a header: the form (percent-encoded), JSON, and what integrations report.
    const b = new FetchBrowser(base());
    const page = await b.get('/signin');
    await b.request(
      '/signin',
      form(
        { _csrf: csrfOf(page.body), email: `bob\r\n${FORGED}@contoso.test`, password: 'wrong-password-4' },
        { 'user-agent': `Evil%0d%0a${FORGED}` },
      ),
    );
    await call(base(), 'POST', '/api/v1/sessions', {
      email: `x\r\n${FORGED}\r\n@contoso.test`,
      password: 'wrong-password-5',
    });
    await call(
      base(),
      'POST',
      '/auth/mail',
      { user: `bob@contoso.test\r\n${FORGED}`, password: 'wrong-password-6', service: 'imap' },
      bearer(key),
    );
    await call(
      base(),
      'POST',
      '/auth/mail',
      { user: BOB.address, password: 'wrong-password-7', service: 'imap', remoteIp: `192.0.2.1\r\n${FORGED}` },
      bearer(key),
    );
    await call(base(), 'GET', '/auth/nginx-mail', undefined, {
      ...bearer(key),
      'auth-user': encodeURIComponent(`bob@contoso.test\r\n${FORGED}`),
      'auth-pass': 'x',
      'auth-protocol': 'imap',
      'client-ip': `192.0.2.1%0d%0a${FORGED}`,
    });
    await call(base(), 'GET', `/nope%0d%0a${encodeURIComponent(FORGED)}`);

    // The sign-in log, as the admin reads it: every row is one row, with no raw line breaks in any field.
    const adminToken = await adminApiToken(base(), ADMIN);
    const rows = await signInLog(base(), adminToken);
    const evil = rows.filter((e) => e.userAgent.startsWith('Evil'));
    // The two agents that pass the parser, on three endpoints each, and the form's.
    // Identical failures are one row with a count (issue #15, item 4): count attempts, not rows.
    assert.equal(
      evil.reduce((n, e) => n + e.count, 0),
      7,
      `the hostile agents reached the sign-in log: ${JSON.stringify(evil.map((e) => e.userAgent))}`,
    );
    for (const e of rows) {
      for (const [field, value] of Object.entries({
        addressTyped: e.addressTyped,
        userAgent: e.userAgent,
        ip: e.ip,
        protocol: e.protocol,
      })) {
        assert.doesNotMatch(value, /[\r\n\u0000\u0085\u2028\u2029]/, `sign-in log ${field}: ${JSON.stringify(value)}`);
      }
    }
    assert.ok(
      rows.some((e) => e.userAgent === `Evil%0d%0a${FORGED}`),
      'percent-encoded text is kept as text',
    );
    assert.ok(
      rows.some((e) => e.userAgent === `Evil\uFFFD${FORGED}`),
      'a control character is replaced, visibly',
    );
    assert.ok(
      rows.some((e) => e.addressTyped === `bob\uFFFD\uFFFD${FORGED}@contoso.test`),
      'CR/LF typed in the form are replaced',
    );

    // The operator's log: let the last lines be written, then every line must be one JSON object.
    await new Promise((r) => setTimeout(r, 300));
    const lines = probe.server
      .output()
      .split('\n')
      .filter((l) => l.length > 0);
    const parsed = lines.map((l, i) => {
      try {
        return JSON.parse(l) as { level: number; msg?: string; req?: { userAgent?: string } };
      } catch {
        return assert.fail(
          `log line ${i + 1} is not JSON (a forged or broken line): ${JSON.stringify(l.slice(0, 200))}`,
        );
      }
    });
    for (const p of parsed) {
      assert.equal(typeof p, 'object');
      assert.equal(typeof p.level, 'number');
      assert.notEqual(p.msg, 'FORGED-LINE', 'the attacker wrote a log line of its own');
    }
    // The probe reached the log: the hostile agents are there, as escaped strings inside real lines.
    const logged = parsed.filter((p) => p.req?.userAgent?.startsWith('Evil'));
    assert.ok(logged.length > 0, 'requests with the hostile agents were logged');
    t.diagnostic(`${lines.length} log lines, ${logged.length} with a hostile user agent, all JSON`);
  });

  const base = () => probe.base;
});
