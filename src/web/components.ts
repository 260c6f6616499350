/**
 * Pieces of pages that several features show: forms with their CSRF field, the names of MFA
 * methods, recovery codes, a new app password with Copy, the fields of a new password, and the
 * rows of the sign-in log, and the confirmation page of a destructive action.
 */
import type { SignInEvent } from '../domain/audit/events.js';
import type { PasswordChangeEffects } from '../domain/self-service/self-service.js';
import type { MethodKind } from '../domain/mfa/model.js';
import type { MessageId } from '../i18n/en.js';
import { hasMessage } from '../i18n/i18n.js';
import { describeUserAgent } from './user-agent.js';
import { html, type Html } from './html.js';
import { describedBy, layout, type PageContext } from './layout.js';
import { countryText } from './countries.js';
import type { AppPassword, AppPasswordPin } from '../domain/app-passwords/model.js';

/** The hidden CSRF field every form carries. */
export const csrfField = (ctx: PageContext) => html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;

/** A method's name in the reader's language. */
export const methodKindName = (ctx: PageContext, kind: MethodKind | 'recovery') =>
  ctx.t(`mfa.kind.${kind}` as MessageId);

/**
 * What a method's label adds to its kind: the masked number or address, a key's name. An
 * authenticator app's stored label is only its kind's English name ("Authenticator app"), so it adds
 * nothing and is never shown (it read "Verificatie-app: Authenticator app" in Dutch).
 */
export const methodLabel = (m: { kind: MethodKind; label: string }) => (m.kind === 'totp' ? '' : m.label);

/** A method in one phrase: "Text message: +31 6 •••• 5678", "Verificatie-app". */
export const methodName = (ctx: PageContext, m: { kind: MethodKind; label: string }) => {
  const label = methodLabel(m);
  return label ? `${methodKindName(ctx, m.kind)}: ${label}` : methodKindName(ctx, m.kind);
};

/** A POST form with its CSRF field. */
export function postForm(ctx: PageContext, action: string, body: Html | string, cls = 'card'): Html {
  return html`<form method="post" action="${action}" class="${cls}">${csrfField(ctx)}${body}</form>`;
}

/**
 * A Copy button for the element `source` (hidden until public/copy.js reveals it); `compact` copies
 * the text without its spaces (a key shown in groups).
 */
export function copyButton(ctx: PageContext, source: string, compact = false): Html {
  return html`<button type="button" class="copy secondary" data-copy="${source}"${compact ? html` data-compact` : ''} data-copied="${ctx.t('ap.copied')}" hidden>${ctx.t('ap.copy')}</button>`;
}

/**
 * public/copy.js, deferred: it wires every Copy and Print button once the page is parsed (a page may
 * include it more than once), and never holds up the parser, which would cost the code field its
 * autofocus.
 */
export const COPY_SCRIPT = html`<script src="/static/copy.js" defer></script>`;

/**
 * Recovery codes, shown once, with the ways people keep them (#17, item 2): Copy (one code per line),
 * Download as a .txt file (a link: works without scripts) and Print (only the codes are printed).
 */
export function recoveryList(ctx: PageContext, codes: string[]): Html {
  const file = `${ctx.t('rc.file.heading')}\r\n\r\n${codes.join('\r\n')}\r\n`;
  return html`<div class="recovery">
<ol class="codes" id="recovery-codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
<div class="actions">
${copyButton(ctx, 'recovery-codes')}
<a class="button secondary" id="recovery-download" download="recovery-codes.txt" href="data:text/plain;charset=utf-8,${encodeURIComponent(file)}">${ctx.t('rc.download')}</a>
<button type="button" class="print secondary" hidden>${ctx.t('rc.print')}</button>
<span class="copied" role="status" aria-live="polite"></span>
</div>
</div>
${COPY_SCRIPT}`;
}

/**
 * A new app password, shown once (`sayOnce`: with the line that says so, where the page's own notice
 * does not; Security info's notice already does): selectable text (works without scripts) and a Copy button that
 * /static/copy.js reveals and wires to the Clipboard API, copying exactly the text shown.
 */
export function appPasswordBox(ctx: PageContext, password: string, sayOnce = false): Html {
  return html`<div class="app-password">
<code id="app-password" class="secret">${password}</code>
${copyButton(ctx, 'app-password')}
<span class="copied" role="status" aria-live="polite"></span>
</div>
${sayOnce ? html`<p class="hint" id="app-password-once">${ctx.t('ap.once')}</p>` : ''}
${COPY_SCRIPT}`;
}

