/**
 * Pages of the MFA flows: one renderer per flow state, the same for the sign-in flow, a signed-in
 * user's flows (add a method, confirm it is them) and a password reset's second factor and new
 * password; only the form actions' base path differs.
 */
import type { FlowView } from '../../domain/flows/sign-in-flow.js';
import type { MethodKind } from '../../domain/mfa/model.js';
import type { MessageId } from '../../i18n/en.js';
import type { PasswordChangeEffects } from '../../domain/self-service/self-service.js';
import {
  appPasswordBox,
  COPY_SCRIPT,
  copyButton,
  csrfField,
  methodKindName as kindName,
  methodName,
  newPasswordFields,
  passwordEffectsList,
  postForm as form,
  recoveryList,
} from '../../web/components.js';
import { profileOfferSection, type ProfileOfferView } from '../../web/device-profile.js';
import { html, type Html } from '../../web/html.js';
import { describedBy, layout, type Notice, type PageContext } from '../../web/layout.js';

/**
 * The code field; `error` is the page's error (a wrong or expired code), which the field then points
 * at. A one-time code gets the phone's number pad and the code the phone read from a text message;
 * a recovery code (letters and digits) the full keyboard, never capitalised or corrected.
 */
function codeField(ctx: PageContext, error: string | undefined, kind: 'one-time' | 'recovery' = 'one-time'): Html {
  const keyboard =
    kind === 'recovery'
      ? html`inputmode="text" autocomplete="off" autocapitalize="none" spellcheck="false"`
      : html`inputmode="numeric" autocomplete="one-time-code"`;
  return html`<label for="code">${ctx.t('mfa.code')}</label>
<input id="code" name="code" type="text" ${keyboard} required maxlength="24" ${describedBy(error)} autofocus>`;
}

/**
 * What was typed into the number or address field of a refused post: shown again, with the reason
 * beside the field (`error`) when the reason is about what was typed.
 */
export interface TypedContact {
  value: string;
  error?: string;
}

type FlowPageView = FlowView & {
  qrDataUrl?: string;
  /** The new app password's configuration profile link (#18, item 2), when one would hold anything. */
  profile?: ProfileOfferView;
  base: string;
  resetEffects?: PasswordChangeEffects;
  contact?: TypedContact;
} & Notice;

/**
 * The number or address of the chosen method, with its hint, and after a refusal what was typed and
 * the reason right above the field, which points at both (the GOV.UK error pattern: label, hint,
 * message, field; the page's error summary stays at the top).
 */
function contactField(ctx: PageContext, v: FlowPageView, kind: MethodKind): Html {
  const { t } = ctx;
  const typed = v.contact?.value ?? '';
  const fieldError = v.contact?.error;
  const errorId = 'contact-error';
  const message = fieldError
    ? html`<p class="field-error" id="${errorId}"><span class="visually-hidden">${t('form.error.prefix')}</span> ${fieldError}</p>`
    : '';
  const described = (hintId?: string) =>
    html`aria-describedby="${[...(fieldError ? [errorId] : []), ...(hintId ? [hintId] : [])].join(' ')}"${fieldError ? html` aria-invalid="true"` : ''}`;
  if (kind === 'email')
    return html`<label for="alt-email">${t('mfa.email')}</label>
<p class="hint" id="alt-email-hint">${t('mfa.email.hint')}</p>
${message}<input id="alt-email" name="email" type="email" autocomplete="email" maxlength="254" required value="${typed}" ${described('alt-email-hint')} autofocus>`;
  const example = v.phoneExample ?? '';
  return html`<label for="phone">${t(kind === 'voice' ? 'mfa.phone.any' : 'mfa.phone.mobile')}</label>
<p class="hint" id="phone-hint">${t(v.policy.defaultCountry ? 'mfa.phone.hint' : 'mfa.phone.hint.international', { example })}</p>
${message}<input id="phone" name="phone" type="tel" autocomplete="tel" maxlength="30" required value="${typed}" ${described('phone-hint')} autofocus>`;
}

