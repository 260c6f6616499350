/**
 * The one-time link to an Apple configuration profile (issue #18, item 2;
 * domain/device-setup/profile-links.ts). `/apple-profile/:token` is what the QR code opens on a
 * phone: it says what the profile holds and offers the download, and uses nothing (a link
 * preview or a second look costs the user nothing). `/apple-profile/:token/download` is the
 * profile itself, once. Both refuse a browser signed in to Sesame in another session than the
 * one that made the link, and say why in words.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isSesameError, type SesameError } from '../../domain/errors.js';
import { contentsInWords, profileInstallNotes, profilePath } from '../../web/device-profile.js';
import { HTTP_STATUS } from '../../web/errors.js';
import type { Feature } from '../../web/feature.js';
import { html } from '../../web/html.js';
import { layout, messagePage } from '../../web/layout.js';
import { PAGE_ROUTE, pageContext, send, userMessage } from '../../web/respond.js';

type TokenRequest = FastifyRequest<{ Params: { token: string } }>;

/** `contoso.mobileconfig`: the organization's name as a file name a download bar can show. */
function fileName(organization: string): string {
  const slug = organization
    .normalize('NFKD')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .toLowerCase();
  return `${slug || 'profile'}.mobileconfig`;
}

export const deviceSetup: Feature = {
  pages(app, ctx) {
    const refused = (req: FastifyRequest, reply: FastifyReply, e: SesameError) =>
      send(
        reply,
        messagePage(
          pageContext(req, reply),
          e.code === 'profile_link_other_session' ? 'profile.other.title' : 'profile.gone.title',
          userMessage(req, e),
          'error',
          req.user ? { href: '/security-info#app-passwords', label: req.t('nav.security') } : undefined,
        ),
        HTTP_STATUS[e.code],
      );

    app.get('/apple-profile/:token', PAGE_ROUTE, async (req: TokenRequest, reply) => {
      // The token is in the URL: no page it leads to, not even Sesame's own, is told it.
      reply.header('referrer-policy', 'no-referrer');
      try {
        const v = await ctx.profileLinks.look(req.params.token, req.session?.id);
        const pc = pageContext(req, reply);
        const { t } = pc;
        return send(
          reply,
          layout(
            pc,
            t('profile.landing.title'),
            html`<p id="profile-holds">${t('profile.landing.body', { what: contentsInWords(t, pc.locale, v.contents), address: v.address, organization: v.organization, name: v.appPasswordName })}</p>
<p><a class="button primary" id="profile-download" href="${profilePath(req.params.token)}/download">${t('profile.landing.download')}</a></p>
<p class="hint" id="profile-once">${t('profile.once', { time: pc.time.clock(v.expiresAt) })}</p>
${profileInstallNotes(pc, v)}`,
          ),
        );
      } catch (e) {
        if (!isSesameError(e)) throw e;
        return refused(req, reply, e);
      }
    });

    app.get('/apple-profile/:token/download', PAGE_ROUTE, async (req: TokenRequest, reply) => {
      reply.header('referrer-policy', 'no-referrer');
      try {
        const t = req.t;
        const got = await ctx.profileLinks.download(
          req.params.token,
          req.session?.id,
          (v) => ({
            displayName: t('profile.p.display', { organization: v.organization, name: v.appPasswordName }),
            description: t('profile.p.description', { address: v.address, name: v.appPasswordName }),
            mailAccount: t('profile.p.mail', { organization: v.organization }),
            calendarAccount: t('profile.p.calendar', { organization: v.organization }),
            contactsAccount: t('profile.p.contacts', { organization: v.organization }),
          }),
          { ip: req.ip },
        );
        req.log.info({ event: 'profile_download', signed: got.signed }, 'configuration profile downloaded');
        return reply
          .code(200)
          .type('application/x-apple-aspen-config')
          .header('content-disposition', `attachment; filename="${fileName(got.organization)}"`)
          .header('cache-control', 'no-store')
          .send(got.body);
      } catch (e) {
        if (!isSesameError(e)) throw e;
        req.log.info({ event: 'profile_link_refused', code: e.code }, e.detail);
        return refused(req, reply, e);
      }
    });
  },
};
