/**
 * Mail apps setting themselves up (issue #18, item 3): Mozilla's autoconfiguration document at
 * /.well-known/autoconfig/mail/config-v1.1.xml (asked of the mail domain) and
 * /mail/config-v1.1.xml (asked of autoconfig.<domain>), and Microsoft's POX Autodiscover at
 * /autodiscover/autodiscover.xml (asked of autodiscover.<domain>, or found by the SRV record);
 * docs/admin-guide.md says how to put Sesame at those names.
 *
 * The organization is the one of the address's domain; the answer depends on that domain alone
 * (no user is looked up), and an unknown domain and an organization without mail servers answer
 * the same bare 404. Nothing here holds a password. No cookies, CSRF or session: machine-facing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normalizeAddress, normalizeDomain } from '../../domain/accounts/model.js';
import {
  autodiscoverRequestAddress,
  autodiscoverResponse,
  hasMailServers,
  MAX_AUTODISCOVER_REQUEST,
  mozillaAutoconfig,
} from '../../domain/mail-settings/autoconfig.js';
import type { MailSettings } from '../../domain/mail-settings/model.js';
import { isSesameError } from '../../domain/errors.js';
import type { Feature } from '../../web/feature.js';
import type { Services } from '../../web/services.js';

/** Apps ask again when they set up the next account; a changed server reaches them within minutes. */
const CACHE = 'public, max-age=300';

/** The address's domain, or undefined for anything that is not an address. */
function domainOfAddress(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    return normalizeAddress(raw).domain;
  } catch {
    return undefined;
  }
}

/** The domain a request without an address was sent for: `autoconfig.<domain>`, or the mail domain itself. */
function domainOfHost(hostname: string): string | undefined {
  try {
    return normalizeDomain(hostname.replace(/^autoconfig\./i, ''));
  } catch {
    return undefined;
  }
}

/** The organization of `domain` and its mail settings, or undefined (unknown domain, no settings, no mail server). */
async function settingsFor(
  s: Services,
  domain: string | undefined,
): Promise<
  { org: { domain: string; name: string }; settings: Pick<MailSettings, 'servers' | 'userName'> } | undefined
> {
  if (domain === undefined) return undefined;
  let org;
  try {
    org = await s.accounts.organizationByDomain(domain);
  } catch (e) {
    if (isSesameError(e) && (e.code === 'organization_not_found' || e.code === 'invalid_domain')) return undefined;
    throw e;
  }
  const settings = await s.mailSettings.forApps(org.id);
  return settings && hasMailServers(settings) ? { org, settings } : undefined;
}

const notFound = (reply: FastifyReply) => reply.code(404).header('cache-control', 'no-store').send();
const xml = (reply: FastifyReply, body: string) =>
  reply.code(200).header('content-type', 'application/xml; charset=utf-8').header('cache-control', CACHE).send(body);

function registerMozilla(app: FastifyInstance, s: Services) {
  const handler = async (req: FastifyRequest<{ Querystring: { emailaddress?: unknown } }>, reply: FastifyReply) => {
    const q = req.query.emailaddress;
    // Thunderbird sends the address; without one, the host it asked names the domain.
    const domain = q === undefined ? domainOfHost(req.hostname) : domainOfAddress(q);
    const found = await settingsFor(s, domain);
    if (!found) return notFound(reply);
    return xml(reply, mozillaAutoconfig(found.org, found.settings));
  };
  const opts = { schema: { hide: true }, logLevel: 'warn' as const };
  app.get('/.well-known/autoconfig/mail/config-v1.1.xml', opts, handler);
  app.get('/mail/config-v1.1.xml', opts, handler);
}

function registerAutodiscover(app: FastifyInstance, s: Services) {
  // Outlook posts a small XML request. Its parser lives in this scope only, takes the body as a
  // bounded string and never parses it as XML (see autodiscoverRequestAddress).
  void app.register(async (scope) => {
    scope.addContentTypeParser(
      ['text/xml', 'application/xml'],
      { parseAs: 'string', bodyLimit: MAX_AUTODISCOVER_REQUEST },
      (_req, body, done) => done(null, body),
    );
    const answer = async (address: string | undefined, reply: FastifyReply) => {
      if (address === undefined) return reply.code(400).header('cache-control', 'no-store').send();
      const domain = domainOfAddress(address);
      if (domain === undefined) return reply.code(400).header('cache-control', 'no-store').send();
      const found = await settingsFor(s, domain);
      if (!found) return notFound(reply);
      return xml(reply, autodiscoverResponse(found.settings, normalizeAddress(address).address));
    };
    const opts = { schema: { hide: true }, logLevel: 'warn' as const };
    for (const path of ['/autodiscover/autodiscover.xml', '/Autodiscover/Autodiscover.xml']) {
      scope.post(path, opts, async (req, reply) =>
        answer(typeof req.body === 'string' ? autodiscoverRequestAddress(req.body) : undefined, reply),
      );
      scope.get<{ Querystring: { emailaddress?: unknown } }>(path, opts, async (req, reply) => {
        const q = req.query.emailaddress;
        return answer(typeof q === 'string' ? q : undefined, reply);
      });
    }
  });
}

export const autoconfig: Feature = {
  machines: (app, s) => {
    registerMozilla(app, s);
    registerAutodiscover(app, s);
  },
};
