// Warn before the server signs an idle session out, and let the person stay signed in.
// Reads <body data-idle-seconds data-warning-seconds data-session-ping-url data-login-url>;
// the server (accounts.middleware.SessionSecurityMiddleware) is the one that enforces the limit.
(function () {
  "use strict";

  var body = document.body;
  var idleSeconds = parseInt(body.dataset.idleSeconds || "", 10);
  var warningSeconds = parseInt(body.dataset.warningSeconds || "120", 10);
  var pingUrl = body.dataset.sessionPingUrl;
  var loginUrl = body.dataset.loginUrl || "/accounts/login/";
  if (!idleSeconds || !pingUrl) {
    return;
  }

  var warnTimer = null;
  var expireTimer = null;
  var countdownTimer = null;
  var deadline = 0;
  var dialog = null;
  var countdown = null;

  function csrfToken() {
    try {
      return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function buildDialog() {
    dialog = document.createElement("dialog");
    dialog.className = "session-timeout";
    dialog.setAttribute("aria-labelledby", "session-timeout-title");
    dialog.setAttribute("aria-describedby", "session-timeout-text");

    var title = document.createElement("h2");
    title.id = "session-timeout-title";
    title.textContent = "Are you still there?";

    var text = document.createElement("p");
    text.id = "session-timeout-text";
    text.appendChild(document.createTextNode("For your privacy you will be signed out in "));
    countdown = document.createElement("strong");
    text.appendChild(countdown);
    text.appendChild(document.createTextNode("."));

    var stay = document.createElement("button");
    stay.type = "button";
    stay.className = "button";
    stay.textContent = "Stay signed in";
    stay.addEventListener("click", staySignedIn);

    dialog.appendChild(title);
    dialog.appendChild(text);
    dialog.appendChild(stay);
    // Escape closes a modal dialog; that is "stay", not "ignore".
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      staySignedIn();
    });
    body.appendChild(dialog);
  }

  function describe(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    if (minutes > 0) {
      return minutes + " minute" + (minutes === 1 ? "" : "s") + (rest ? " " + rest + " seconds" : "");
    }
    return rest + " second" + (rest === 1 ? "" : "s");
  }

  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    // Announce in coarse steps only: a screen reader reading every second is noise.
    countdown.textContent = describe(left > 60 ? Math.ceil(left / 60) * 60 : left);
  }

  function warn() {
    if (!dialog) {
      buildDialog();
    }
    var stay = dialog.querySelector("button");
    tick();
    countdownTimer = window.setInterval(tick, 1000);
    if (!dialog.open) {
      dialog.showModal();
    }
    stay.focus();
  }

  function expire() {
    // The server has signed the session out by now: reloading shows the sign-in page and why.
    window.location.assign(loginUrl + "?next=" + encodeURIComponent(window.location.pathname));
  }

  function schedule() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(expireTimer);
    window.clearInterval(countdownTimer);
    deadline = Date.now() + idleSeconds * 1000;
    warnTimer = window.setTimeout(warn, Math.max(0, idleSeconds - warningSeconds) * 1000);
    // A second late so the server has surely expired it.
    expireTimer = window.setTimeout(expire, idleSeconds * 1000 + 1000);
  }

  function staySignedIn() {
    fetch(pingUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    })
      .then(function (response) {
        if (response.status === 401) {
          expire();
          return;
        }
        if (dialog && dialog.open) {
          dialog.close();
        }
        schedule();
      })
      .catch(function () {
        // Offline: keep the dialog open; the person can try again.
      });
  }

  // Any request the page makes through htmx counts as activity on the server too.
  document.addEventListener("htmx:afterRequest", schedule);
  schedule();
})();
