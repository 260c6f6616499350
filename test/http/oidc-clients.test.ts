/**
 * The registry of browser apps (OIDC clients), on both stores, through every door an admin has:
 * the /admin/apps page (CSRF, secret shown once, validation that changes nothing), the JSON API
 * under /api/v1/oidc/clients (schemas, per-organization rights) and the `sesame oidc` CLI (clients
 * and signing keys). Plus the discovery document the apps are configured from.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli, type CliIo } from '../../src/cli/main.js';
import { OidcProviderHolder } from '../../src/features/oidc/provider.js';
import { webSettings } from '../../src/web/cookies.js';
import inject from 'light-my-request';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, csrfFrom, hiddenFields, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`browser apps (OIDC clients) on ${kind}`, () => {
    let w: World;
    let admin: Browser;
    const count = async () =>
      Number(
        (
          await w.ctx.store.db
            .selectFrom('oidc_clients')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    before(async () => {
      w = await makeWorld(kind);
      admin = new Browser(w.app);
      await signInAdminWithMfa(admin, ADMIN);
    });
    after(async () => w.close());

    it('publishes the discovery document at SESAME_PUBLIC_URL/oidc, code flow with PKCE only', async () => {
      const res = await w.app.inject({ url: '/oidc/.well-known/openid-configuration' });
      assert.equal(res.statusCode, 200);
      const d = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(d.issuer, `${w.ctx.config.publicUrl}/oidc`);
      assert.deepEqual(d.response_types_supported, ['code']);
      assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
      assert.ok(!(d.grant_types_supported as string[]).includes('password'), 'no password grant');
      assert.deepEqual(d.acr_values_supported, ['urn:sesame:acr:pwd', 'urn:sesame:acr:mfa']);
    });

    it('adds an app on the admin page: post/redirect/get, the secret shown once, stored only as a keyed hash; the same form twice adds one', async () => {
      const before = await count();
      const form = {
        name: 'Grafana',
        redirectUris: 'https://grafana.contoso.test/login/generic_oauth\r\nhttp://127.0.0.1:3000/login/generic_oauth',
        kind: 'confidential',
        requireMfa: '1',
      };
      const page0 = await admin.get('/admin/apps');
      const fields = { ...hiddenFields(page0.body, '/admin/apps'), ...form };
      const res = await admin.post('/admin/apps', fields);
      assert.equal(res.statusCode, 303, res.body.slice(0, 300));
      const shown = await admin.get(String(res.headers.location));
      const secret = /<code id="client-secret">([^<]+)<\/code>/.exec(shown.body)?.[1];
      assert.ok(secret && secret.length >= 40, 'the secret is on the page the add redirects to');
      assert.ok(!String(res.headers.location).includes(secret), 'never in the URL');
      // A reload of that page, or the same form posted again (a double click), shows and adds nothing more.
      const again = await admin.get(String(res.headers.location));
      assert.ok(!again.body.includes(secret), 'shown once');
      assert.match(again.body, /was shown once and cannot be shown again/);
      const repeat = await admin.post('/admin/apps', fields);
      assert.equal(repeat.statusCode, 303);
      assert.equal(await count(), before + 1, 'one app for one form');
      const [client] = await w.ctx.oidc.clients.list(
        { kind: 'operator' },
        (await w.ctx.accounts.organizationByDomain('contoso.test')).id,
      );
      assert.equal(client!.name, 'Grafana');
      assert.equal(client!.kind, 'confidential');
      assert.equal(client!.requireMfa, true);
      assert.deepEqual(client!.redirectUris, [
        'https://grafana.contoso.test/login/generic_oauth',
        'http://127.0.0.1:3000/login/generic_oauth',
      ]);
      assert.ok(await w.ctx.oidc.clients.secretIsRight(client!.id, secret));
      const page = await admin.get('/admin/apps');
      assert.match(page.body, new RegExp(client!.id));
      assert.ok(!page.body.includes(secret), 'never shown again');
      assert.match(page.body, /\/oidc\/\.well-known\/openid-configuration/);
    });

    it('removing an app asks first, saying its sign-ins and tokens stop; without confirm nothing changes', async () => {
      const orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      const made = await w.ctx.oidc.clients.add({ kind: 'operator' }, orgId, {
        name: 'Wiki',
        redirectUris: ['https://wiki.contoso.test/cb'],
        kind: 'public',
      });
      const before = await count();
      const ask = await admin.submit('/admin/apps', '/admin/apps/remove', { id: made.client.id });
      assert.equal(ask.statusCode, 200);
      assert.match(ask.body, /id="confirmation"/);
      assert.match(ask.body, /Remove the app Wiki\?/);
      assert.match(ask.body, /can no longer sign in to this app/);
      assert.equal(await count(), before, 'asking removes nothing');
      const done = await admin.post('/admin/apps/remove', {
        ...hiddenFields(ask.body, '/admin/apps/remove'),
        confirm: '1',
      });
      assert.equal(done.headers.location, '/admin/apps?m=removed');
      assert.equal(await count(), before - 1);
    });

    it('refuses bad redirect URIs with a clear message and changes nothing; the form needs its CSRF token', async () => {
      const before = await count();
      for (const uri of [
        'http://grafana.contoso.test/cb',
        'https://grafana.contoso.test/cb#x',
        'javascript:alert(1)',
        'not a url',
        '',
      ]) {
        const res = await admin.submit('/admin/apps', '/admin/apps', {
          name: 'Bad',
          redirectUris: uri,
          kind: 'confidential',
        });
        assert.equal(res.statusCode, 400, uri);
        assert.match(res.body, /full https:\/\/ address/);
      }
      assert.equal(
        (
          await admin.submit('/admin/apps', '/admin/apps', {
            name: 'Bad',
            redirectUris: 'https://ok.test/cb',
            kind: 'other',
          })
        ).statusCode,
        400,
      );
      assert.equal(
        (await admin.post('/admin/apps', { name: 'NoCsrf', redirectUris: 'https://ok.test/cb', kind: 'public' }))
          .statusCode,
        403,
      );
      assert.equal(await count(), before);
    });

    it('is for admins of the organization only', async () => {
      const bob = new Browser(w.app);
      await bob.signIn(USER.address, USER.password);
      await w.ctx.mfaAdmin.setUserState({ kind: 'operator' }, USER.address, 'disabled');
      const b2 = new Browser(w.app);
      await b2.signIn(USER.address, USER.password);
      const page = await b2.get('/admin/apps');
      assert.equal(page.statusCode, 403);
      const before = await count();
      const tried = await b2.post('/admin/apps', {
        _csrf: csrfFrom(page.body),
        name: 'Mine',
        redirectUris: 'https://ok.test/cb',
        kind: 'public',
      });
      assert.equal(tried.statusCode, 403);
      assert.equal(await count(), before);
      assert.equal((await new Browser(w.app).get('/admin/apps')).headers.location, '/signin?next=%2Fadmin%2Fapps');
    });

    it("JSON API: add, list and remove in the caller's organization; another organization's admin sees and removes nothing", async () => {
      const token = await adminApiToken(w.app, ADMIN);
      const auth = { authorization: `Bearer ${token}` };
      const made = await w.app.inject({
        method: 'POST',
        url: '/api/v1/oidc/clients',
        headers: auth,
        payload: { name: 'SPA', redirectUris: ['https://spa.contoso.test/cb'], kind: 'public' },
      });
      assert.equal(made.statusCode, 201, made.body);
      const spa = JSON.parse(made.body) as { clientId: string; kind: string; clientSecret?: string };
      assert.equal(spa.kind, 'public');
      assert.equal(spa.clientSecret, undefined, 'a public client has no secret');
      const bad = await w.app.inject({
        method: 'POST',
        url: '/api/v1/oidc/clients',
        headers: auth,
        payload: { name: 'X', redirectUris: ['ftp://x.test/cb'], kind: 'public' },
      });
      assert.equal(bad.statusCode, 400);
      assert.equal((JSON.parse(bad.body) as { error: { code: string } }).error.code, 'invalid_redirect_uri');
      const extra = await w.app.inject({
        method: 'POST',
        url: '/api/v1/oidc/clients',
        headers: auth,
        payload: { name: 'X', redirectUris: ['https://x.test/cb'], kind: 'public', orgId: 'other' },
      });
      assert.equal(extra.statusCode, 400, 'unknown fields are refused');
      const list = JSON.parse((await w.app.inject({ url: '/api/v1/oidc/clients', headers: auth })).body) as {
        issuer: string;
        clients: { clientId: string }[];
      };
      assert.ok(list.clients.some((c) => c.clientId === spa.clientId));
      assert.equal(list.issuer, `${w.ctx.config.publicUrl}/oidc`);

      // An admin of its own per store: the helper remembers an address's second factor across worlds.
      const fabrikamAdmin = { address: `frank.${kind}@fabrikam.test`, password: OTHER_ADMIN.password };
      await w.ctx.accounts.addUser({ kind: 'operator' }, { ...fabrikamAdmin, role: 'admin' });
      const other = { authorization: `Bearer ${await adminApiToken(w.app, fabrikamAdmin)}` };
      assert.deepEqual(
        (
          JSON.parse((await w.app.inject({ url: '/api/v1/oidc/clients', headers: other })).body) as {
            clients: unknown[];
          }
        ).clients,
        [],
      );
      assert.equal(
        (await w.app.inject({ method: 'DELETE', url: `/api/v1/oidc/clients/${spa.clientId}`, headers: other }))
          .statusCode,
        404,
      );
      assert.ok(await w.ctx.oidc.clients.find(spa.clientId), 'still there');
      assert.equal(
        (await w.app.inject({ method: 'DELETE', url: `/api/v1/oidc/clients/${spa.clientId}`, headers: auth }))
          .statusCode,
        204,
      );
      assert.equal(await w.ctx.oidc.clients.find(spa.clientId), undefined);
      assert.equal((await w.app.inject({ url: '/api/v1/oidc/clients' })).statusCode, 401);
      const doc = JSON.parse((await w.app.inject({ url: '/api/v1/openapi.json' })).body) as {
        paths: Record<string, unknown>;
      };
      assert.ok(
        doc.paths['/api/v1/oidc/clients'] && doc.paths['/api/v1/oidc/clients/{clientId}'],
        'in the OpenAPI document',
      );
    });

    it('a running instance picks up a key rotation made elsewhere, without a restart', async () => {
      const web = webSettings('http://127.0.0.1:8080');
      const holder = new OidcProviderHolder(w.ctx, web, 0);
      const before = await holder.get();
      assert.equal((await holder.get()).provider, before.provider, 'keys unchanged: the same provider');
      const kid = await w.ctx.oidc.keys.rotate();
      const after = await holder.get();
      assert.notEqual(after.provider, before.provider, 'rebuilt with the new key');
      const jwks = (provider: typeof after) =>
        inject(provider.callback, { url: '/jwks' }).then((r) =>
          (JSON.parse(r.body) as { keys: { kid: string }[] }).keys.map((k) => k.kid),
        );
      assert.equal((await jwks(after))[0], kid);
      assert.ok(!(await jwks(before)).includes(kid), 'the old provider did not have it');
    });

    it('CLI: sesame oidc client add|list|remove and the signing keys; wrong usage exits 2, a refusal 1', async () => {
      const lines: string[] = [];
      const errs: string[] = [];
      const io: CliIo = {
        out: (s) => lines.push(s),
        err: (s) => errs.push(s),
        readStdin: async () => '',
        env: { SESAME_DATA_DIR: w.store.dataDir, DATABASE_URL: w.store.databaseUrl, LOG_LEVEL: 'silent' },
      };
      assert.equal(
        await runCli(
          [
            'oidc',
            'client',
            'add',
            'fabrikam.test',
            'Wiki',
            '--redirect-uri',
            'https://wiki.fabrikam.test/cb',
            '--public',
          ],
          io,
        ),
        0,
      );
      const id = /client_id: (\S+)/.exec(lines.join('\n'))?.[1];
      assert.ok(id);
      assert.ok(!lines.some((l) => l.startsWith('client_secret')), 'a public client has no secret');
      assert.equal(await runCli(['oidc', 'client', 'list', 'fabrikam.test'], io), 0);
      assert.ok(lines.some((l) => l.startsWith(id) && l.includes('public')));
      assert.equal(
        await runCli(
          ['oidc', 'client', 'add', 'fabrikam.test', 'Bad', '--redirect-uri', 'http://wiki.fabrikam.test/cb'],
          io,
        ),
        1,
      );
      assert.match(errs.at(-1)!, /invalid_redirect_uri/);
      assert.equal(await runCli(['oidc', 'client', 'add', 'fabrikam.test', 'NoUri'], io), 2);
      assert.equal(
        await runCli(['oidc', 'client', 'remove', 'contoso.test', id], io),
        1,
        'not a client of that organization',
      );
      assert.equal(await runCli(['oidc', 'client', 'remove', 'fabrikam.test', id], io), 0);
      assert.equal(await w.ctx.oidc.clients.find(id), undefined);

      const before = await w.ctx.oidc.keys.kids();
      assert.equal(await runCli(['oidc', 'rotate-keys'], io), 0);
      const after = await w.ctx.oidc.keys.kids();
      assert.equal(after.length, before.length + 1);
      assert.equal(await runCli(['oidc', 'keys'], io), 0);
      assert.ok(lines.some((l) => l.startsWith(after[0]!) && l.endsWith('signing')));
      assert.equal(await runCli(['oidc', 'drop-previous-keys'], io), 0);
      assert.deepEqual(await w.ctx.oidc.keys.kids(), [after[0]]);
      assert.equal(await runCli(['oidc', 'rotate'], io), 2);
    });
  });
}
