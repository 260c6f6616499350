/**
 * Pages of the MFA flows (registration and the second step) and of Security info. One renderer
 * per flow state; the same renderer serves the sign-in flow and the signed-in user's flows, only
 * the form actions' base path differs.
 */
import type { FlowView } from '../../domain/flows/sign-in-flow.js';
import type { MethodKind, MfaMethod } from '../../domain/mfa/model.js';
import type { AppPassword } from '../../domain/app-passwords/model.js';
import type { MessageId } from '../../i18n/en.js';
import { html, type Html } from '../../web/html.js';
import { describedBy, layout, type PageContext } from '../../web/layout.js';
import type { PasswordChangeEffects } from '../../domain/self-service/self-service.js';
import { resetNewPasswordPage } from '../self-service/pages.js';

type Notice = { notice?: string; error?: string };

const kindName = (ctx: PageContext, kind: MethodKind | 'recovery') => ctx.t(`mfa.kind.${kind}` as MessageId);

function form(ctx: PageContext, action: string, body: Html | string, cls = 'card'): Html {
  return html`<form method="post" action="${action}" class="${cls}"><input type="hidden" name="_csrf" value="${ctx.csrf}">${body}</form>`;
}

/** The code field; `error` is the page's error (a wrong or expired code), which the field then points at. */
function codeField(ctx: PageContext, error: string | undefined, autocomplete = 'one-time-code'): Html {
  return html`<label for="code">${ctx.t('mfa.code')}</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="${autocomplete}" required maxlength="24" ${describedBy(error)} autofocus>`;
}

