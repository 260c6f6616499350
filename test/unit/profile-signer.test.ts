/**
 * Signing of configuration profiles (src/adapters/profile-signer.ts), checked by OpenSSL rather
 * than by PKI.js itself: a signature PKI.js could read back but a device could not would pass a
 * round trip through the same library. A root CA, an intermediate and leaves it signs (RSA 2048,
 * EC P-256, EC P-384) are made with the openssl CLI for this run; the leaves' files are
 * fullchain.pem-like (leaf, then intermediate), and OpenSSL is given only the root to trust, so a
 * signature verifies only if it carries the intermediate.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadProfileSigner, type ProfileSigner } from '../../src/adapters/profile-signer.js';
import { createContext } from '../../src/app/context.js';
import { ConfigError } from '../../src/config/config.js';
import { testContextOptions } from '../support/hasher.js';
import { makeTestStore } from '../support/stores.js';

const PLIST = Buffer.from(
  `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>PayloadDisplayName</key><string>Contoso mail — Bob</string>
<key>PayloadType</key><string>Configuration</string><key>PayloadVersion</key><integer>1</integer></dict></plist>
`,
  'utf8',
);

let dir = '';
const p = (f: string) => path.join(dir, f);
const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Makes a CSR and key, then a certificate for it signed by `ca` (or by itself when `ca` is absent). */
function certify(name: string, subject: string, keyArgs: string[], ext: string, ca?: string) {
  fs.writeFileSync(p(`${name}.ext`), ext);
  openssl([
    'req',
    '-new',
    ...keyArgs,
    '-nodes',
    '-subj',
    subject,
    '-keyout',
    p(`${name}.key`),
    '-out',
    p(`${name}.csr`),
  ]);
  const signer = ca
    ? ['-CA', p(`${ca}.pem`), '-CAkey', p(`${ca}.key`), '-CAcreateserial']
    : ['-signkey', p(`${name}.key`)];
  openssl(
    ['x509', '-req', '-in', p(`${name}.csr`), ...signer, '-days', '2', '-extfile', p(`${name}.ext`)].concat([
      '-out',
      p(`${name}.pem`),
    ]),
  );
}

