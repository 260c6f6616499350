/**
 * Pieces of pages that several features show: forms with their CSRF field, the names of MFA
 * methods, recovery codes, a new app password with Copy, the fields of a new password, and the
 * rows of the sign-in log.
 */
import type { SignInEvent } from '../domain/audit/events.js';
import type { PasswordChangeEffects } from '../domain/self-service/self-service.js';
import type { MethodKind } from '../domain/mfa/model.js';
import type { MessageId } from '../i18n/en.js';
import { html, type Html } from './html.js';
import { describedBy, type PageContext } from './layout.js';

/** The hidden CSRF field every form carries. */
export const csrfField = (ctx: PageContext) => html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;

/** A method's name in the reader's language. */
export const methodKindName = (ctx: PageContext, kind: MethodKind | 'recovery') =>
  ctx.t(`mfa.kind.${kind}` as MessageId);

/** A POST form with its CSRF field. */
export function postForm(ctx: PageContext, action: string, body: Html | string, cls = 'card'): Html {
  return html`<form method="post" action="${action}" class="${cls}">${csrfField(ctx)}${body}</form>`;
}

/** Recovery codes, shown once. */
export function recoveryList(codes: string[]): Html {
  return html`<ol class="codes" id="recovery-codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>`;
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
  formatTime: (ms: number) => string;
}

/** What a sign-in row says in its Protocol column: the protocol, and the app password used (its name while it exists). */
export function signInProtocol(ctx: PageContext, e: SignInEvent): Html {
  const { t } = ctx;
  return html`${e.protocol}${e.appPasswordName ? html`<br><span class="ap-name">${e.appPasswordName}</span>` : e.appPasswordId ? html`<br><span class="ap-name">(${t('signins.deleted_ap')})</span>` : ''}`;
}
