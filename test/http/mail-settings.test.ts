/**
 * The Mail settings page and API (issue #18, item 1), on both stores: only an admin of the
 * organization with a second factor reads or changes them (each admin sees their own
 * organization's), every form needs its CSRF token, a refused save keeps what was typed and says
 * each problem beside its field (and nothing changes), the check's result is said per service in
 * words, and every change is audited. The check here answers for the servers (the real check is in
 * test/unit/mail-settings.test.ts and test/e2e/mail-protocols.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Endpoint, MailService, ProbeResult } from '../../src/domain/mail-settings/model.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, csrfFrom, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

const FORM = {
  'imap.host': 'mail.contoso.test',
  'imap.port': '993',
  'imap.security': 'tls',
  'smtp.host': 'smtp.contoso.test',
  'smtp.port': '587',
  'smtp.security': 'starttls',
  'caldav.host': 'dav.contoso.test',
  'caldav.port': '443',
  'caldav.path': '/dav/',
  userName: 'localpart',
};

for (const kind of STORE_KINDS) {
  describe(`mail settings page and API on ${kind}`, () => {
    let w: World;
    const probed: [MailService, Endpoint][] = [];
    before(async () => {
      w = await makeWorld(
        kind,
        {},
        {
          mailServerProbe: {
            probe: async (service, e): Promise<ProbeResult> => {
              probed.push([service, e]);
              const certificate = {
                subject: 'mail.contoso.test',
                names: ['mail.contoso.test'],
                validTo: Date.UTC(2027, 0, 1),
              };
              if (service === 'imap') return { ok: true, certificate, ms: 3 };
              if (service === 'smtp')
                return {
                  ok: false,
                  failed: 'certificate_name',
                  detail: 'Host: smtp.contoso.test. is not in the cert',
                  certificate,
                  ms: 4,
                };
              return { ok: false, failed: 'connect', detail: 'ECONNREFUSED', ms: 1 };
            },
          },
        },
      );
    });
    after(() => w.close());

    const audits = () =>
      w.ctx.store.db
        .selectFrom('audit_events')
        .select(['detail', 'org_id'])
        .where('action', '=', 'org.mail_settings')
        .execute();

    it('the page: nothing at first, saved, shown again, checked per service, removed; linked from the navigation and Policy', async () => {
      const b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
      const policy = await b.get('/admin/policy');
      assert.match(policy.body, /<a href="\/admin\/mail-settings">Mail settings: the servers/);
      const empty = await b.get('/admin/mail-settings');
      assert.equal(empty.statusCode, 200);
      assert.match(empty.body, /<a href="\/admin\/mail-settings" aria-current="page">Mail settings<\/a>/);
      assert.match(empty.body, /id="mail-settings-none"/);
      // No signing certificate configured: the admin is told what devices show (#18, item 2).
      assert.match(
        empty.body,
        /<section aria-labelledby="profiles-title" id="profile-signing">[\s\S]*?are not signed, so iPhones, iPads and Macs show them as &quot;Not Verified&quot;/,
      );
      assert.doesNotMatch(empty.body, /mail-settings-check/, 'nothing to check before anything is saved');
      assert.match(
        empty.body,
        /<input type="radio" name="userName" value="address" checked> The whole email address \(ada@contoso.test\)/,
      );

      const saved = await b.submit('/admin/mail-settings', '/admin/mail-settings', FORM);
      assert.equal(saved.statusCode, 303, saved.body.slice(0, 400));
      assert.equal(saved.headers.location, '/admin/mail-settings?m=saved');
      const page = await b.get('/admin/mail-settings?m=saved');
      assert.match(page.body, /class="notice" role="status">The mail settings are saved/);
      assert.match(page.body, /id="imap-host" name="imap.host" [^>]*value="mail.contoso.test"/);
      assert.match(page.body, /<option value="starttls" selected>STARTTLS<\/option>/);
      assert.match(page.body, /id="caldav-path" name="caldav.path" [^>]*value="\/dav\/"/);
      assert.match(page.body, /id="pop3-host" name="pop3.host" [^>]*value=""/);
      assert.match(page.body, /value="localpart" checked> The part before the @ \(ada\)/);
      assert.doesNotMatch(page.body, /mail-settings-none/);

      const checked = await b.submit('/admin/mail-settings', '/admin/mail-settings/check', {});
      assert.equal(checked.statusCode, 200);
      assert.deepEqual(
        probed.map(([s, e]) => `${s} ${e.host}:${e.port} ${e.security}${e.path ?? ''}`),
        [
          'imap mail.contoso.test:993 tls',
          'smtp smtp.contoso.test:587 starttls',
          'caldav dav.contoso.test:443 tls/dav/',
        ],
      );
      const row = (s: string) =>
        new RegExp(`<tr id="check-${s}" class="([a-z]+)">([\\s\\S]*?)</tr>`).exec(checked.body);
      assert.equal(row('imap')?.[1], 'success');
      assert.match(row('imap')![2]!, /Works: the certificate is trusted and names this server\./);
      assert.match(
        row('imap')![2]!,
        /Names: <code>mail.contoso.test<\/code>, valid until <time datetime="2027-01-01T00:00:00.000Z">/,
      );
      assert.equal(row('smtp')?.[1], 'failure');
      assert.match(row('smtp')![2]!, /The certificate is not for smtp.contoso.test: apps will warn or refuse\./);
      assert.match(row('smtp')![2]!, /Details: <code>Host: smtp.contoso.test. is not in the cert<\/code>/);
      assert.match(row('caldav')![2]!, /No connection: nothing answers on this port/);
      assert.match(row('caldav')![2]!, /None received/);
      assert.equal(row('pop3'), null, 'a service not offered is not checked');

      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      await signInAdminWithMfa(nl, ADMIN);
      const checkedNl = await nl.submit('/admin/mail-settings', '/admin/mail-settings/check', {});
      assert.match(checkedNl.body, /Werkt: het certificaat wordt vertrouwd en noemt deze server\./);
      assert.match(checkedNl.body, /Het certificaat is niet voor smtp.contoso.test/);

      const removed = await b.submit('/admin/mail-settings', '/admin/mail-settings/remove', {});
      assert.equal(removed.headers.location, '/admin/mail-settings?m=removed');
      assert.match((await b.get('/admin/mail-settings')).body, /id="mail-settings-none"/);
      const a = await audits();
      assert.ok(a.some((x) => x.detail.includes('"userName":"localpart"')));
      assert.ok(a.some((x) => x.detail === 'removed'));
    });

    it('a refused save: the error at the top, each problem beside its field, what was typed kept, nothing changed', async () => {
      const b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
      assert.equal((await b.submit('/admin/mail-settings', '/admin/mail-settings', FORM)).statusCode, 303);
      const before = await w.ctx.mailSettings.get(
        { kind: 'operator' },
        (await w.ctx.accounts.organizationByDomain('contoso.test')).id,
      );
      const auditCount = (await audits()).length;
      const bad = await b.submit('/admin/mail-settings', '/admin/mail-settings', {
        ...FORM,
        'imap.host': 'mail server',
        'smtp.port': '70000',
        'carddav.host': 'dav.contoso.test',
        'carddav.port': '443',
        'carddav.path': 'dav',
      });
      assert.equal(bad.statusCode, 400);
      assert.match(
        bad.body,
        /<p class="error" role="alert" id="page-error">3 settings need correcting; each is described beside its field\. Nothing was saved\.<\/p>/,
      );
      assert.match(
        bad.body,
        /<p class="field-error" id="imap-host-error"><span class="visually-hidden">Error:<\/span> Enter the IMAP server’s name \(such as mail.example.com\) or its IP address\.<\/p><input id="imap-host" name="imap.host" [^>]*value="mail server" aria-invalid="true" aria-describedby="imap-host-error imap-host-hint">/,
      );
      assert.match(
        bad.body,
        /id="smtp-port-error"><span class="visually-hidden">Error:<\/span> The SMTP port must be a whole number from 1 to 65535\./,
      );
      assert.match(bad.body, /value="70000" aria-invalid="true" aria-describedby="smtp-port-error smtp-port-hint"/);
      assert.match(
        bad.body,
        /id="carddav-path-error"><span class="visually-hidden">Error:<\/span> The CardDAV path must start with \//,
      );
      assert.doesNotMatch(bad.body, /id="caldav-path-error"/);
      assert.doesNotMatch(bad.body, /id="pop3-host"[^>]*aria-invalid/);
      const after = await w.ctx.mailSettings.get({ kind: 'operator' }, before!.orgId);
      assert.deepEqual(after, before, 'nothing changed');
      assert.equal((await audits()).length, auditCount, 'nothing audited');

      // One problem: its own sentence at the top.
      const one = await b.submit('/admin/mail-settings', '/admin/mail-settings', { ...FORM, 'imap.port': 'x' });
      assert.match(one.body, /id="page-error">The IMAP port must be a whole number from 1 to 65535\.<\/p>/);
    });

    it('CSRF on every form; users refused; another organization’s admin sees only their own', async () => {
      const b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
      await b.get('/admin/mail-settings');
      for (const action of ['/admin/mail-settings', '/admin/mail-settings/check', '/admin/mail-settings/remove']) {
        const r = await b.post(action, { ...FORM, _csrf: 'forged' });
        assert.equal(r.statusCode, 403, action);
        const r2 = await b.post(action, { ...FORM });
        assert.equal(r2.statusCode, 403, `${action} without a token`);
      }
      const orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      assert.ok(await w.ctx.mailSettings.get({ kind: 'operator' }, orgId), 'still there');

      const user = new Browser(w.app);
      await user.signIn(USER.address, USER.password);
      assert.equal((await user.get('/admin/mail-settings')).statusCode, 403);
      const account = await user.get('/account');
      assert.equal((await user.post('/admin/mail-settings/remove', { _csrf: csrfFrom(account.body) })).statusCode, 403);
      assert.ok(await w.ctx.mailSettings.get({ kind: 'operator' }, orgId), 'the user removed nothing');

      const other = new Browser(w.app);
      await signInAdminWithMfa(other, OTHER_ADMIN);
      const theirs = await other.get('/admin/mail-settings');
      assert.equal(theirs.statusCode, 200);
      assert.match(theirs.body, /id="mail-settings-none"/);
      assert.doesNotMatch(theirs.body, /contoso/);
      const checked = await other.submit('/admin/mail-settings', '/admin/mail-settings/check', {});
      assert.equal(checked.statusCode, 404);
      assert.match(checked.body, /Your organization has no mail settings yet\./);
    });

    it('the API: GET, PUT, check, DELETE; codes for bad values; admins of the organization only', async () => {
      const token = await adminApiToken(w.app, ADMIN);
      const otherToken = await adminApiToken(w.app, OTHER_ADMIN);
      const userToken = (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: USER.address, password: USER.password },
        })
      ).json().token as string;
      const call = (method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, t: string, body?: object) =>
        w.app.inject({
          method,
          url: `/api/v1${url}`,
          headers: { authorization: `Bearer ${t}` },
          ...(body ? { payload: body } : {}),
        });
      const put = await call('PUT', '/mail-settings', token, {
        imap: { host: 'IMAP.contoso.test', port: 143, security: 'starttls' },
        carddav: { host: 'dav.contoso.test', port: 443 },
        pop3: null,
      });
      assert.equal(put.statusCode, 200, put.body);
      assert.deepEqual(
        { ...(put.json() as object), updatedAt: undefined },
        {
          imap: { host: 'imap.contoso.test', port: 143, security: 'starttls' },
          pop3: null,
          smtp: null,
          caldav: null,
          carddav: { host: 'dav.contoso.test', port: 443, security: 'tls', path: '/' },
          userName: 'address',
          updatedAt: undefined,
        },
      );
      assert.match(put.json().updatedAt, /^\d{4}-\d\d-\d\dT/);
      assert.deepEqual((await call('GET', '/mail-settings', token)).json(), put.json());

      for (const [body, code] of [
        [{ imap: { host: 'mail.test', port: 99999, security: 'tls' } }, 'mail_port_invalid'],
        [{ imap: { host: 'mail/test', port: 993, security: 'tls' } }, 'mail_host_invalid'],
        [{ imap: { host: 'mail.test', port: 993, security: 'ssl' } }, 'mail_security_invalid'],
        [{ caldav: { host: 'dav.test', port: 443, security: 'starttls' } }, 'mail_starttls_not_for_dav'],
        [{ caldav: { host: 'dav.test', port: 443, path: 'x' } }, 'mail_path_invalid'],
        [{ imap: { host: 'mail.test', port: 993, security: 'tls' }, userName: 'uid' }, 'mail_user_name_invalid'],
        [{}, 'mail_servers_none'],
      ] as const) {
        const r = await call('PUT', '/mail-settings', token, body);
        assert.equal(r.statusCode, 400, `${code}: ${r.body}`);
        assert.equal(r.json().error.code, code);
      }
      assert.equal(
        (await call('PUT', '/mail-settings', token, { imap: { host: 'x', port: 1 }, extra: 1 })).statusCode,
        400,
      );
      assert.deepEqual((await call('GET', '/mail-settings', token)).json(), put.json(), 'nothing changed');

      probed.length = 0;
      const check = await call('POST', '/mail-settings/check', token);
      assert.equal(check.statusCode, 200, check.body);
      assert.deepEqual(
        check
          .json()
          .results.map((r: { service: string; ok: boolean; failed: string | null }) => [r.service, r.ok, r.failed]),
        [
          ['imap', true, null],
          ['carddav', false, 'connect'],
        ],
      );
      assert.deepEqual(check.json().results[0].certificate.names, ['mail.contoso.test']);

      // Another organization's admin: their own (none); a user: refused.
      const theirs = await call('GET', '/mail-settings', otherToken);
      assert.equal(theirs.statusCode, 404);
      assert.equal(theirs.json().error.code, 'mail_settings_not_found');
      assert.equal((await call('POST', '/mail-settings/check', otherToken)).statusCode, 404);
      assert.equal((await call('DELETE', '/mail-settings', otherToken)).json().removed, false);
      for (const [m, u] of [
        ['GET', '/mail-settings'],
        ['PUT', '/mail-settings'],
        ['DELETE', '/mail-settings'],
        ['POST', '/mail-settings/check'],
      ] as const) {
        const r = await call(
          m,
          u,
          userToken,
          m === 'PUT' ? { imap: { host: 'evil.test', port: 1, security: 'tls' } } : undefined,
        );
        assert.equal(r.statusCode, 403, `${m} ${u}`);
      }
      assert.equal(probed.length, 2, 'nobody else made Sesame connect anywhere');
      assert.deepEqual((await call('GET', '/mail-settings', token)).json(), put.json(), 'still the admin’s');

      assert.equal((await call('DELETE', '/mail-settings', token)).json().removed, true);
      assert.equal((await call('GET', '/mail-settings', token)).statusCode, 404);
      const openapi = (await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
      assert.ok(openapi.paths['/api/v1/mail-settings']?.put, Object.keys(openapi.paths).join(' '));
      assert.ok(openapi.paths['/api/v1/mail-settings/check']?.post);
    });
  });
}
