// Twofold's security keys (WebAuthn). A form holding a hidden input with
// data-webauthn-create or data-webauthn-get (the options the server made,
// {"publicKey":{...}} with base64url binary members) asks the browser for
// a credential when it is sent: the JSON of the credential goes into the
// input and the form is sent as usual, with its CSRF token. An input with
// data-webauthn-from instead (the second step of a sign-in, the "confirm
// it's you" fields) has no options in the page: showing a page begins no
// ceremony, since beginning one replaces the login's or the session's one
// in progress. When its form is sent, the
// script first POSTs the form's CSRF token to that address (same origin)
// and uses the options it answers; an error it answers ({"error": "..."})
// is shown in the form. The login page's "Sign in with a passkey" is such
// a form: its options come from /login/passkey/options, which begins the
// sign-in. A button marked data-webauthn-show, hidden in the page, is
// shown once the form can ask for a key. An input marked
// data-webauthn-unknown (a passkey the login page refused as not registered
// here) tells the browser to forget that credential. Nothing else on the
// pages needs JavaScript.
(function () {
  "use strict";

  function toBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: toBytes(c.id) };
      if (c.transports) d.transports = c.transports;
      return d;
    });
  }

  function publicKey(options, create) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = toBytes(pk.challenge);
    if (create) {
      pk.user = Object.assign({}, pk.user, { id: toBytes(pk.user.id) });
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
    } else {
      pk.allowCredentials = descriptors(pk.allowCredentials);
    }
    return pk;
  }

  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") return cred.toJSON();
    var r = cred.response, out = {
      id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) out.response.userHandle = toB64(r.userHandle);
    }
    return out;
  }

  function showError(form, text) {
    var p = form.querySelector(".webauthn-error");
    if (!p) {
      p = document.createElement("p");
      p.className = "flash err webauthn-error";
      p.setAttribute("role", "alert");
      form.insertBefore(p, form.firstChild);
    }
    p.textContent = text;
  }

  // fetchOptions POSTs the CSRF token of form to url and resolves to the
  // options it answers; a refusal rejects with an error marked fromServer,
  // whose message is the server's, or a general one when it gave none.
  function fetchOptions(form, url) {
    var csrf = form.elements.namedItem("csrf");
    var body = new URLSearchParams();
    body.set("csrf", csrf && csrf.value ? csrf.value : "");
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin", redirect: "error",
      headers: { Accept: "application/json" }
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (res.ok && data && data.publicKey) return data;
        var e = new Error(data && data.error ? data.error
          : "Your security key could not be asked. Reload the page and try again, or use another way.");
        e.fromServer = true;
        throw e;
      });
    }, function () {
      var e = new Error("Your security key could not be asked: the server did not answer. Try again, or use another way.");
      e.fromServer = true;
      throw e;
    });
  }

  function attach(input) {
    var create = input.hasAttribute("data-webauthn-create");
    var raw = input.getAttribute(create ? "data-webauthn-create" : "data-webauthn-get");
    var from = create ? null : input.getAttribute("data-webauthn-from");
    var form = input.form;
    if (!form || !(raw || from)) return;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(form, "This browser cannot use security keys or passkeys. Use another way.");
      return;
    }
    // A button the page hides as it needs this script (data-webauthn-show).
    var hidden = form.querySelectorAll("[data-webauthn-show]");
    for (var i = 0; i < hidden.length; i++) hidden[i].hidden = false;
    var busy = false;
    form.addEventListener("submit", function (ev) {
      if (input.value) return; // the credential is in: send the form
      ev.preventDefault();
      if (busy) return;
      busy = true;
      var submitter = ev.submitter || null;
      var options = from ? fetchOptions(form, from) : Promise.resolve(JSON.parse(raw));
      options.then(function (options) {
        return create
          ? navigator.credentials.create({ publicKey: publicKey(options, true) })
          : navigator.credentials.get({ publicKey: publicKey(options, false) });
      }).then(function (cred) {
        input.value = JSON.stringify(credentialJSON(cred));
        if (form.requestSubmit) form.requestSubmit(submitter); else form.submit();
      }).catch(function (err) {
        busy = false;
        if (err && err.fromServer) {
          showError(form, err.message);
          return;
        }
        // InvalidStateError: the authenticator holds one of the account's
        // keys (excludeCredentials); the same one again cannot help.
        showError(form, err && err.name === "InvalidStateError"
          ? "This security key is registered already to your account. Register another one, or cancel the setup."
          : "The security key did not answer, or the request was cancelled. Try again, or use another way.");
      });
    });
  }

  // forget tells the browser that the passkey a sign-in just offered is
  // not registered here (data-webauthn-unknown, its credential id, with
  // data-webauthn-rp-id), so that the device can remove it: WebAuthn's
  // PublicKeyCredential.signalUnknownCredential, where the browser has it.
  // Without it, or when it fails, the page's words are all there is.
  function forget(input) {
    var id = input.getAttribute("data-webauthn-unknown"), rpId = input.getAttribute("data-webauthn-rp-id");
    if (!id || !rpId || !window.PublicKeyCredential ||
        typeof PublicKeyCredential.signalUnknownCredential !== "function") return;
    try {
      PublicKeyCredential.signalUnknownCredential({ rpId: rpId, credentialId: id }).catch(function () {});
    } catch (e) { /* an older form of the call: nothing to do */ }
  }

  function init() {
    var inputs = document.querySelectorAll("input[data-webauthn-create], input[data-webauthn-get]");
    for (var i = 0; i < inputs.length; i++) attach(inputs[i]);
    var unknown = document.querySelectorAll("input[data-webauthn-unknown]");
    for (var j = 0; j < unknown.length; j++) forget(unknown[j]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
