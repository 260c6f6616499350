/**
 * Client IPs behind a reverse proxy (issue #6 item 6): X-Forwarded-For is believed only from the
 * proxies listed in SESAME_TRUSTED_PROXIES. From anyone else it is ignored, so a client cannot
 * pick the IP its failures are counted against or logged under.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig, ConfigError } from '../../src/config/config.js';
import { makeWorld, type World } from '../support/world.js';

const attempt = (w: World, remoteAddress: string, forwardedFor?: string) =>
  w.app.inject({
    method: 'POST',
    url: '/api/v1/sessions',
    payload: { email: 'nobody@contoso.test', password: 'not-the-password-1' },
    remoteAddress,
    headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {},
  });

async function lastLoggedIp(w: World): Promise<string> {
  const org = (await w.ctx.accounts.listOrganizations()).find((o) => o.domain === 'contoso.test')!;
  return (await w.ctx.audit.listSignIns({ orgId: org.id, limit: 1, offset: 0 })).events[0]!.ip;
}

describe('trusted proxies', () => {
  let behind: World;
  let direct: World;
  before(async () => {
    behind = await makeWorld('sqlite', { trustedProxies: ['10.0.0.0/8', 'loopback'] });
    direct = await makeWorld('sqlite');
  });
  after(async () => {
    await behind.close();
    await direct.close();
  });

  it('takes the client IP from X-Forwarded-For when the peer is a listed proxy', async () => {
    await attempt(behind, '10.1.2.3', '203.0.113.7');
    assert.equal(await lastLoggedIp(behind), '203.0.113.7');
    // A chain through two listed proxies: the address before the first trusted hop.
    await attempt(behind, '127.0.0.1', '198.51.100.4, 10.9.9.9');
    assert.equal(await lastLoggedIp(behind), '198.51.100.4');
  });

  it('ignores X-Forwarded-For from a peer that is not a listed proxy, and by default', async () => {
    await attempt(behind, '192.0.2.50', '203.0.113.7');
    assert.equal(await lastLoggedIp(behind), '192.0.2.50');
    await attempt(direct, '10.1.2.3', '203.0.113.7');
    assert.equal(await lastLoggedIp(direct), '10.1.2.3');
  });

  it('refuses a malformed proxy list at start', () => {
    for (const bad of ['10.0.0.0/33', 'proxy.example', '10.0.0.1/8/2', '::1/129']) {
      assert.throws(
        () => loadConfig({ SESAME_TRUSTED_PROXIES: bad }),
        (e: unknown) => e instanceof ConfigError && e.message.includes('SESAME_TRUSTED_PROXIES'),
        bad,
      );
    }
    assert.deepEqual(loadConfig({ SESAME_TRUSTED_PROXIES: ' 10.0.0.0/8, ::1 ,loopback' }).trustedProxies, [
      '10.0.0.0/8',
      '::1',
      'loopback',
    ]);
  });
});
