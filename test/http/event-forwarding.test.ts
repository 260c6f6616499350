/**
 * Events forwarded to a SIEM, on both stores and both syslog transports: real listeners on
 * 127.0.0.1 (UDP datagrams, TCP with RFC 6587 octet counting, an HTTP webhook) receive every
 * sign-in (web, API, legacy), lock and audit event, as RFC 5424 lines whose every field is parsed
 * and checked (structured data escaping included) and as signed JSON posts, retried after a 500.
 * No password, app password or token ever appears in what is sent.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { escapeSdValue, formatRfc5424, octetCounted, parseSyslogUrl } from '../../src/adapters/messaging/syslog.js';
import { createEventForwarder } from '../../src/adapters/messaging/event-forwarder.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { STORE_KINDS } from '../support/stores.js';
import { Browser, makeWorld, USER, type World } from '../support/world.js';

const SECRET = 'forwarding-secret-0123456789';
const EVIL_AGENT = 'Evil "agent"] \\ [x=y] ünïcode';

interface Syslog {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  app: string;
  procId: string;
  msgId: string;
  sd: { id: string; params: Record<string, string> }[];
  msg: string;
}

/** An RFC 5424 parser written from the grammar (section 6), independent of the code under test. */
function parseRfc5424(line: string): Syslog {
  const head = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(line);
  assert.ok(head, `not an RFC 5424 header: ${line}`);
  let i = head[0].length;
  const sd: Syslog['sd'] = [];
  if (line[i] === '-') i++;
  else {
    while (line[i] === '[') {
      i++;
      const id = /^[^ \]=" ]+/.exec(line.slice(i))![0];
      i += id.length;
      const params: Record<string, string> = {};
      while (line[i] === ' ') {
        i++;
        const name = /^[^ \]=" ]+/.exec(line.slice(i))![0];
        i += name.length;
        assert.equal(line.slice(i, i + 2), '="', `param ${name} in ${line}`);
        i += 2;
        let value = '';
        for (;;) {
          const c = line[i]!;
          assert.ok(c !== undefined, `unterminated value in ${line}`);
          if (c === '\\' && ['"', '\\', ']'].includes(line[i + 1]!)) {
            value += line[i + 1];
            i += 2;
          } else if (c === '"') {
            i++;
            break;
          } else {
            assert.notEqual(c, ']', `unescaped ] in a value: ${line}`);
            value += c;
            i++;
          }
        }
        params[name] = value;
      }
      assert.equal(line[i], ']', `SD element not closed: ${line}`);
      i++;
      sd.push({ id, params });
    }
  }
  if (line[i] !== ' ') assert.equal(i, line.length);
  const msg = line[i] === ' ' ? line.slice(i + 1) : '';
  return {
    pri: Number(head[1]),
    version: head[2]!,
    timestamp: head[3]!,
    hostname: head[4]!,
    app: head[5]!,
    procId: head[6]!,
    msgId: head[7]!,
    sd,
    msg,
  };
}

/** Splits an octet-counted TCP stream (RFC 6587 3.4.1) into messages; asserts it is well framed. */
function octetFrames(buf: Buffer): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    const len = Number(buf.subarray(i, sp).toString('ascii'));
    assert.ok(sp > i && Number.isInteger(len) && len > 0, `bad frame length at byte ${i}`);
    out.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    i = sp + 1 + len;
  }
  assert.equal(i, buf.length, 'the stream ends on a frame boundary');
  return out;
}

