/** The sign-in page. The steps after the password (second factor, registration) are flow-pages.ts. */
import { html, type Html } from '../../web/html.js';
import { describedBy, layout, type Notice, type PageContext } from '../../web/layout.js';

export function signInPage(ctx: PageContext, v: { email?: string; next?: string } & Notice): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('signin.title'),
    html`<p>${t('signin.intro')}</p>
<form method="post" action="/signin" class="card">
  <input type="hidden" name="_csrf" value="${ctx.csrf}">
  ${v.next ? html`<input type="hidden" name="next" value="${v.next}">` : ''}
  <label for="email">${t('signin.email')}</label>
  <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${v.email ?? ''}" ${describedBy(v.error)} autofocus>
  <label for="password">${t('signin.password')}</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" ${describedBy(v.error)}>
  <button type="submit" class="primary">${t('signin.submit')}</button>
</form>
<p><a href="/forgot-password" id="forgot-password">${t('signin.forgot')}</a></p>`,
    v,
  );
}