/** Renders the flow's current state. `base` is where its forms post (e.g. /signin/mfa). */
export function flowPage(ctx: PageContext, v: FlowPageView): Html {
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
      // The method alone (#17, task A1); its number or address follows on a page of its own. The
      // legend says what to do, which the title ("How should we contact you?") does not.
      const preselected =
        v.flow.data.chosen && v.choices.includes(v.flow.data.chosen) ? v.flow.data.chosen : v.choices[0];
      const options = v.choices.map(
        (k) => html`<div class="choice">
  <label class="check"><input type="radio" name="kind" value="${k}" ${k === preselected ? html`checked` : ''} required aria-describedby="kind-${k}-hint"> <strong>${kindName(ctx, k)}</strong></label>
  <p class="hint" id="kind-${k}-hint">${t(`mfa.kind.${k}.hint` as MessageId)}</p>
</div>`,
      );
      return layout(
        ctx,
        t('mfa.choose.title'),
        form(
          ctx,
          `${b}/pick`,
          html`<fieldset class="plain"><legend>${t('mfa.choose.intro')}</legend>${options}</fieldset><button type="submit" class="primary">${t('mfa.choose.submit')}</button>`,
        ),
        v,
      );
    }
    case 'contact_details': {
      const kind = v.flow.data.chosen ?? 'sms';
      return layout(
        ctx,
        kindName(ctx, kind),
        html`<p>${t(`mfa.kind.${kind}.hint` as MessageId)}</p>
${form(ctx, `${b}/method`, html`<input type="hidden" name="kind" value="${kind}">${contactField(ctx, v, kind)}<button type="submit" class="primary">${t('mfa.choose.submit')}</button>`)}
${form(ctx, `${b}/choose`, html`<button type="submit" class="link">${t('mfa.another')}</button>`, 'inline')}`,
        v,
      );
    }
    case 'verify_enrolment': {
      const p = v.prompt!;
      let body: Html;
      if (p.kind === 'totp') {
        body = html`<p>${t('mfa.totp.scan')}</p>
<img id="totp-qr" class="qr" src="${v.qrDataUrl ?? ''}" alt="${t('mfa.totp.qr')}" width="200" height="200">
<div class="totp-key"><p>${t('mfa.totp.secret')}: <code id="totp-secret">${(p.secret ?? '').replace(/(.{4})/g, '$1 ').trim()}</code></p>
${copyButton(ctx, 'totp-secret', true)}
<span class="copied" role="status" aria-live="polite"></span></div>
${p.uri ? html`<p><a id="totp-link" href="${p.uri}">${t('mfa.totp.open')}</a></p>` : ''}
${COPY_SCRIPT}
${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}`;
      } else if (p.kind === 'code') {
        body = html`<p id="code-sent">${t(p.channel === 'voice' ? 'mfa.code.sent.voice' : 'mfa.code.sent', { target: p.maskedTarget })}</p>
${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}
${form(ctx, `${b}/resend`, html`<button type="submit" class="link">${t('mfa.resend')}</button>`, 'inline')}`;
      } else {
        body = webauthnForm(ctx, `${b}/verify`, p.options, 'register');
      }
      return layout(
        ctx,
        t('mfa.verify.title'),
        html`${body}${form(ctx, `${b}/choose`, html`<button type="submit" class="link">${t('mfa.another')}</button>`, 'inline')}`,
        v,
      );
    }
    case 'enrolled': {
      const last = v.methods[v.methods.length - 1];
      return layout(
        ctx,
        t('mfa.enrolled.title'),
        html`<p>${t('mfa.enrolled.body', { method: last ? kindName(ctx, last.kind).toLowerCase() : '' })}</p>${form(ctx, `${b}/next`, html`<button type="submit" class="primary" id="next">${t('mfa.next')}</button>`)}`,
        v,
      );
    }
    case 'app_password': {
      // Next, not Done: the recovery codes follow, and their page's Done is the one that ends (#17, task E).
      const ap = v.appPassword!;
      return layout(
        ctx,
        t('ap.keep.title'),
        html`<p>${t('ap.keep.body')}</p>
${appPasswordBox(ctx, ap.password, true)}
${v.profile ? profileOfferSection(ctx, v.profile) : ''}
<p>${t('ap.keep.apps')}</p>
<ul class="apps"><li>${t('ap.keep.app1')}</li><li>${t('ap.keep.app2')}</li><li>${t('ap.keep.app3')}</li><li>${t('ap.keep.app4')}</li></ul>
<p><a href="/help/app-passwords">${t('ap.help')}</a></p>
<p><a href="/help/apps" id="help-apps-link">${t('help.apps.link')}</a></p>
${form(ctx, `${b}/next`, html`<button type="submit" class="primary" id="next">${t('mfa.next')}</button>`)}`,
        v,
      );
    }
    case 'recovery_codes':
      return layout(
        ctx,
        t('mfa.rc.title'),
        html`<p>${t('mfa.rc.body')}</p>${recoveryList(ctx, v.recoveryCodes ?? [])}${form(ctx, `${b}/done`, html`<button type="submit" class="primary" id="done">${t('mfa.done')}</button>`)}`,
        v,
      );
    case 'second_factor': {
      const p = v.prompt;
      const current = v.current;
      let body: Html;
      if (!current)
        body = html`<p>${t('mfa.second.recovery')}</p>${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error, 'recovery')}${remember(ctx, v)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}`;
      else if (p?.kind === 'code')
        body = html`<p id="code-sent">${t(p.channel === 'voice' ? 'mfa.code.sent.voice' : 'mfa.code.sent', { target: p.maskedTarget })}</p>
${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error)}${remember(ctx, v)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}
${form(ctx, `${b}/resend`, html`<button type="submit" class="link">${t('mfa.resend')}</button>`, 'inline')}`;
      else if (p?.kind === 'webauthn')
        body = html`<p>${t('mfa.second.webauthn')}</p>${webauthnForm(ctx, `${b}/verify`, p.options, 'authenticate')}`;
      else
        body = html`<p>${t('mfa.second.totp')}</p>${form(ctx, `${b}/verify`, html`${codeField(ctx, v.error)}${remember(ctx, v)}<button type="submit" class="primary">${t('mfa.verify.submit')}</button>`)}`;
      const others = v.methods.filter((m) => m.id !== current?.id);
      const otherWay = html`<details class="otherway"><summary>${t('mfa.otherway')}</summary><ul>
${others.map((m) => html`<li>${form(ctx, `${b}/switch`, html`<input type="hidden" name="method" value="${m.id}"><button type="submit" class="link">${methodName(ctx, m)}</button>`, 'inline')}</li>`)}
${current ? html`<li>${form(ctx, `${b}/switch`, html`<input type="hidden" name="method" value="recovery"><button type="submit" class="link">${t('mfa.kind.recovery')}</button>`, 'inline')}</li>` : ''}
</ul></details>`;
      return layout(ctx, t('mfa.second.title'), html`${body}${otherWay}`, v);
    }
    case 'new_password':
      if (v.resetEffects)
        return resetNewPasswordPage(ctx, {
          base: b,
          address: v.user.address,
          effects: v.resetEffects,
          notice: v.notice,
          error: v.error,
        });
      return layout(ctx, t('page.error.title'), html`<p>${t('error.flow_step')}</p>`, v);
    default:
      return layout(ctx, t('page.error.title'), html`<p>${t('error.flow_step')}</p>`, v);
  }
}

function remember(ctx: PageContext, v: FlowView): Html | string {
  if (v.flow.kind !== 'sign_in' || v.policy.rememberDays <= 0) return '';
  return html`<label class="check"><input type="checkbox" name="remember" value="1"> ${ctx.t('mfa.remember', { days: v.policy.rememberDays })}</label>`;
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

/** The new-password step of a reset flow; its form posts to `${base}/password`. */
export function resetNewPasswordPage(
  ctx: PageContext,
  v: { base: string; address: string; effects: PasswordChangeEffects } & Notice,
): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('reset.title'),
    html`<p>${t('reset.new', { address: v.address })}</p>
${passwordEffectsList(ctx, v.effects, false)}
<form method="post" action="${v.base}/password" class="card">
  ${csrfField(ctx)}
  ${newPasswordFields(ctx, v.address, v.error)}
  <button type="submit" class="primary">${t('setpw.submit')}</button>
</form>`,
    v,
  );
}
