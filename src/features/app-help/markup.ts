/** Markup the help pages share: values in <code>, messages with values in them, the sign-in notice. */
import type { MessageId } from '../../i18n/en.js';
import { Html, escapeHtml, html } from '../../web/html.js';
import type { PageContext } from '../../web/layout.js';

/**
 * A message with HTML in its placeholders (values in <code>): the message is escaped, then the
 * placeholders replaced, so a translation can move them without the values losing their markup.
 */
export function tHtml(ctx: PageContext, id: MessageId, params: Record<string, Html | string>): Html {
  const marks: Record<string, string> = {};
  for (const k of Object.keys(params)) marks[k] = `\u0001${k}\u0002`;
  let out = escapeHtml(ctx.t(id, marks));
  for (const [k, v] of Object.entries(params))
    out = out.replaceAll(marks[k]!, v instanceof Html ? v.value : escapeHtml(v));
  return new Html(out);
}

export const code = (v: string | number) => html`<code>${String(v)}</code>`;

/** "Sign in to see your values", back to this page afterwards. */
export const signInNotice = (ctx: PageContext) =>
  html`<p id="sign-in-to-see">${ctx.t('help.apps.signed_out')} <a href="/signin?next=${encodeURIComponent(ctx.path)}">${ctx.t('help.apps.sign_in')}</a></p>`;
