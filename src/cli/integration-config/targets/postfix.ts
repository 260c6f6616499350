import type { ConfigTarget } from '../model.js';

/** Postfix SMTP AUTH handed to Dovecot's auth service (which asks Sesame): no key of its own. */
export const postfix: ConfigTarget = {
  name: 'postfix',
  summary: "Postfix SMTP AUTH through Dovecot SASL (Dovecot's Sesame passdb answers)",
  folder: '/etc/postfix',
  settings: [],
  files: [{ template: 'postfix/main.cf.snippet', path: 'main.cf.sesame', mode: 0o644 }],
  next: ['postfix reload'],
};
