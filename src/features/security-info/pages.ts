/** Security info: the user's methods, recovery codes and app passwords, and the app-password help page. */
import type { AppPassword } from '../../domain/app-passwords/model.js';
import type { MfaMethod } from '../../domain/mfa/model.js';
import {
  appPasswordBox,
  appPasswordUse,
  pinChoice,
  type PinPlace,
  pinText,
  protocolList,
  protocolName,
  when,
  methodKindName as kindName,
  methodLabel,
  postForm as form,
  recoveryList,
} from '../../web/components.js';
import { profileOfferSection, type ProfileOfferView } from '../../web/device-profile.js';
import { html, type Html } from '../../web/html.js';
import { describedBy, layout, type Notice, type PageContext } from '../../web/layout.js';

export interface AppPasswordSection {
  list: AppPassword[];
  /** 'ok' | creation off by policy | the user's MFA is off | the user is not in the group the organization requires. */
  status: 'ok' | 'off' | 'need_mfa' | 'not_in_group';
  keepExistingWhenOff: boolean;
  /** The most app passwords a user may have (the organization's policy): "3 of 40" before it is reached. */
  cap: number;
  /** What the organization allows app passwords for: the create form offers these, all ticked. */
  protocols: readonly string[];
  created?: { name: string; password: string; profile?: ProfileOfferView };
  /** The create form's one-time nonce (a repeated post of the same form makes nothing more). */
  nonce: string;
  /** The organization's named locations an app password may be pinned to (issue #20). */
  locations: readonly PinPlace[];
}

/**
 * What a new app password may be used for: a box per protocol the organization allows, all ticked;
 * one protocol alone is said, not offered (a hidden field posts it).
 */
function protocolChoice(ctx: PageContext, protocols: readonly string[]): Html {
  const { t } = ctx;
  if (protocols.length === 1)
    return html`<p id="ap-protocols">${t('ap.col.protocols')}: ${protocolName(ctx, protocols[0]!)}<input type="hidden" name="protocols" value="${protocols[0]!}"></p>`;
  return html`<fieldset id="ap-protocols" aria-describedby="ap-protocols-hint"><legend>${t('ap.col.protocols')}</legend>
<p class="hint" id="ap-protocols-hint">${t('ap.protocols.hint')}</p>
${protocols.map((p) => html`<label class="check"><input type="checkbox" name="protocols" value="${p}" checked> ${protocolName(ctx, p)}</label>`)}
</fieldset>`;
}

