/**
 * The LDAP interface as the help page tells it to devices. Configuration knows its ports, not the
 * name devices reach it by (SESAME_LDAP_HOST is an address to bind). The public URL's host is that
 * name when the public URL is https and the LDAP certificate is made out to it; otherwise a device
 * given that name would refuse the certificate, so the page says to ask the administrator.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../../config/config.js';
import type { LdapService } from './access.js';

type LdapConfig = Pick<Config, 'publicUrl' | 'ldapPort' | 'ldapsPort' | 'ldapTlsCertFile'>;

/** undefined: no LDAP port is set. Reads the certificate once: the LDAP listener, too, reads it only at start. */
export function ldapServiceOf(c: LdapConfig): LdapService | undefined {
  if (!c.ldapPort && !c.ldapsPort) return undefined;
  const host = hostFor(c);
  return {
    ...(host ? { host } : {}),
    ...(c.ldapsPort ? { ldapsPort: c.ldapsPort } : {}),
    ...(c.ldapPort ? { starttlsPort: c.ldapPort } : {}),
  };
}

function hostFor(c: LdapConfig): string | undefined {
  let url: URL;
  try {
    url = new URL(c.publicUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || !c.ldapTlsCertFile) return undefined;
  try {
    const cert = new X509Certificate(readFileSync(c.ldapTlsCertFile));
    return cert.checkHost(url.hostname) ? url.hostname : undefined;
  } catch {
    // Unreadable here: the listener refuses to start on it anyway (app/ldap.ts).
    return undefined;
  }
}
