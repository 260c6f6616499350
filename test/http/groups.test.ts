/**
 * The Groups pages and API (issue #19, item 1), on both stores: an admin creates a group, adds and
 * removes members (removal and deletion confirmed first), renames it, sets who may use app
 * passwords, LDAP and RADIUS (on the Groups and the Policy page), previews and applies a CSV of
 * memberships; the user's page lists their groups; every form needs its CSRF token; an admin of
 * fabrikam can neither see nor change contoso's groups; the JSON API does the same and is in the
 * OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { IMPORT_MAX } from '../../src/features/admin/groups-pages.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import {
  ADMIN,
  Browser,
  csrfFrom,
  hiddenFields,
  makeWorld,
  OTHER_ADMIN,
  registerTotpAtSignIn,
  USER,
  type World,
} from '../support/world.js';

/** A browser's multipart body: the fields, then one file part (what a file input sends). */
function multipart(fields: Record<string, string>, file: { filename: string; type: string; bytes: Buffer }) {
  const boundary = '----sesame-groups-boundary';
  const parts: Buffer[] = Object.entries(fields).map(([k, v]) =>
    Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`),
  );
  parts.push(
    Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.filename}"\r\ncontent-type: ${file.type}\r\n\r\n`,
    ),
    file.bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { payload: Buffer.concat(parts), 'content-type': `multipart/form-data; boundary=${boundary}` };
}

async function upload(
  b: Browser,
  fields: Record<string, string>,
  bytes: Buffer,
  file = { filename: 'members.csv', type: 'text/csv' },
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  const m = multipart(fields, { ...file, bytes });
  return b.app.inject({
    method: 'POST',
    url: '/admin/groups/import',
    payload: m.payload,
    headers: {
      ...headers,
      'content-type': m['content-type'],
      cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
    },
  });
}

const idFrom = (location: string | undefined) => new URL(String(location), 'http://x').searchParams.get('id') ?? '';