/** The app-password list and create form; `action` is where the forms post (Security info). */
export function appPasswordsSection(ctx: PageContext, ap: AppPasswordSection, fresh: boolean): Html {
  const { t } = ctx;
  const csrf = html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
  const rows = ap.list.map(
    (p) => html`<tr>
<td class="ap-name">${p.name}</td><td>${when(ctx, p.createdAt)}</td><td>${appPasswordUse(ctx, p)}</td><td>${p.expiresAt ? when(ctx, p.expiresAt) : t('ap.never')}</td><td>${protocolList(p.protocols)}</td><td class="ap-where">${pinText(ctx, p.pin, ap.locations)}</td>
<td><a href="/security-info/app-passwords/rename/${encodeURIComponent(p.id)}" class="rename">${t('ap.rename')}<span class="visually-hidden"> ${p.name}</span></a>
<a href="/security-info/app-passwords/where/${encodeURIComponent(p.id)}" class="where">${t('ap.where.change')}<span class="visually-hidden"> ${p.name}</span></a>
<form method="post" action="/security-info/app-passwords/delete" class="inline">${csrf}<input type="hidden" name="id" value="${p.id}"><button type="submit">${t('ap.delete')}</button></form></td>
</tr>`,
  );
  return html`<section id="app-passwords" aria-labelledby="ap-title">
<h2 id="ap-title">${t('ap.title')}</h2>
<p>${t('ap.intro')} <a href="/help/app-passwords">${t('ap.help')}</a></p>
<p><a href="/help/apps" id="help-apps-link">${t('help.apps.link')}</a></p>
${ap.created ? html`<p class="notice" role="status" id="ap-created">${t('ap.created', { name: ap.created.name })}</p>${appPasswordBox(ctx, ap.created.password)}${ap.created.profile ? profileOfferSection(ctx, ap.created.profile) : ''}` : ''}
${ap.status === 'ok' ? html`<p id="ap-count">${t('ap.count', { count: ap.list.length, cap: ap.cap })}</p>` : ''}
${ap.status === 'off' ? html`<p class="notice">${t('ap.off')} ${t(ap.keepExistingWhenOff ? 'ap.off.kept' : 'ap.off.suspended')}</p>` : ''}
${ap.status === 'need_mfa' ? html`<p class="notice">${t('ap.need_mfa')}</p>` : ''}
${ap.status === 'not_in_group' ? html`<p class="notice" id="ap-not-in-group">${t('groups.ap.not_in_group')}</p>` : ''}
${
  ap.status === 'ok'
    ? fresh
      ? html`<form method="post" action="/security-info/app-passwords#ap-created" class="card">${csrf}<input type="hidden" name="nonce" value="${ap.nonce}">
<label for="ap-name">${t('ap.name')}</label>
<input id="ap-name" name="name" type="text" required maxlength="100" aria-describedby="ap-name-hint">
<p class="hint" id="ap-name-hint">${t('ap.name.hint')}</p>
${protocolChoice(ctx, ap.protocols)}
${pinChoice(ctx, ap.locations, null)}
<button type="submit" class="primary">${t('ap.create')}</button></form>`
      : html`<form method="post" action="/security-info/confirm" class="inline">${csrf}<button type="submit">${t('si.confirm')}</button></form>`
    : ''
}
${
  ap.list.length
    ? html`<table id="app-password-list"><thead><tr><th scope="col">${t('ap.col.name')}</th><th scope="col">${t('ap.col.created')}</th><th scope="col">${t('ap.col.used')}</th><th scope="col">${t('ap.col.expires')}</th><th scope="col">${t('ap.col.protocols')}</th><th scope="col">${t('ap.col.where')}</th><th scope="col"><span class="visually-hidden">${t('users.col.actions')}</span></th></tr></thead><tbody>${rows}</tbody></table>
<form method="post" action="/security-info/app-passwords/delete-all" class="inline">${csrf}<button type="submit">${t('ap.delete_all')}</button></form>`
    : html`<p>${t('ap.none')}</p>`
}
</section>`;
}

export function securityInfoPage(
  ctx: PageContext,
  v: {
    methods: MfaMethod[];
    defaultMethodId: string | null;
    recoveryCodesLeft: number;
    fresh: boolean;
    newCodes?: string[];
    appPasswords: AppPasswordSection;
    rcNonce: string;
  } & Notice,
): Html {
  const { t } = ctx;
  const rows = v.methods.map(
    (m) => html`<tr>
<td>${kindName(ctx, m.kind)}</td><td>${methodLabel(m)}</td><td>${m.id === v.defaultMethodId ? t('si.default') : v.fresh ? form(ctx, '/security-info/default', html`<input type="hidden" name="method" value="${m.id}"><button type="submit">${t('si.make_default')}</button>`, 'inline') : ''}</td>
<td>${v.fresh ? form(ctx, '/security-info/delete', html`<input type="hidden" name="method" value="${m.id}"><button type="submit">${t('si.delete')}</button>`, 'inline') : ''}</td>
</tr>`,
  );
  return layout(
    ctx,
    t('si.title'),
    html`<p>${t('si.intro')}</p>
${v.methods.length ? html`<table id="methods"><tbody>${rows}</tbody></table>` : html`<p>${t('si.none')}</p>`}
${
  v.fresh
    ? html`${form(ctx, '/security-info/add', html`<button type="submit" class="primary">${t('si.add')}</button>`, 'inline')}
<h2>${t('si.rc')}</h2>
${v.newCodes ? html`<p class="notice" id="rc-created">${t('si.rc.shown')}</p>${recoveryList(ctx, v.newCodes)}` : html`<p>${t('si.rc.left', { count: v.recoveryCodesLeft })}</p>`}
${form(ctx, '/security-info/recovery-codes#rc-created', html`<input type="hidden" name="nonce" value="${v.rcNonce}"><button type="submit">${t('si.rc.new')}</button>`, 'inline')}`
    : html`<p>${t('si.fresh')}</p>${form(ctx, '/security-info/confirm', html`<button type="submit" class="primary">${t('si.confirm')}</button>`, 'inline')}`
}
${appPasswordsSection(ctx, v.appPasswords, v.fresh)}`,
    v,
  );
}

