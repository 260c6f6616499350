/**
 * `sesame integration check <name>` and the URLs the CLI prints (issue #16, items 5 and 6), run
 * for real (bin/sesame.js in a child process) against SQLite and PostgreSQL. A server (the app,
 * in this process, on the same store) is asked by integrations first: one with its good key, one
 * with an unknown service, one never, and a request with an unknown key; what it saved is what
 * the CLI reads.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createContext, type AppContext } from '../../src/app/context.js';
import { buildApp } from '../../src/app/server.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { testContextOptions } from '../support/hasher.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin/sesame.js');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function sesame(store: TestStore, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      SESAME_DATA_DIR: store.dataDir,
      DATABASE_URL: store.databaseUrl,
      LOG_LEVEL: 'silent',
      SESAME_PUBLIC_URL: 'https://id.contoso.test',
    };
    for (const [k, v] of Object.entries(env))
      if (v === undefined) delete base[k];
      else base[k] = v;
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: base, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end('');
  });
}

for (const kind of STORE_KINDS) {
  describe(`sesame integration check and CLI URLs on ${kind}`, () => {
    let store: TestStore;
    let ctx: AppContext;
    let app: FastifyInstance;
    const keys: Record<string, string> = {};

    before(async () => {
      store = await makeTestStore(kind);
      ctx = await createContext(store.config(), testContextOptions());
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      for (const name of ['dovecot', 'broken', 'quiet']) keys[name] = (await ctx.integrations.add(name)).key;
      app = await buildApp(ctx, { logger: false });
      await app.ready();
      const mail = (key: string, body: object) =>
        app.inject({ method: 'POST', url: '/auth/mail', headers: { authorization: `Bearer ${key}` }, payload: body });
      assert.equal(
        (
          await mail(keys.dovecot!, {
            user: 'bob@contoso.test',
            password: 'pw-not-kept-1',
            service: 'imap',
            remoteIp: '192.0.2.7',
          })
        ).statusCode,
        401,
      );
      assert.equal(
        (await mail(keys.broken!, { user: 'bob@contoso.test', password: 'x', service: 'doveadm' })).statusCode,
        400,
      );
      assert.equal(
        (await mail(`sesame_int_${'Z'.repeat(43)}`, { user: 'bob@contoso.test', password: 'x', service: 'imap' }))
          .statusCode,
        401,
      );
      // What a running server saves every ~10 s, saved now.
      await ctx.flush();
    });
    after(async () => {
      await app?.close();
      await ctx?.close();
      await store?.dispose();
    });

    it('seen with its good key: exit 0, when, the endpoint, the service, the reported address and the peer; never the password or user', async () => {
      const r = await sesame(store, ['integration', 'check', 'dovecot']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^integration dovecot: exists, added \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n/);
      assert.match(
        r.out,
        /last seen with its key \d{4}-\d\d-\d\d [\d:]+ UTC: \/auth\/mail \(service "imap", reported client address 192\.0\.2\.7, from 127\.0\.0\.1\): answered/,
      );
      assert.doesNotMatch(r.out, /last configuration error/);
      assert.doesNotMatch(r.out + r.err, /pw-not-kept-1|bob@contoso/);
      assert.equal(r.err, '');
    });

    it('never seen: exit 1 with one line saying what to do (the URL and a request to test the key by hand)', async () => {
      const r = await sesame(store, ['integration', 'check', 'quiet']);
      assert.equal(r.code, 1);
      assert.match(r.out, /integration quiet: exists/);
      assert.match(r.out, /never seen with its key/);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.match(
        r.err,
        /quiet has never reached Sesame with its key .*https:\/\/id\.contoso\.test.*curl -H "Authorization: Bearer <key>" https:\/\/id\.contoso\.test\/auth\/integration-check/,
      );
    });

    it('bad key: the recent requests with an unknown or revoked key, by endpoint and peer', async () => {
      const r = await sesame(store, ['integration', 'check', 'quiet']);
      assert.match(r.out, /recent requests with an unknown, revoked or missing key/);
      assert.match(r.out, /\/auth\/mail {2}from 127\.0\.0\.1 {2}unknown or revoked key/);
      // A name that does not exist: exit 1, what exists and how to make one.
      const none = await sesame(store, ['integration', 'check', 'nosuch']);
      assert.equal(none.code, 1);
      assert.match(none.err, /no integration named "nosuch".*sesame integration list.*sesame integration add nosuch/);
      assert.equal(none.err.trim().split('\n').length, 1);
    });

    it('configuration error: seen with its key (exit 0), its last configuration error and the refused request', async () => {
      const r = await sesame(store, ['integration', 'check', 'broken']);
      assert.equal(r.code, 0, r.err);
      assert.match(
        r.out,
        /\/auth\/mail \(service "doveadm", no client address, from 127\.0\.0\.1\): refused as a configuration error/,
      );
      assert.match(r.out, /last configuration error [\d-]+ [\d:]+ UTC: unknown service name "doveadm" on \/auth\/mail/);
    });

    it('integration list: when each was last seen, and on which endpoint', async () => {
      const r = await sesame(store, ['integration', 'list']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^dovecot {2}added [^\n]+\n {2}last seen [\d-]+ [\d:]+ UTC on \/auth\/mail$/m);
      assert.match(r.out, /^quiet {2}added [^\n]+$(?!\n {2}last seen)/m);
    });

    it('wrong usage: exit 2', async () => {
      assert.equal((await sesame(store, ['integration', 'check'])).code, 2);
      assert.equal((await sesame(store, ['integration', 'check', 'a', 'b'])).code, 2);
    });

    it('URLs come from SESAME_PUBLIC_URL; unset, the CLI says so plainly and guesses no host or port', async () => {
      const linked = await sesame(store, ['user', 'add', 'carol@contoso.test']);
      assert.equal(linked.code, 0, linked.err);
      assert.match(linked.out, /^https:\/\/id\.contoso\.test\/set-password\?token=\S+$/m);
      assert.equal(linked.err, '');
      const bare = await sesame(store, ['user', 'link', 'carol@contoso.test'], {
        SESAME_PUBLIC_URL: undefined,
        PORT: '8443',
      });
      assert.equal(bare.code, 0, bare.err);
      assert.match(bare.out, /^<SESAME_PUBLIC_URL>\/set-password\?token=\S+$/m);
      assert.doesNotMatch(bare.out, /http:\/\/|8443/);
      assert.match(bare.err, /SESAME_PUBLIC_URL is not set in this environment/);

      const client = [
        'oidc',
        'client',
        'add',
        'contoso.test',
        'Wiki',
        '--redirect-uri',
        'https://wiki.contoso.test/cb',
      ];
      const withUrl = await sesame(store, client);
      assert.equal(withUrl.code, 0, withUrl.err);
      assert.match(withUrl.out, /^issuer: https:\/\/id\.contoso\.test\/oidc$/m);
      const without = await sesame(store, client, { SESAME_PUBLIC_URL: undefined, PORT: '8443' });
      assert.equal(without.code, 0, without.err);
      assert.match(without.out, /^issuer: <SESAME_PUBLIC_URL>\/oidc$/m);
      assert.doesNotMatch(without.out, /http:\/\/|8443/);
      assert.match(without.err, /SESAME_PUBLIC_URL is not set/);
      // check's advice too: no guessed URL.
      const quiet = await sesame(store, ['integration', 'check', 'quiet'], { SESAME_PUBLIC_URL: undefined });
      assert.match(quiet.err, /<SESAME_PUBLIC_URL>\/auth\/integration-check/);
      assert.doesNotMatch(quiet.err, /http:\/\//);
    });
  });
}
