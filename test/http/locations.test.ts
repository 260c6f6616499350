/**
 * The named locations JSON API (issue #20, item 1), on both stores: an admin lists, creates,
 * reads, replaces and deletes locations; a bad network, an unknown country, an empty location and
 * a duplicate name are refused with their stable codes and change nothing; a user who is not an
 * admin gets 403 and an admin of another organization sees none of them (404); every change is
 * audited; the routes are in the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`named locations API on ${kind}`, () => {
    let w: World;
    let org = '';
    let call: (
      method: 'GET' | 'POST' | 'PUT' | 'DELETE',
      url: string,
      body?: object,
      token?: string,
    ) => Promise<LightMyRequestResponse>;
    let adminToken = '';
    before(async () => {
      w = await makeWorld(kind);
      org = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      adminToken = await adminApiToken(w.app, ADMIN);
      call = (method, url, body, token = adminToken) =>
        w.app.inject({
          method,
          url: `/api/v1${url}`,
          headers: { authorization: `Bearer ${token}` },
          ...(body ? { payload: body } : {}),
        });
    });
    after(() => w.close());

    const stored = async () =>
      (await w.ctx.locations.list(OPERATOR, org)).map((l) => [l.name, l.networks, l.countries]);

    it('create, list, read, replace, delete; each change audited', async () => {
      assert.deepEqual((await call('GET', '/locations')).json(), { locations: [] });
      const made = await call('POST', '/locations', {
        name: 'Office',
        networks: ['2001:DB8:1::/48', '192.0.2.0/24', '10.0.4.17'],
      });
      assert.equal(made.statusCode, 201, made.body);
      const office = made.json();
      assert.deepEqual(
        [office.name, office.networks, office.countries],
        ['Office', ['10.0.4.17/32', '192.0.2.0/24', '2001:db8:1::/48'], []],
      );
      assert.equal(
        (await call('POST', '/locations', { name: 'Benelux', countries: ['nl', 'BE', 'LU'] })).statusCode,
        201,
      );
      assert.deepEqual(
        (await call('GET', '/locations'))
          .json()
          .locations.map((l: { name: string; countries: string[] }) => [l.name, l.countries]),
        [
          ['Benelux', ['BE', 'LU', 'NL']],
          ['Office', []],
        ],
      );
      assert.equal((await call('GET', `/locations/${office.id}`)).json().name, 'Office');
      const changed = await call('PUT', `/locations/${office.id}`, {
        name: 'Head office',
        networks: ['198.51.100.0/24'],
        countries: ['NL'],
      });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.deepEqual(
        [changed.json().name, changed.json().networks, changed.json().countries],
        ['Head office', ['198.51.100.0/24'], ['NL']],
      );
      assert.equal((await call('DELETE', `/locations/${office.id}`)).statusCode, 200);
      assert.equal((await call('GET', `/locations/${office.id}`)).statusCode, 404);
      assert.deepEqual(await stored(), [['Benelux', [], ['BE', 'LU', 'NL']]]);
      await w.ctx.flush();
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select(['action', 'detail'])
        .where('action', 'like', 'location.%')
        .orderBy('at')
        .execute();
      assert.deepEqual(audit.map((a) => a.action).sort(), [
        'location.create',
        'location.create',
        'location.delete',
        'location.update',
      ]);
      assert.ok(
        audit.some((a) => a.detail === 'Office -> Head office: 198.51.100.0/24 NL'),
        JSON.stringify(audit),
      );
    });

    it('bad input: a bad network, an unknown country, nothing, a duplicate name: refused with their codes, nothing changed', async () => {
      const before = await stored();
      const benelux = (await call('GET', '/locations')).json().locations[0];
      for (const [body, status, code] of [
        [{ name: 'Lab', networks: ['192.0.2.1/24'] }, 400, 'location_network_invalid'],
        [{ name: 'Lab', networks: ['192.0.2.0/24', 'lab.example'] }, 400, 'location_network_invalid'],
        [{ name: 'Lab', countries: ['XX'] }, 400, 'location_country_invalid'],
        [{ name: 'Lab' }, 400, 'location_empty'],
        [{ name: 'Lab', networks: [], countries: [] }, 400, 'location_empty'],
        [{ name: 'a,b', countries: ['NL'] }, 400, 'invalid_name'],
        [{ name: 'Lab', countries: ['NL'], extra: 1 }, 400, 'invalid_input'],
        [{ name: 'BENELUX', countries: ['NL'] }, 409, 'location_exists'],
      ] as const) {
        const r = await call('POST', '/locations', body);
        assert.equal(r.statusCode, status, `${JSON.stringify(body)}: ${r.body}`);
        assert.equal(r.json().error.code, code, JSON.stringify(body));
      }
      // Dutch and English sentences name the value at fault.
      const nl = await w.app.inject({
        method: 'POST',
        url: '/api/v1/locations',
        headers: { authorization: `Bearer ${adminToken}`, 'accept-language': 'nl' },
        payload: { name: 'Lab', countries: ['XX'] },
      });
      assert.match(nl.json().error.message, /“XX” is geen landcode/);
      await call('POST', '/locations', { name: 'Lab', countries: ['DE'] });
      const clash = await call('PUT', `/locations/${benelux.id}`, { name: 'lab', countries: ['NL'] });
      assert.equal(clash.statusCode, 409);
      assert.equal(clash.json().error.code, 'location_exists');
      const bad = await call('PUT', `/locations/${benelux.id}`, { name: 'Benelux', networks: ['2001:db8::1/32'] });
      assert.equal(bad.json().error.code, 'location_network_invalid');
      assert.deepEqual(await stored(), [...before, ['Lab', [], ['DE']]]);
    });

    it('a user who is not an admin: 403; an admin of another organization sees and changes none of them', async () => {
      const before = await stored();
      const userToken = (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: USER.address, password: USER.password },
        })
      ).json().token as string;
      const id = (await w.ctx.locations.list(OPERATOR, org))[0]!.id;
      assert.equal((await call('GET', '/locations', undefined, userToken)).statusCode, 403);
      assert.equal((await call('POST', '/locations', { name: 'Mine', countries: ['NL'] }, userToken)).statusCode, 403);
      assert.equal(
        (await call('PUT', `/locations/${id}`, { name: 'Mine', countries: ['NL'] }, userToken)).statusCode,
        403,
      );
      assert.equal((await call('DELETE', `/locations/${id}`, undefined, userToken)).statusCode, 403);
      const eve = await adminApiToken(w.app, OTHER_ADMIN);
      assert.deepEqual((await call('GET', '/locations', undefined, eve)).json(), { locations: [] });
      assert.equal((await call('GET', `/locations/${id}`, undefined, eve)).statusCode, 404);
      assert.equal((await call('PUT', `/locations/${id}`, { name: 'Taken', countries: ['NL'] }, eve)).statusCode, 404);
      assert.equal((await call('DELETE', `/locations/${id}`, undefined, eve)).statusCode, 404);
      assert.deepEqual(await stored(), before);
    });

    it('is in the OpenAPI document', async () => {
      const openapi = (await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
      assert.ok(openapi.paths['/api/v1/locations']?.get);
      assert.ok(openapi.paths['/api/v1/locations']?.post);
      assert.ok(openapi.paths['/api/v1/locations/{id}']?.put);
      assert.ok(openapi.paths['/api/v1/locations/{id}']?.delete);
    });
  });
}