for (const kind of STORE_KINDS) {
  describe(`groups pages and API on ${kind}`, () => {
    let w: World;
    let b: Browser;
    let id = '';
    let org = '';
    before(async () => {
      w = await makeWorld(kind);
      org = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
    });
    after(() => w.close());

    it('the list: linked from the navigation, empty at first, then a group created and opened', async () => {
      const empty = await b.get('/admin/groups');
      assert.equal(empty.statusCode, 200);
      assert.match(empty.body, /<a href="\/admin\/groups" aria-current="page">Groups<\/a>/);
      assert.match(empty.body, /id="groups-none"/);
      const made = await b.submit('/admin/groups', '/admin/groups', {
        name: 'Mail users',
        description: 'May use mail apps',
      });
      assert.equal(made.statusCode, 303, made.body.slice(0, 300));
      id = idFrom(made.headers.location as string);
      assert.ok(id);
      const page = await b.get(String(made.headers.location));
      assert.match(page.body, /<h1>Group Mail users<\/h1>/);
      assert.match(page.body, /The group Mail users was created\./);
      assert.match(page.body, /id="group-members-none"/);
      const clash = await b.submit('/admin/groups', '/admin/groups', { name: 'MAIL USERS', description: '' });
      assert.equal(clash.statusCode, 409);
      assert.match(clash.body, /already has a group named MAIL USERS/);
      assert.match(clash.body, /value="MAIL USERS"/, 'what was typed is kept');
    });

    it('members: added by address, listed, refused from another organization, removed after a confirmation', async () => {
      const path = `/admin/groups/group?id=${id}`;
      const added = await b.submitForm(path, '/admin/groups/members/add', { address: USER.address });
      assert.equal(added.statusCode, 303);
      const page = await b.get(String(added.headers.location));
      assert.match(page.body, /bob@contoso\.test was added\./);
      assert.match(page.body, /<table id="group-members"[^>]*>[\s\S]*bob@contoso\.test/);
      const other = await b.submitForm(path, '/admin/groups/members/add', { address: OTHER_ADMIN.address });
      assert.equal(other.statusCode, 400);
      assert.match(other.body, /Only users of your organization can be members of its groups\./);

      const user = await b.get(`/admin/users/user?address=${encodeURIComponent(USER.address)}`);
      assert.match(user.body, /<ul id="user-groups"><li><a href="\/admin\/groups\/group\?id=[^"]+">Mail users<\/a>/);

      const ask = await b.submit(path, '/admin/groups/members/remove', { id, address: USER.address });
      assert.equal(ask.statusCode, 200);
      assert.match(ask.body, /Remove bob@contoso\.test from Mail users\?/);
      assert.equal((await w.ctx.groups.members({ kind: 'operator' }, org, id)).length, 1, 'not yet');
      const done = await b.post('/admin/groups/members/remove', {
        _csrf: csrfFrom(ask.body),
        id,
        address: USER.address,
        confirm: '1',
      });
      assert.equal(done.statusCode, 303);
      assert.match((await b.get(String(done.headers.location))).body, /bob@contoso\.test was removed\./);
    });

    it('who may use: set on the Groups page and shown on the Policy page; a required group cannot be deleted', async () => {
      const saved = await b.submitForm('/admin/groups', '/admin/groups/limits', {
        app_passwords: id,
        ldap: '',
        radius: id,
      });
      assert.equal(saved.statusCode, 303);
      assert.equal(saved.headers.location, '/admin/groups?m=limits');
      const policy = await b.get('/admin/policy');
      assert.match(
        policy.body,
        /<select id="limit-app_passwords" name="app_passwords"[^>]*>[\s\S]*?<option value="[^"]+" selected>Mail users<\/option>/,
      );
      assert.match(
        policy.body,
        /<select id="limit-ldap" name="ldap"[^>]*><option value="">Everyone<\/option><option value="[^"]+">Mail users/,
      );
      const fromPolicy = await b.submitForm('/admin/policy', '/admin/groups/limits', {
        app_passwords: id,
        ldap: id,
        radius: '',
      });
      assert.equal(fromPolicy.headers.location, '/admin/policy?m=saved');
      const limits = await w.ctx.groups.limits({ kind: 'operator' }, org);
      assert.deepEqual(limits, { app_passwords: id, ldap: id, radius: null });
      const group = await b.get(`/admin/groups/group?id=${id}`);
      assert.match(group.body, /Required for: App passwords, LDAP\./);

      const ask = await b.submitForm(`/admin/groups/group?id=${id}`, '/admin/groups/delete', {});
      assert.match(ask.body, /Delete the group Mail users\?/);
      const refused = await b.post('/admin/groups/delete', { _csrf: csrfFrom(ask.body), id, confirm: '1' });
      assert.equal(refused.statusCode, 409);
      assert.match(refused.body, /cannot be deleted: it is required for app_passwords, ldap/);
    });

    it('a CSV of memberships: previewed with every problem, applied only when confirmed and clean', async () => {
      const path = `/admin/groups/group?id=${id}`;
      const bad = await b.submitForm(path, '/admin/groups/import', {
        csv: `address,group\r\n${USER.address},mail users\r\n${OTHER_ADMIN.address},Mail users\r\n`,
      });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /Row 3: eve@fabrikam\.test is not an address of your organization/);
      assert.doesNotMatch(bad.body, /id="import-apply"/, 'no way to apply a file with a problem');
      const csv = `group,address\r\nMail users,${USER.address}\r\nMail users,${ADMIN.address}\r\n`;
      const preview = await b.submitForm(path, '/admin/groups/import', { csv });
      assert.equal(preview.statusCode, 200);
      assert.match(preview.body, /To add: 2\. Already members: 0\. Problems: 0\./);
      assert.equal((await w.ctx.groups.members({ kind: 'operator' }, org, id)).length, 0, 'nothing yet');
      const applied = await b.post('/admin/groups/import', {
        ...Object.fromEntries(
          [...preview.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
            m[1]!,
            m[2]!.replaceAll('&#13;', '\r').replaceAll('&#10;', '\n'),
          ]),
        ),
        confirm: '1',
      });
      assert.equal(applied.statusCode, 303, applied.body.slice(0, 500));
      assert.equal((await w.ctx.groups.members({ kind: 'operator' }, org, id)).length, 2);
    });

    it('a CSV file uploaded: previewed and applied like a paste; too big, garbage, empty or without CSRF changes nothing', async () => {
      const g = await w.ctx.groups.create({ kind: 'operator' }, org, 'Uploaders', '');
      const path = `/admin/groups/group?id=${g.id}`;
      const members = async () => (await w.ctx.groups.members({ kind: 'operator' }, org, g.id)).length;
      const page = (await b.get(path)).body;
      assert.match(
        page,
        /<form method="post" action="\/admin\/groups\/import" enctype="multipart\/form-data"[^>]*><input type="hidden" name="_csrf"/,
      );
      assert.match(page, /<input id="group-csv-file" name="file" type="file" accept="\.csv,text\/csv"/);
      const fields = { ...hiddenFields(page, '/admin/groups/import') };
      assert.ok(fields._csrf && fields.back === path, 'the form carries its CSRF token and where to come back to');
      const csv = Buffer.from(`\ufeffaddress,group\r\n${USER.address},Uploaders\r\n${ADMIN.address},uploaders\r\n`);

      const { _csrf: _, ...noToken } = fields;
      for (const f of [noToken, { ...noToken, _csrf: 'forged' }]) {
        const r = await upload(b, { ...f, confirm: '1' }, csv);
        assert.equal(r.statusCode, 403, 'a file that would apply is refused without its CSRF token');
      }
      const big = Buffer.concat([csv, Buffer.alloc(IMPORT_MAX + 1 - csv.length, ' ')]);
      const tooBig = await upload(b, { ...fields, confirm: '1' }, big);
      assert.equal(tooBig.statusCode, 413);
      assert.match(tooBig.body, /The file is too large: at most 200 kB\./);
      const nl = await upload(b, fields, big, undefined, { 'accept-language': 'nl' });
      assert.match(nl.body, /Het bestand is te groot: hoogstens 200 kB\./);
      const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0xff, 0xfe, 0xc3, 0x28]);
      const binary = await upload(b, { ...fields, confirm: '1' }, png, { filename: 'photo.png', type: 'image/png' });
      assert.equal(binary.statusCode, 400);
      assert.match(binary.body, /The file is not UTF-8 text/);
      const prose = await upload(b, { ...fields, confirm: '1' }, Buffer.from('Dear admin,\nplease add Bob.\n'));
      assert.equal(prose.statusCode, 400);
      assert.match(prose.body, /must name the columns address and group/);
      const empty = await upload(b, { ...fields, csv: ' ' }, Buffer.alloc(0), {
        filename: '',
        type: 'application/octet-stream',
      });
      assert.equal(empty.statusCode, 400);
      assert.match(empty.body, /Nothing to add: choose a CSV file, or paste its text/);
      const longPaste = await b.post('/admin/groups/import', { ...fields, csv: `${'x'.repeat(IMPORT_MAX)},` });
      assert.equal(longPaste.statusCode, 413, 'a paste over the limit is refused, not cut short');
      assert.equal(await members(), 0, 'nothing refused changed anything');

      // The file wins over the text box (which holds garbage here); the preview carries the text to Apply.
      const preview = await upload(b, { ...fields, csv: 'not,a\r\nmembership,file' }, csv);
      assert.equal(preview.statusCode, 200, preview.body.slice(0, 500));
      assert.match(preview.body, /To add: 2\. Already members: 0\. Problems: 0\./);
      assert.equal(await members(), 0, 'a preview adds nobody');
      const applied = await b.post('/admin/groups/import', {
        ...hiddenFields(preview.body, '/admin/groups/import'),
        confirm: '1',
      });
      assert.equal(applied.statusCode, 303, applied.body.slice(0, 500));
      assert.equal(applied.headers.location, `${path}&m=imported&n=2`);
      assert.equal(await members(), 2);

      // An uploaded file with a problem is listed with its row and cannot be applied, as a paste.
      const bad = await upload(
        b,
        { ...fields, confirm: '1' },
        Buffer.from(`address,group\r\n${OTHER_ADMIN.address},Uploaders\r\n`),
      );
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /Row 2: eve@fabrikam\.test is not an address of your organization/);
      assert.doesNotMatch(bad.body, /id="import-apply"/);
      assert.equal(await members(), 2);
    });

    it('renames; every form refuses a missing or forged CSRF token; a user without admin rights gets nothing', async () => {
      const renamed = await b.submitForm(`/admin/groups/group?id=${id}`, '/admin/groups/update', {
        name: 'Mail',
        description: '',
      });
      assert.equal(renamed.statusCode, 303);
      assert.match((await b.get(`/admin/groups/group?id=${id}`)).body, /<h1>Group Mail<\/h1>/);
      for (const action of [
        '/admin/groups',
        '/admin/groups/update',
        '/admin/groups/delete',
        '/admin/groups/members/add',
        '/admin/groups/members/remove',
        '/admin/groups/limits',
        '/admin/groups/import',
      ]) {
        assert.equal((await b.post(action, { id, name: 'x', _csrf: 'forged' })).statusCode, 403, action);
        assert.equal((await b.post(action, { id, name: 'x' })).statusCode, 403, `${action} without a token`);
      }
      const user = new Browser(w.app);
      await user.signIn(USER.address, USER.password);
      assert.equal((await user.get('/admin/groups')).statusCode, 403);
    });

    it("an admin of fabrikam neither sees nor changes contoso's groups, on the pages or the API", async () => {
      const eve = new Browser(w.app);
      await signInAdminWithMfa(eve, OTHER_ADMIN);
      const list = await eve.get('/admin/groups');
      assert.match(list.body, /id="groups-none"/);
      assert.ok(!list.body.includes(id), "contoso's group is not listed");
      const page = await eve.get(`/admin/groups/group?id=${id}`);
      assert.equal(page.statusCode, 404);
      for (const [action, form] of [
        ['/admin/groups/members/add', { id, address: 'eve@fabrikam.test' }],
        ['/admin/groups/members/remove', { id, address: USER.address, confirm: '1' }],
        ['/admin/groups/update', { id, name: 'Taken', description: '' }],
        ['/admin/groups/delete', { id, confirm: '1' }],
        ['/admin/groups/limits', { app_passwords: id, ldap: '', radius: '' }],
      ] as const) {
        const r = await eve.submit('/admin/groups', action, form);
        assert.equal(r.statusCode, 404, action);
      }
      assert.equal((await w.ctx.groups.members({ kind: 'operator' }, org, id)).length, 2, 'unchanged');
      const token = await adminApiToken(w.app, OTHER_ADMIN);
      const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: object) =>
        w.app.inject({
          method,
          url: `/api/v1${url}`,
          headers: { authorization: `Bearer ${token}` },
          ...(body ? { payload: body } : {}),
        });
      assert.deepEqual((await call('GET', '/groups')).json(), { groups: [] });
      assert.equal((await call('GET', `/groups/${id}`)).statusCode, 404);
      assert.equal((await call('GET', `/groups/${id}/members`)).statusCode, 404);
      assert.equal((await call('DELETE', `/groups/${id}/members/${encodeURIComponent(USER.address)}`)).statusCode, 404);
      assert.equal((await call('PUT', '/groups/limits', { ldap: id })).statusCode, 404);
    });

    it('Security info says why a non-member is offered no app password; a member is offered one', async () => {
      await w.ctx.mfaAdmin.setUserState({ kind: 'operator' }, USER.address, 'enabled');
      const user = new Browser(w.app);
      await registerTotpAtSignIn(user, { now: () => Date.now() }, USER.address, USER.password);
      const g = await w.ctx.groups.create({ kind: 'operator' }, org, 'Phones');
      await w.ctx.groups.setLimit({ kind: 'operator' }, org, 'app_passwords', g.id);
      const page = await user.get('/security-info');
      assert.match(
        page.body,
        /id="ap-not-in-group">Your organization allows app passwords only to the members of a group, and you are not one\./,
      );
      await w.ctx.groups.addMember({ kind: 'operator' }, org, g.id, USER.address);
      const member = await user.get('/security-info');
      assert.doesNotMatch(member.body, /ap-not-in-group/);
      assert.match(member.body, /id="ap-count"/);
      await w.ctx.groups.setLimit({ kind: 'operator' }, org, 'app_passwords', null);
    });

    it('the JSON API: create, members, limits, delete refused while required, in the OpenAPI document', async () => {
      const token = await adminApiToken(w.app, ADMIN);
      const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: object) =>
        w.app.inject({
          method,
          url: `/api/v1${url}`,
          headers: { authorization: `Bearer ${token}` },
          ...(body ? { payload: body } : {}),
        });
      const made = await call('POST', '/groups', { name: 'Radius users' });
      assert.equal(made.statusCode, 201, made.body);
      const gid = made.json().id as string;
      assert.equal((await call('POST', '/groups', { name: 'radius USERS' })).statusCode, 409);
      assert.equal((await call('POST', `/groups/${gid}/members`, { address: USER.address })).statusCode, 200);
      const wrong = await call('POST', `/groups/${gid}/members`, { address: OTHER_ADMIN.address });
      assert.equal(wrong.statusCode, 400);
      assert.match(wrong.body, /group_wrong_organization/);
      assert.deepEqual(
        (await call('GET', `/groups/${gid}/members`)).json().members.map((m: { address: string }) => m.address),
        [USER.address],
      );
      const limits = await call('PUT', '/groups/limits', { radius: gid });
      assert.equal(limits.json().radius, gid);
      const del = await call('DELETE', `/groups/${gid}`);
      assert.equal(del.statusCode, 409);
      assert.match(del.body, /group_in_use/);
      await call('PUT', '/groups/limits', { radius: null });
      assert.equal(
        (await call('DELETE', `/groups/${gid}/members/${encodeURIComponent(USER.address)}`)).json().removed,
        true,
      );
      assert.equal((await call('DELETE', `/groups/${gid}`)).statusCode, 200);
      const openapi = (await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
      assert.ok(openapi.paths['/api/v1/groups']?.post);
      assert.ok(openapi.paths['/api/v1/groups/{id}/members/{address}']?.delete);
      assert.ok(openapi.paths['/api/v1/groups/limits']?.put);
    });
  });
}