async function until(what: string, ok: () => boolean, ms = 8000) {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('forwarding without a store', () => {
  it('escapes ", \\ and ] in values, cuts header fields to the grammar, and frames by octets', () => {
    assert.equal(escapeSdValue('a"b\\c]d'), 'a\\"b\\\\c\\]d');
    const line = formatRfc5424({
      facility: 10,
      severity: 5,
      timestamp: Date.UTC(2026, 10, 27, 6, 0, 0, 123),
      hostname: 'host name',
      appName: 'x'.repeat(60),
      procId: '',
      msgId: 'sign_in',
      sd: [
        {
          id: 'sesame@32473',
          params: [
            ['ua', 'q"]\\'],
            ['bad=name', 'v'],
          ],
        },
      ],
      msg: 'line\nbreak',
    });
    assert.equal(
      line,
      `<85>1 2026-11-27T06:00:00.123Z hostname ${'x'.repeat(48)} - sign_in [sesame@32473 ua="q\\"\\]\\\\" badname="v"] line break`,
    );
    assert.deepEqual(parseRfc5424(line).sd, [{ id: 'sesame@32473', params: { ua: 'q"]\\', badname: 'v' } }]);
    assert.equal(octetCounted('ü'), '2 ü', 'the length counts bytes, not characters');
    assert.deepEqual(parseSyslogUrl('tcp://127.0.0.1:6514'), { protocol: 'tcp', host: '127.0.0.1', port: 6514 });
    assert.deepEqual(parseSyslogUrl('udp://[::1]'), { protocol: 'udp', host: '::1', port: 514 });
    for (const bad of ['http://x:1', 'udp://', 'tcp://h:1/path', 'nonsense'])
      assert.ok(parseSyslogUrl(bad) instanceof Error, bad);
  });

  it('configuration: a webhook needs a secret of 16+ characters and no credentials in its URL; syslog URLs are udp or tcp', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ LOG_LEVEL: 'silent', ...env });
        return [];
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.problems;
      }
    };
    assert.deepEqual(
      problems({
        SESAME_EVENT_WEBHOOK_URL: 'https://siem.example/in',
        SESAME_EVENT_WEBHOOK_SECRET: SECRET,
        SESAME_SYSLOG_URL: 'tcp://siem.example:601',
        SESAME_SYSLOG_FACILITY: '13',
      }),
      [],
    );
    assert.match(
      problems({ SESAME_EVENT_WEBHOOK_URL: 'https://siem.example/in', SESAME_EVENT_WEBHOOK_SECRET: 'short' }).join(
        '\n',
      ),
      /SESAME_EVENT_WEBHOOK_SECRET must be set, at least 16 characters/,
    );
    const withCreds = problems({
      SESAME_EVENT_WEBHOOK_URL: 'https://user:hunter2hunter2@siem.example/in',
      SESAME_EVENT_WEBHOOK_SECRET: SECRET,
    }).join('\n');
    assert.match(withCreds, /SESAME_EVENT_WEBHOOK_URL must not contain a user name or password/);
    assert.doesNotMatch(withCreds, /hunter2/);
    assert.match(
      problems({ SESAME_SYSLOG_URL: 'syslog.example:514' }).join('\n'),
      /SESAME_SYSLOG_URL="syslog.example:514" must be udp:\/\/host:port or tcp:\/\/host:port/,
    );
    assert.match(problems({ SESAME_SYSLOG_FACILITY: '24' }).join('\n'), /SESAME_SYSLOG_FACILITY/);
  });

  it('syslog over TCP connects again after the server dropped the connection', async () => {
    const conns: net.Socket[] = [];
    let bytes = Buffer.alloc(0);
    const server = net.createServer((s) => {
      conns.push(s);
      s.on('data', (d) => (bytes = Buffer.concat([bytes, d])));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const f = createEventForwarder(
      { eventWebhookUrl: '', eventWebhookSecret: '', syslogUrl: url, syslogFacility: 13 },
      { warn: () => undefined, error: () => undefined },
      { retryDelayMs: 50, retryMaxDelayMs: 100, intervalMs: 10, hostname: 'sesame-1' },
    )!;
    try {
      assert.deepEqual(f.destinations, [`syslog ${url}`]);
      f.publish({ type: 'lockout', id: 'first', at: Date.now(), scope: 'legacy', target: 'ip' });
      await until('the first line', () => octetFrames(bytes).length === 1);
      conns[0]!.destroy();
      await new Promise((r) => setTimeout(r, 100));
      f.publish({ type: 'lockout', id: 'second', at: Date.now(), scope: 'legacy', target: 'account' });
      await until('the second line', () => octetFrames(bytes).length === 2);
      assert.equal(conns.length, 2, 'a new connection');
      const second = parseRfc5424(octetFrames(bytes)[1]!);
      assert.deepEqual(
        [second.pri, second.hostname, second.msgId, second.sd[0]!.params.id, second.sd[0]!.params.target, second.msg],
        [13 * 8 + 4, 'sesame-1', 'lockout', 'second', 'account', 'legacy account locked'],
      );
    } finally {
      await f.close();
      for (const s of conns) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a webhook that never answers delays nothing, costs one timeout per pass (not one per batch), and what it never took is reported lost, once', async () => {
    const held: http.ServerResponse[] = [];
    const hang = http.createServer((_req, res) => held.push(res));
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    const errors: { lost?: number }[] = [];
    const log = { warn: () => undefined, error: (o: object) => errors.push(o as { lost?: number }) };
    const f = createEventForwarder(
      {
        eventWebhookUrl: `http://127.0.0.1:${(hang.address() as net.AddressInfo).port}/`,
        eventWebhookSecret: SECRET,
        syslogUrl: '',
        syslogFacility: 10,
      },
      log,
      { timeoutMs: 200, retries: 1, retryDelayMs: 50, intervalMs: 10 },
    )!;
    try {
      const t0 = performance.now();
      // 350 events: four batches of at most 100.
      for (let i = 0; i < 350; i++)
        f.publish({ type: 'lockout', id: `l${i}`, at: Date.now(), scope: 'browser', target: 'ip' });
      assert.ok(performance.now() - t0 < 50, 'publishing is a queue push');
      await until('the first attempt', () => held.length >= 1);
      const t1 = performance.now();
      await f.close();
      assert.ok(
        performance.now() - t1 < 4 * 200,
        `closing waited for one timeout per pass, not one per batch (${Math.round(performance.now() - t1)} ms)`,
      );
      assert.equal(
        held.length <= 3,
        true,
        `the dead webhook was asked once per pass, not once per batch (${held.length} requests)`,
      );
      assert.equal(
        errors.reduce((n, e) => n + (e.lost ?? 0), 0),
        350,
      );
    } finally {
      for (const r of held) r.destroy();
      await new Promise<void>((r) => hang.close(() => r()));
    }
  });
});

for (const kind of STORE_KINDS) {
  for (const transport of ['udp', 'tcp'] as const) {
    describe(`event forwarding on ${kind} over syslog ${transport} and a webhook`, () => {
      let w: World;
      const lines: string[] = [];
      let tcpBytes = Buffer.alloc(0);
      const posts: { status: number; headers: http.IncomingHttpHeaders; body: string }[] = [];
      let udp: dgram.Socket | undefined;
      let tcp: net.Server | undefined;
      const tcpSockets = new Set<net.Socket>();
      let hook: http.Server;
      let appPassword = '';

      before(async () => {
        let port: number;
        if (transport === 'udp') {
          udp = dgram.createSocket('udp4');
          udp.on('message', (m) => lines.push(m.toString('utf8')));
          await new Promise<void>((r) => udp!.bind(0, '127.0.0.1', () => r()));
          port = udp.address().port;
        } else {
          tcp = net.createServer((s) => {
            tcpSockets.add(s);
            s.on('data', (d) => (tcpBytes = Buffer.concat([tcpBytes, d])));
            s.on('close', () => tcpSockets.delete(s));
          });
          await new Promise<void>((r) => tcp!.listen(0, '127.0.0.1', () => r()));
          port = (tcp.address() as net.AddressInfo).port;
        }
        // The webhook fails its first post with a 500, then accepts.
        hook = http.createServer((req, res) => {
          let body = '';
          req.on('data', (c) => (body += c));
          req.on('end', () => {
            const status = posts.length === 0 ? 500 : 204;
            posts.push({ status, headers: req.headers, body });
            res.writeHead(status).end();
          });
        });
        await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
        const hookPort = (hook.address() as net.AddressInfo).port;
        w = await makeWorld(
          kind,
          {
            syslogUrl: `${transport}://127.0.0.1:${port}`,
            syslogFacility: 10,
            eventWebhookUrl: `http://127.0.0.1:${hookPort}/events`,
            eventWebhookSecret: SECRET,
            accountFailureLimit: 3,
          },
          { forwarding: { retryDelayMs: 100, retryMaxDelayMs: 200, intervalMs: 20 } },
        );
      });

      after(async () => {
        await w?.close();
        for (const s of tcpSockets) s.destroy();
        await new Promise<void>((r) => (udp ? udp.close(() => r()) : r()));
        await new Promise<void>((r) => (tcp ? tcp.close(() => r()) : r()));
        await new Promise<void>((r) => hook.close(() => r()));
      });

      it('forwards web, API and legacy sign-ins, locks and audit events as they happen', async () => {
        const user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
        // Web: a wrong password (with a hostile user agent), then the right one.
        const b = new Browser(w.app, { 'user-agent': EVIL_AGENT });
        assert.equal((await b.signIn(USER.address, 'not-the-password-1')).statusCode, 401);
        assert.equal((await b.signIn(USER.address, USER.password)).statusCode, 303);
        // API.
        const api = await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: USER.address, password: USER.password },
        });
        assert.equal(api.statusCode, 201, api.body);
        const token = api.json().token as string;
        // Three failures lock a made-up account; the fourth attempt is refused while locked.
        const guesser = new Browser(w.app);
        for (let i = 0; i < 4; i++)
          assert.equal(
            (await guesser.signIn('mallory@contoso.test', `guess-${i}-wrong`)).statusCode,
            i < 3 ? 401 : 429,
          );
        // MFA change, an app password made, used over IMAP (legacy) and revoked: audit and sign-in events.
        await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
        const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
          .session;
        const made = await w.ctx.appPasswords.create(user, s, 'Outlook', { ip: '127.0.0.1', locale: 'en' });
        appPassword = made.password;
        const key = (await w.ctx.integrations.add('dovecot')).key;
        const legacy = await w.app.inject({
          method: 'POST',
          url: '/auth/mail',
          headers: { authorization: `Bearer ${key}` },
          payload: { user: USER.address, password: appPassword, service: 'imap' },
        });
        assert.equal(legacy.statusCode, 200, legacy.body);
        await w.ctx.appPasswords.remove(user, made.appPassword.id);
        await w.ctx.flush();

        const logged = await w.ctx.store.db.selectFrom('sign_in_events').selectAll().execute();
        const audited = await w.ctx.store.db.selectFrom('audit_events').selectAll().execute();
        // Every attempt is forwarded, also those the log keeps as one aggregated row (its count).
        const attempts = logged.reduce((n, r) => n + Number(r.attempts), 0);
        const expected = attempts + audited.length + 1; // and one lock
        const received = () => (transport === 'udp' ? lines : octetFrames(tcpBytes));
        await until('syslog lines', () => received().length >= expected);
        await until(
          'webhook retry',
          () => posts.filter((p) => p.status === 204).flatMap((p) => JSON.parse(p.body).events).length >= expected,
        );

        // Syslog: every line well formed; every logged row and the lock there once.
        const parsed = received().map(parseRfc5424);
        assert.equal(parsed.length, expected);
        for (const p of parsed) {
          assert.equal(p.version, '1');
          assert.equal(p.app, 'sesame');
          assert.equal(p.procId, String(process.pid));
          assert.equal(
            p.hostname,
            os
              .hostname()
              .replace(/[^\x21-\x7e]/g, '')
              .slice(0, 255) || '-',
          );
          assert.match(p.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          assert.ok(Math.abs(Date.parse(p.timestamp) - Date.now()) < 60_000);
          assert.equal(p.sd.length, 1);
          assert.equal(p.sd[0]!.id, 'sesame@32473');
          assert.equal(Math.floor(p.pri / 8), 10, 'facility authpriv');
        }
        const byId = new Map(parsed.map((p) => [p.sd[0]!.params.id!, p]));
        for (const row of logged) {
          const p = byId.get(row.id);
          assert.ok(p, `sign-in ${row.protocol} ${row.outcome} forwarded`);
          assert.equal(p.msgId, 'sign_in');
          assert.equal(p.timestamp, new Date(row.at).toISOString());
          assert.deepEqual(
            {
              outcome: p.sd[0]!.params.outcome,
              reason: p.sd[0]!.params.reason,
              protocol: p.sd[0]!.params.protocol,
              address: p.sd[0]!.params.address,
              ip: p.sd[0]!.params.ip,
            },
            {
              outcome: row.outcome,
              reason: row.reason,
              protocol: row.protocol,
              address: row.address_typed,
              ip: row.ip,
            },
          );
          assert.equal(p.pri % 8, row.outcome === 'success' ? 6 : row.outcome === 'throttled' ? 4 : 5);
          assert.equal(p.sd[0]!.params.org_domain, 'contoso.test', 'the organization is named by its domain too');
        }
        for (const row of audited) {
          const p = byId.get(row.id);
          assert.ok(p, `audit ${row.action} forwarded`);
          assert.equal(p.msgId, 'audit');
          assert.equal(p.sd[0]!.params.action, row.action);
          assert.equal(p.sd[0]!.params.detail, row.detail);
        }
        const kinds = new Set(logged.map((r) => `${r.protocol}/${r.outcome}`));
        for (const k of ['web/failure', 'web/success', 'api/success', 'imap/success', 'web/throttled'])
          assert.ok(kinds.has(k), `${k} happened and was logged`);
        for (const a of ['app_password.create', 'app_password.delete'])
          assert.ok(
            audited.some((r) => r.action.startsWith(a.split('.')[0]!)),
            `${a} audited`,
          );
        const lock = parsed.filter((p) => p.msgId === 'lockout');
        assert.equal(lock.length, 1);
        assert.deepEqual(
          { scope: lock[0]!.sd[0]!.params.scope, target: lock[0]!.sd[0]!.params.target },
          { scope: 'browser', target: 'account' },
        );
        assert.equal(lock[0]!.pri % 8, 4);
        // The hostile user agent survives the structured-data escaping intact.
        assert.ok(parsed.some((p) => p.sd[0]!.params.user_agent === EVIL_AGENT));

        // Webhook: the first post got a 500 and was sent again; every post is signed over its timestamp and body.
        assert.equal(posts[0]!.status, 500);
        const firstIds = (JSON.parse(posts[0]!.body).events as { id: string }[]).map((e) => e.id);
        assert.ok(firstIds.length > 0);
        // Newer events may go out while the refused batch waits for its retry; it then goes out whole.
        const retried = posts.slice(1).find((p) => p.body.includes(firstIds[0]!))!;
        assert.equal(retried.status, 204);
        assert.deepEqual(
          (JSON.parse(retried.body).events as { id: string }[]).map((e) => e.id),
          firstIds,
          'the refused batch is sent again, whole',
        );
        for (const p of posts) {
          assert.equal(p.headers['content-type'], 'application/json');
          const ts = String(p.headers['x-sesame-timestamp']);
          assert.ok(Math.abs(Number(ts) * 1000 - Date.now()) < 60_000);
          const sig = createHmac('sha256', SECRET).update(`${ts}.${p.body}`).digest('hex');
          assert.equal(p.headers['x-sesame-signature'], `v1=${sig}`);
        }
        const delivered = posts
          .filter((p) => p.status === 204)
          .flatMap((p) => JSON.parse(p.body).events as { id: string; type: string; at: string }[]);
        assert.deepEqual(
          new Set(delivered.map((e) => e.id)),
          new Set([...byId.keys()]),
          'the webhook got the same events as syslog',
        );
        const legacyEvent = delivered.find(
          (e) => e.type === 'sign_in' && (e as unknown as { protocol: string }).protocol === 'imap',
        )!;
        assert.equal((legacyEvent as unknown as { address: string }).address, USER.address);
        assert.equal((legacyEvent as unknown as { orgDomain: string }).orgDomain, 'contoso.test');
        assert.match(legacyEvent.at, /Z$/);

        // Never a secret: no password, app password (in any spacing), session token or integration key.
        const everything = [...received(), ...posts.map((p) => p.body)].join('\n');
        for (const secret of [
          USER.password,
          'not-the-password-1',
          'guess-0-wrong',
          appPassword,
          appPassword.replace(/[\s-]/g, ''),
          token,
          key,
        ]) {
          assert.ok(!everything.includes(secret), 'a secret was forwarded');
        }
      });
    });
  }
}
