// Copy, Print and the like for what a page shows once (app passwords, recovery codes, an
// authenticator key). Without scripts the buttons stay hidden and the text stays selectable; with
// them, Copy puts exactly the text shown on the clipboard: through the Clipboard API where the page
// is a secure context, else (plain HTTP on a host name, where browsers withhold that API) through a
// selected, off-screen text area and the older copy command, which still works from a click.
(function () {
  function textOf(source, compact) {
    // A list copies one entry per line; a key shown in groups of four copies without the spaces.
    const items = source.querySelectorAll('li');
    const text = items.length ? Array.from(items, (li) => li.textContent.trim()).join('\n') : source.textContent.trim();
    return compact ? text.replace(/\s+/g, '') : text;
  }
  function copyByHand(text) {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch (e) {
      ok = false;
    }
    area.remove();
    return ok;
  }
  function selectForHand(source) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  function wire() {
    // Each component that shows a secret includes this script; the page's buttons are wired once, when
    // the whole page is there.
    for (const button of document.querySelectorAll('button.copy[data-copy]:not([data-wired])')) {
      button.setAttribute('data-wired', '');
      const source = document.getElementById(button.getAttribute('data-copy'));
      const status = button.parentElement && button.parentElement.querySelector('.copied');
      if (!source) continue;
      button.hidden = false;
      button.addEventListener('click', async () => {
        const text = textOf(source, button.hasAttribute('data-compact'));
        let ok = false;
        if (navigator.clipboard && window.isSecureContext) {
          try {
            await navigator.clipboard.writeText(text);
            ok = true;
          } catch (e) {
            ok = copyByHand(text);
          }
        } else ok = copyByHand(text);
        if (ok && status) status.textContent = button.getAttribute('data-copied') || '';
        // Refused both ways: select the text so the user can copy it by hand.
        if (!ok) selectForHand(source);
      });
    }
    for (const button of document.querySelectorAll('button.print:not([data-wired])')) {
      button.setAttribute('data-wired', '');
      button.hidden = false;
      button.addEventListener('click', () => window.print());
    }
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', wire);
  else wire();
})();
