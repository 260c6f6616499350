/**
 * The reference point the legacy-protocol issue gives for scale, rebuilt and measured here: "a bare
 * prototype (Basic decode, HMAC-SHA-256, one indexed SQLite read, no rules, no log) reached 0.47 of
 * the plain route". This bench runs exactly that prototype, on a bare Fastify 5 with no plugins and
 * no logger, next to a plain route answering 200 on the same server, with the same wrk settings as
 * bench/legacy-auth.ts (64 connections, 2 threads, first requests held). Sesame's own ratio is
 * only meaningful beside the prototype's ratio measured the same way on the same machine.
 *
 * Run: `node dist/bench/legacy-prototype.js` (BENCH_SECONDS, default 8; BENCH_JSON=1 for one JSON
 * line). The server is this file started again as a child process with `--serve <dir> <port>`.
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import Fastify from 'fastify';
import {
  CONNECTIONS,
  failures,
  freePort,
  request,
  round,
  runWrk,
  THREADS,
  wrkScript,
  wrkVersion,
  type WrkReport,
} from './wrk.js';

const USERS = 50;
const KEY = Buffer.from('prototype-key-prototype-key-0000');

function hmac(password: string): string {
  return createHmac('sha256', KEY).update(password).digest('base64url');
}

/** The prototype server: `/plain` answers 200; `/proto` decodes Basic, hashes, reads one row by an index. */
async function serve(dir: string, port: number) {
  const db = new SQLite(path.join(dir, 'proto.db'));
  db.pragma('journal_mode = WAL');
  const find = db.prepare('select address from app_passwords where hash = ?');
  const app = Fastify({ logger: false });
  app.get('/plain', async () => ({ status: 'ok' }));
  app.get('/proto', async (req, reply) => {
    const m = /^Basic ([A-Za-z0-9+/]+={0,2})$/.exec(req.headers.authorization ?? '');
    if (!m) return reply.code(401).send();
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const row = find.get(hmac(decoded.slice(colon + 1))) as { address: string } | undefined;
    if (!row || row.address !== decoded.slice(0, colon)) return reply.code(401).send();
    return reply.code(200).header('remote-user', row.address).send();
  });
  await app.listen({ host: '127.0.0.1', port });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

async function main() {
  const seconds = Number(process.env.BENCH_SECONDS || 8);
  const json = process.env.BENCH_JSON === '1';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-bench-prototype-'));
  try {
    const db = new SQLite(path.join(dir, 'proto.db'));
    db.pragma('journal_mode = WAL');
    db.exec('create table app_passwords (id integer primary key, address text not null, hash text not null unique)');
    const users = Array.from({ length: USERS }, (_, i) => ({
      address: `user${i}@bench.test`,
      password: randomBytes(15).toString('base64url'),
    }));
    const insert = db.prepare('insert into app_passwords (address, hash) values (?, ?)');
    for (const u of users) insert.run(u.address, hmac(u.password));
    db.close();

    const port = await freePort();
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', dir, String(port)], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const agent = new http.Agent({ keepAlive: false });
    for (let i = 0; ; i++) {
      try {
        if ((await request(agent, port, 'GET', '/plain')).status === 200) break;
      } catch {
        if (i > 100) throw new Error('the prototype server did not start');
      }
      await sleep(100);
    }
    const basic = (u: { address: string; password: string }) =>
      `Basic ${Buffer.from(`${u.address}:${u.password}`).toString('base64')}`;
    if ((await request(agent, port, 'GET', '/proto', { authorization: basic(users[0]!) })).status !== 200)
      throw new Error('the prototype refused a good password');
    const plainScript = path.join(dir, 'plain.lua');
    const protoScript = path.join(dir, 'proto.lua');
    fs.writeFileSync(plainScript, wrkScript('GET', '/plain', [{ headers: {} }]));
    fs.writeFileSync(
      protoScript,
      wrkScript(
        'GET',
        '/proto',
        users.map((u) => ({ headers: { Authorization: basic(u) } })),
      ),
    );
    const phase = async (p: string, script: string): Promise<WrkReport> => {
      await runWrk(`http://127.0.0.1:${port}${p}`, Math.max(1, Math.round(seconds / 4)), script);
      const r = await runWrk(`http://127.0.0.1:${port}${p}`, seconds, script);
      const bad = failures(r);
      if (bad) throw new Error(`${p}: ${bad}`);
      return r;
    };
    const plain = await phase('/plain', plainScript);
    const proto = await phase('/proto', protoScript);
    child.kill('SIGTERM');
    const ratio = round(proto.rps / plain.rps, 3);
    if (json) {
      console.log(JSON.stringify({ plain, proto, ratio }));
    } else {
      console.log(
        `Prototype of the legacy-protocol issue, Node ${process.version}, ${await wrkVersion()}, wrk -t${THREADS} -c${CONNECTIONS} ${seconds} s`,
      );
      console.log(`GET /plain  ${plain.rps} req/s  p50 ${plain.latency.p50Ms} ms  p99 ${plain.latency.p99Ms} ms`);
      console.log(
        `GET /proto  ${proto.rps} req/s  p50 ${proto.latency.p50Ms} ms  p99 ${proto.latency.p99Ms} ms  ratio ${ratio} (the issue quotes 0.47)`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') {
  await serve(process.argv[3]!, Number(process.argv[4]));
} else {
  await main();
}
