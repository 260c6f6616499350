import type { ConfigTarget } from '../model.js';

/** A port number. */
const port = (v: string) => (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : 'a port number');

/** A file path written into FreeRADIUS's configuration unquoted: no spaces, quotes, braces or #. */
const plain = (v: string) => (/^[^\s"'{}#]+$/.test(v) ? undefined : 'no spaces, quotes, braces or #');

/**
 * FreeRADIUS 3.2 on stock Debian (freeradius and freeradius-rest) asking Sesame's /auth/radius with
 * rlm_rest: PAP, and EAP-TTLS with PAP inside for Wi-Fi. Its own module instances and sites beside
 * Debian's (whose default site and eap module the next steps disable: they offer PEAP and local
 * users); the key only in policy.d/sesame. test/e2e/integrations-radius.test.ts runs FreeRADIUS
 * from exactly these files.
 */
export const freeradius: ConfigTarget = {
  name: 'freeradius',
  summary: 'FreeRADIUS 3.2 (PAP; EAP-TTLS with inner PAP for Wi-Fi) asking Sesame through rlm_rest',
  folder: '/etc/freeradius/3.0',
  integration: 'freeradius',
  settings: [
    {
      placeholder: 'LISTEN_ADDRESS',
      flag: 'listen-address',
      doc: 'the address FreeRADIUS listens on for access points and VPN gateways (* for all)',
      default: '*',
      check: (v) => (/^(\*|[0-9a-fA-F:.]{2,45})$/.test(v) ? undefined : 'an IP address or *'),
    },
    { placeholder: 'AUTH_PORT', flag: 'auth-port', doc: 'the authentication port', default: '1812', check: port },
    { placeholder: 'ACCT_PORT', flag: 'acct-port', doc: 'the accounting port', default: '1813', check: port },
    {
      placeholder: 'TLS_CERTIFICATE',
      flag: 'certificate',
      doc: "EAP's server certificate (full chain) shown to Wi-Fi devices, e.g. /etc/ssl/certs/radius.example.com.pem",
      default: '/etc/ssl/certs/ssl-cert-snakeoil.pem',
      check: plain,
    },
    {
      placeholder: 'TLS_CERTIFICATE_KEY',
      flag: 'certificate-key',
      doc: "that certificate's private key (readable by the freerad group)",
      default: '/etc/ssl/private/ssl-cert-snakeoil.key',
      check: plain,
    },
  ],
  files: [
    { template: 'freeradius/mods-available/sesame', path: 'mods-available/sesame', mode: 0o640, group: 'freerad' },
    {
      template: 'freeradius/mods-available/sesame-eap',
      path: 'mods-available/sesame-eap',
      mode: 0o640,
      group: 'freerad',
    },
    // The only file with the integration key.
    { template: 'freeradius/policy.d/sesame', path: 'policy.d/sesame', mode: 0o640, group: 'freerad' },
    { template: 'freeradius/sites-available/sesame', path: 'sites-available/sesame', mode: 0o640, group: 'freerad' },
    {
      template: 'freeradius/sites-available/sesame-inner-tunnel',
      path: 'sites-available/sesame-inner-tunnel',
      mode: 0o640,
      group: 'freerad',
    },
  ],
  next: [
    'cd /etc/freeradius/3.0',
    'ln -s ../mods-available/sesame ../mods-available/sesame-eap mods-enabled/',
    'ln -s ../sites-available/sesame ../sites-available/sesame-inner-tunnel sites-enabled/',
    'rm sites-enabled/default sites-enabled/inner-tunnel mods-enabled/eap',
    'add each access point or VPN gateway to clients.conf with its own secret',
    'freeradius -CX',
    'systemctl restart freeradius',
  ],
};
