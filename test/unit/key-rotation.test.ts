/**
 * The pieces of key rotation, without a store: keyed hashes under previous keys (and that a hit
 * costs one lookup), the AEAD keyring (key ids, values sealed before key ids existed), where
 * previous keys come from, what production mode refuses, `rotateSecrets`/`dropPreviousSecrets` on
 * secrets.json, and that a backup keeps the previous keys.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/config.js';
import { dropPreviousSecrets, inspectSecrets, loadSecrets, rotateSecrets } from '../../src/config/secrets.js';
import { AeadError, aeadKeyId, createAead } from '../../src/lib/crypto/aead.js';
import { createKeyedHasher, findByKeyedHash, someKeyedHash } from '../../src/lib/crypto/tokens.js';
import { BackupError, createBackup, restoreBackup } from '../../src/storage/backup.js';

const key = () => randomBytes(32);
const b64 = (k: Buffer) => k.toString('base64');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-keys-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const folder = () => path.join(tmp, `d${n++}`);

/** The problems of a ConfigError thrown by `f`. */
function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  assert.fail('no ConfigError');
}

describe('keyed hashes across a rotation', () => {
  const k1 = key();
  const k2 = key();
  const k3 = key();

  it('digest() is the current key only; digests() adds the previous keys, newest first', () => {
    const before = createKeyedHasher(k1);
    const after = createKeyedHasher(k2, [k1]);
    assert.equal(before.rotating, false);
    assert.equal(after.rotating, true);
    assert.notEqual(after.digest('session', 'x'), before.digest('session', 'x'));
    assert.deepEqual(after.digests('session', 'x'), [after.digest('session', 'x'), before.digest('session', 'x')]);
    assert.deepEqual(after.previousDigests('session', 'x'), [before.digest('session', 'x')]);
    assert.deepEqual(before.previousDigests('session', 'x'), []);
    assert.notEqual(after.digest('session', 'x'), after.digest('flow', 'x'), 'purposes stay separate');
  });

  it('findByKeyedHash: a hit costs one lookup; only a miss tries the previous keys, and says the hit was stale', async () => {
    const old = createKeyedHasher(k1);
    const now = createKeyedHasher(k3, [k2, k1]);
    const stored = new Map([
      [old.digest('p', 'v'), 'row-old'],
      [now.digest('p', 'fresh'), 'row-new'],
    ]);
    const asked: string[] = [];
    const find = async (h: string) => {
      asked.push(h);
      return stored.get(h);
    };
    const fresh = await findByKeyedHash(now, 'p', 'fresh', find);
    assert.deepEqual(fresh, {
      found: 'row-new',
      hash: now.digest('p', 'fresh'),
      current: now.digest('p', 'fresh'),
      stale: false,
    });
    assert.equal(asked.length, 1, 'one lookup for a value under the current key');
    asked.length = 0;
    const stale = await findByKeyedHash(now, 'p', 'v', find);
    assert.deepEqual(stale, {
      found: 'row-old',
      hash: old.digest('p', 'v'),
      current: now.digest('p', 'v'),
      stale: true,
    });
    assert.equal(asked.length, 3, 'current, then k2, then k1');
    asked.length = 0;
    assert.equal(await findByKeyedHash(now, 'p', 'nothing', find), undefined);
    assert.equal(asked.length, 3);
    asked.length = 0;
    assert.equal(await findByKeyedHash(createKeyedHasher(k3), 'p', 'v', find), undefined);
    assert.equal(asked.length, 1, 'without previous keys a miss costs one lookup too');
    assert.equal(await someKeyedHash(now, 'p', 'v', async (h) => stored.has(h)), true);
    assert.equal(
      await someKeyedHash(createKeyedHasher(k3, [k2]), 'p', 'v', async (h) => stored.has(h)),
      false,
      'a dropped key finds nothing',
    );
  });
});

