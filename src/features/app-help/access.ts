/**
 * Help for what signs in to the network or the directory rather than to a mailbox (issue #19,
 * item 6): Wi-Fi, VPN and wired sign-in through RADIUS, and address books, NAS boxes and intranet
 * sites through LDAP. Both are opt-in per organization, so a page gives settings only to a user
 * whose organization allows app passwords for its protocol (and whose group, if one is required);
 * the LDAP page also needs this server to run the LDAP interface.
 */
import type { Protocol } from '../../domain/app-passwords/model.js';
import type { MessageId } from '../../i18n/en.js';
import { type Html, html } from '../../web/html.js';
import { layout, type PageContext } from '../../web/layout.js';
import { code, signInNotice, tHtml } from './markup.js';

export const ACCESS_APPS = ['wifi', 'ldap'] as const;
export type AccessApp = (typeof ACCESS_APPS)[number];
export const isAccessApp = (s: string): s is AccessApp => (ACCESS_APPS as readonly string[]).includes(s);

/** The app-password protocol each page is about. */
export const ACCESS_PROTOCOL: Record<AccessApp, Protocol & ('radius' | 'ldap')> = { wifi: 'radius', ldap: 'ldap' };

/** The LDAP interface as configured: its ports and, when known, the name devices must use. */
export interface LdapService {
  host?: string;
  ldapsPort?: number;
  starttlsPort?: number;
}

export type AccessState =
  | { kind: 'signed_out' }
  /** This server does not run the service (LDAP without a port): the same for everyone. */
  | { kind: 'unavailable' }
  /** The organization does not allow app passwords for the protocol. */
  | { kind: 'not_allowed' }
  /** Allowed only to a group the user is not in. */
  | { kind: 'not_in_group' }
  /** `baseDn` and `dn`: where the user's entry is in the directory (ou=people, and their own DN). */
  | { kind: 'ok'; address: string; baseDn: string; dn: string };

/** Whether the index marks the page as not offered. */
export const accessOffered = (state: AccessState) => state.kind === 'ok' || state.kind === 'signed_out';

interface Part {
  heading: MessageId;
  steps: MessageId[];
}
interface AccessGuide {
  example: MessageId;
  notAllowed: MessageId;
  tip: MessageId;
  parts: Part[];
  after: MessageId[];
}

const GUIDES: Record<AccessApp, AccessGuide> = {
  wifi: {
    example: 'help.apps.wifi.example',
    notAllowed: 'help.apps.wifi.not_offered',
    tip: 'help.apps.wifi.tip',
    parts: [
      {
        heading: 'help.apps.wifi.windows',
        steps: ['help.apps.wifi.w1', 'help.apps.wifi.w2', 'help.apps.wifi.w3', 'help.apps.wifi.w4'],
      },
      { heading: 'help.apps.wifi.apple', steps: ['help.apps.wifi.a1', 'help.apps.wifi.a2'] },
      { heading: 'help.apps.wifi.android', steps: ['help.apps.wifi.n1', 'help.apps.wifi.n2', 'help.apps.wifi.n3'] },
      { heading: 'help.apps.wifi.linux', steps: ['help.apps.wifi.l1', 'help.apps.wifi.l2', 'help.apps.wifi.l3'] },
    ],
    after: ['help.apps.wifi.vpn'],
  },
  ldap: {
    example: 'help.apps.ldap.example',
    notAllowed: 'help.apps.ldap.not_offered',
    tip: 'help.apps.ldap.tip',
    parts: [
      {
        heading: 'help.apps.ldap.printers',
        steps: ['help.apps.ldap.p1', 'help.apps.ldap.p2', 'help.apps.ldap.p3'],
      },
      { heading: 'help.apps.ldap.nas', steps: ['help.apps.ldap.n1', 'help.apps.ldap.n2', 'help.apps.ldap.n3'] },
      { heading: 'help.apps.ldap.sites', steps: ['help.apps.ldap.s1', 'help.apps.ldap.s2'] },
    ],
    after: [],
  },
};

/** A row of the values list. */
const row = (ctx: PageContext, id: string, label: MessageId, value: Html | string) =>
  html`<dt>${ctx.t(label)}</dt>
<dd id="setting-${id}">${value}</dd>`;

