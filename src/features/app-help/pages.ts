/**
 * Per-app help (issue #18, item 4): how to set up each kind of app, with the organization's real
 * values filled in for a signed-in user whose organization has saved its mail settings. A service
 * the organization did not set is neither listed nor asked for in the steps.
 */
import { type AppSetup, appSetup } from '../../domain/mail-settings/app-setup.js';
import { type MailService, type MailSettings, type Security, SERVICE_NAMES } from '../../domain/mail-settings/model.js';
import type { MessageId } from '../../i18n/en.js';
import { type Html, html } from '../../web/html.js';
import { layout, type PageContext } from '../../web/layout.js';
import { type AccessApp, type AccessState, ACCESS_APPS, accessOffered, isAccessApp } from './access.js';
import { code, signInNotice, tHtml } from './markup.js';

export const MAIL_HELP_APPS = [
  'outlook',
  'apple-mail-ios',
  'apple-mail-mac',
  'android',
  'thunderbird',
  'calendars-contacts',
  'printers',
] as const;
export type MailHelpApp = (typeof MAIL_HELP_APPS)[number];
export const isMailHelpApp = (s: string): s is MailHelpApp => (MAIL_HELP_APPS as readonly string[]).includes(s);
/** Every page the index lists: the mail settings' apps, then Wi-Fi and LDAP (access.ts). */
export const HELP_APPS = [...MAIL_HELP_APPS, ...ACCESS_APPS] as const;
export type HelpApp = (typeof HELP_APPS)[number];

/** A step, shown only when one of `needs` is offered (or nothing is known yet: signed out, no settings). */
interface Step {
  id: MessageId;
  needs?: readonly MailService[];
}
interface Part {
  heading?: MessageId;
  steps: Step[];
}
interface Guide {
  services: readonly MailService[];
  /** How this app labels each kind of security, so the words match what the person sees. */
  security: Record<Security, MessageId>;
  /** Said when the organization set none of `services`. */
  notOffered: MessageId;
  tip?: MessageId;
  parts: Part[];
  /** Paragraphs after the steps; with `link`, a link to that app's page follows. */
  after?: { id: MessageId; needs?: readonly MailService[]; link?: HelpApp }[];
}

const MAIL: readonly MailService[] = ['imap', 'pop3', 'smtp'];
const INCOMING: readonly MailService[] = ['imap', 'pop3'];
const DAV: readonly MailService[] = ['caldav', 'carddav'];
const PLAIN_WORDS: Record<Security, MessageId> = {
  tls: 'help.apps.sec.ssl_tls',
  starttls: 'help.apps.sec.starttls',
};
const s = (id: MessageId, needs?: readonly MailService[]): Step => (needs ? { id, needs } : { id });

