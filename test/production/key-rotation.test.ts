/**
 * Key rotation (issue #6 item 6) with the real server and the real CLI, on SQLite (keys in
 * secrets.json, rotated by `sesame keys rotate`) and PostgreSQL (keys in the environment: the
 * operator sets what `sesame keys rotate` prints). An app password, an integration key, a TOTP
 * method and a session made under the first keys keep working after both keys are rotated;
 * `sesame keys reencrypt` lets the previous encryption key go with TOTP still working; and since
 * the app password and the integration key moved to the new hash key at their first use, a second
 * rotation that drops the oldest hash key still accepts them.
 *
 * Then production mode: each unsafe key setting makes the server refuse to start (exit 2) with its
 * own message, and one instance on SQLite with generated keys still starts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import {
  freePort,
  MAIN_JS,
  outboxEnv,
  requireBuild,
  ROOT,
  runSesameCli,
  startServer,
  type StartedServer,
} from '../support/processes.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';
import type { ApiAnswer } from '../support/api-answer.js';

const USER = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77' };
const b64 = () => randomBytes(32).toString('base64');

/**
 * TOTP codes for strictly increasing steps (the server refuses a step at or before the last one it
 * accepted) that the server's window (one step either side) still takes: the first is for the step
 * before now, so that two more can follow without waiting.
 */
class Authenticator {
  private last = 0;
  private readonly totp: TOTP;
  constructor(secret: string) {
    this.totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
  }
  async code(): Promise<string> {
    const nowStep = () => Math.floor(Date.now() / 30_000);
    const step = Math.max(this.last + 1, nowStep() - 1);
    while (step > nowStep() + 1) await new Promise((r) => setTimeout(r, 500));
    this.last = step;
    return this.totp.generate({ timestamp: step * 30_000 });
  }
}