function wifiValues(ctx: PageContext, address: string): Html[] {
  const { t } = ctx;
  return [
    row(ctx, 'eap', 'help.apps.wifi.eap', t('help.apps.wifi.eap.value')),
    row(ctx, 'inner', 'help.apps.wifi.inner', t('help.apps.wifi.inner.value')),
    row(ctx, 'identity', 'help.apps.wifi.identity', code(address)),
    row(ctx, 'anonymous', 'help.apps.wifi.anonymous', t('help.apps.wifi.anonymous.value')),
    row(ctx, 'password', 'help.apps.password', t('help.apps.password.value')),
    row(ctx, 'certificate', 'help.apps.wifi.certificate', t('help.apps.wifi.certificate.value')),
  ];
}

function ldapValues(ctx: PageContext, ldap: LdapService, state: Extract<AccessState, { kind: 'ok' }>): Html[] {
  const { t } = ctx;
  const ports = [
    ...(ldap.ldapsPort ? [tHtml(ctx, 'help.apps.ldap.port.tls', { port: code(ldap.ldapsPort) })] : []),
    ...(ldap.starttlsPort ? [tHtml(ctx, 'help.apps.ldap.port.starttls', { port: code(ldap.starttlsPort) })] : []),
  ];
  const { address, baseDn, dn } = state;
  return [
    row(ctx, 'server', 'help.apps.ldap.server', ldap.host ? code(ldap.host) : t('help.apps.ldap.server.ask')),
    row(
      ctx,
      'port',
      'help.apps.ldap.port',
      html`${ports.map((p, i) => html`${i ? ` ${t('help.apps.or')} ` : ''}${p}`)}`,
    ),
    row(ctx, 'base-dn', 'help.apps.ldap.base', code(baseDn)),
    row(
      ctx,
      'bind',
      'help.apps.ldap.bind',
      tHtml(ctx, 'help.apps.ldap.bind.value', { address: code(address), dn: code(dn) }),
    ),
    row(ctx, 'password', 'help.apps.password', t('help.apps.password.value')),
    row(ctx, 'auth', 'help.apps.ldap.auth', t('help.apps.ldap.auth.value')),
  ];
}

/** Why there is nothing to set up, or undefined when there is. */
function refusal(ctx: PageContext, app: AccessApp, state: AccessState): Html | undefined {
  const id: MessageId | undefined =
    state.kind === 'unavailable'
      ? 'help.apps.ldap.unavailable'
      : state.kind === 'not_allowed'
        ? GUIDES[app].notAllowed
        : state.kind === 'not_in_group'
          ? 'help.apps.access.not_in_group'
          : undefined;
  return id && html`<p class="notice" id="not-offered">${ctx.t(id)}</p>`;
}

export function accessHelpPage(ctx: PageContext, app: AccessApp, state: AccessState, ldap?: LdapService): Html {
  const { t } = ctx;
  const guide = GUIDES[app];
  const refused = refusal(ctx, app, state);
  const values =
    state.kind !== 'ok'
      ? []
      : app === 'wifi'
        ? wifiValues(ctx, state.address)
        : ldap
          ? ldapValues(ctx, ldap, state)
          : [];
  const which = tHtml(ctx, 'help.apps.access.which', {
    example: t(guide.example),
    protocol: ACCESS_PROTOCOL[app].toUpperCase(),
  });
  return layout(
    ctx,
    t(`help.apps.${app}.title` as MessageId),
    html`<p>${t(`help.apps.${app}.intro` as MessageId)}</p>
${
  refused
    ? html`<h2>${t('help.apps.values.title')}</h2>
${refused}`
    : html`<h2>${t('help.apps.access.which.title')}</h2>
<p id="which-app-password">${which}</p>
<h2>${t('help.apps.values.title')}</h2>
${state.kind === 'signed_out' ? signInNotice(ctx) : ''}
${values.length ? html`<dl id="app-settings">${values}</dl>` : ''}
<p class="notice" id="app-tip">${t(guide.tip)}</p>
<h2>${t('help.apps.steps.title')}</h2>
${guide.parts.map(
  (p) => html`<h3>${t(p.heading)}</h3>
<ol class="steps">${p.steps.map((id) => html`<li>${t(id)}</li>`)}</ol>`,
)}
${guide.after.map((id) => html`<p>${t(id)}</p>`)}`
}
<p><a href="/help/apps">${t('help.apps.all')}</a></p>
<p><a href="/security-info#app-passwords">${t('help.apps.make')}</a></p>`,
  );
}