const GUIDES: Record<MailHelpApp, Guide> = {
  outlook: {
    services: MAIL,
    security: { tls: 'help.apps.sec.outlook.tls', starttls: 'help.apps.sec.outlook.starttls' },
    notOffered: 'help.apps.not_offered.mail',
    tip: 'help.apps.outlook.tip',
    parts: [
      {
        heading: 'help.apps.outlook.classic',
        steps: [
          s('help.apps.outlook.c1'),
          s('help.apps.outlook.c2'),
          s('help.apps.outlook.c3'),
          s('help.apps.outlook.c4'),
          s('help.apps.outlook.c5'),
        ],
      },
      {
        heading: 'help.apps.outlook.2016',
        steps: [
          s('help.apps.outlook.o1'),
          s('help.apps.outlook.o2'),
          s('help.apps.outlook.o3', ['smtp']),
          s('help.apps.outlook.o4'),
          s('help.apps.outlook.o5'),
        ],
      },
    ],
  },
  'apple-mail-ios': {
    services: MAIL,
    security: { tls: 'help.apps.sec.apple.tls', starttls: 'help.apps.sec.apple.starttls' },
    notOffered: 'help.apps.not_offered.mail',
    tip: 'help.apps.ios.tip',
    parts: [
      {
        steps: [
          s('help.apps.ios.s1'),
          s('help.apps.ios.s2'),
          s('help.apps.ios.s3'),
          s('help.apps.ios.s4'),
          s('help.apps.ios.s5'),
        ],
      },
    ],
    after: [{ id: 'help.apps.ios.calendars', needs: DAV, link: 'calendars-contacts' }],
  },
  'apple-mail-mac': {
    services: MAIL,
    security: { tls: 'help.apps.sec.mac.tls', starttls: 'help.apps.sec.mac.starttls' },
    notOffered: 'help.apps.not_offered.mail',
    tip: 'help.apps.mac.tip',
    parts: [
      {
        steps: [s('help.apps.mac.s1'), s('help.apps.mac.s2'), s('help.apps.mac.s3'), s('help.apps.mac.s4')],
      },
    ],
  },
  android: {
    services: MAIL,
    security: PLAIN_WORDS,
    notOffered: 'help.apps.not_offered.mail',
    parts: [
      {
        heading: 'help.apps.android.gmail',
        steps: [
          s('help.apps.android.g1'),
          s('help.apps.android.g2'),
          s('help.apps.android.g3'),
          s('help.apps.android.g4', ['smtp']),
        ],
      },
      {
        heading: 'help.apps.android.samsung',
        steps: [s('help.apps.android.m1'), s('help.apps.android.m2'), s('help.apps.android.m3')],
      },
    ],
  },
  thunderbird: {
    services: MAIL,
    security: PLAIN_WORDS,
    notOffered: 'help.apps.not_offered.mail',
    tip: 'help.apps.tb.tip',
    parts: [
      {
        heading: 'help.apps.tb.desktop',
        steps: [s('help.apps.tb.d1'), s('help.apps.tb.d2'), s('help.apps.tb.d3'), s('help.apps.tb.d4')],
      },
      {
        heading: 'help.apps.tb.android',
        steps: [s('help.apps.tb.a1'), s('help.apps.tb.a2'), s('help.apps.tb.a3')],
      },
    ],
    after: [{ id: 'help.apps.tb.calendars', needs: DAV, link: 'calendars-contacts' }],
  },
  'calendars-contacts': {
    services: ['caldav', 'carddav'],
    security: PLAIN_WORDS,
    notOffered: 'help.apps.not_offered.dav',
    parts: [
      {
        heading: 'help.apps.dav.ios',
        steps: [
          s('help.apps.dav.ios.cal', ['caldav']),
          s('help.apps.dav.ios.card', ['carddav']),
          s('help.apps.dav.ios.s'),
        ],
      },
      {
        heading: 'help.apps.dav.mac',
        steps: [
          s('help.apps.dav.mac.cal', ['caldav']),
          s('help.apps.dav.mac.card', ['carddav']),
          s('help.apps.dav.mac.s'),
        ],
      },
      {
        heading: 'help.apps.dav.tb',
        steps: [s('help.apps.dav.tb.cal', ['caldav']), s('help.apps.dav.tb.card', ['carddav'])],
      },
      {
        heading: 'help.apps.dav.android',
        steps: [s('help.apps.dav.davx.s1'), s('help.apps.dav.davx.s2'), s('help.apps.dav.davx.s3')],
      },
    ],
  },
  printers: {
    services: ['smtp'],
    security: PLAIN_WORDS,
    notOffered: 'help.apps.not_offered.smtp',
    tip: 'help.apps.printers.tip',
    parts: [
      {
        steps: [
          s('help.apps.printers.s1'),
          s('help.apps.printers.s2'),
          s('help.apps.printers.s3'),
          s('help.apps.printers.s4'),
        ],
      },
    ],
    after: [{ id: 'help.apps.printers.security' }, { id: 'help.apps.printers.ldap', link: 'ldap' }],
  },
};

/** What is known about the visitor's organization. */
export type HelpState =
  | { kind: 'signed_out' }
  | { kind: 'no_settings' }
  | { kind: 'settings'; settings: Pick<MailSettings, 'servers' | 'userName'>; address: string };

const appName = (ctx: PageContext, app: HelpApp) => ctx.t(`help.apps.${app}.name` as MessageId);
const pickSentence = (ctx: PageContext, app: HelpApp) => ctx.t(`help.apps.${app}.pick` as MessageId);

/** "Sign in to see …", "your administrator has not entered …", or nothing when the values are shown. */
function stateNotice(ctx: PageContext, state: HelpState): Html | '' {
  if (state.kind === 'signed_out') return signInNotice(ctx);
  if (state.kind === 'no_settings')
    return html`<p class="notice" id="no-settings">${ctx.t('help.apps.no_settings')}</p>`;
  return '';
}

