// Twofold's forms are sent once. A form sent again before the answer to
// its first sending has come (a double click on "Continue") makes the
// browser give up the first request and drop its answer, while the server
// has done what it asked: the new session cookie of a confirmation, an API
// key shown once, a setup that went on are lost. So, once a form that
// posts is sent, further sendings of it are ignored for as long as the
// page is shown. The button pressed is not disabled, since a disabled
// button's name and value would not be sent: the form is only marked
// (data-sent). A sending another script holds back (webauthn.js asks the
// security key first, then sends the form itself) does not count, nor does
// one whose answer does not replace the page: a form with a target other
// than the page itself (printing in a new tab) or marked data-resend (a
// download). Without JavaScript every form works as before, and the server
// answers a confirmation sent twice as README "How two-factor behaves" says.
(function () {
  "use strict";

  var SENT = "data-sent";

  function attr(el, name) {
    return (el && el.getAttribute(name)) || "";
  }

  // once reports whether sending form with submitter replaces the page
  // with the answer of a POST, the sendings this script keeps to one.
  function once(form, submitter) {
    var method = (attr(submitter, "formmethod") || attr(form, "method") || "get").toLowerCase();
    var target = attr(submitter, "formtarget") || attr(form, "target");
    return method === "post" && (target === "" || target === "_self") && !form.hasAttribute("data-resend");
  }

  // Listening on the document, this runs after the form's own listeners
  // (webauthn.js), so that it sees whether they held the sending back.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form || form.nodeName !== "FORM") return;
    if (form.hasAttribute(SENT)) {
      ev.preventDefault();
      return;
    }
    if (ev.defaultPrevented || !once(form, ev.submitter || null)) return;
    form.setAttribute(SENT, "");
    form.setAttribute("aria-busy", "true");
  });

  // A page shown again from the browser's back-forward cache is as it was
  // left: its forms may be sent again.
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) return;
    var sent = document.querySelectorAll("form[" + SENT + "]");
    for (var i = 0; i < sent.length; i++) {
      sent[i].removeAttribute(SENT);
      sent[i].removeAttribute("aria-busy");
    }
  });
})();
