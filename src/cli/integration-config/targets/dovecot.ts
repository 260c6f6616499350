import type { ConfigTarget } from '../model.js';

/**
 * Dovecot 2.3 on stock Debian with the Lua passdb: IMAP and POP3 (and Postfix's SMTP AUTH) ask Sesame;
 * virtual users of the vmail account, Maildir, LMTP for Postfix, the loopback listeners nginx uses.
 */
export const dovecot: ConfigTarget = {
  name: 'dovecot',
  summary: 'Dovecot 2.3 (IMAP, POP3, LMTP; Postfix SASL) asking Sesame through its Lua passdb',
  folder: '/etc/dovecot',
  integration: 'dovecot',
  settings: [
    {
      placeholder: 'DOVEADM_API_ADDRESS',
      flag: 'doveadm-api-address',
      doc: "where Dovecot's doveadm HTTP API listens for Sesame (never a public address: plain HTTP)",
      default: '127.0.0.1',
    },
    { placeholder: 'DOVEADM_API_PORT', flag: 'doveadm-api-port', doc: "the doveadm HTTP API's port", default: '8082' },
  ],
  // The doveadm API's key, shared by Dovecot's file and Sesame's environment (printed in the next steps).
  generated: ['DOVEADM_API_KEY'],
  files: [
    { template: 'dovecot/sesame-auth.lua', path: 'sesame-auth.lua', mode: 0o640, group: 'dovecot' },
    { template: 'dovecot/conf.d/99-sesame.conf', path: 'conf.d/99-sesame.conf', mode: 0o644 },
    // Sesame flushes a user's cached answers and ends their IMAP/POP3 sessions when their app passwords go.
    {
      template: 'dovecot/conf.d/sesame-doveadm-api.conf.ext',
      path: 'conf.d/99-sesame-doveadm-api.conf',
      mode: 0o640,
      group: 'dovecot',
    },
  ],
  next: [
    "sed -i 's/^!include auth-system.conf.ext/#&/' /etc/dovecot/conf.d/10-auth.conf",
    'systemctl restart dovecot',
    "in Sesame's environment (then restart Sesame): SESAME_DOVEADM_URL=http://@DOVEADM_API_ADDRESS@:@DOVEADM_API_PORT@/doveadm/v1 SESAME_DOVEADM_API_KEY=@DOVEADM_API_KEY@",
  ],
};