/** Renders the flow's current state. `base` is where its forms post (e.g. /signin/mfa). */
export function flowPage(ctx: PageContext, v: FlowView & { qrDataUrl?: string; base: string; resetEffects?: PasswordChangeEffects } & Notice): Html {
  const { t } = ctx;
  const { flow } = v;
  const b = v.base;
  switch (flow.state) {
    case 'more_info_required':
      return layout(
        ctx,
        t('mfa.more.title'),
        html`<p>${t('mfa.more.body')}</p><p>${v.user.address}</p>
${form(ctx, `${b}/setup`, html`<button type="submit" class="primary">${t('mfa.more.setup')}</button>`)}
${form(ctx, `${b}/cancel`, html`<button type="submit" class="link">${t('mfa.more.other')}</button>`, 'inline')}`,
        v,
      );
    case 'choose_method': {
      const options = v.choices.map(
        (k, i) => html`<div class="choice">
  <label class="check"><input type="radio" name="kind" value="${k}" ${i === 0 ? html`checked` : ''} required> <strong>${kindName(ctx, k)}</strong></label>
  <p class="hint">${t(`mfa.kind.${k}.hint` as MessageId)}</p>
  ${k === 'sms' || k === 'voice' ? html`<label for="phone-${k}">${t('mfa.phone')}</label><input id="phone-${k}" name="phone_${k}" type="tel" autocomplete="tel" maxlength="30" placeholder="+31 6 12345678">` : ''}
  ${k === 'email' ? html`<label for="alt-email">${t('mfa.email')}</label><input id="alt-email" name="email" type="email" autocomplete="email" maxlength="254">` : ''}
</div>`,
      );
      return layout(ctx, t('mfa.choose.title'), html`<p>${t('mfa.choose.intro')}</p>${form(ctx, `${b}/method`, html`<fieldset><legend>${t('mfa.choose.title')}</legend>${options}</fieldset><button type="submit" class="primary">${t('mfa.choose.submit')}</button>`)}`, v);
    }
    case 'verify_enrolment': {
      const p = v.prompt!;
      let body: Html;
      if (p.kind === 'totp') {
        body = html`<p>${t('mfa.totp.scan')}</p>
<img id="totp-qr" class="qr" src="${v.qrDataUrl ?? ''}" alt="${t('mfa.totp.qr')}" width="200" height="200">
<p>${t('mfa.totp.secret')}: <code id="totp-secret">${(p.secret ?? '').replace(/(.{4})/g, '$1 ').trim()}</code></p>
${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}`;
      } else if (p.kind === 'code') {
        body = html`<p id="code-sent">${t(p.channel === 'voice' ? 'mfa.code.sent.voice' : 'mfa.code.sent', { target: p.maskedTarget })}</p>
${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}
${form(ctx, `${b}/resend`, html`<button type="submit" class="link">${t('mfa.resend')}</button>`, 'inline')}`;
      } else {
        body = webauthnForm(ctx, `${b}/verify`, p.options, 'register');
      }
      return layout(ctx, t('mfa.verify.title'), html`${body}${form(ctx, `${b}/choose`, html`<button type="submit" class="link">${t('mfa.another')}</button>`, 'inline')}`, v);
    }
    case 'enrolled': {
      const last = v.methods[v.methods.length - 1];
      return layout(ctx, t('mfa.enrolled.title'), html`<p>${t('mfa.enrolled.body', { method: last ? kindName(ctx, last.kind).toLowerCase() : '' })}</p>${form(ctx, `${b}/next`, html`<button type="submit" class="primary" id="next">${t('mfa.next')}</button>`)}`, v);
    }
    case 'app_password': {
      const ap = v.appPassword!;
      return layout(
        ctx,
        t('ap.keep.title'),
        html`<p>${t('ap.keep.body')}</p>
${appPasswordBox(ctx, ap.password)}
<p>${t('ap.keep.apps')}</p>
<ul class="apps"><li>${t('ap.keep.app1')}</li><li>${t('ap.keep.app2')}</li><li>${t('ap.keep.app3')}</li><li>${t('ap.keep.app4')}</li></ul>
<p><a href="/help/app-passwords">${t('ap.help')}</a></p>
${form(ctx, `${b}/next`, html`<button type="submit" class="primary" id="done">${t('mfa.done')}</button>`)}`,
        v,
      );
    }
    case 'recovery_codes':
      return layout(ctx, t('mfa.rc.title'), html`<p>${t('mfa.rc.body')}</p>${recoveryList(v.recoveryCodes ?? [])}${form(ctx, `${b}/done`, html`<button type="submit" class="primary" id="done">${t('mfa.done')}</button>`)}`, v);
    case 'second_factor': {
      const p = v.prompt;
      const current = v.current;
      let body: Html;
      if (!current) body = html`<p>${t('mfa.second.recovery')}</p>${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error, 'off')}${remember(ctx, v)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}`;
      else if (p?.kind === 'code')
        body = html`<p id="code-sent">${t(p.channel === 'voice' ? 'mfa.code.sent.voice' : 'mfa.code.sent', { target: p.maskedTarget })}</p>
${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error)}${remember(ctx, v)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}
${form(ctx, `${b}/resend`, html`<button type="submit" class="link">${t('mfa.resend')}</button>`, 'inline')}`;
      else if (p?.kind === 'webauthn') body = html`<p>${t('mfa.second.webauthn')}</p>${webauthnForm(ctx, `${b}/verify`, p.options, 'authenticate')}`;
      else body = html`<p>${t('mfa.second.totp')}</p>${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error)}${remember(ctx, v)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}`;
      const others = v.methods.filter((m) => m.id !== current?.id);
      const otherWay = html`<details class="otherway"><summary>${t('mfa.otherway')}</summary><ul>
${others.map((m) => html`<li>${form(ctx, `${b}/switch`, html`<input type="hidden" name="method" value="${m.id}"><button type="submit" class="link">${kindName(ctx, m.kind)}: ${m.label}</button>`, 'inline')}</li>`)}
${current ? html`<li>${form(ctx, `${b}/switch`, html`<input type="hidden" name="method" value="recovery"><button type="submit" class="link">${t('mfa.kind.recovery')}</button>`, 'inline')}</li>` : ''}
</ul></details>`;
      return layout(ctx, t('mfa.second.title'), html`${body}${otherWay}`, v);
    }
    case 'new_password':
      if (v.resetEffects) return resetNewPasswordPage(ctx, { base: b, address: v.user.address, effects: v.resetEffects, notice: v.notice, error: v.error });
      return layout(ctx, t('page.error.title'), html`<p>${t('error.flow_step')}</p>`, v);
    default:
      return layout(ctx, t('page.error.title'), html`<p>${t('error.flow_step')}</p>`, v);
  }
}

function remember(ctx: PageContext, v: FlowView): Html | string {
  if (v.flow.kind !== 'sign_in' || v.policy.rememberDays <= 0) return '';
  return html`<label class="check"><input type="checkbox" name="remember" value="1"> ${ctx.t('mfa.remember', { days: v.policy.rememberDays })}</label>`;
}

