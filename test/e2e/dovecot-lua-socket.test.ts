/**
 * The shipped Lua passdb's own HTTP exchange (integrations/dovecot/sesame-auth.lua, issue #21 item 3),
 * through a real Dovecot 2.3 (test/support/mail-servers.ts: the files `sesame integration config
 * dovecot` renders, cache off as shipped) asking a stand-in for Sesame on loopback that records every
 * request on the wire and answers as each case needs:
 *
 *   - for an http:// URL the script speaks HTTP/1.1 itself (lua-socket), not through Dovecot's Lua
 *     HTTP client: no `Expect: 100-continue`, head and body in one request with Content-Length, the
 *     same endpoint, key and JSON fields as before (user, password, service, the client's remoteIp),
 *     and one kept connection carrying check after check; a missing lua-socket would make it fall back
 *     to Dovecot's client with a warning in the log, which fails this test;
 *   - 200 lets the user in, 401 is a wrong password (NO, AUTHENTICATIONFAILED), 503 and no answer
 *     in 5 s are a temporary failure ([UNAVAILABLE]), each exactly one request;
 *   - the kept connection closed by Sesame while idle (its keep-alive timeout, a restart): the next
 *     login opens a new one and is asked once; a kept connection Sesame drops on receiving the
 *     request, before answering anything, is asked once more on a new connection (and a new one
 *     dropped the same way is not retried: [UNAVAILABLE] after two requests).
 *
 * Then the same Dovecot setup asking the real server (`node dist/src/main.js`, SQLite, keep-alive
 * timeout 1 s): a login, one after Sesame's keep-alive timeout closed the worker's connection, one
 * after Sesame restarted; each is one success with protocol imap and the client's address in
 * Sesame's sign-in log.
 *
 * Needs root and Debian's dovecot-core, dovecot-imapd, dovecot-auth-lua and lua-socket
 * (scripts/test.sh installs them).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { MailServers } from '../support/mail-servers.js';
import { freePorts, serverEnv, startServer, type StartedServer } from '../support/processes.js';

const KEY = 'sesame-test-integration-key';
const USER = 'ann@contoso.test';
const GOOD = 'abcd-efgh-jkmn-pqrs-tuv';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Which TCP connection it came on (1, 2, ... in the order the stand-in accepted them). */
  conn: number;
}

/** What the stand-in does with the next request. */
type Mode = 'answer' | 'drop-once' | 'drop' | 'silent';

/** LOGIN over a new IMAP connection (plain text on loopback, which Dovecot deems secured); its tagged answer. */
function imapLogin(port: number, user: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let answer: string | undefined;
    const timer = setTimeout(() => socket.destroy(new Error(`no answer in 30 s: ${buf}`)), 30_000);
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (let end = buf.indexOf('\r\n'); end >= 0; end = buf.indexOf('\r\n')) {
        const line = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (line.startsWith('* OK') && answer === undefined) socket.write(`a1 LOGIN "${user}" "${password}"\r\n`);
        else if (line.startsWith('a1 ')) {
          answer = line;
          socket.end('a2 LOGOUT\r\n');
        }
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      if (answer) resolve(answer);
      else reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (answer) resolve(answer);
      else reject(new Error(`closed before LOGIN was answered: ${buf}`));
    });
  });
}