function valuesList(ctx: PageContext, guide: Guide, setup: AppSetup): Html {
  const { t } = ctx;
  const rows = setup.services.map(
    (v) => html`<dt>${t(`help.apps.service.${v.service}` as MessageId)}</dt>
<dd id="setting-${v.service}">${
      v.url
        ? code(v.url)
        : tHtml(ctx, 'help.apps.endpoint', {
            host: code(v.host),
            port: code(v.port),
            security: t(guide.security[v.security]),
          })
    }</dd>`,
  );
  return html`<dl id="app-settings">
${rows}
<dt>${t('help.apps.user_name')}</dt>
<dd id="setting-user-name">${code(setup.userName)}</dd>
<dt>${t('help.apps.password')}</dt>
<dd id="setting-password">${t('help.apps.password.value')}</dd>
</dl>`;
}

export function helpAppsIndexPage(ctx: PageContext, state: HelpState, access: Record<AccessApp, AccessState>): Html {
  const { t } = ctx;
  const items = HELP_APPS.map((app) => {
    const offered = isAccessApp(app)
      ? accessOffered(access[app])
      : state.kind !== 'settings' || GUIDES[app].services.some((sv) => state.settings.servers[sv] !== undefined);
    return html`<li id="help-app-${app}"><a href="/help/apps/${app}">${appName(ctx, app)}</a>: ${pickSentence(ctx, app)}${
      offered ? '' : html` <strong>${t('help.apps.index.not_offered')}</strong>`
    }</li>`;
  });
  return layout(
    ctx,
    t('help.apps.title'),
    html`<p>${t('help.apps.index.intro')}</p>
${stateNotice(ctx, state)}
<ul class="apps" id="help-apps">${items}</ul>
<p>${t('help.apps.index.other')}</p>
<p><a href="/help/app-passwords">${t('ap.help')}</a></p>
<p><a href="/security-info#app-passwords">${t('help.apps.make')}</a></p>`,
  );
}

export function helpAppPage(ctx: PageContext, app: MailHelpApp, state: HelpState): Html {
  const { t } = ctx;
  const guide = GUIDES[app];
  const setup = state.kind === 'settings' ? appSetup(state.settings, state.address, guide.services) : undefined;
  // Signed out or without settings nothing is known, so every step is shown.
  const offered = (sv: MailService) =>
    state.kind !== 'settings' ||
    (guide.services.includes(sv)
      ? setup!.services.some((v) => v.service === sv)
      : state.settings.servers[sv] !== undefined);
  const incoming = INCOMING.filter(offered)
    .map((sv) => SERVICE_NAMES[sv])
    .join(` ${t('help.apps.or')} `);
  const notOffered = setup !== undefined && setup.services.length === 0;
  const parts = guide.parts.map((p) => {
    const steps = p.steps.filter((st) => !st.needs || st.needs.some(offered));
    return html`${p.heading ? html`<h3>${t(p.heading)}</h3>` : ''}
<ol class="steps">${steps.map((st) => html`<li>${t(st.id, { incoming })}</li>`)}</ol>`;
  });
  const values = setup && !notOffered ? valuesList(ctx, guide, setup) : '';
  return layout(
    ctx,
    t(`help.apps.${app}.title` as MessageId),
    html`<p>${t(`help.apps.${app}.intro` as MessageId)}</p>
<h2>${t('help.apps.values.title')}</h2>
${stateNotice(ctx, state)}
${notOffered ? html`<p class="notice" id="not-offered">${t(guide.notOffered)}</p>` : values}
${
  notOffered
    ? ''
    : html`${guide.tip ? html`<p class="notice" id="app-tip">${t(guide.tip)}</p>` : ''}
<h2>${t('help.apps.steps.title')}</h2>
${parts}
${(guide.after ?? [])
  .filter((a) => !a.needs || a.needs.some(offered))
  .map(
    (a) => html`<p>${t(a.id)}${a.link ? html` <a href="/help/apps/${a.link}">${appName(ctx, a.link)}</a>` : ''}</p>`,
  )}`
}
<p><a href="/help/apps">${t('help.apps.all')}</a></p>
<p><a href="/security-info#app-passwords">${t('help.apps.make')}</a></p>`,
  );
}
