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
  settings: [],
  files: [
    { template: 'dovecot/sesame-auth.lua', path: 'sesame-auth.lua', mode: 0o640, group: 'dovecot' },
    { template: 'dovecot/conf.d/99-sesame.conf', path: 'conf.d/99-sesame.conf', mode: 0o644 },
  ],
  next: ["sed -i 's/^!include auth-system.conf.ext/#&/' /etc/dovecot/conf.d/10-auth.conf", 'systemctl restart dovecot'],
};