describe("Dovecot's Lua passdb speaks HTTP/1.1 to Sesame itself over a kept connection", { timeout: 180_000 }, () => {
  let mail: MailServers | undefined;
  let server: http.Server | undefined;
  const seen: Seen[] = [];
  let mode: Mode = 'answer';
  /** Status per password. */
  const STATUS: Record<string, number> = { [GOOD]: 200, 'wrong-password-1': 401, 'busy-password-1': 503 };

  before(async () => {
    // Numbered as accepted: the kernel may give a new connection the client port of a closed one.
    const connections = new WeakMap<net.Socket, number>();
    let accepted = 0;
    server = http.createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        raw += c;
      });
      req.on('end', () => {
        const body = JSON.parse(raw || '{}') as Record<string, unknown>;
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body,
          conn: connections.get(req.socket) ?? 0,
        });
        if (mode === 'drop' || mode === 'drop-once') {
          if (mode === 'drop-once') mode = 'answer';
          req.socket.destroy();
          return;
        }
        if (mode === 'silent') return;
        const status = STATUS[String(body.password)] ?? 401;
        const json = JSON.stringify({ result: status === 200 ? 'ok' : 'no' });
        // With its length, as Sesame (Fastify) answers; a refusal chunked, as a proxy between may send it.
        res.writeHead(status, {
          'content-type': 'application/json',
          ...(status === 401 ? {} : { 'content-length': Buffer.byteLength(json) }),
        });
        res.end(json);
      });
    });
    server.on('connection', (socket: net.Socket) => connections.set(socket, ++accepted));
    // As Sesame's (Fastify on Node's http server): idle kept connections are closed after a while.
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    mail = await MailServers.create();
    await mail.start({
      sesameUrl: `http://127.0.0.1:${port}`,
      integrationKey: KEY,
      relayPort: 9,
      postfix: false,
      nginx: false,
    });
  });

  after(async () => {
    await mail?.stop();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  /** Logs in and returns the answer and the requests the stand-in saw for it. */
  async function login(password: string): Promise<{ answer: string; requests: Seen[] }> {
    const from = seen.length;
    const answer = await imapLogin(mail!.ports.imap, USER, password);
    return { answer, requests: seen.slice(from) };
  }

  it('sends one request without Expect, with the same endpoint, key and fields, and keeps its connection', async () => {
    const first = await login(GOOD);
    assert.match(first.answer, /^a1 OK/, `${first.answer}\n${mail!.logs()}`);
    assert.equal(first.requests.length, 1);
    const r = first.requests[0]!;
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/auth/mail');
    assert.equal(r.headers.expect, undefined, 'no Expect: 100-continue (that is Dovecot’s Lua HTTP client)');
    assert.equal(r.headers['user-agent'], 'dovecot-sesame-auth');
    assert.equal(r.headers.authorization, `Bearer ${KEY}`);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers.host, `127.0.0.1:${(server!.address() as AddressInfo).port}`);
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(JSON.stringify(r.body))));
    assert.deepEqual(r.body, { user: USER, password: GOOD, service: 'imap', remoteIp: '127.0.0.1' });
    // Checks one after the other go over the connection the first one opened.
    const conns = new Set([r.conn]);
    for (let i = 0; i < 4; i++) {
      const next = await login(GOOD);
      assert.match(next.answer, /^a1 OK/);
      assert.equal(next.requests.length, 1);
      conns.add(next.requests[0]!.conn);
    }
    assert.equal(conns.size, 1, `one kept connection for five checks, saw connections ${[...conns].join(', ')}`);
    assert.doesNotMatch(mail!.log('dovecot.log'), /LuaSocket is not installed/);
  });

  it('maps 401 to a wrong password and 503 to a temporary failure, each asked once', async () => {
    const wrong = await login('wrong-password-1');
    assert.match(wrong.answer, /^a1 NO \[AUTHENTICATIONFAILED\]/);
    assert.equal(wrong.requests.length, 1);
    const busy = await login('busy-password-1');
    assert.match(busy.answer, /^a1 NO \[UNAVAILABLE\]/);
    assert.equal(busy.requests.length, 1);
    assert.match(mail!.log('dovecot.log'), /Sesame answered HTTP 503/);
    // The connection is still the same after both (the 401 came chunked, read to its end).
    const good = await login(GOOD);
    assert.match(good.answer, /^a1 OK/);
    assert.equal(good.requests.length, 1);
    assert.deepEqual(
      [wrong, busy].map((x) => x.requests[0]!.conn),
      [good.requests[0]!.conn, good.requests[0]!.conn],
    );
  });

  it('opens a new connection when Sesame closed the kept one while idle, and asks once', async () => {
    const before = await login(GOOD);
    assert.match(before.answer, /^a1 OK/);
    // What Sesame's keep-alive timeout or a restart of its listener does to an idle connection.
    server!.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 200));
    const after = await login(GOOD);
    assert.match(after.answer, /^a1 OK/, `${after.answer}\n${mail!.logs()}`);
    assert.equal(after.requests.length, 1, 'asked exactly once');
    assert.notEqual(after.requests[0]!.conn, before.requests[0]!.conn, 'over a new connection');
    // Past the stand-in's own keep-alive timeout, as Sesame's SESAME_KEEP_ALIVE_TIMEOUT_SECONDS does it.
    server!.keepAliveTimeout = 300;
    try {
      const a = await login(GOOD);
      // Node 20 closes an idle kept connection about a second after keepAliveTimeout (1.3 s here).
      await new Promise((r) => setTimeout(r, 2_500));
      const b = await login(GOOD);
      assert.match(b.answer, /^a1 OK/, `${b.answer}\n${mail!.logs()}`);
      assert.equal(b.requests.length, 1, 'asked exactly once');
      assert.notEqual(b.requests[0]!.conn, a.requests[0]!.conn, 'over a new connection');
    } finally {
      server!.keepAliveTimeout = 60_000;
    }
  });

  it('asks once more on a new connection only when a kept one was dropped before any answer', async () => {
    assert.match((await login(GOOD)).answer, /^a1 OK/);
    mode = 'drop-once';
    const retried = await login(GOOD);
    assert.match(retried.answer, /^a1 OK/, `${retried.answer}\n${mail!.logs()}`);
    assert.equal(retried.requests.length, 2);
    assert.notEqual(retried.requests[0]!.conn, retried.requests[1]!.conn);
    // Dropped again on the new connection: no third request, a temporary failure.
    mode = 'drop';
    try {
      const dropped = await login(GOOD);
      assert.match(dropped.answer, /^a1 NO \[UNAVAILABLE\]/);
      assert.equal(dropped.requests.length, 2, 'the kept connection, then one new one; never more');
    } finally {
      mode = 'answer';
    }
  });

  it('gives up after 5 s without an answer: a temporary failure, not retried', async () => {
    assert.match((await login(GOOD)).answer, /^a1 OK/);
    mode = 'silent';
    try {
      const t0 = Date.now();
      const silent = await login(GOOD);
      const ms = Date.now() - t0;
      assert.match(silent.answer, /^a1 NO \[UNAVAILABLE\]/);
      assert.equal(silent.requests.length, 1);
      assert.ok(ms >= 4_500 && ms < 15_000, `answered after ${ms} ms`);
    } finally {
      mode = 'answer';
    }
    assert.match((await login(GOOD)).answer, /^a1 OK/);
  });
});