for (const kind of STORE_KINDS) {
  const keysIn = kind === 'sqlite' ? 'secrets.json' : 'the environment';
  describe(`key rotation with the real server and CLI on ${kind} (keys in ${keysIn})`, () => {
    let store: TestStore;
    let server: StartedServer | undefined;
    let port = 0;
    let env: NodeJS.ProcessEnv = {};
    let base = '';
    let appPassword = '';
    let integrationKey = '';
    let sessionToken = '';
    let auth: Authenticator;
    const keysSeen: string[] = [];

    const cli = (args: string[], stdin?: string) => runSesameCli(env, args, stdin, { stdoutOnly: true });
    /** Runs the CLI expecting it to fail; its exit code and output. */
    const cliFails = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ['bin/sesame.js', ...args], {
          cwd: ROOT,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.once('close', (code) => resolve({ code, out }));
      });
    const json = async (method: string, url: string, body?: object, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as ApiAnswer };
    };
    const basic = async (password: string) =>
      (
        await fetch(`${base}/auth/basic`, {
          headers: { authorization: `Basic ${Buffer.from(`${USER.address}:${password}`).toString('base64')}` },
        })
      ).status;
    const mail = async (password: string) =>
      (
        await json(
          'POST',
          '/auth/mail',
          { user: USER.address, password, service: 'imap', remoteIp: '192.0.2.7' },
          { authorization: `Bearer ${integrationKey}` },
        )
      ).status;
    const me = async () =>
      (await json('GET', '/api/v1/me', undefined, { authorization: `Bearer ${sessionToken}` })).status;
    const signInWithTotp = async () => {
      const t = (await json('POST', '/api/v1/sessions', { email: USER.address, password: USER.password })).body
        .token as string;
      return (await json('POST', '/api/v1/flow/verify', { code: await auth.code() }, { 'x-sesame-flow': t })).status;
    };
    async function restart() {
      await server?.stop();
      server = await startServer({ env });
      base = server.base;
    }
    /** The keys as the server takes them: secrets.json's values and the key variables; none may ever be printed. */
    function rememberKeys() {
      const file = path.join(store.dataDir, 'secrets.json');
      if (fs.existsSync(file)) {
        const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
        keysSeen.push(...(JSON.stringify(s).match(/[A-Za-z0-9+/]{43}=/g) ?? []));
      }
      for (const [k, v] of Object.entries(env))
        if (/^SESAME_(HASH|COOKIE|ENCRYPTION)_KEY/.test(k) && v) keysSeen.push(...v.split(','));
    }
    const assertNoOldKey = (out: string) => {
      for (const k of keysSeen) assert.ok(!out.includes(k), 'a key that was in use is printed');
    };
    /** `sesame keys rotate`; with keys in the environment, sets what it says to set (the new key first, the old one in *_PREVIOUS). */
    async function rotate(flags: string[], dropOldest = false) {
      rememberKeys();
      const out = await cli(['keys', 'rotate', ...flags]);
      assertNoOldKey(out);
      assert.match(out, /restart Sesame/);
      if (kind === 'sqlite') {
        assert.match(out, /new key written to .*secrets\.json \(mode 0600\); the old one is kept as a previous key/);
        assert.equal(fs.statSync(path.join(store.dataDir, 'secrets.json')).mode & 0o777, 0o600);
        return out;
      }
      for (const m of out.matchAll(/^ {2}(SESAME_[A-Z]+_KEY)=([A-Za-z0-9+/]{43}=)$/gm)) {
        const name = m[1]!;
        const old = env[name]!;
        env[`${name}_PREVIOUS`] = dropOldest ? old : [old, env[`${name}_PREVIOUS`]].filter(Boolean).join(',');
        env[name] = m[2]!;
      }
      return out;
    }

    before(async () => {
      requireBuild();
      store = await makeTestStore(kind);
      port = await freePort();
      env = outboxEnv(store.dataDir, port, path.join(store.dataDir, 'outbox.jsonl'), {
        DATABASE_URL: store.databaseUrl,
      });
      for (const name of ['SESAME_HASH_KEY', 'SESAME_COOKIE_KEY', 'SESAME_ENCRYPTION_KEY']) {
        delete env[name];
        delete env[`${name}_PREVIOUS`];
        if (kind === 'postgres') env[name] = b64();
      }
      await cli(['org', 'add', 'contoso.test']);
      await cli(['user', 'add', USER.address, '--password-stdin'], `${USER.password}\n`);
      await cli(['user', 'mfa', USER.address, 'enabled']);
      integrationKey = (await cli(['integration', 'add', 'dovecot'])).trim().split('\n').at(-1)!;
      assert.match(integrationKey, /^sesame_int_/);
      await restart();
      // Bob registers an authenticator app through the API; registration makes an app password.
      const t = (await json('POST', '/api/v1/sessions', { email: USER.address, password: USER.password })).body
        .token as string;
      const flow = { 'x-sesame-flow': t };
      await json('POST', '/api/v1/flow/setup', {}, flow);
      auth = new Authenticator((await json('POST', '/api/v1/flow/method', { kind: 'totp' }, flow)).body.prompt!.secret);
      assert.equal(
        (await json('POST', '/api/v1/flow/verify', { code: await auth.code() }, flow)).body.state,
        'enrolled',
      );
      appPassword = (await json('POST', '/api/v1/flow/next', {}, flow)).body.appPassword!.password;
      await json('POST', '/api/v1/flow/next', {}, flow);
      const done = await json('POST', '/api/v1/flow/done', {}, flow);
      assert.equal(done.status, 201);
      sessionToken = done.body.token as string;
      assert.equal(await basic(appPassword), 200);
      assert.equal(await mail(appPassword), 200);
    });
    after(async () => {
      await server?.stop();
      await store?.dispose();
    });

    it('after rotating the hash and encryption keys, what was made before still works', async () => {
      await server!.stop();
      const out = await rotate(['--hash', '--encryption']);
      assert.match(out, /sesame keys reencrypt/);
      if (kind === 'postgres') assert.match(out, /SESAME_HASH_KEY_PREVIOUS=<the current value of SESAME_HASH_KEY>/);
      await restart();
      assert.equal(await basic(appPassword), 200, '/auth/basic with an app password made before');
      assert.equal(await mail(appPassword), 200, '/auth/mail with an integration key and an app password made before');
      assert.equal(await me(), 200, 'a session made before');
      assert.equal(await signInWithTotp(), 201, 'a TOTP method registered before');
    });

    it('reencrypt lets the previous encryption key go, and TOTP still works', async () => {
      const early = await cliFails(['keys', 'drop-previous', '--encryption']);
      assert.equal(early.code, 1, early.out);
      assert.match(
        early.out,
        /1 TOTP seed\(s\) .* not under the current encryption key yet: run "sesame keys reencrypt" first/,
      );
      const out = await cli(['keys', 'reencrypt']);
      assert.match(out, /re-encrypted under the current encryption key: 1 of 1 TOTP seed\(s\)/);
      assert.match(await cli(['keys', 'reencrypt']), /: 0 of 1 TOTP seed\(s\)/, 'idempotent');
      const drop = await cli(['keys', 'drop-previous', '--encryption']);
      assertNoOldKey(drop);
      if (kind === 'sqlite') assert.match(drop, /encryptionKey: 1 previous key\(s\) removed from/);
      else {
        assert.match(drop, /remove SESAME_ENCRYPTION_KEY_PREVIOUS/);
        delete env.SESAME_ENCRYPTION_KEY_PREVIOUS;
      }
      await restart();
      assert.equal(await signInWithTotp(), 201);
    });

    it('a second rotation that drops the oldest hash key still accepts the app password and integration key (moved at first use)', async () => {
      await server!.stop();
      if (kind === 'sqlite') {
        assert.match(await cli(['keys', 'drop-previous', '--hash']), /hashKey: 1 previous key\(s\) removed/);
        await rotate(['--hash']);
      } else {
        await rotate(['--hash'], true);
      }
      await restart();
      assert.equal(await basic(appPassword), 200);
      assert.equal(await mail(appPassword), 200);
      assert.equal(
        await me(),
        401,
        'a session made under the dropped key has ended (sessions do not move to the new key)',
      );
      assert.equal(await signInWithTotp(), 201);
      assertNoOldKey(server!.output());
    });
  });
}

