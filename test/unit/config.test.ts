import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { loadSecrets } from '../../src/config/secrets.js';

describe('configuration', () => {
  it('has the documented runtime contract as defaults', () => {
    const c = loadConfig({});
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 8080);
    assert.equal(c.dataDir, path.resolve('./data'));
    assert.equal(c.databaseUrl, '');
    assert.equal(c.publicUrl, 'http://127.0.0.1:8080');
    assert.equal(c.sessionIdleMinutes, 30);
    assert.equal(c.sessionAbsoluteHours, 12);
    assert.ok(Object.isFrozen(c));
  });
  it('SESAME_WORKERS: the number of cores by default, a whole number of at least 1 otherwise', () => {
    assert.equal(loadConfig({}).workers, os.availableParallelism());
    assert.equal(loadConfig({ SESAME_WORKERS: '1' }).workers, 1);
    assert.equal(loadConfig({ SESAME_WORKERS: '6' }).workers, 6);
    for (const bad of ['0', '-2', '1.5', 'all', '1e3', '99999'])
      assert.throws(
        () => loadConfig({ SESAME_WORKERS: bad }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.problems.length === 1 &&
          e.problems[0] === `SESAME_WORKERS=${JSON.stringify(bad)} must be a whole number from 1 to 1024`,
        bad,
      );
  });
  it('takes HOST, PORT, SESAME_DATA_DIR and DATABASE_URL', () => {
    const c = loadConfig({
      HOST: '0.0.0.0',
      PORT: '9000',
      SESAME_DATA_DIR: '/tmp/x',
      DATABASE_URL: 'postgres://u@h/db',
    });
    assert.deepEqual([c.host, c.port, c.dataDir, c.databaseUrl], ['0.0.0.0', 9000, '/tmp/x', 'postgres://u@h/db']);
  });
  it('reports every bad value at once', () => {
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', SESAME_PUBLIC_URL: 'ftp://x' });
      assert.fail('no error');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.problems.length, 3);
      assert.match(e.message, /PORT/);
      assert.match(e.message, /DATABASE_URL/);
      assert.match(e.message, /SESAME_PUBLIC_URL/);
    }
  });
  it('takes the profile signing certificate and key together or not at all, as absolute paths', () => {
    const both = loadConfig({
      SESAME_PROFILE_SIGNING_CERT_FILE: '/etc/letsencrypt/live/mail.contoso.test/fullchain.pem',
      SESAME_PROFILE_SIGNING_KEY_FILE: '/etc/sesame/privkey.pem',
    });
    assert.equal(both.profileSigningCertFile, '/etc/letsencrypt/live/mail.contoso.test/fullchain.pem');
    assert.equal(both.profileSigningKeyFile, '/etc/sesame/privkey.pem');
    const neither = loadConfig({});
    assert.deepEqual([neither.profileSigningCertFile, neither.profileSigningKeyFile], ['', '']);
    for (const env of [
      { SESAME_PROFILE_SIGNING_CERT_FILE: '/etc/sesame/fullchain.pem' },
      { SESAME_PROFILE_SIGNING_KEY_FILE: '/etc/sesame/privkey.pem' },
    ])
      assert.throws(
        () => loadConfig(env),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.problems.length === 1 &&
          /SESAME_PROFILE_SIGNING_CERT_FILE and SESAME_PROFILE_SIGNING_KEY_FILE go together/.test(e.problems[0]!),
      );
    assert.throws(
      () =>
        loadConfig({
          SESAME_PROFILE_SIGNING_CERT_FILE: 'fullchain.pem',
          SESAME_PROFILE_SIGNING_KEY_FILE: 'privkey.pem',
        }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 2 &&
        e.problems.every((p) => /must be an absolute path/.test(p)),
    );
  });

  it('turns LDAP on only with a certificate and key, on ports of its own', () => {
    const tlsFiles = {
      SESAME_LDAP_TLS_CERT_FILE: '/etc/sesame/ldap.pem',
      SESAME_LDAP_TLS_KEY_FILE: '/etc/sesame/ldap.key',
    };
    const off = loadConfig({});
    assert.deepEqual([off.ldapPort, off.ldapsPort, off.ldapMaxConnections, off.ldapSizeLimit], [0, 0, 1000, 1000]);
    const on = loadConfig({ SESAME_LDAP_PORT: '1389', SESAME_LDAPS_PORT: '1636', ...tlsFiles });
    assert.deepEqual([on.ldapPort, on.ldapsPort, on.ldapTlsCertFile], [1389, 1636, '/etc/sesame/ldap.pem']);
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.problems;
      }
    };
    assert.match(
      problems({ SESAME_LDAPS_PORT: '1636' }).join('\n'),
      /need SESAME_LDAP_TLS_CERT_FILE and SESAME_LDAP_TLS_KEY_FILE/,
    );
    assert.match(
      problems({ SESAME_LDAP_PORT: '1389', SESAME_LDAPS_PORT: '1389', ...tlsFiles }).join('\n'),
      /must differ/,
    );
    assert.match(problems({ SESAME_LDAP_PORT: '3000', PORT: '3000', ...tlsFiles }).join('\n'), /must differ from PORT/);
  });
});

describe('server secrets', () => {
  it('are generated once into the data folder with mode 0600 and reused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-sec-'));
    const a = loadSecrets(dir, {});
    const file = path.join(dir, 'secrets.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const b = loadSecrets(dir, {});
    assert.deepEqual(a, b);
    assert.equal(a.hashKey.length, 32);
    assert.notDeepEqual(a.hashKey, a.cookieKey);
    fs.rmSync(dir, { recursive: true });
  });
  it('come from the environment when given, and are then not written', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-sec-'));
    const k = Buffer.alloc(32, 7).toString('base64');
    const s = loadSecrets(dir, { SESAME_HASH_KEY: k, SESAME_COOKIE_KEY: k, SESAME_ENCRYPTION_KEY: k });
    assert.deepEqual(s.hashKey, Buffer.alloc(32, 7));
    assert.equal(fs.existsSync(path.join(dir, 'secrets.json')), false);
    assert.throws(() => loadSecrets(dir, { SESAME_HASH_KEY: 'c2hvcnQ=' }), /at least 32 bytes/);
    fs.rmSync(dir, { recursive: true });
  });
});
