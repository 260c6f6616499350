/**
 * Black-box probes (issue #15, item 6): transport hygiene, against the real server over raw sockets
 * and HTTP. The server runs with the short timeouts an admin could set (SESAME_HEADERS_TIMEOUT_SECONDS=1,
 * SESAME_REQUEST_TIMEOUT_SECONDS=2) so the trickling probes take seconds, and logs at info so that
 * the log lines a client abort leaves can be read.
 *   - a body (or headers) trickling in one byte a second is cut off by the configured timeout;
 *   - a deeply nested 64 KiB JSON body is refused with 400 before JSON.parse, quickly;
 *   - a client that aborts its body mid-way is logged at info as a client abort, not at error as
 *     "store unavailable".
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { call, startProbeServer, type ProbeServer } from '../support/probes.js';

const HEADERS_TIMEOUT = 1;
const REQUEST_TIMEOUT = 2;

interface Trickled {
  /** Milliseconds from the first byte to the server closing the connection. */
  closedAfterMs: number;
  /** Bytes the client managed to send before the close. */
  sent: number;
  /** What the server answered, if anything (a 408 or nothing). */
  answer: string;
}

/** Sends `head` at once, then `trickle` one byte a second until the server closes the socket (or 20 s pass). */
function trickle(port: number, head: string, trickle: string): Promise<Trickled> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let sent = 0;
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.write(head);
      timer = setInterval(() => {
        if (sent < trickle.length && !s.destroyed) s.write(trickle[sent++]!);
      }, 1000);
    });
    const giveUp = setTimeout(() => s.destroy(new Error('the server never closed the trickling connection')), 20_000);
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.on('error', (e) => {
      // A reset while writing is the server closing too.
      if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET' && (e as NodeJS.ErrnoException).code !== 'EPIPE') {
        clearInterval(timer);
        clearTimeout(giveUp);
        reject(e);
      }
    });
    s.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ closedAfterMs: Date.now() - t0, sent, answer });
    });
  });
}