describe('production mode refuses unsafe keys at start', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-prod-keys-'));
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const production = (port: number, extra: NodeJS.ProcessEnv) => {
    const env = outboxEnv(dataDir, port, '', {
      SESAME_MODE: 'production',
      SESAME_SMTP_URL: 'smtp://127.0.0.1:1',
      SESAME_DEV_OUTBOX: '',
      // Never contacted: the keys are checked before the store is opened.
      DATABASE_URL: 'postgres://sesame@127.0.0.1:1/sesame',
      ...extra,
    });
    for (const k of Object.keys(env))
      if (/^SESAME_(HASH|COOKIE|ENCRYPTION)_KEY/.test(k) && !(k in extra)) delete env[k];
    return env;
  };
  /** Starts the server and expects it to exit 2; its output. */
  const refused = (env: NodeJS.ProcessEnv) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN_JS], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('close', (code) => {
        clearTimeout(timer);
        if (code === 2) resolve(out);
        else reject(new Error(`expected exit 2, got ${code}:\n${out}`));
      });
    });
  before(() => requireBuild());

  it('with DATABASE_URL, keys not from the environment (generated per instance they would differ)', async () => {
    const hash = b64();
    const out = await refused(production(await freePort(), { SESAME_HASH_KEY: hash }));
    assert.match(
      out,
      /SESAME_MODE=production with DATABASE_URL needs SESAME_COOKIE_KEY, SESAME_ENCRYPTION_KEY from the environment/,
    );
    assert.ok(!out.includes(hash));
    assert.equal(fs.existsSync(path.join(dataDir, 'secrets.json')), false, 'no key was generated');
  });

  it('one key for two purposes', async () => {
    const k = b64();
    const out = await refused(
      production(await freePort(), { SESAME_HASH_KEY: k, SESAME_COOKIE_KEY: b64(), SESAME_ENCRYPTION_KEY: k }),
    );
    assert.match(
      out,
      /SESAME_HASH_KEY and SESAME_ENCRYPTION_KEY are the same key: each key must be used for one purpose only/,
    );
    assert.ok(!out.includes(k));
  });

  it('a previous key equal to the current one', async () => {
    const k = b64();
    const out = await refused(
      production(await freePort(), {
        SESAME_HASH_KEY: b64(),
        SESAME_COOKIE_KEY: b64(),
        SESAME_ENCRYPTION_KEY: k,
        SESAME_ENCRYPTION_KEY_PREVIOUS: k,
      }),
    );
    assert.match(
      out,
      /SESAME_ENCRYPTION_KEY_PREVIOUS \(key 1\) is the current SESAME_ENCRYPTION_KEY: a previous key must differ from the current one/,
    );
    assert.ok(!out.includes(k));
  });

  it('keeps the other production checks (the development outbox)', async () => {
    const out = await refused(production(await freePort(), { SESAME_DEV_OUTBOX: path.join(dataDir, 'outbox.jsonl') }));
    assert.match(out, /SESAME_DEV_OUTBOX must not be set in production mode/);
  });

  it('starts one instance on SQLite with keys generated into secrets.json', async () => {
    const port = await freePort();
    const server = await startServer({ env: production(port, { DATABASE_URL: '' }) });
    try {
      assert.equal((await fetch(`${server.base}/healthz`)).status, 200);
      assert.equal(fs.statSync(path.join(dataDir, 'secrets.json')).mode & 0o777, 0o600);
    } finally {
      await server.stop();
    }
  });
});