/**
 * Renaming an app password (#17, task B): a page of its own, so it works without scripts. After a
 * refused name, what was typed is shown again with the reason right above the field.
 */
export function appPasswordRenamePage(
  ctx: PageContext,
  v: { appPassword: AppPassword; value?: string } & Notice,
): Html {
  const { t } = ctx;
  const p = v.appPassword;
  return layout(
    ctx,
    t('ap.rename.title', { name: p.name }),
    html`<p>${t('ap.rename.intro')}</p>
${form(
  ctx,
  '/security-info/app-passwords/rename',
  html`<input type="hidden" name="id" value="${p.id}">
<label for="ap-name">${t('ap.name')}</label>
<p class="hint" id="ap-name-hint">${t('ap.name.hint')}</p>
${v.error ? html`<p class="field-error" id="ap-name-error"><span class="visually-hidden">${t('form.error.prefix')}</span> ${v.error}</p>` : ''}
<input id="ap-name" name="name" type="text" required maxlength="100" value="${v.value ?? p.name}" aria-describedby="${v.error ? 'ap-name-error ap-name-hint' : 'ap-name-hint'}"${v.error ? html` aria-invalid="true"` : ''} autofocus>
<button type="submit" class="primary">${t('ap.rename.submit')}</button>
<a href="/security-info#app-passwords">${t('confirm.cancel')}</a>`,
)}`,
    v,
  );
}

/**
 * Where one app password may be used from (issue #20): the organization's locations and one
 * address or network, chosen again. Its own page, like renaming, so it works without scripts.
 */
export function appPasswordWherePage(
  ctx: PageContext,
  v: { appPassword: AppPassword; places: readonly PinPlace[]; networkValue?: string } & Notice,
): Html {
  const { t } = ctx;
  const p = v.appPassword;
  return layout(
    ctx,
    t('ap.where.title', { name: p.name }),
    html`<p>${t('ap.where.intro')}</p>
${form(
  ctx,
  '/security-info/app-passwords/where',
  html`<input type="hidden" name="id" value="${p.id}">
${pinChoice(ctx, v.places, p.pin, v.error, v.networkValue)}
<button type="submit" class="primary">${t('ap.where.submit')}</button>
<a href="/security-info#app-passwords">${t('confirm.cancel')}</a>`,
)}`,
    { notice: v.notice },
  );
}

export function helpAppPasswordsPage(ctx: PageContext): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('help.ap.title'),
    html`<p>${t('help.ap.p1')}</p>
<p class="notice">${t('help.ap.p2')}</p>
<ol class="steps"><li>${t('help.ap.step1')}</li><li>${t('help.ap.step2')}</li><li>${t('help.ap.step3')}</li><li>${t('help.ap.step4')}</li><li>${t('help.ap.step5')}</li></ol>
<p>${t('help.ap.later')}</p>
<p><a href="/help/apps" id="help-apps-link">${t('help.apps.link')}</a></p>
<p><a href="/security-info#app-passwords">${t('ap.title')}</a></p>`,
  );
}

/**
 * "Confirm your password": recent authentication for a user without a method, before a change to
 * how they sign in. The address is there for password managers; `next` is where to go back to.
 */
export function reauthPage(ctx: PageContext, v: { address: string; next: string } & Notice): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('reauth.title'),
    html`<p>${t('reauth.intro')}</p>
${form(
  ctx,
  '/security-info/reauth',
  html`<input type="hidden" name="next" value="${v.next}">
  <input type="text" name="username" autocomplete="username" value="${v.address}" hidden readonly>
  <label for="password">${t('signin.password')}</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" ${describedBy(v.error)} autofocus>
  <button type="submit" class="primary">${t('reauth.submit')}</button>`,
)}`,
    v,
  );
}
