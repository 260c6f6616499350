import net from 'node:net';
import type { ConfigTarget } from '../model.js';
import { tlsSettings } from './tls.js';

const port = (v: string) => (/^\d{1,5}$/.test(v) && Number(v) > 0 && Number(v) < 65536 ? undefined : 'a port number');

/**
 * nginx's mail proxy with Sesame as its auth_http server (plain http only: auth_http has no TLS), in
 * front of Dovecot and Postfix on the same host; with it, the Dovecot drop-in that closes Dovecot's
 * own client ports and lets nginx's logins in (folder /etc: the files go to /etc/nginx and /etc/dovecot).
 */
export const nginxMail: ConfigTarget = {
  name: 'nginx-mail',
  summary: "nginx's mail proxy (IMAP, POP3, submission) asking Sesame with auth_http, in front of Dovecot and Postfix",
  folder: '/etc',
  integration: 'nginx-mail',
  plainHttpOnly: true,
  settings: [
    {
      placeholder: 'PUBLIC_ADDRESS',
      flag: 'address',
      doc: "the IPv4 address clients reach nginx on (the mail host name's), e.g. 192.0.2.1",
      check: (v) => (net.isIPv4(v) ? undefined : 'an IPv4 address'),
    },
    { placeholder: 'MAIL_HOSTNAME', flag: 'hostname', doc: 'the name clients connect to, e.g. mail.example.com' },
    ...tlsSettings,
    { placeholder: 'LISTEN_IMAP', flag: 'listen-imap', doc: 'IMAP with STARTTLS', default: '143', check: port },
    { placeholder: 'LISTEN_IMAPS', flag: 'listen-imaps', doc: 'IMAP over TLS', default: '993', check: port },
    { placeholder: 'LISTEN_POP3', flag: 'listen-pop3', doc: 'POP3 with STARTTLS', default: '110', check: port },
    { placeholder: 'LISTEN_POP3S', flag: 'listen-pop3s', doc: 'POP3 over TLS', default: '995', check: port },
    {
      placeholder: 'LISTEN_SUBMISSION',
      flag: 'listen-submission',
      doc: 'submission with STARTTLS',
      default: '587',
      check: port,
    },
    {
      placeholder: 'LISTEN_SUBMISSIONS',
      flag: 'listen-submissions',
      doc: 'submission over TLS',
      default: '465',
      check: port,
    },
  ],
  files: [
    { template: 'nginx/mail-proxy.conf', path: 'nginx/mail-proxy.conf', mode: 0o640 },
    { template: 'dovecot/conf.d/99-sesame-nginx.conf', path: 'dovecot/conf.d/99-sesame-nginx.conf', mode: 0o644 },
  ],
  next: [
    "grep -qx 'include /etc/nginx/mail-proxy.conf;' /etc/nginx/nginx.conf || echo 'include /etc/nginx/mail-proxy.conf;' >> /etc/nginx/nginx.conf",
    'postconf -M# submission/inet',
    'systemctl restart dovecot; postfix reload; nginx -t && systemctl restart nginx',
  ],
};