describe('the encryption keyring', () => {
  const e1 = key();
  const e2 = key();

  it('seals under the current key with its id; opens under a previous key; reseal is idempotent', () => {
    const before = createAead(e1);
    const sealed = before.seal('JBSWY3DPEHPK3PXP', 'totp:m1');
    assert.match(sealed, new RegExp(`^v2\\.${aeadKeyId(e1)}\\.`));
    const after = createAead(e2, [e1]);
    assert.equal(after.open(sealed, 'totp:m1'), 'JBSWY3DPEHPK3PXP');
    assert.equal(after.isCurrent(sealed), false);
    const again = after.reseal(sealed, 'totp:m1');
    assert.ok(after.isCurrent(again));
    assert.equal(after.reseal(again, 'totp:m1'), again, 'already current: unchanged');
    assert.equal(createAead(e2).open(again, 'totp:m1'), 'JBSWY3DPEHPK3PXP', 'the previous key is no longer needed');
    assert.throws(() => after.open(again, 'totp:m2'), 'the associated data still binds the row');
    assert.throws(
      () => createAead(key()).open(sealed, 'totp:m1'),
      (e: unknown) => e instanceof AeadError && e.code === 'unknown_key' && !e.message.includes(b64(e1)),
    );
  });

  it('opens values sealed before key ids existed (v1) under whichever configured key fits', () => {
    // What createAead wrote before rotation existed: v1.<iv>.<body>.<tag>, no key id.
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', e1, iv);
    c.setAAD(Buffer.from('totp:m1'));
    const body = Buffer.concat([c.update('SEED', 'utf8'), c.final()]);
    const v1 = ['v1', iv.toString('base64url'), body.toString('base64url'), c.getAuthTag().toString('base64url')].join(
      '.',
    );
    assert.equal(createAead(e1).open(v1, 'totp:m1'), 'SEED');
    const after = createAead(e2, [e1]);
    assert.equal(after.open(v1, 'totp:m1'), 'SEED');
    assert.equal(after.isCurrent(v1), false);
    assert.ok(after.isCurrent(after.reseal(v1, 'totp:m1')));
    assert.throws(
      () => createAead(e2).open(v1, 'totp:m1'),
      (e: unknown) => e instanceof AeadError && e.code === 'no_key_fits',
    );
    assert.throws(
      () => after.open('garbage', 'x'),
      (e: unknown) => e instanceof AeadError && e.code === 'not_sealed',
    );
  });
});

describe('where previous keys come from', () => {
  it('SESAME_*_PREVIOUS beside an environment key (comma-separated, newest first)', () => {
    const [h, p1, p2] = [key(), key(), key()];
    const s = loadSecrets(folder(), { SESAME_HASH_KEY: b64(h), SESAME_HASH_KEY_PREVIOUS: ` ${b64(p1)}, ${b64(p2)} ` });
    assert.deepEqual(s.hashKey, h);
    assert.deepEqual(s.previous?.hashKey, [p1, p2]);
    assert.deepEqual(s.previous?.encryptionKey, []);
  });

  it('the "previous" object of secrets.json beside a key from the file', () => {
    const dir = folder();
    const first = loadSecrets(dir, {});
    const [step] = rotateSecrets(dir, {}, ['encryptionKey']);
    assert.deepEqual(step, { key: 'encryptionKey', env: 'SESAME_ENCRYPTION_KEY', source: 'file', previousKeys: 1 });
    const s = loadSecrets(dir, {});
    assert.notDeepEqual(s.encryptionKey, first.encryptionKey);
    assert.deepEqual(s.previous?.encryptionKey, [first.encryptionKey]);
    assert.deepEqual(s.hashKey, first.hashKey, 'keys not named are left alone');
    assert.deepEqual(inspectSecrets(dir, {}).find((x) => x.key === 'encryptionKey')?.previous, [first.encryptionKey]);
  });

  it('refuses previous keys in the environment for a key that is not (they would be ignored)', () => {
    const p = problems(() => loadSecrets(folder(), { SESAME_ENCRYPTION_KEY_PREVIOUS: b64(key()) }));
    assert.equal(p.length, 1);
    assert.match(p[0]!, /SESAME_ENCRYPTION_KEY_PREVIOUS is set without SESAME_ENCRYPTION_KEY/);
  });

  it('names a malformed previous key without showing it', () => {
    assert.throws(
      () => loadSecrets(folder(), { SESAME_HASH_KEY: b64(key()), SESAME_HASH_KEY_PREVIOUS: 'c2hvcnQ=' }),
      /SESAME_HASH_KEY_PREVIOUS \(key 1\) must be at least 32 bytes/,
    );
  });
});

