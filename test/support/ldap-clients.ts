/**
 * What the LDAP end-to-end tests share: running a client (OpenLDAP's tools, python3) and a
 * throwaway CA with a certificate for 127.0.0.1 that it signs, made with the openssl CLI.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs a client; never rejects (the exit code is the answer: OpenLDAP's tools exit with the LDAP result code). */
export function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: 30_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LANG: 'C', ...env } },
      (err, stdout, stderr) => {
        const code = err ? ((err as NodeJS.ErrnoException & { code?: number | string }).code ?? 'error') : 0;
        resolve({ code: typeof code === 'number' || typeof code === 'string' ? code : 'error', stdout, stderr });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
  });
}

/**
 * A throwaway CA (`ca`) and a certificate (`cert`, `key`) that it signs, in `dir`: for 127.0.0.1
 * and localhost, or for `host` (a DNS name, as a server a doc names is reached).
 */
export async function makeCertificates(dir: string, host?: string): Promise<{ ca: string; cert: string; key: string }> {
  const at = (f: string) => path.join(dir, f);
  const [ca, caKey, key, csr, cert, ext] = ['ca.pem', 'ca.key', 'ldap.key', 'ldap.csr', 'ldap.pem', 'ldap.ext'].map(
    at,
  ) as [string, string, string, string, string, string];
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openssl = async (args: string[]) => {
    const r = await run('/usr/bin/openssl', args);
    assert.equal(r.code, 0, r.stderr);
  };
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-days',
    '2',
    '-subj',
    '/CN=Sesame LDAP test CA',
    '-keyout',
    caKey,
    '-out',
    ca,
  ]);
  await openssl(['req', ...ec, '-subj', `/CN=${host ?? '127.0.0.1'}`, '-keyout', key, '-out', csr]);
  const names = host ? `DNS:${host}` : 'IP:127.0.0.1,DNS:localhost';
  fs.writeFileSync(ext, `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2'].concat([
      '-extfile',
      ext,
      '-out',
      cert,
    ]),
  );
  return { ca, cert, key };
}
