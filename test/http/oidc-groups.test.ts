/**
 * OIDC apps and groups (issue #19, item 1), on both stores, through the real HTTP surface: an app
 * that requires a group lets its members sign in, and its `groups` scope gives the names of the
 * user's groups (userinfo); a member removed from the group gets nothing at the next attempt: the
 * refresh token is refused, and a new sign-in ends on a page that says why.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { randomToken } from '../../src/lib/crypto/tokens.js';
import { STORE_KINDS } from '../support/stores.js';
import { Browser, csrfFrom, makeWorld, type World } from '../support/world.js';

const RP = 'https://rp.contoso.test';
const REDIRECT = `${RP}/cb`;
const ANN = { address: 'ann@contoso.test', password: 'lantern-orchard-fjord-31', name: 'Ann' };

for (const kind of STORE_KINDS) {
  describe(`OIDC apps limited to a group on ${kind}`, () => {
    let w: World;
    let origin = '';
    let orgId = '';
    let groupId = '';
    const app = { id: '', secret: '' };

    before(async () => {
      w = await makeWorld(kind);
      origin = new URL(w.ctx.config.publicUrl).origin;
      orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      await w.ctx.accounts.addUser(OPERATOR, { ...ANN, role: 'user' });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, ANN.address, 'disabled');
      const made = await w.ctx.oidc.clients.add(OPERATOR, orgId, {
        name: 'Wiki',
        redirectUris: [REDIRECT],
        kind: 'confidential',
      });
      app.id = made.client.id;
      app.secret = made.secret!;
      groupId = (await w.ctx.groups.create(OPERATOR, orgId, 'Wiki users')).id;
      await w.ctx.groups.create(OPERATOR, orgId, 'Staff');
      await w.ctx.groups.addMember(OPERATOR, orgId, groupId, ANN.address);
      await w.ctx.groups.addMember(
        OPERATOR,
        orgId,
        (await w.ctx.groups.byName(OPERATOR, orgId, 'staff')).id,
        ANN.address,
      );
      await w.ctx.groups.setAppGroup(OPERATOR, orgId, app.id, groupId);
    });
    after(() => w.close());

    async function authorize(b: Browser) {
      const verifier = randomToken(32);
      const q = new URLSearchParams({
        client_id: app.id,
        redirect_uri: REDIRECT,
        response_type: 'code',
        scope: 'openid email groups offline_access',
        prompt: 'consent',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        state: randomToken(8),
        nonce: randomToken(8),
      });
      return { res: await b.get(`/oidc/auth?${q}`), verifier };
    }

    async function walk(
      b: Browser,
      res: LightMyRequestResponse,
    ): Promise<{ code?: string; at: string; res: LightMyRequestResponse }> {
      for (let i = 0; i < 12; i++) {
        let next: string | undefined;
        if (res.statusCode === 302 || res.statusCode === 303) next = String(res.headers.location);
        else if (res.statusCode === 200) {
          const link = /<a id="continue" href="([^"]+)"/.exec(res.body)?.[1];
          if (link) next = link.replace(/&amp;/g, '&');
        }
        if (!next) return { at: `page ${res.statusCode}`, res };
        if (next.startsWith(RP)) return { code: new URL(next).searchParams.get('code') ?? undefined, at: next, res };
        const path = next.startsWith(origin) ? next.slice(origin.length) : next;
        if (!path.startsWith('/oidc/')) return { at: path, res };
        res = await b.get(path);
      }
      throw new Error('too many redirects');
    }

    async function token(form: Record<string, string>) {
      const basic = `Basic ${Buffer.from(`${encodeURIComponent(app.id)}:${encodeURIComponent(app.secret)}`).toString('base64')}`;
      const res = await w.app.inject({
        method: 'POST',
        url: '/oidc/token',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(form).toString(),
      });
      return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, string> };
    }

    it('a member signs in; the groups scope gives the names of their groups; removed, the next refresh and sign-in are refused', async () => {
      const b = new Browser(w.app);
      const first = await authorize(b);
      const start = await walk(b, first.res);
      assert.match(start.at, /^\/signin\?next=/);
      const page = await b.get(start.at);
      const next = /name="next" value="([^"]+)"/.exec(page.body)?.[1]?.replace(/&amp;/g, '&');
      const signed = await b.post('/signin', {
        _csrf: csrfFrom(page.body),
        email: ANN.address,
        password: ANN.password,
        next: next!,
      });
      const back = await walk(b, signed);
      assert.ok(back.code, `a code (at ${back.at})`);
      const tokens = await token({
        grant_type: 'authorization_code',
        code: back.code,
        redirect_uri: REDIRECT,
        code_verifier: first.verifier,
      });
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      const me = await w.app.inject({
        method: 'GET',
        url: '/oidc/me',
        headers: { authorization: `Bearer ${tokens.body.access_token}` },
      });
      assert.equal(me.statusCode, 200, me.body);
      assert.deepEqual(me.json().groups, ['Staff', 'Wiki users']);

      await w.ctx.groups.removeMember(OPERATOR, orgId, groupId, ANN.address);
      const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token! });
      assert.equal(refreshed.status, 400, JSON.stringify(refreshed.body));
      assert.equal(refreshed.body.error, 'invalid_grant');

      const again = await walk(b, (await authorize(b)).res);
      assert.equal(again.code, undefined, 'no code for a non-member');
      assert.equal(again.res.statusCode, 403);
      assert.match(again.res.body, /Wiki is only for the members of a group, and you are not one\./);

      // Back in the group: signed in again, without signing in to Sesame anew.
      await w.ctx.groups.addMember(OPERATOR, orgId, groupId, ANN.address);
      const third = await walk(b, (await authorize(b)).res);
      assert.ok(third.code, `a code again (at ${third.at})`);
      // The app's group cannot be deleted while the app requires it.
      await assert.rejects(
        w.ctx.groups.remove(OPERATOR, orgId, groupId),
        /group_in_use: group Wiki users is required for app Wiki/,
      );
    });

    it('the Browser apps page sets who may sign in, per app', async () => {
      const { signInAdminWithMfa } = await import('../support/admin-mfa.js');
      const { ADMIN } = await import('../support/world.js');
      const b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
      const page = await b.get('/admin/apps');
      assert.match(
        page.body,
        new RegExp(
          `<select id="app-group-${app.id}" name="group">[\\s\\S]*?<option value="${groupId}" selected>Wiki users</option>`,
        ),
      );
      assert.match((await b.get(`/admin/groups/group?id=${groupId}`)).body, /Required for: Wiki\./);
      const saved = await b.submitForm('/admin/apps', '/admin/apps/group', { id: app.id, group: '' });
      assert.equal(saved.headers.location, '/admin/apps?m=group');
      assert.equal(await w.ctx.groups.appGroup(OPERATOR, orgId, app.id), null);
    });
  });
}
