// Passkeys (WebAuthn) for any page: register one on an account page, log in with one on a
// login page. No inline script: the buttons carry where to ask (data-options, data-verify) and
// the form token (data-csrf); a browser without passkeys keeps the buttons hidden.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
    return;
  }

  async function post(url, csrf, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error("refused: " + response.status);
    }
    return response.json();
  }

  function show(id) {
    const element = document.getElementById(id);
    if (element) {
      element.hidden = false;
    }
  }

  function hide(id) {
    const element = document.getElementById(id);
    if (element) {
      element.hidden = true;
    }
  }

  async function register(button) {
    hide("passkey-error");
    hide("passkey-added");
    const options = await post(button.dataset.options, button.dataset.csrf);
    const credential = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
    });
    await post(button.dataset.verify, button.dataset.csrf, credential.toJSON());
    show("passkey-added");
  }

  async function logIn(button) {
    hide("passkey-error");
    const options = await post(button.dataset.options, button.dataset.csrf);
    const credential = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
    });
    const answer = await post(button.dataset.verify, button.dataset.csrf, credential.toJSON());
    window.location.assign(answer.next);
  }

  function wire(id, action) {
    const button = document.getElementById(id);
    if (!button) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      action(button)
        .catch(function () {
          show("passkey-error");
        })
        .finally(function () {
          button.disabled = false;
        });
    });
  }

  wire("passkey-register", register);
  wire("passkey-login", logIn);
})();
