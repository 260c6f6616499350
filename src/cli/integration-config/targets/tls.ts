import type { Setting } from '../model.js';

/** The host's certificate, as the mail targets ask for it (the same files for Dovecot, Postfix and nginx). */
export const tlsSettings: Setting[] = [
  {
    placeholder: 'TLS_CERTIFICATE',
    flag: 'certificate',
    doc: "the mail host name's certificate, full chain (PEM), e.g. /etc/letsencrypt/live/mail.example.com/fullchain.pem",
    check: (v) => (v.startsWith('/') ? undefined : 'an absolute path'),
  },
  {
    placeholder: 'TLS_CERTIFICATE_KEY',
    flag: 'certificate-key',
    doc: "the certificate's private key (PEM), e.g. /etc/letsencrypt/live/mail.example.com/privkey.pem",
    check: (v) => (v.startsWith('/') ? undefined : 'an absolute path'),
  },
];