function recoveryList(codes: string[]): Html {
  return html`<ol class="codes" id="recovery-codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>`;
}

/**
 * The WebAuthn step: options travel in a data attribute; /static/webauthn.js runs the ceremony and
 * submits. The button starts disabled and the script enables it: a click before the script is
 * ready would post an empty response, counted as a failed second factor.
 */
function webauthnForm(ctx: PageContext, action: string, options: unknown, mode: 'register' | 'authenticate'): Html {
  return html`<form method="post" action="${action}" class="card webauthn" data-mode="${mode}" data-options="${JSON.stringify(options)}">
<input type="hidden" name="_csrf" value="${ctx.csrf}">
<input type="hidden" name="credential" value="">
<noscript><p class="error">${ctx.t('mfa.webauthn.noscript')}</p></noscript>
<button type="submit" class="primary" id="webauthn-go" disabled>${ctx.t(mode === 'register' ? 'mfa.webauthn.register' : 'mfa.webauthn.start')}</button>
</form>
<script src="/static/vendor/simplewebauthn-browser.umd.min.js"></script>
<script src="/static/webauthn.js"></script>`;
}

export interface AppPasswordSection {
  list: AppPassword[];
  /** 'ok' | creation off by policy | the user's MFA is off. */
  status: 'ok' | 'off' | 'need_mfa';
  keepExistingWhenOff: boolean;
  created?: { name: string; password: string };
  formatTime: (ms: number) => string;
}

/** The app-password list and create form; `action` is where the forms post (Security info). */
export function appPasswordsSection(ctx: PageContext, ap: AppPasswordSection, fresh: boolean): Html {
  const { t } = ctx;
  const csrf = html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
  const used = (p: AppPassword) => (p.lastUsedAt ? `${ap.formatTime(p.lastUsedAt)} · ${p.lastUsedProtocol ?? ''} · ${p.lastUsedIp ?? ''}` : t('ap.never'));
  const rows = ap.list.map(
    (p) => html`<tr>
<td class="ap-name">${p.name}</td><td>${ap.formatTime(p.createdAt)}</td><td>${used(p)}</td><td>${p.expiresAt ? ap.formatTime(p.expiresAt) : t('ap.never')}</td><td>${p.protocols.join(', ')}</td>
<td><form method="post" action="/security-info/app-passwords/delete" class="inline">${csrf}<input type="hidden" name="id" value="${p.id}"><button type="submit">${t('ap.delete')}</button></form></td>
</tr>`,
  );
  return html`<section id="app-passwords" aria-labelledby="ap-title">
<h2 id="ap-title">${t('ap.title')}</h2>
<p>${t('ap.intro')} <a href="/help/app-passwords">${t('ap.help')}</a></p>
${ap.created ? html`<p class="notice" role="status">${t('ap.created', { name: ap.created.name })}</p>${appPasswordBox(ctx, ap.created.password)}` : ''}
${ap.status === 'off' ? html`<p class="notice">${t('ap.off')} ${t(ap.keepExistingWhenOff ? 'ap.off.kept' : 'ap.off.suspended')}</p>` : ''}
${ap.status === 'need_mfa' ? html`<p class="notice">${t('ap.need_mfa')}</p>` : ''}
${ap.status === 'ok'
  ? fresh
    ? html`<form method="post" action="/security-info/app-passwords" class="card">${csrf}
<label for="ap-name">${t('ap.name')}</label>
<input id="ap-name" name="name" type="text" required maxlength="100" aria-describedby="ap-name-hint">
<p class="hint" id="ap-name-hint">${t('ap.name.hint')}</p>
<button type="submit" class="primary">${t('ap.create')}</button></form>`
    : html`<form method="post" action="/security-info/confirm" class="inline">${csrf}<button type="submit">${t('si.confirm')}</button></form>`
  : ''}
${ap.list.length
  ? html`<table id="app-password-list"><thead><tr><th scope="col">${t('ap.col.name')}</th><th scope="col">${t('ap.col.created')}</th><th scope="col">${t('ap.col.used')}</th><th scope="col">${t('ap.col.expires')}</th><th scope="col">${t('ap.col.protocols')}</th><th scope="col"><span class="visually-hidden">${t('users.col.actions')}</span></th></tr></thead><tbody>${rows}</tbody></table>
<form method="post" action="/security-info/app-passwords/delete-all" class="inline">${csrf}<button type="submit">${t('ap.delete_all')}</button></form>`
  : html`<p>${t('ap.none')}</p>`}
</section>`;
}