describe('production mode refuses unsafe keys at start', () => {
  const env = () => ({ SESAME_HASH_KEY: b64(key()), SESAME_COOKIE_KEY: b64(key()), SESAME_ENCRYPTION_KEY: b64(key()) });
  const prod = { mode: 'production' as const, databaseUrl: 'postgres://sesame@db.example.org/sesame' };

  it('with DATABASE_URL, keys not given by the environment (and generates nothing)', () => {
    const dir = folder();
    const p = problems(() => loadSecrets(dir, { SESAME_HASH_KEY: b64(key()) }, prod));
    assert.equal(p.length, 1);
    assert.match(
      p[0]!,
      /SESAME_MODE=production with DATABASE_URL needs SESAME_COOKIE_KEY, SESAME_ENCRYPTION_KEY from the environment: instances sharing a database must share their keys/,
    );
    assert.equal(fs.existsSync(path.join(dir, 'secrets.json')), false, 'no key was generated');
    // A secrets.json made earlier is no better: each instance would have its own.
    loadSecrets(dir, {});
    assert.equal(problems(() => loadSecrets(dir, {}, prod)).length, 1);
    assert.ok(loadSecrets(folder(), env(), prod).hashKey, 'all three from the environment: accepted');
    assert.ok(
      loadSecrets(folder(), {}, { mode: 'production', databaseUrl: '' }).hashKey,
      'SQLite (one instance): the file is fine',
    );
    assert.ok(
      loadSecrets(folder(), { SESAME_HASH_KEY: b64(key()) }, { mode: 'development', databaseUrl: prod.databaseUrl })
        .hashKey,
      'development: not checked',
    );
  });

  it('one key used for two purposes', () => {
    const e = env();
    e.SESAME_ENCRYPTION_KEY = e.SESAME_HASH_KEY;
    const p = problems(() => loadSecrets(folder(), e, prod));
    assert.deepEqual(p, [
      'SESAME_HASH_KEY and SESAME_ENCRYPTION_KEY are the same key: each key must be used for one purpose only (make each with openssl rand -base64 32)',
    ]);
    const f = env();
    const p2 = problems(() => loadSecrets(folder(), { ...f, SESAME_COOKIE_KEY_PREVIOUS: f.SESAME_HASH_KEY }, prod));
    assert.match(p2.join('\n'), /SESAME_HASH_KEY and SESAME_COOKIE_KEY_PREVIOUS \(key 1\) are the same key/);
    assert.ok(!p.join().includes(e.SESAME_HASH_KEY) && !p2.join().includes(f.SESAME_HASH_KEY), 'no key in a message');
  });

  it('a previous key equal to the current one', () => {
    const e = env();
    const p = problems(() =>
      loadSecrets(folder(), { ...e, SESAME_HASH_KEY_PREVIOUS: `${b64(key())},${e.SESAME_HASH_KEY}` }, prod),
    );
    assert.deepEqual(p, [
      'SESAME_HASH_KEY_PREVIOUS (key 2) is the current SESAME_HASH_KEY: a previous key must differ from the current one (remove it from the previous keys)',
    ]);
  });

  it('the same checks for keys from secrets.json', () => {
    const dir = folder();
    loadSecrets(dir, {});
    const file = path.join(dir, 'secrets.json');
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(
      file,
      JSON.stringify({ ...stored, cookieKey: stored.hashKey, previous: { encryptionKey: [stored.encryptionKey] } }),
      { mode: 0o600 },
    );
    const p = problems(() => loadSecrets(dir, {}, { mode: 'production' }));
    assert.equal(p.length, 2, p.join('\n'));
    assert.match(p.join('\n'), new RegExp(`hashKey in ${file} and cookieKey in ${file} are the same key`));
    assert.match(
      p.join('\n'),
      new RegExp(`previous.encryptionKey\\[0\\] in ${file} is the current encryptionKey in ${file}`),
    );
    assert.ok(loadSecrets(dir, {}), 'development mode does not check');
  });
});

