/**
 * The operator's log never holds a secret (checklist 37): passwords, session tokens, cookies and
 * one-time link tokens stay out of it, and a user agent with CR/LF cannot forge a line.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app-context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { buildApp } from '../../src/delivery/http/app.js';
import { makeTestStore, type TestStore } from '../support/stores.js';
import { Browser, csrfFrom } from '../support/world.js';

describe('logs hold no secrets', () => {
  let store: TestStore;
  let ctx: AppContext;
  let app: Awaited<ReturnType<typeof buildApp>>;
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });

  before(async () => {
    store = await makeTestStore('sqlite');
    ctx = await createContext(store.config({ logLevel: 'trace' }));
    await ctx.accounts.addOrganization(OPERATOR, 'contoso.test');
    await ctx.accounts.addUser(OPERATOR, { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77' });
    app = await buildApp(ctx, { logStream: stream });
  });
  after(async () => {
    await app.close();
    await ctx.close();
    await store.dispose();
  });

  it('after sign-ins, API calls and a set-password link, no secret is in any log line', async () => {
    const secrets: string[] = ['quiet-meadow-copper-77', 'wrong-guess-password-1', 'brand-new-password-55'];
    const b = new Browser(app, { 'user-agent': 'Evil\r\n{"level":60,"msg":"forged"}' });
    await b.signIn('bob@contoso.test', 'wrong-guess-password-1');
    await b.signIn('bob@contoso.test', 'quiet-meadow-copper-77');
    secrets.push(b.cookies.get('sesame_session')!, b.cookies.get('sesame_csrf')!);
    const api = await app.inject({ method: 'POST', url: '/api/v1/sessions', payload: { email: 'bob@contoso.test', password: 'quiet-meadow-copper-77' } });
    const token = api.json().token as string;
    secrets.push(token);
    await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
    const link = await ctx.accounts.issueSetPasswordToken(OPERATOR, 'bob@contoso.test');
    secrets.push(link.token);
    const v = new Browser(app);
    const form = await v.get(`/set-password?token=${link.token}`);
    await v.post('/set-password', { _csrf: csrfFrom(form.body), token: link.token, password: 'brand-new-password-55', confirm: 'brand-new-password-55' });

    assert.ok(lines.length > 10, 'the log was written');
    const all = lines.join('\n');
    for (const s of secrets) assert.ok(!all.includes(s), `a secret (${s.slice(0, 4)}…) is in the log`);
    for (const l of lines) {
      const parsed = JSON.parse(l) as { msg?: string; level: number };
      assert.notEqual(parsed.msg, 'forged', 'a user agent cannot forge a log line');
    }
    assert.ok(all.includes('/set-password?[query omitted]'));
  });
});
