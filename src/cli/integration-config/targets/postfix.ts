import type { ConfigTarget } from '../model.js';
import { tlsSettings } from './tls.js';

/** Postfix: SMTP AUTH handed to Dovecot's auth service (which asks Sesame), TLS, LMTP delivery: no key of its own. */
export const postfix: ConfigTarget = {
  name: 'postfix',
  summary:
    "Postfix SMTP AUTH through Dovecot SASL (Dovecot's Sesame passdb answers), TLS, delivery to Dovecot over LMTP",
  folder: '/etc/postfix',
  settings: [
    {
      placeholder: 'MAIL_DOMAIN',
      flag: 'domain',
      doc: "the mail domain whose users are Sesame's, e.g. example.com (several: comma-separated)",
      check: (v) => (/^[a-z0-9.-]+(,\s*[a-z0-9.-]+)*$/i.test(v) ? undefined : 'domain names, comma-separated'),
    },
    ...tlsSettings,
  ],
  files: [{ template: 'postfix/main.cf.sesame', path: 'main.cf.sesame', mode: 0o644 }],
  next: [
    "sed -e '/^#/d' -e '/^$/d' /etc/postfix/main.cf.sesame | xargs -d '\\n' postconf -e",
    'postconf -M submission/inet=... (docs/integrations.md)',
    'systemctl restart postfix',
  ],
};
