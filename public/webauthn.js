/*
 * Security keys and passkeys: runs the WebAuthn ceremony for a <form class="webauthn"> rendered by
 * webauthnForm (src/delivery/web/mfa-pages.ts) and posts the result. The server's options travel in
 * data-options; data-mode is "register" or "authenticate". The authenticator's answer goes, as
 * JSON, into the hidden `credential` field and the form is submitted for real (the server verifies
 * everything). A plain file, no inline script: the CSP is script-src 'self'. Needs the UMD bundle
 * of @simplewebauthn/browser (global SimpleWebAuthnBrowser), loaded before this file.
 */
(function () {
  'use strict';

  function showError(form, text) {
    var p = form.querySelector('p.error[data-webauthn]');
    if (!p) {
      p = document.createElement('p');
      p.className = 'error';
      p.setAttribute('role', 'alert');
      p.setAttribute('data-webauthn', '');
      form.insertBefore(p, form.querySelector('button[type="submit"]'));
    }
    p.textContent = text;
  }

  function clearError(form) {
    var p = form.querySelector('p.error[data-webauthn]');
    if (p) p.remove();
  }

  function run(form) {
    var lib = window.SimpleWebAuthnBrowser;
    if (!lib) return Promise.reject(new Error('The security key library did not load. Reload the page.'));
    if (!lib.browserSupportsWebAuthn()) return Promise.reject(new Error('This browser does not support security keys or passkeys.'));
    var optionsJSON = JSON.parse(form.getAttribute('data-options') || 'null');
    if (!optionsJSON) return Promise.reject(new Error('No security key options on this page. Reload the page.'));
    return form.getAttribute('data-mode') === 'register'
      ? lib.startRegistration({ optionsJSON: optionsJSON })
      : lib.startAuthentication({ optionsJSON: optionsJSON });
  }

  function attach(form) {
    var busy = false;
    // Rendered disabled, so that nothing is posted before this script is ready.
    var ready = form.querySelector('button[type="submit"]');
    if (ready) ready.disabled = false;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (busy) return;
      busy = true;
      var button = form.querySelector('button[type="submit"]');
      if (button) button.disabled = true;
      clearError(form);
      run(form)
        .then(function (result) {
          form.elements.namedItem('credential').value = JSON.stringify(result);
          // form.submit() does not fire 'submit' again.
          form.submit();
        })
        .catch(function (err) {
          busy = false;
          if (button) button.disabled = false;
          showError(form, err && err.message ? err.message : String(err));
        });
    });
  }

  function init() {
    var forms = document.querySelectorAll('form.webauthn');
    for (var i = 0; i < forms.length; i++) attach(forms[i]);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