/** The two fields of a new password, with the hidden user name password managers file it under. */
export function newPasswordFields(ctx: PageContext, address: string, error: string | undefined): Html {
  const { t } = ctx;
  return html`<input type="hidden" name="username" autocomplete="username" value="${address}">
  <label for="password">${t('setpw.password')}</label>
  <input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024" ${describedBy(error)}>
  <label for="confirm">${t('setpw.confirm')}</label>
  <input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="8" maxlength="1024" ${describedBy(error)}>`;
}

/** What a new password will do, said before the user confirms it. */
export function passwordEffectsList(ctx: PageContext, e: PasswordChangeEffects, keepsThisSession: boolean): Html {
  const { t } = ctx;
  return html`<ul class="effects" id="password-effects">
  <li>${t(keepsThisSession ? 'pw.effects.sessions' : 'reset.effects.sessions')}</li>
  ${e.revokesAppPasswords ? html`<li>${t('pw.effects.app_passwords', { count: e.appPasswords })}</li>` : e.appPasswords > 0 ? html`<li>${t('pw.effects.app_passwords_kept')}</li>` : ''}
</ul>`;
}

/** A page of the sign-in log, as the admin's Sign-in log and the user's My sign-ins show it. */
export interface SignInLogPage {
  events: SignInEvent[];
  total: number;
  offset: number;
  limit: number;
}

/** What a sign-in row says in its Protocol column: the protocol, and the app password used (its name while it exists). */
export function signInProtocol(ctx: PageContext, e: SignInEvent): Html {
  const { t } = ctx;
  return html`${protocolName(ctx, e.protocol)}${e.appPasswordName ? html`<br><span class="ap-name">${e.appPasswordName}</span>` : e.appPasswordId ? html`<br><span class="ap-name">(${t('signins.deleted_ap')})</span>` : ''}`;
}

/**
 * A sign-in's protocol in words ("IMAP (mail)", "Browser, second step"); one Sesame does not know
 * (an old row) as stored.
 */
export function protocolName(ctx: PageContext, protocol: string): string {
  const [base = '', step] = protocol.split(':');
  const id = `protocol.${base}`;
  if (!hasMessage(id)) return protocol;
  const name = ctx.t(id);
  if (step === undefined) return name;
  const stepId = `protocol.step.${step}`;
  return hasMessage(stepId) ? ctx.t(stepId, { protocol: name }) : protocol;
}

/** Why a sign-in ended as it did, in words, with the stable code beside it for the operator's search. */
export function signInReason(ctx: PageContext, e: SignInEvent): Html {
  const id = `reason.${e.reason}`;
  return hasMessage(id) ? html`${ctx.t(id)} <code class="hint">${e.reason}</code>` : html`<code>${e.reason}</code>`;
}

/** A User-Agent header in words: "Chrome on Windows", "Chrome op Windows", "Thunderbird", "Unknown". */
export function agentName(ctx: PageContext, ua: string): string {
  const { client, system } = describeUserAgent(ua);
  if (client && system) return ctx.t('agent.on', { client, system });
  return client ?? system ?? ctx.t('agent.unknown');
}

/** The client in words ("Chrome on Windows"); the whole User-Agent header on hover and in the exports. */
export function signInAgent(ctx: PageContext, e: SignInEvent): Html {
  return html`<td class="agent" title="${e.userAgent}">${agentName(ctx, e.userAgent)}</td>`;
}

/**
 * A time in a list: "5 minutes ago" within a week, the day beyond, and the exact time (in the
 * organization's time zone) on hover and for screen readers' "more info"; `<time>` carries the
 * machine form.
 */
export function when(ctx: PageContext, ms: number): Html {
  const { time } = ctx;
  return html`<time datetime="${time.iso(ms)}" title="${time.at(ms)}">${time.recent(ms) ? time.ago(ms) : time.day(ms)}</time>`;
}

/**
 * What a sign-in row says in its Time column: the exact time (the log is read to match other logs)
 * with how long ago beneath it, and for a row that stands for repeated identical failures
 * (aggregated, issue 15 item 4) how many there were and when the last was.
 */
export function signInTime(ctx: PageContext, e: SignInEvent): Html {
  const n = e.count ?? 1;
  const { time } = ctx;
  return html`<time datetime="${time.iso(e.at)}">${time.at(e.at)}</time>${time.recent(e.at) ? html`<br><time class="ago" datetime="${time.iso(e.at)}">${time.ago(e.at)}</time>` : ''}${n > 1 ? html`<br><span class="repeated">${ctx.t('signins.repeated', { count: n, last: time.at(e.lastAt ?? e.at) })}</span>` : ''}`;
}

