/**
 * The forward-auth targets: nginx, Caddy and Traefik asking Sesame's /auth/basic for each request's
 * Basic credentials, in front of a CalDAV/CardDAV server (Radicale) or another Basic-auth application.
 * The protocol is fixed in the files (`?protocol=`), and every identity header a client could send is
 * removed before the request reaches the application: only Sesame's answer sets one
 * (docs/forward-auth.md, and its header list, which test/e2e/integrations-forward-auth.test.ts holds
 * every file to).
 */
import type { ConfigTarget, Setting } from '../model.js';

const FORWARD_AUTH_PROTOCOLS = ['dav', 'http'];

/** Which app passwords the proxy accepts: `dav` for CalDAV/CardDAV (the setup the docs walk through), `http` for other apps. */
const protocol: Setting = {
  placeholder: 'PROTOCOL',
  flag: 'protocol',
  doc: 'the protocol an app password must be allowed for: dav (CalDAV/CardDAV) or http (other Basic-auth apps)',
  default: 'dav',
  check: (v) => (FORWARD_AUTH_PROTOCOLS.includes(v) ? undefined : `must be ${FORWARD_AUTH_PROTOCOLS.join(' or ')}`),
};

const upstream: Setting = {
  placeholder: 'UPSTREAM_URL',
  flag: 'upstream',
  doc: "the protected application, e.g. Radicale's http://127.0.0.1:5232",
  default: 'http://127.0.0.1:5232',
};

/** A name, or a file path, written into a configuration file: no spaces, quotes, braces or semicolons. */
const plain = (v: string) => (/^[^\s"'{};#]+$/.test(v) ? undefined : 'no spaces, quotes, braces, # or ;');

const certificate = (what: string): Setting[] => [
  {
    placeholder: 'TLS_CERTIFICATE',
    flag: 'certificate',
    doc: `${what}'s certificate (full chain), e.g. /etc/ssl/certs/dav.example.com.pem`,
    check: plain,
  },
  {
    placeholder: 'TLS_CERTIFICATE_KEY',
    flag: 'certificate-key',
    doc: "the certificate's private key, e.g. /etc/ssl/private/dav.example.com.key",
    check: plain,
  },
];

/** nginx's auth_request: a site (TLS server) and the snippet with its two locations. */
export const nginxForwardAuth: ConfigTarget = {
  name: 'nginx-forward-auth',
  summary: "nginx's auth_request asking Sesame for each request's Basic credentials (a TLS site and its snippet)",
  folder: '/etc/nginx',
  settings: [
    { placeholder: 'SITE_NAME', flag: 'site', doc: 'the protected site, e.g. dav.example.com', check: plain },
    ...certificate('that name'),
    upstream,
    protocol,
  ],
  files: [
    { template: 'nginx/forward-auth.conf', path: 'snippets/sesame-forward-auth.conf', mode: 0o644 },
    { template: 'nginx/forward-auth-site.conf', path: 'sites-available/sesame-forward-auth', mode: 0o644 },
  ],
  next: [
    'ln -s ../sites-available/sesame-forward-auth /etc/nginx/sites-enabled/',
    'nginx -t',
    'systemctl reload nginx',
  ],
};

/** Caddy's forward_auth (2.6 or later: `request_header -*_*`), as a file the Caddyfile imports. */
export const caddyForwardAuth: ConfigTarget = {
  name: 'caddy-forward-auth',
  summary: "Caddy's forward_auth asking Sesame for each request's Basic credentials",
  folder: '/etc/caddy',
  settings: [
    { placeholder: 'SITE_ADDRESS', flag: 'site', doc: 'the protected site, e.g. dav.example.com', check: plain },
    ...certificate('that name'),
    upstream,
    protocol,
  ],
  files: [{ template: 'caddy/Caddyfile', path: 'sesame-forward-auth.caddy', mode: 0o644 }],
  next: [
    'add `import /etc/caddy/sesame-forward-auth.caddy` to /etc/caddy/Caddyfile',
    'adduser caddy ssl-cert (if the key is in /etc/ssl/private)',
    'systemctl restart caddy',
  ],
};

/** Traefik's forwardAuth middleware (v2, v3), as a file-provider configuration. */
export const traefikForwardAuth: ConfigTarget = {
  name: 'traefik-forward-auth',
  summary: "Traefik's forwardAuth middleware asking Sesame for each request's Basic credentials",
  folder: '/etc/traefik/dynamic',
  settings: [
    { placeholder: 'ROUTER_RULE', flag: 'rule', doc: 'which requests to protect, e.g. Host(`dav.example.com`)' },
    upstream,
    { placeholder: 'CERT_RESOLVER', flag: 'cert-resolver', doc: "Traefik's certificate resolver" },
    protocol,
  ],
  files: [{ template: 'traefik/forward-auth.yml', path: 'sesame-forward-auth.yml', mode: 0o644 }],
  next: ['Traefik reloads its file provider by itself'],
};
