import type { ConfigTarget } from '../model.js';

const upstream = {
  placeholder: 'UPSTREAM_URL',
  flag: 'upstream',
  doc: 'the protected application, e.g. http://127.0.0.1:5232',
};

/** nginx's auth_request in front of a Basic-auth application (CalDAV/CardDAV, scripts). */
export const nginxForwardAuth: ConfigTarget = {
  name: 'nginx-forward-auth',
  summary: "nginx's auth_request asking Sesame for each request's Basic credentials",
  folder: '/etc/nginx',
  settings: [upstream],
  files: [{ template: 'nginx/forward-auth.conf', path: 'snippets/sesame-forward-auth.conf', mode: 0o644 }],
  next: ['nginx -t', 'nginx -s reload'],
};

/** Caddy's forward_auth (2.5.1 or later). */
export const caddyForwardAuth: ConfigTarget = {
  name: 'caddy-forward-auth',
  summary: "Caddy's forward_auth asking Sesame for each request's Basic credentials",
  folder: '/etc/caddy',
  settings: [{ placeholder: 'SITE_ADDRESS', flag: 'site', doc: 'the protected site, e.g. dav.example.com' }, upstream],
  files: [{ template: 'caddy/Caddyfile', path: 'Caddyfile', mode: 0o644 }],
  next: ['caddy reload --config /etc/caddy/Caddyfile'],
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
  ],
  files: [{ template: 'traefik/forward-auth.yml', path: 'sesame-forward-auth.yml', mode: 0o644 }],
  next: ['Traefik reloads its file provider by itself'],
};
