/**
 * What a person types into an app, from the organization's mail settings (issue #18, item 4): the
 * per-app help pages show these. Only the services the organization set are returned, so a page
 * never offers one it has not.
 */
import { isDav, type Endpoint, type MailService, type MailSettings, type Security, userNameFor } from './model.js';

export interface ServiceSetup {
  service: MailService;
  host: string;
  port: number;
  security: Security;
  /** CalDAV and CardDAV: the address apps ask for. */
  url?: string;
}

export interface AppSetup {
  userName: string;
  services: ServiceSetup[];
}

/** The https URL of a DAV service; the port only when it is not 443, an IPv6 address in brackets. */
export function davUrl(e: Endpoint): string {
  const host = e.host.includes(':') ? `[${e.host}]` : e.host;
  return `https://${host}${e.port === 443 ? '' : `:${e.port}`}${e.path ?? '/'}`;
}

/** The values of `wanted` (in that order) that the organization set, and the user name `address` signs in with. */
export function appSetup(
  settings: Pick<MailSettings, 'servers' | 'userName'>,
  address: string,
  wanted: readonly MailService[],
): AppSetup {
  const services = wanted.flatMap((service) => {
    const e = settings.servers[service];
    if (!e) return [];
    return [
      { service, host: e.host, port: e.port, security: e.security, ...(isDav(service) ? { url: davUrl(e) } : {}) },
    ];
  });
  return { userName: userNameFor(settings, address), services };
}