export function securityInfoPage(
  ctx: PageContext,
  v: { methods: MfaMethod[]; defaultMethodId: string | null; recoveryCodesLeft: number; fresh: boolean; newCodes?: string[]; appPasswords: AppPasswordSection } & Notice,
): Html {
  const { t } = ctx;
  const rows = v.methods.map(
    (m) => html`<tr>
<td>${kindName(ctx, m.kind)}</td><td>${m.label}</td><td>${m.id === v.defaultMethodId ? t('si.default') : v.fresh ? form(ctx, '/security-info/default', html`<input type="hidden" name="method" value="${m.id}"><button type="submit">${t('si.make_default')}</button>`, 'inline') : ''}</td>
<td>${v.fresh ? form(ctx, '/security-info/delete', html`<input type="hidden" name="method" value="${m.id}"><button type="submit">${t('si.delete')}</button>`, 'inline') : ''}</td>
</tr>`,
  );
  return layout(
    ctx,
    t('si.title'),
    html`<p>${t('si.intro')}</p>
${v.methods.length ? html`<table id="methods"><tbody>${rows}</tbody></table>` : html`<p>${t('si.none')}</p>`}
${v.fresh
  ? html`${form(ctx, '/security-info/add', html`<button type="submit" class="primary">${t('si.add')}</button>`, 'inline')}
<h2>${t('si.rc')}</h2>
${v.newCodes ? html`<p class="notice">${t('si.rc.shown')}</p>${recoveryList(v.newCodes)}` : html`<p>${t('si.rc.left', { count: v.recoveryCodesLeft })}</p>`}
${form(ctx, '/security-info/recovery-codes', html`<button type="submit">${t('si.rc.new')}</button>`, 'inline')}`
  : html`<p>${t('si.fresh')}</p>${form(ctx, '/security-info/confirm', html`<button type="submit" class="primary">${t('si.confirm')}</button>`, 'inline')}`}
${appPasswordsSection(ctx, v.appPasswords, v.fresh)}`,
    v,
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
<p><a href="/security-info#app-passwords">${t('ap.title')}</a></p>`,
  );
}

export function adminAppPasswordsPage(ctx: PageContext, v: { address: string; list: AppPassword[]; formatTime: (ms: number) => string } & Notice): Html {
  const { t } = ctx;
  const rows = v.list.map(
    (p) => html`<tr><td class="ap-name">${p.name}</td><td>${v.formatTime(p.createdAt)}</td><td>${p.lastUsedAt ? `${v.formatTime(p.lastUsedAt)} · ${p.lastUsedProtocol ?? ''} · ${p.lastUsedIp ?? ''}` : t('ap.never')}</td><td>${p.expiresAt ? v.formatTime(p.expiresAt) : t('ap.never')}</td><td>${p.protocols.join(', ')}</td></tr>`,
  );
  return layout(
    ctx,
    t('ap.admin.title', { address: v.address }),
    html`${v.list.length
      ? html`<table id="app-password-list"><thead><tr><th scope="col">${t('ap.col.name')}</th><th scope="col">${t('ap.col.created')}</th><th scope="col">${t('ap.col.used')}</th><th scope="col">${t('ap.col.expires')}</th><th scope="col">${t('ap.col.protocols')}</th></tr></thead><tbody>${rows}</tbody></table>`
      : html`<p>${t('ap.none')}</p>`}
${form(ctx, '/admin/users/app-passwords/revoke-all', html`<input type="hidden" name="address" value="${v.address}"><button type="submit">${t('ap.admin.revoke_all')}</button>`, 'inline')}
<p><a href="/admin/users">${t('nav.users')}</a></p>`,
    v,
  );
}

/**
 * A new app password, shown once: selectable text (works without scripts) and a Copy button that
 * /static/copy.js reveals and wires to the Clipboard API, copying exactly the text shown.
 */
export function appPasswordBox(ctx: PageContext, password: string): Html {
  return html`<div class="app-password">
<code id="app-password" class="secret">${password}</code>
<button type="button" class="copy" data-copy="app-password" data-copied="${ctx.t('ap.copied')}" hidden>${ctx.t('ap.copy')}</button>
<span class="copied" role="status" aria-live="polite"></span>
</div>
<script src="/static/copy.js"></script>`;
}
