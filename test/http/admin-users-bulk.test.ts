/**
 * The admin Users console over HTTP (inject), on SQLite and PostgreSQL: filters and cursors on the
 * page and in the JSON API, a bulk change of checked users through preview and Apply, a CSV
 * upload whose bad rows change nothing, a file in the wrong encoding, CSRF, and rights.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { ADMIN, Browser, csrfFrom, makeWorld, USER, type World } from '../support/world.js';
import { seedUsers } from '../support/seed-users.js';
import { STORE_KINDS } from '../support/stores.js';

/** A session that proved a second factor, as admin rights need (the sign-in itself is tested elsewhere). */
async function adminBrowser(w: World, address = ADMIN.address): Promise<{ b: Browser; token: string }> {
  const user = (await w.ctx.accounts.findUserByAddressOrNull(address))!;
  const { token } = await w.ctx.sessions.start(
    user.id,
    ['pwd', 'otp'],
    { ip: '127.0.0.1', userAgent: 'test' },
    Date.now(),
  );
  const b = new Browser(w.app);
  b.cookies.set('sesame_session', token);
  return { b, token };
}

function multipart(fields: Record<string, string>, file: { name: string; bytes: Buffer }) {
  const boundary = '----sesame-test-boundary';
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields))
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  parts.push(
    Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="${file.name}"; filename="users.csv"\r\ncontent-type: text/csv\r\n\r\n`,
    ),
    file.bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

async function upload(
  w: World,
  b: Browser,
  fields: Record<string, string>,
  bytes: Buffer,
): Promise<LightMyRequestResponse> {
  const m = multipart(fields, { name: 'file', bytes });
  const cookie = [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  return w.app.inject({
    method: 'POST',
    url: '/admin/users/bulk/upload',
    payload: m.payload,
    headers: { ...m.headers, cookie },
  });
}

const hidden = (page: string, name: string) => {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(page);
  if (!m) throw new Error(`no ${name} on the page`);
  return m[1]!
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
};

for (const kind of STORE_KINDS) {
  describe(`admin Users console over HTTP on ${kind}`, () => {
    let w: World;
    let orgId: string;
    const state = async (address: string) => (await w.ctx.accounts.findUserByAddressOrNull(address))!.mfaState;

    before(async () => {
      w = await makeWorld(kind);
      orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      await seedUsers(w.ctx.store.db, orgId, 'contoso.test', 120, Date.now());
    });
    after(async () => w.close());

    it('the page filters, sorts and pages with cursors that keep the filter', async () => {
      const { b } = await adminBrowser(w);
      // Seeded users u00000..u00119: MFA disabled for i % 3 == 0.
      const res = await b.get('/admin/users?mfa=disabled&sort=address&order=desc');
      assert.equal(res.statusCode, 200, res.body);
      // 40 seeded users and the world's own users whose MFA is off.
      const total = (await w.ctx.directory.list(OPERATOR, orgId, { mfa: 'disabled' })).total;
      assert.ok(total > 40);
      assert.match(res.body, new RegExp(`<p id="user-count">${total} users</p>`));
      const rows = [...res.body.matchAll(/name="address" value="([^"]+)" form="bulk"/g)].map((m) => m[1]);
      assert.equal(rows.length, total);
      assert.equal(rows[0], 'u00117@contoso.test');
      assert.ok(rows.filter((a) => a!.startsWith('u')).every((a) => Number(/u(\d+)/.exec(a!)![1]) % 3 === 0));
      const page1 = await b.get('/admin/users?sort=name&limit=50');
      const next = /href="([^"]+)" rel="next"/.exec(page1.body)![1]!.replace(/&amp;/g, '&');
      assert.match(next, /sort=name/);
      const page2 = await b.get(next);
      assert.equal(page2.statusCode, 200);
      assert.match(page2.body, /rel="prev"/);
      const nl = await w.app.inject({
        method: 'GET',
        url: '/admin/users',
        headers: { cookie: `sesame_session=${b.cookies.get('sesame_session')}`, 'accept-language': 'nl' },
      });
      for (const words of [
        'Geselecteerde gebruikers wijzigen',
        'Gebruikers uit een CSV-bestand wijzigen',
        'Laatste aanmelding',
      ])
        assert.ok(nl.body.includes(words), words);
      // A tampered cursor: the first page and a clear error, not a 500.
      const bad = await b.get('/admin/users?cursor=garbage');
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /role="alert"/);
    });

    it('a finished sign-in sets the last sign-in that the list filters and sorts on', async () => {
      const bob = async () => (await w.ctx.directory.list(OPERATOR, orgId, { q: USER.address })).users[0]!;
      assert.equal((await bob()).lastSignInAt, null);
      const never = await w.ctx.directory.list(OPERATOR, orgId, { lastSignIn: 'never', limit: 200 });
      assert.ok(never.users.some((u) => u.address === USER.address));
      const t0 = Date.now();
      const res = await new Browser(w.app).signIn(USER.address, USER.password);
      assert.equal(res.statusCode, 303);
      const at = (await bob()).lastSignInAt!;
      assert.ok(at >= t0 && at <= Date.now(), String(at));
      const recent = await w.ctx.directory.list(OPERATOR, orgId, {
        lastSignIn: 'within:1',
        sort: 'last_sign_in',
        order: 'desc',
        limit: 1,
      });
      assert.equal(recent.users[0]!.address, USER.address);
    });

    it('checked users: preview changes nothing, Apply changes them in one go, a second Apply changes nothing', async () => {
      const { b } = await adminBrowser(w);
      const a1 = 'u00003@contoso.test';
      const a2 = 'u00006@contoso.test';
      assert.equal(await state(a1), 'disabled');
      const list = await b.get('/admin/users');
      const form = new URLSearchParams({ _csrf: csrfFrom(list.body), op: 'mfa:enforced' });
      form.append('address', a1);
      form.append('address', a2);
      const cookie = [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      const preview = await w.app.inject({
        method: 'POST',
        url: '/admin/users/bulk/preview',
        payload: form.toString(),
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(preview.statusCode, 200, preview.body);
      assert.match(preview.body, /id="bulk-summary">2 users will change/);
      assert.equal(await state(a1), 'disabled', 'a preview changes nothing');
      const apply = {
        _csrf: csrfFrom(preview.body),
        op: hidden(preview.body, 'op'),
        rows: hidden(preview.body, 'rows'),
        fingerprint: hidden(preview.body, 'fingerprint'),
      };
      const done = await b.post('/admin/users/bulk/apply', apply);
      assert.equal(done.statusCode, 200, done.body);
      assert.match(done.body, /id="bulk-done">2 users changed/);
      assert.deepEqual([await state(a1), await state(a2)], ['enforced', 'enforced']);
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select('detail')
        .where('action', '=', 'mfa.state')
        .where('detail', 'like', '%(bulk change)')
        .execute();
      assert.equal(audit.length, 2);
      // The same form again (a reload, a double click): the preview no longer holds, nothing changes.
      const again = await b.post('/admin/users/bulk/apply', {
        ...apply,
        _csrf: csrfFrom((await b.get('/admin/users')).body),
      });
      assert.equal(again.statusCode, 409);
      assert.match(again.body, /changed since the preview/);
    });

    it('a CSV file with bad rows: every problem shown, no Apply, nothing changed', async () => {
      const { b } = await adminBrowser(w);
      const csrf = csrfFrom((await b.get('/admin/users')).body);
      const before = await state('u00009@contoso.test');
      const file = Buffer.from(
        'address,mfa_state\r\nu00009@contoso.test,enforced\r\nnobody@contoso.test,enabled\r\nu00010@contoso.test,sometimes\r\neve@fabrikam.test,enforced\r\nu00009@contoso.test,enabled\r\n',
      );
      const res = await upload(w, b, { _csrf: csrf, op: 'mfa' }, file);
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.body, /4 rows have a problem/);
      for (const msg of [
        'There is no user with this address.',
        'The MFA state must be disabled, enabled or enforced.',
        'Not a user of your organization.',
        'The same user as row 2.',
      ])
        assert.ok(res.body.includes(msg), msg);
      assert.doesNotMatch(res.body, /action="\/admin\/users\/bulk\/apply"/);
      assert.equal(await state('u00009@contoso.test'), before);
    });

    it('a CSV file in the wrong encoding is refused with a clear message; a UTF-8 BOM is fine', async () => {
      const { b } = await adminBrowser(w);
      const csrf = csrfFrom((await b.get('/admin/users')).body);
      const latin1 = Buffer.from('address,mfa_state\r\nren\xe9@contoso.test,enabled\r\n', 'latin1');
      const res = await upload(w, b, { _csrf: csrf, op: 'mfa' }, latin1);
      assert.equal(res.statusCode, 400);
      assert.match(res.body, /The file is not UTF-8 text/);
      const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('address,mfa_state\r\n', 'utf16le')]);
      assert.match((await upload(w, b, { _csrf: csrf, op: 'mfa' }, utf16)).body, /The file is not UTF-8 text/);
      const bom = Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from('address,mfa_state\r\nu00012@contoso.test,enabled\r\n'),
      ]);
      const ok = await upload(w, b, { _csrf: csrf, op: 'mfa' }, bom);
      assert.equal(ok.statusCode, 200, ok.body);
      assert.match(ok.body, /1 user will change/);
    });

    it('a file over the size limit is refused with the limit', async () => {
      const { b } = await adminBrowser(w);
      const csrf = csrfFrom((await b.get('/admin/users')).body);
      const res = await upload(w, b, { _csrf: csrf, op: 'mfa' }, Buffer.alloc(1024 * 1024 + 10, 'a'));
      assert.equal(res.statusCode, 413);
      assert.match(res.body, /Too many rows: at most 5000 at once/);
    });

    it('refuses an upload without the CSRF token, and a user who is not an admin', async () => {
      const { b } = await adminBrowser(w);
      await b.get('/admin/users');
      const res = await upload(
        w,
        b,
        { op: 'mfa' },
        Buffer.from('address,mfa_state\r\nu00015@contoso.test,enforced\r\n'),
      );
      assert.equal(res.statusCode, 403);
      const { b: bob } = await adminBrowser(w, USER.address);
      const page = await bob.get('/admin/users');
      assert.equal(page.statusCode, 403);
      const r2 = await upload(
        w,
        bob,
        { _csrf: csrfFrom(page.body), op: 'mfa' },
        Buffer.from('address,mfa_state\r\nu00015@contoso.test,enforced\r\n'),
      );
      assert.equal(r2.statusCode, 403);
      assert.equal(await state('u00015@contoso.test'), 'disabled');
    });

    it('the JSON API lists with the same filters, sorts and cursors', async () => {
      const { token } = await adminBrowser(w);
      const get = (q: string) =>
        w.app.inject({ method: 'GET', url: `/api/v1/users?${q}`, headers: { authorization: `Bearer ${token}` } });
      const first = await get('method=webauthn&sort=name&order=desc&limit=5');
      assert.equal(first.statusCode, 200, first.body);
      const body = first.json() as {
        users: { address: string; methods: string[]; name: string }[];
        total: number;
        next: string;
      };
      assert.equal(body.total, 18, 'u00000..u00119 with i % 7 == 0');
      assert.ok(body.users.every((u) => u.methods.includes('webauthn')));
      const names = body.users.map((u) => u.name);
      assert.deepEqual(names, [...names].sort().reverse());
      const second = (await get(`method=webauthn&sort=name&order=desc&limit=5&cursor=${body.next}`)).json() as {
        users: { name: string }[];
        prev: string;
      };
      assert.ok(second.users[0]!.name < names.at(-1)!);
      assert.equal((await get('mfa=maybe')).statusCode, 400);
      assert.equal((await get('lastSignIn=yesterday')).statusCode, 400);
    });

    it('the JSON API makes bulk changes: dry run, apply with its fingerprint, bad rows change nothing (422)', async () => {
      const { token } = await adminBrowser(w);
      const post = (body: unknown) =>
        w.app.inject({
          method: 'POST',
          url: '/api/v1/users/bulk',
          payload: body as object,
          headers: { authorization: `Bearer ${token}` },
        });
      const rows = [
        { address: 'u00018@contoso.test', state: 'enabled' },
        { address: 'u00021@contoso.test', state: 'enabled' },
      ];
      const dry = await post({ operation: 'mfa', rows, dryRun: true });
      assert.equal(dry.statusCode, 200, dry.body);
      const plan = dry.json() as {
        applied: boolean;
        fingerprint: string;
        rows: { mfaStateBefore: string; mfaStateAfter: string; changes: boolean }[];
      };
      assert.equal(plan.applied, false);
      assert.deepEqual(
        plan.rows.map((r) => [r.mfaStateBefore, r.mfaStateAfter, r.changes]),
        [
          ['disabled', 'enabled', true],
          ['disabled', 'enabled', true],
        ],
      );
      assert.equal(await state('u00018@contoso.test'), 'disabled');
      const done = await post({ operation: 'mfa', rows, fingerprint: plan.fingerprint });
      assert.equal(done.statusCode, 200, done.body);
      assert.deepEqual([done.json().applied, done.json().changed], [true, 2]);
      assert.equal(await state('u00021@contoso.test'), 'enabled');
      assert.equal(
        (await post({ operation: 'mfa', rows, fingerprint: plan.fingerprint })).statusCode,
        409,
        'the preview no longer holds',
      );
      const bad = await post({
        operation: 'disable',
        rows: [{ address: 'u00024@contoso.test' }, { address: 'eve@fabrikam.test' }],
      });
      assert.equal(bad.statusCode, 422);
      assert.deepEqual(
        (bad.json() as { rows: { problem: string | null }[] }).rows.map((r) => r.problem),
        [null, 'other_organization'],
      );
      assert.equal((await w.ctx.accounts.findUserByAddressOrNull('u00024@contoso.test'))!.status, 'active');
      assert.equal((await post({ operation: 'delete', rows })).statusCode, 400);
    });
  });
}