describe('sesame keys rotate / drop-previous on secrets.json', () => {
  it('replaces secrets.json atomically, mode 0600, the old key first among the previous ones', () => {
    const dir = folder();
    const k0 = loadSecrets(dir, {});
    const file = path.join(dir, 'secrets.json');
    fs.chmodSync(file, 0o644);
    rotateSecrets(dir, {}, ['hashKey']);
    const k1 = loadSecrets(dir, {});
    const steps = rotateSecrets(dir, {}, ['hashKey', 'cookieKey']);
    assert.deepEqual(
      steps.map((s) => [s.key, s.source, s.previousKeys, s.newKey]),
      [
        ['hashKey', 'file', 2, undefined],
        ['cookieKey', 'file', 1, undefined],
      ],
    );
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir), ['secrets.json'], 'no temporary file left behind');
    const k2 = loadSecrets(dir, {});
    assert.deepEqual(k2.previous?.hashKey, [k1.hashKey, k0.hashKey]);
    assert.deepEqual(k2.previous?.cookieKey, [k0.cookieKey]);
    const dropped = dropPreviousSecrets(dir, {}, ['hashKey']);
    assert.deepEqual(dropped, [{ key: 'hashKey', env: 'SESAME_HASH_KEY', source: 'file', previousKeys: 2 }]);
    const k3 = loadSecrets(dir, {});
    assert.deepEqual(k3.previous?.hashKey, []);
    assert.deepEqual(k3.previous?.cookieKey, [k0.cookieKey]);
    assert.deepEqual(k3.hashKey, k2.hashKey);
  });

  it('for a key from the environment changes no file and returns a fresh key to set', () => {
    const dir = folder();
    const h = b64(key());
    loadSecrets(dir, { SESAME_HASH_KEY: h });
    const before = fs.readFileSync(path.join(dir, 'secrets.json'), 'utf8');
    const [step] = rotateSecrets(dir, { SESAME_HASH_KEY: h, SESAME_HASH_KEY_PREVIOUS: b64(key()) }, ['hashKey']);
    assert.equal(step!.source, 'environment');
    assert.equal(step!.previousKeys, 2);
    assert.equal(Buffer.from(step!.newKey!, 'base64').length, 32);
    assert.notEqual(step!.newKey, h);
    assert.equal(fs.readFileSync(path.join(dir, 'secrets.json'), 'utf8'), before);
  });
});

describe('backups keep the previous keys', () => {
  it('from secrets.json: in the archive, and restored beside their key', async () => {
    const src = folder();
    loadSecrets(src, {});
    rotateSecrets(src, {}, ['hashKey', 'encryptionKey']);
    const file = path.join(tmp, `b${n++}.tar`);
    createBackup({ dataDir: src, databaseUrl: '', file, secretsOnly: true, env: {} });
    const dst = folder();
    await restoreBackup({ dataDir: dst, databaseUrl: '', file, env: {} });
    assert.deepEqual(loadSecrets(dst, {}), loadSecrets(src, {}));
    assert.equal(loadSecrets(dst, {}).previous?.hashKey?.length, 1);
  });

  it('from the environment: restore refuses until the previous keys are set too', async () => {
    const e = { SESAME_HASH_KEY: b64(key()), SESAME_HASH_KEY_PREVIOUS: b64(key()) };
    const src = folder();
    loadSecrets(src, e);
    const file = path.join(tmp, `b${n++}.tar`);
    createBackup({ dataDir: src, databaseUrl: '', file, secretsOnly: true, env: e });
    await assert.rejects(
      restoreBackup({ dataDir: folder(), databaseUrl: '', file, env: { SESAME_HASH_KEY: e.SESAME_HASH_KEY } }),
      (err: unknown) =>
        err instanceof BackupError &&
        /set SESAME_HASH_KEY_PREVIOUS to hold them too/.test(err.message) &&
        !err.message.includes(e.SESAME_HASH_KEY_PREVIOUS),
    );
    await restoreBackup({ dataDir: folder(), databaseUrl: '', file, env: e });
  });
});
