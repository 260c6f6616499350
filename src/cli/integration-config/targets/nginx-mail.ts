import type { ConfigTarget } from '../model.js';

/** nginx's mail proxy with Sesame as its auth_http server (plain http only: auth_http has no TLS). */
export const nginxMail: ConfigTarget = {
  name: 'nginx-mail',
  summary: "nginx's mail proxy (IMAP, POP3, SMTP) asking Sesame with auth_http",
  folder: '/etc/nginx',
  integration: 'nginx-mail',
  plainHttpOnly: true,
  settings: [
    { placeholder: 'MAIL_HOSTNAME', flag: 'hostname', doc: 'the name clients connect to, e.g. mail.example.com' },
    { placeholder: 'TLS_CERTIFICATE', flag: 'certificate', doc: "that name's certificate (full chain)" },
    { placeholder: 'TLS_CERTIFICATE_KEY', flag: 'certificate-key', doc: "the certificate's private key" },
    { placeholder: 'LISTEN_IMAP', flag: 'listen-imap', doc: 'IMAP with STARTTLS', default: '143' },
    { placeholder: 'LISTEN_IMAPS', flag: 'listen-imaps', doc: 'IMAP over TLS', default: '993' },
    { placeholder: 'LISTEN_POP3', flag: 'listen-pop3', doc: 'POP3 with STARTTLS', default: '110' },
    { placeholder: 'LISTEN_POP3S', flag: 'listen-pop3s', doc: 'POP3 over TLS', default: '995' },
    { placeholder: 'LISTEN_SUBMISSION', flag: 'listen-submission', doc: 'submission with STARTTLS', default: '587' },
    { placeholder: 'LISTEN_SUBMISSIONS', flag: 'listen-submissions', doc: 'submission over TLS', default: '465' },
  ],
  files: [{ template: 'nginx/mail-proxy.conf', path: 'mail-proxy.conf', mode: 0o600 }],
  next: ['nginx -t', 'nginx -s reload'],
};