const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n';
const LEAF_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:mail.contoso.test\n';
const RSA = ['-newkey', 'rsa:2048'];
const ec = (curve: string) => ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`];

/** openssl cms -verify of a DER signature, trusting only the root; the exit status and the content it gives out. */
function verify(signature: Buffer): { status: number | null; out: Buffer | undefined; stderr: string } {
  const sig = p(`sig-${Math.random().toString(36).slice(2)}.der`);
  const out = `${sig}.out`;
  fs.writeFileSync(sig, signature);
  const r = spawnSync('openssl', [
    'cms',
    '-verify',
    '-inform',
    'DER',
    '-in',
    sig,
    '-CAfile',
    p('root.pem'),
    '-purpose',
    'any',
    '-out',
    out,
  ]);
  return {
    status: r.status,
    out: fs.existsSync(out) ? fs.readFileSync(out) : undefined,
    stderr: r.stderr.toString(),
  };
}

function cmsPrint(signature: Buffer): string {
  const sig = p('print.der');
  fs.writeFileSync(sig, signature);
  return openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', sig]);
}

describe('profile signer', () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-signer-'));
    certify('root', '/CN=Signer Test Root', ec('prime256v1'), CA_EXT);
    certify('intermediate', '/CN=Signer Test Intermediate', ec('prime256v1'), CA_EXT, 'root');
    for (const [name, keyArgs] of [
      ['rsa', RSA],
      ['ec256', ec('prime256v1')],
      ['ec384', ec('secp384r1')],
    ] as const) {
      certify(name, '/CN=mail.contoso.test', [...keyArgs], LEAF_EXT, 'intermediate');
      fs.writeFileSync(
        p(`${name}-fullchain.pem`),
        fs.readFileSync(p(`${name}.pem`), 'utf8') + fs.readFileSync(p('intermediate.pem'), 'utf8'),
      );
    }
    // The traditional formats (OpenSSL 3 writes PKCS #8 unless asked).
    openssl(['rsa', '-in', p('rsa.key'), '-traditional', '-out', p('rsa-traditional.key')]);
    openssl(['ec', '-in', p('ec256.key'), '-out', p('ec256-traditional.key')]);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', p('other-ec256.key')]);
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', p('other-rsa.key')]);
    openssl(['genpkey', '-algorithm', 'ED25519', '-out', p('ed25519.key')]);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp521r1', '-out', p('ec521.key')]);
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', p('rsa1024.key')]);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, algorithm] of [
    ['rsa', 'sha256WithRSAEncryption'],
    ['ec256', 'ecdsa-with-SHA256'],
    ['ec384', 'ecdsa-with-SHA256'],
  ] as const) {
    describe(`with a ${name} key`, () => {
      let signer: ProfileSigner;
      let signature: Buffer;
      before(async () => {
        signer = await loadProfileSigner(p(`${name}-fullchain.pem`), p(`${name}.key`));
        signature = await signer.sign(PLIST);
      });

      it('says whose certificate signs and until when', () => {
        assert.equal(signer.subject, 'CN=mail.contoso.test');
        const expires = new Date(
          openssl(['x509', '-in', p(`${name}.pem`), '-noout', '-enddate'])
            .trim()
            .replace(/^notAfter=/, ''),
        ).getTime();
        assert.equal(signer.notAfter, expires);
        assert.ok(signer.notAfter > Date.now() + 86_400_000);
      });

      it('makes a signature OpenSSL verifies up to the root alone, with the content attached', () => {
        const r = verify(signature);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.out, PLIST);
      });

      it('is DER: OpenSSL writes it back byte for byte', () => {
        const der = p('der-check.der');
        fs.writeFileSync(der, signature);
        const again = execFileSync('openssl', ['cms', '-cmsout', '-inform', 'DER', '-outform', 'DER', '-in', der]);
        assert.ok(again.equals(signature), 'OpenSSL re-encodes the signature differently: it is not DER');
      });

      it('carries the leaf and the intermediate, id-data content, SHA-256 and the three signed attributes', () => {
        const text = cmsPrint(signature);
        assert.match(text, /contentType: pkcs7-signedData/);
        assert.match(text, /eContentType: pkcs7-data/);
        assert.match(text, /subject: CN=mail\.contoso\.test/);
        assert.match(text, /subject: CN=Signer Test Intermediate/);
        assert.doesNotMatch(text, /subject: CN=Signer Test Root/);
        assert.match(text, /digestAlgorithm:\s*\n\s*algorithm: sha256/);
        assert.match(text, new RegExp(`signatureAlgorithm:\\s*\\n\\s*algorithm: ${algorithm}`));
        for (const attr of ['contentType', 'messageDigest', 'signingTime'])
          assert.match(text, new RegExp(`object: ${attr} \\(`), `signed attribute ${attr} missing`);
      });

      it('fails verification when one byte of the content is changed', () => {
        const at = signature.indexOf(PLIST);
        assert.ok(at > 0, 'the content is attached as it is');
        const tampered = Buffer.from(signature);
        const i = at + PLIST.indexOf('Bob');
        tampered[i] = tampered[i]! ^ 0x01;
        const r = verify(tampered);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /digest failure|verification failure/i);
      });
    });
  }

  it('verifies what it signs with a traditional-format key ("BEGIN RSA/EC PRIVATE KEY")', async () => {
    for (const name of ['rsa', 'ec256']) {
      const keyFile = p(`${name}-traditional.key`);
      assert.match(fs.readFileSync(keyFile, 'utf8'), /-----BEGIN (RSA|EC) PRIVATE KEY-----/);
      const signer = await loadProfileSigner(p(`${name}-fullchain.pem`), keyFile);
      const r = verify(await signer.sign(PLIST));
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.out, PLIST);
    }
  });

  it('signs each call afresh: two profiles, two signatures, each verifying its own content', async () => {
    const signer = await loadProfileSigner(p('ec256-fullchain.pem'), p('ec256.key'));
    const other = Buffer.from(PLIST.toString('utf8').replace('Bob', 'Ada'));
    const [a, b] = await Promise.all([signer.sign(PLIST), signer.sign(other)]);
    assert.deepEqual(verify(a).out, PLIST);
    assert.deepEqual(verify(b).out, other);
  });

  it('is in the app context when configured, null when not, and a bad file stops the start', async () => {
    const store = await makeTestStore('sqlite');
    try {
      const files = { profileSigningCertFile: p('ec256-fullchain.pem'), profileSigningKeyFile: p('ec256.key') };
      const ctx = await createContext(store.config(files), testContextOptions());
      try {
        assert.equal(ctx.profileSigner?.subject, 'CN=mail.contoso.test');
        assert.deepEqual(verify(await ctx.profileSigner.sign(PLIST)).out, PLIST);
      } finally {
        await ctx.close();
      }
      const unsigned = await createContext(store.config(), testContextOptions());
      assert.equal(unsigned.profileSigner, null);
      await unsigned.close();
      const injected: ProfileSigner = { sign: async () => Buffer.from('signed'), subject: 'CN=test', notAfter: 0 };
      const withFake = await createContext(store.config(files), testContextOptions({ profileSigner: injected }));
      assert.equal(withFake.profileSigner, injected);
      await withFake.close();
      await assert.rejects(
        createContext(store.config({ ...files, profileSigningKeyFile: p('other-ec256.key') }), testContextOptions()),
        (e: unknown) => e instanceof ConfigError && /other-ec256\.key does not belong/.test(e.message),
      );
    } finally {
      await store.dispose();
    }
  });

  describe('refuses at load, naming the file and the problem', () => {
    const refuses = async (cert: string, key: string, message: RegExp) =>
      assert.rejects(loadProfileSigner(p(cert), p(key)), (e: Error) => {
        assert.match(e.message, message);
        return true;
      });

    it('a key that is not the certificate’s (same type, and another type)', async () => {
      await refuses(
        'ec256-fullchain.pem',
        'other-ec256.key',
        /other-ec256\.key does not belong to the first certificate in .*ec256-fullchain\.pem \(CN=mail\.contoso\.test\)/,
      );
      await refuses('rsa-fullchain.pem', 'other-rsa.key', /other-rsa\.key does not belong/);
      await refuses('rsa-fullchain.pem', 'ec256.key', /ec256\.key does not belong/);
    });

    it('a chain whose first certificate is not the key’s', async () => {
      fs.writeFileSync(
        p('reversed.pem'),
        fs.readFileSync(p('intermediate.pem'), 'utf8') + fs.readFileSync(p('rsa.pem'), 'utf8'),
      );
      await refuses('reversed.pem', 'rsa.key', /rsa\.key does not belong to the first certificate in .*reversed\.pem/);
    });

    it('a file that cannot be read', async () => {
      await refuses('missing.pem', 'rsa.key', /certificate file .*missing\.pem cannot be read: no such file/);
      await refuses('rsa-fullchain.pem', 'missing.key', /key file .*missing\.key cannot be read: no such file/);
    });

    it('a certificate file with no certificate, or a broken one', async () => {
      await refuses('rsa.key', 'rsa.key', /certificate file .*rsa\.key holds no certificate/);
      fs.writeFileSync(
        p('broken.pem'),
        '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
      );
      await refuses('broken.pem', 'rsa.key', /certificate 1 in .*broken\.pem cannot be parsed/);
    });

    it('a key file with no key, or an encrypted one', async () => {
      await refuses('rsa-fullchain.pem', 'rsa.pem', /key file .*rsa\.pem holds no private key Sesame can read/);
      openssl(['pkey', '-in', p('rsa.key'), '-aes256', '-passout', 'pass:secret', '-out', p('encrypted.key')]);
      await refuses('rsa-fullchain.pem', 'encrypted.key', /encrypted\.key holds an encrypted/);
    });

    it('a key of a type or size devices do not take', async () => {
      await refuses(
        'ec256-fullchain.pem',
        'ed25519.key',
        /ed25519\.key is of type ed25519; supported are RSA and ECDSA/,
      );
      await refuses('ec256-fullchain.pem', 'ec521.key', /ec521\.key is on curve secp521r1/);
      await refuses('rsa-fullchain.pem', 'rsa1024.key', /rsa1024\.key has 1024 bits/);
    });
  });
});