/** When an app password was last used (how long ago, protocol in words, client IP and its country when the page has countries), or "Never". */
export function appPasswordUse(ctx: PageContext, p: AppPassword): Html | string {
  return p.lastUsedAt
    ? html`${when(ctx, p.lastUsedAt)}${[p.lastUsedProtocol ? protocolName(ctx, p.lastUsedProtocol) : '', p.lastUsedIp ?? '', countryText(ctx, p.lastUsedIp) ?? ''].filter(Boolean).map((x) => ` · ${x}`)}`
    : ctx.t('ap.never');
}

/** The same in plain text, for a sentence (a confirmation page's list item). */
export function appPasswordUseText(ctx: PageContext, p: AppPassword): string {
  return p.lastUsedAt
    ? [
        ctx.time.at(p.lastUsedAt),
        p.lastUsedProtocol ? protocolName(ctx, p.lastUsedProtocol) : '',
        p.lastUsedIp ?? '',
        countryText(ctx, p.lastUsedIp) ?? '',
      ]
        .filter(Boolean)
        .join(' · ')
    : ctx.t('ap.never');
}

/** What an app password may be used for, short: "IMAP, SMTP". */
export const protocolList = (protocols: readonly string[]) => protocols.map((k) => k.toUpperCase()).join(', ');

/** The form field that says a destructive action was confirmed on its confirmation page. */
export const CONFIRM_FIELD = 'confirm';

/** Whether a posted form carries the explicit confirmation (`confirm=1`) that lets a destructive action act. */
export function confirmed(body: unknown): boolean {
  return (body as Record<string, unknown> | undefined)?.[CONFIRM_FIELD] === '1';
}

/**
 * The confirmation page of a destructive action: what it does (`title`), what stops working
 * (`effects`, one item each: which apps, which devices, which sign-ins), and a form that posts the
 * same `fields` back to `action` with `confirm=1`, the only request that acts; Cancel goes `back`.
 */
export function confirmationPage(
  ctx: PageContext,
  v: {
    title: string;
    effects: (Html | string)[];
    action: string;
    fields: Record<string, string>;
    button: string;
    back: string;
  },
): Html {
  const { t } = ctx;
  return layout(
    ctx,
    v.title,
    html`<div class="card" id="confirmation">
<p>${t('confirm.stops')}</p>
<ul class="effects" id="confirm-effects">${v.effects.map((e) => html`<li>${e}</li>`)}</ul>
<form method="post" action="${v.action}" class="inline">${csrfField(ctx)}${Object.entries(v.fields).map(([k, val]) => html`<input type="hidden" name="${k}" value="${val}">`)}<button type="submit" name="${CONFIRM_FIELD}" value="1" class="primary">${v.button}</button></form>
<a href="${v.back}">${t('confirm.cancel')}</a>
</div>`,
  );
}

export interface PinPlace {
  id: string;
  name: string;
}

/**
 * Where an app password may be used from (issue #20): the organization's named locations, ticked,
 * and one address or network. Nothing chosen: wherever the organization's rules allow.
 */
export function pinChoice(
  ctx: PageContext,
  places: readonly PinPlace[],
  pin: AppPasswordPin | null,
  error?: string,
  networkValue?: string,
): Html {
  const { t } = ctx;
  const describe = error ? 'ap-where-error ap-where-hint' : 'ap-where-hint';
  return html`<fieldset id="ap-where" aria-describedby="ap-where-hint"><legend>${t('ap.where.legend')}</legend>
<p class="hint" id="ap-where-hint">${t('ap.where.hint')}</p>
${places.map((l) => html`<label class="check"><input type="checkbox" name="pin_locations" value="${l.id}"${pin?.locationIds.includes(l.id) ? html` checked` : ''}> ${l.name}</label>`)}
<label for="ap-pin-network">${t('ap.where.network')}</label>
${error ? html`<p class="field-error" id="ap-where-error"><span class="visually-hidden">${t('form.error.prefix')}</span> ${error}</p>` : ''}
<input id="ap-pin-network" name="pin_network" type="text" maxlength="64" spellcheck="false" autocomplete="off" value="${networkValue ?? pin?.network ?? ''}" aria-describedby="${describe}"${error ? html` aria-invalid="true"` : ''}>
</fieldset>`;
}

/** What the list says of a pin: the places' names and the network, or that the organization's rules decide. */
export function pinText(ctx: PageContext, pin: AppPasswordPin | null, places: readonly PinPlace[]): string {
  if (!pin) return ctx.t('ap.where.anywhere');
  const names = new Map(places.map((l) => [l.id, l.name]));
  return [...pin.locationIds.map((id) => names.get(id) ?? id), ...(pin.network ? [pin.network] : [])].join(', ');
}
