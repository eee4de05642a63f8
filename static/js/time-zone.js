// Tell the server the viewer's time zone (a `tz` cookie read by the appointments pages), so
// times show in the zone of the device. No cookie, or an unknown zone: the clinic's zone.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) {
    return;
  }
  var current = document.cookie.split("; ").filter(function (item) {
    return item.indexOf("tz=") === 0;
  })[0];
  // Zone names ("Europe/Paris", "America/Port-au-Prince") are valid cookie text as they are.
  var value = zone;
  if (current === "tz=" + value) {
    return;
  }
  var secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = "tz=" + value + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
})();