describe("Dovecot's Lua passdb and the real server's keep-alive timeout and restart", { timeout: 180_000 }, () => {
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  let server: StartedServer | undefined;
  let mail: MailServers | undefined;
  const account = { address: 'ann@contoso.test', password: '' };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-lua-socket-e2e-'));
    const [port] = await freePorts(1);
    env = serverEnv(dir, port!, {
      SESAME_MODE: 'development',
      SESAME_SMTP_URL: '',
      SESAME_DEV_OUTBOX: path.join(dir, 'outbox.jsonl'),
      SESAME_KEEP_ALIVE_TIMEOUT_SECONDS: '1',
    });
    const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
    let key = '';
    try {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      const created = await ctx.accounts.addUser(OPERATOR, { address: account.address });
      const user = await ctx.mfaAdmin.setUserState(OPERATOR, created.address, 'enforced');
      const { session } = await ctx.sessions.start(
        user.id,
        ['pwd', 'otp'],
        { ip: '127.0.0.1', userAgent: 'test' },
        Date.now(),
      );
      account.password = (
        await ctx.appPasswords.create(user, session, 'Phone', { ip: '127.0.0.1', locale: 'en' })
      ).password;
      key = (await ctx.integrations.add('dovecot')).key;
    } finally {
      await ctx.close();
    }
    server = await startServer({ env });
    mail = await MailServers.create();
    await mail.start({ sesameUrl: server.base, integrationKey: key, relayPort: 9, postfix: false, nginx: false });
  });

  after(async () => {
    await mail?.stop();
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logs in before and after Sesame closed the kept connection, and after Sesame restarted; each logged once', async () => {
    const login = async (what: string) => {
      const answer = await imapLogin(mail!.ports.imap, account.address, account.password);
      assert.match(answer, /^a1 OK/, `${what}: ${answer}\n${mail!.logs()}`);
    };
    await login('first');
    // Node closes an idle kept connection about a second after the keep-alive timeout (1 s here).
    await new Promise((r) => setTimeout(r, 3_000));
    await login('after the keep-alive timeout');
    await server!.stop();
    server = await startServer({ env });
    await login('after a restart');
    assert.doesNotMatch(mail!.log('dovecot.log'), /Sesame unreachable|Sesame answered HTTP|LuaSocket is not installed/);
    // The log rows are written in batches: read them once the server has stopped.
    await server.stop();
    server = undefined;
    const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { migrate: false });
    try {
      const rows = await ctx.store.db
        .selectFrom('sign_in_events')
        .select(['protocol', 'outcome', 'ip'])
        .where('protocol', '=', 'imap')
        .execute();
      assert.deepEqual(
        rows.map((r) => `${r.protocol} ${r.outcome} ${r.ip}`),
        ['imap success 127.0.0.1', 'imap success 127.0.0.1', 'imap success 127.0.0.1'],
      );
    } finally {
      await ctx.close();
    }
  });
});
