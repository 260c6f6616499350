import { OPERATOR } from '../../../domain/accounts/actor.js';
import type { AppContext } from '../../../app/context.js';
import type { ConfigTarget, Setting } from '../model.js';

/** A port number. */
const port = (v: string) => (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : 'a port number');

/**
 * An RDN value as Sesame's directory writes it (RFC 4514), for a group's name. The same rule as
 * adapters/ldap/directory.ts, which the CLI may not import.
 */
const dnValue = (v: string) =>
  v
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');

/** `contoso.test` -> `dc=contoso,dc=test`: an organization's naming context (its labels need no escaping). */
const baseDn = (domain: string) =>
  domain
    .split('.')
    .map((l) => `dc=${l}`)
    .join(',');

/** The settings both consumers share: the organization, and where Sesame's LDAPS port is. */
const LDAP_SETTINGS: Setting[] = [
  {
    placeholder: 'DOMAIN',
    flag: 'domain',
    doc: 'the organization whose users sign in (its domain; the base DN is made from it)',
    check: (v) => (/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(v) ? undefined : 'a domain such as contoso.com'),
  },
  {
    placeholder: 'LDAP_HOST',
    flag: 'ldap-host',
    doc: "Sesame's LDAP host name as its LDAP certificate names it",
    check: (v) => (/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(v) ? undefined : 'a host name or IPv4 address'),
  },
  { placeholder: 'LDAPS_PORT', flag: 'ldaps-port', doc: "Sesame's LDAPS port", default: '636', check: port },
  {
    placeholder: 'CA_FILE',
    flag: 'ca-file',
    doc: "the CA certificate (PEM) of Sesame's LDAP certificate, only when that CA is private",
    optional: true,
    check: (v) => (/^\/[^\s"'#]+$/.test(v) ? undefined : 'an absolute path without spaces, quotes or #'),
  },
];

/** The organization must exist: a typing error would otherwise refuse every user. */
async function organizationValues(ctx: AppContext, values: Readonly<Record<string, string>>) {
  const org = await ctx.accounts.organizationByDomain(values.DOMAIN!);
  return { org, values: { DOMAIN: org.domain, BASE_DN: baseDn(org.domain) } };
}

const LDAP_POLICY_STEP =
  'allow ldap in the app-password protocols of @DOMAIN@ (the Policy page, or sesame org policy @DOMAIN@ --app-password-protocols ...,ldap); each user makes an app password for it';

/**
 * Apache httpd (mod_authnz_ldap) letting the members of one group see a location, asking Sesame's
 * LDAP interface: a service bind to find the user, a bind as the user, a Compare for the group.
 * test/e2e/ldap-consumers.test.ts runs Apache from exactly this file.
 */
export const apacheLdap: ConfigTarget = {
  name: 'apache',
  summary: "Apache httpd (mod_authnz_ldap) letting one group's members in, asking Sesame's LDAP interface",
  folder: '/etc/apache2',
  integration: 'apache',
  settings: [
    ...LDAP_SETTINGS,
    {
      placeholder: 'GROUP',
      flag: 'group',
      doc: 'the group of the organization whose members may see the location',
    },
    {
      placeholder: 'LOCATION',
      flag: 'location',
      doc: 'the URL path Apache protects, e.g. /intranet',
      check: (v) => (/^\/[^\s"\\]*$/.test(v) ? undefined : 'a path from / without spaces, quotes or backslashes'),
    },
    {
      placeholder: 'REALM',
      flag: 'realm',
      doc: 'the name browsers show when they ask for the address and app password',
      default: 'Sign in with your address and an app password',
      check: (v) => (/^[^"\\\r\n]{1,100}$/.test(v) ? undefined : 'at most 100 characters, no quotes or backslashes'),
    },
  ],
  async verify(ctx, values) {
    const { org, values: found } = await organizationValues(ctx, values);
    // The group's name as stored: Apache compares the DN Sesame shows.
    const group = await ctx.groups.byName(OPERATOR, org.id, values.GROUP!);
    return { ...found, GROUP: dnValue(group.name) };
  },
  // Readable by root only: it holds the key, and Apache reads its configuration as root.
  files: [{ template: 'apache/sesame-ldap.conf', path: 'conf-available/sesame-ldap.conf', mode: 0o600 }],
  next: [
    'a2enmod authnz_ldap',
    'a2enconf sesame-ldap',
    'apachectl configtest',
    'systemctl reload apache2',
    LDAP_POLICY_STEP,
  ],
};

/**
 * Dovecot's LDAP passdb with auth_bind: each login is a bind as the user, so Sesame decides as for
 * any LDAP bind. The passdb file names the settings file where it is written; only the settings
 * file holds the key. test/e2e/ldap-consumers.test.ts runs Dovecot from exactly these files.
 */
export const dovecotLdap: ConfigTarget = {
  name: 'dovecot-ldap',
  summary: "Dovecot 2.3 asking Sesame's LDAP interface (LDAP passdb, auth_bind) instead of the Lua passdb",
  folder: '/etc/dovecot',
  integration: 'dovecot-ldap',
  settings: LDAP_SETTINGS,
  async verify(ctx, values) {
    return (await organizationValues(ctx, values)).values;
  },
  paths: { LDAP_ARGS: 'dovecot-sesame-ldap.conf.ext' },
  files: [
    { template: 'dovecot/conf.d/95-sesame-ldap.conf', path: 'conf.d/95-sesame-ldap.conf', mode: 0o644 },
    // The only file with the key; Dovecot's auth process reads it as root.
    { template: 'dovecot/dovecot-sesame-ldap.conf.ext', path: 'dovecot-sesame-ldap.conf.ext', mode: 0o600 },
  ],
  next: [
    'apt-get install dovecot-ldap',
    'one passdb only: if conf.d/99-sesame.conf (the Lua passdb) is there, remove its passdb block',
    'systemctl restart dovecot',
    LDAP_POLICY_STEP,
  ],
};
