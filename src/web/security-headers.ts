/**
 * The Content-Security-Policy every Sesame page carries: Fastify's pages through helmet
 * (app/server.ts), the OpenID Connect provider's own pages (sign-out, errors) by hand, from the
 * same directives, so that no page of the site is less strict than another.
 */

/** The directives, in helmet's form (camelCase names, lists of sources). */
export function cspDirectives(secure: boolean): Record<string, string[]> {
  return {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    ...(secure ? { upgradeInsecureRequests: [] } : {}),
  };
}

/** The header's value as helmet writes it for cspDirectives(secure). */
export function cspHeader(secure: boolean): string {
  return Object.entries(cspDirectives(secure))
    .map(([name, values]) => [name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), ...values].join(' '))
    .join(';');
}