describe('probes: transport hygiene (issue #15, item 6)', () => {
  let probe: ProbeServer;
  let key = '';
  before(async () => {
    ({ probe, setupResult: key } = await startProbeServer(
      'transport',
      {
        LOG_LEVEL: 'info',
        SESAME_HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT),
        SESAME_REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT),
      },
      async (ctx) => {
        await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
        return (await ctx.integrations.add('dovecot-edge')).key;
      },
    ));
  });
  after(async () => probe?.stop());

  it('probe: a request body that trickles in one byte a second is cut off by SESAME_REQUEST_TIMEOUT_SECONDS', async () => {
    const body = JSON.stringify({ email: 'someone@contoso.test', password: 'x'.repeat(60) });
    const r = await trickle(
      probe.port,
      `POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      body,
    );
    // Closed after the request timeout (plus Node's one-second check), long before the body was whole.
    assert.ok(r.sent < body.length, `the whole body went through: ${JSON.stringify(r)}`);
    assert.ok(r.closedAfterMs < (REQUEST_TIMEOUT + 3) * 1000, `closed only after ${r.closedAfterMs} ms`);
    assert.ok(r.closedAfterMs >= REQUEST_TIMEOUT * 1000 - 200, `closed before the timeout: ${r.closedAfterMs} ms`);
    assert.ok(r.answer === '' || /^HTTP\/1\.1 408/.test(r.answer), `unexpected answer ${r.answer}`);
  });

  it('probe: headers that trickle in one byte a second are cut off by SESAME_HEADERS_TIMEOUT_SECONDS', async () => {
    const r = await trickle(
      probe.port,
      'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n',
      `X-Slow: ${'a'.repeat(60)}\r\n\r\n`,
    );
    assert.ok(r.sent < 30, `the headers went through: ${JSON.stringify(r)}`);
    assert.ok(r.closedAfterMs < (HEADERS_TIMEOUT + 3) * 1000, `closed only after ${r.closedAfterMs} ms`);
    assert.ok(r.answer === '' || /^HTTP\/1\.1 408/.test(r.answer), `unexpected answer ${r.answer}`);
  });

  it('probe: a deeply nested 64 KiB JSON body is refused with 400 before it is parsed, quickly', async () => {
    const depth = 32 * 1024 - 8;
    const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const shallow = JSON.stringify({ email: 'a@contoso.test', password: 'p'.repeat(60_000) });
    assert.ok(deep.length > 60_000 && deep.length <= 64 * 1024);
    const timedPost = async (url: string, body: string, headers: Record<string, string> = {}) => {
      const t0 = process.hrtime.bigint();
      const a = await call(probe.base, 'POST', url, body, headers);
      return { status: a.status, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
    };
    // Warm up, then interleave: the deep body must not cost more than a flat body of the same size.
    for (let i = 0; i < 3; i++) await timedPost('/api/v1/sessions', deep);
    const deepMs: number[] = [];
    const flatMs: number[] = [];
    for (let i = 0; i < 15; i++) {
      const d = await timedPost('/api/v1/sessions', deep);
      assert.equal(d.status, 400);
      deepMs.push(d.ms);
      const f = await timedPost('/api/v1/sessions', shallow);
      assert.ok(f.status === 400 || f.status === 401, `flat body answered ${f.status}`);
      flatMs.push(f.ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Without the limit JSON.parse alone held the loop ~30 ms; a refused body costs what a flat one does.
    assert.ok(
      median(deepMs) < median(flatMs) + 10,
      `deep body median ${median(deepMs).toFixed(1)} ms, flat body ${median(flatMs).toFixed(1)} ms`,
    );
    // The machine endpoints share the parser: a mail server's body (32 KiB at most there) is limited too.
    const deepMail = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    assert.equal((await timedPost('/auth/mail', deepMail, { authorization: 'Bearer x' })).status, 400);
    // It was the depth limit that refused it (the schema alone would also answer 400, but after the parse).
    assert.match(probe.server.output(), /JSON body nested deeper than 32 levels/);
  });

  it('probe: a client that aborts its body mid-way is logged at info as a client abort, not as a store failure', async () => {
    const before = probe.server.output().length;
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: probe.port }, () => {
        s.write(
          'POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"email":"a@contoso.test",',
        );
        setTimeout(() => s.destroy(), 200);
      });
      s.on('error', reject);
      s.on('close', () => resolve());
    });
    // The server notices the reset and logs; give it a moment, then read its log lines.
    let lines: Record<string, unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 50));
      lines = probe.server
        .output()
        .slice(before)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      if (lines.some((l) => l.code === 'client_aborted')) break;
    }
    const abort = lines.find((l) => l.code === 'client_aborted');
    assert.ok(abort, `no client-abort line in:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
    assert.equal(abort.level, 30, 'logged at info');
    assert.ok(!lines.some((l) => Number(l.level) >= 50), `an error line: ${JSON.stringify(lines)}`);
    assert.ok(!lines.some((l) => /store unavailable/.test(String(l.msg))), 'logged as a store failure');
  });

  it('probe (issue #15, item 5): an unknown service name is a 400 and a warning naming the integration, not "wrong password"', async () => {
    const before = probe.server.output().length;
    const a = await call(
      probe.base,
      'POST',
      '/auth/mail',
      { user: 'someone@contoso.test', password: 'anything-at-all', service: 'doveadm', remoteIp: '192.0.2.1' },
      { authorization: `Bearer ${key}` },
    );
    assert.equal(a.status, 400);
    assert.equal(a.body.result, 'invalid');
    assert.match(String(a.body.error), /unknown service name "doveadm"/);
    let warn: Record<string, unknown> | undefined;
    for (let i = 0; i < 40 && !warn; i++) {
      await new Promise((r) => setTimeout(r, 25));
      warn = probe.server
        .output()
        .slice(before)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.code === 'integration_config_error');
    }
    assert.ok(warn, 'a warning line');
    assert.equal(warn.level, 40);
    assert.equal(warn.integration, 'dovecot-edge');
  });

  it('a healthy request still goes through under the short timeouts', async () => {
    const a = await call(probe.base, 'POST', '/api/v1/sessions', {
      email: 'nobody@contoso.test',
      password: 'wrong-pass-123',
    });
    assert.equal(a.status, 401);
  });
});
