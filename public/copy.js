// Copy buttons for one-time secrets (app passwords). Without scripts the button stays hidden and
// the text stays selectable; with them, Copy puts exactly the text shown on the clipboard.
(function () {
  for (const button of document.querySelectorAll('button.copy[data-copy]')) {
    const source = document.getElementById(button.getAttribute('data-copy'));
    const status = button.parentElement && button.parentElement.querySelector('.copied');
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        if (status) status.textContent = button.getAttribute('data-copied') || '';
      } catch (e) {
        // Clipboard refused (permissions): select the text so the user can copy it by hand.
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
    });
  }
})();
