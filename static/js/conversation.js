// The live conversation page: attaches to the server-rendered thread (messaging/templates/
// messaging/conversation.html) and talks to /ws/conversations/<id>/ (docs/realtime.md).
// The page works without it: the form POSTs and a reload shows new messages. External file
// because the CSP refuses inline scripts; no library, nothing from a CDN.
//
// What it does: hello {last_seq} on every (re)connect, so the server replays what this page
// missed; appends `message` frames it has not shown (by seq) and redraws retracted ones;
// sends `read` while the page is visible; shows `typing` and `receipt` frames; sends the form
// over the socket when it is ready (each send keeps its client_msg_id, so a resend after a
// reconnect stores nothing twice) and lets the normal POST happen when it is not.
(() => {
  "use strict";

  const thread = document.getElementById("thread");
  if (!thread || !thread.dataset.conversation || !("WebSocket" in window)) return;
  // An older page (?before=) is history: nothing streams into it.
  if (thread.dataset.live !== "true") return;

  const conversationId = Number(thread.dataset.conversation);
  const me = Number(thread.dataset.user);
  const form = document.getElementById("send-form");
  const textarea = form ? form.querySelector("textarea[name=body]") : null;
  const typingLine = document.getElementById("typing");
  const RETRACT_MS = Number(thread.dataset.retractMinutes || 5) * 60 * 1000;
  const TYPING_SHOWN_MS = 3000;
  const TYPING_EVERY_MS = 2000;
  const ACK_WAIT_MS = 3000;
  const BACKOFF_MAX_MS = 30000;
  // The server refused us for good: signed out, sessions ended, no longer a participant.
  const FATAL_CLOSES = new Set([4401, 4403, 4404]);

  let lastSeq = Number(thread.dataset.lastSeq || 0);
  let readSent = lastSeq; // the page was marked read up to here when it was rendered
  let socket = null;
  let ready = false;
  let attempts = 0;
  let reconnectTimer = null;
  let typingSentAt = 0;
  let typingTimer = null;
  let stopped = false;

  const initial = readJson("conversation-state") || {};
  const names = new Map(Object.entries(initial.names || {}).map(([id, name]) => [Number(id), name]));
  const reads = new Map(Object.entries(initial.reads || {}).map(([id, seq]) => [Number(id), Number(seq)]));
  // Sent over the socket, not yet acknowledged: client_msg_id -> body. Resent after a reconnect.
  const pending = new Map();

  const timeFormat = new Intl.DateTimeFormat("en-GB", {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });

  function readJson(id) {
    const node = document.getElementById(id);
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (error) {
      return null;
    }
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // randomUUID needs a secure context; plain http on a LAN address has only getRandomValues.
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch (error) {
      return false;
    }
  }

  function setState(state) {
    // For people and tests alike: "connecting", "ready", "closed" or "refused".
    thread.dataset.socket = state;
  }

  // --- drawing ---------------------------------------------------------------------------------

  function timeElement(iso, className) {
    const node = document.createElement("time");
    if (className) node.className = className;
    node.dateTime = iso;
    const when = new Date(iso);
    node.textContent = Number.isNaN(when.getTime()) ? "" : timeFormat.format(when);
    return node;
  }

  function messageNode(seq) {
    return thread.querySelector(`li[data-seq="${seq}"]`);
  }

  function showRetracted(node, frame) {
    node.classList.add("msg--retracted");
    const body = node.querySelector(".msg__body");
    const retracted = document.createElement("p");
    retracted.className = "msg__body msg__body--retracted";
    retracted.append("Message retracted ");
    if (frame.retracted_at) retracted.append(timeElement(frame.retracted_at));
    if (body) body.replaceWith(retracted);
    else node.querySelector(".msg__meta").after(retracted);
    const retract = node.querySelector(".msg__retract");
    if (retract) retract.remove();
  }

  function retractForm(seq, createdAt) {
    const token = form ? form.querySelector("input[name=csrfmiddlewaretoken]") : null;
    const url = thread.dataset.retractUrl;
    const until = new Date(createdAt).getTime() + RETRACT_MS;
    if (!token || !url || !(until > Date.now())) return null;
    const retract = document.createElement("form");
    retract.className = "msg__retract";
    retract.method = "post";
    retract.action = url.replace("/999999999/", `/${seq}/`);
    retract.dataset.retractUntil = new Date(until).toISOString();
    const csrf = document.createElement("input");
    csrf.type = "hidden";
    csrf.name = "csrfmiddlewaretoken";
    csrf.value = token.value;
    const button = document.createElement("button");
    button.className = "button button--quiet button--small";
    button.type = "submit";
    button.textContent = "Retract";
    retract.append(csrf, button);
    return retract;
  }

  function appendMessage(frame) {
    const sender = frame.sender || {};
    if (sender.id && sender.name) names.set(Number(sender.id), sender.name);
    const own = Number(sender.id) === me;
    const node = document.createElement("li");
    node.className = own ? "msg msg--own" : "msg";
    node.id = `msg-${frame.seq}`;
    node.dataset.seq = String(frame.seq);
    node.dataset.sender = String(sender.id || "");
    node.dataset.testid = "message";

    const meta = document.createElement("p");
    meta.className = "msg__meta";
    const who = document.createElement("span");
    who.className = "msg__sender";
    who.textContent = sender.on_behalf_of ? `${sender.name} for ${sender.on_behalf_of}` : sender.name || "";
    meta.append(who, " ", timeElement(frame.created_at, "msg__time"));
    node.append(meta);

    const body = document.createElement("p");
    body.className = "msg__body";
    body.textContent = frame.body || "";
    node.append(body);
    if (frame.retracted) {
      showRetracted(node, frame);
    } else if (own) {
      const retract = retractForm(frame.seq, frame.created_at);
      if (retract) node.append(retract);
    }

    // Keep seq order even if a frame arrives out of turn.
    const later = Array.from(thread.children).find((child) => Number(child.dataset.seq) > frame.seq);
    const nearBottom = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 200;
    thread.insertBefore(node, later || null);
    const empty = document.querySelector("[data-empty]");
    if (empty) empty.remove();
    if (nearBottom && !later) node.scrollIntoView({ block: "nearest" });
  }

  function onMessage(frame) {
    if (frame.conversation && Number(frame.conversation) !== conversationId) return;
    const seq = Number(frame.seq);
    if (!(seq > 0)) return;
    const shown = messageNode(seq);
    if (shown) {
      if (frame.retracted && !shown.classList.contains("msg--retracted")) showRetracted(shown, frame);
    } else {
      appendMessage(frame);
    }
    if (seq > lastSeq) {
      lastSeq = seq;
      thread.dataset.lastSeq = String(lastSeq);
    }
    if (frame.client_msg_id && Number((frame.sender || {}).id) === me) pending.delete(frame.client_msg_id);
    showReceipt();
    sendRead();
  }

  function showReceipt() {
    const own = thread.querySelectorAll(`li[data-sender="${me}"]`);
    const last = own.length ? own[own.length - 1] : null;
    thread.querySelectorAll("[data-receipt]").forEach((node) => {
      if (node.closest("li") !== last) node.remove();
    });
    if (!last) return;
    const seq = Number(last.dataset.seq);
    const readers = [];
    let anyone = false;
    reads.forEach((readSeq, user) => {
      if (user === me || readSeq < seq) return;
      anyone = true;
      if (names.has(user)) readers.push(names.get(user));
    });
    let receipt = last.querySelector("[data-receipt]");
    if (!receipt) {
      receipt = document.createElement("p");
      receipt.className = "msg__receipt";
      receipt.dataset.receipt = "";
      receipt.dataset.testid = "receipt";
      last.append(receipt);
    }
    receipt.textContent = anyone ? (readers.length ? `Read by ${readers.join(", ")}` : "Read") : "";
  }

  function onReceipt(frame) {
    const user = Number(frame.user);
    if (!user || user === me) return;
    // A receipt names its reader only by id; a name comes with it if the server sends one,
    // else from their messages, typing or the page (otherwise the line just says "Read").
    if (frame.name) names.set(user, frame.name);
    const seq = Number(frame.read_seq || 0);
    if (seq > (reads.get(user) || 0)) reads.set(user, seq);
    showReceipt();
  }

  function onTyping(frame) {
    if (!typingLine) return;
    const user = Number(frame.user);
    if (user === me) return;
    if (frame.name) names.set(user, frame.name);
    const name = frame.name || names.get(user) || "Someone";
    typingLine.textContent = `${name} is typing…`;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => {
      typingLine.textContent = "";
    }, TYPING_SHOWN_MS);
  }

  function showSendError(text) {
    if (!form) return;
    let line = form.querySelector("[data-send-error]");
    if (!line) {
      line = document.createElement("p");
      line.className = "field__error";
      line.setAttribute("role", "alert");
      line.dataset.sendError = "";
      form.prepend(line);
    }
    line.textContent = text;
  }

  function clearSendError() {
    const line = form ? form.querySelector("[data-send-error]") : null;
    if (line) line.remove();
  }

  function onError(frame) {
    const body = frame.ref ? pending.get(frame.ref) : undefined;
    if (body === undefined) return;
    pending.delete(frame.ref);
    // Give the text back so that nothing typed is lost.
    if (textarea && !textarea.value.trim()) textarea.value = body;
    showSendError(frame.detail || "The message was not sent.");
  }

  function onAck(frame) {
    pending.delete(frame.client_msg_id);
    const seq = Number(frame.seq);
    // The message itself comes back through the stream; if its doorbell was lost (a channel
    // layer restart), asking again from lastSeq replays it from the database.
    setTimeout(() => {
      if (seq > 0 && !messageNode(seq)) send({ type: "hello", last_seq: lastSeq });
    }, ACK_WAIT_MS);
  }

  // --- the socket ------------------------------------------------------------------------------

  function sendRead() {
    if (!ready || document.visibilityState !== "visible" || lastSeq <= readSent) return;
    if (send({ type: "read", seq: lastSeq })) readSent = lastSeq;
  }

  function connect() {
    if (stopped) return;
    clearTimeout(reconnectTimer);
    ready = false;
    setState("connecting");
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${window.location.host}/ws/conversations/${conversationId}/`);
    } catch (error) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener("open", () => send({ type: "hello", last_seq: lastSeq }));
    ws.addEventListener("message", (event) => {
      if (socket !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (!frame || typeof frame.type !== "string") return;
      switch (frame.type) {
        case "ready":
          ready = true;
          attempts = 0;
          setState("ready");
          // Sent before the connection dropped and never acknowledged: same ids, stored once.
          pending.forEach((body, id) => send({ type: "send", client_msg_id: id, body }));
          sendRead();
          break;
        case "message":
          onMessage(frame);
          // Their message is here: they are no longer typing it.
          if (typingLine && frame.sender && Number(frame.sender.id) !== me) {
            clearTimeout(typingTimer);
            typingLine.textContent = "";
          }
          break;
        case "ack":
          onAck(frame);
          break;
        case "receipt":
          onReceipt(frame);
          break;
        case "typing":
          onTyping(frame);
          break;
        case "error":
          onError(frame);
          break;
        default:
          break;
      }
    });
    ws.addEventListener("close", (event) => {
      // A socket replaced meanwhile (pagehide, then pageshow) says nothing about the new one.
      if (socket !== ws) return;
      ready = false;
      socket = null;
      if (FATAL_CLOSES.has(event.code)) {
        stopped = true;
        setState("refused");
        // The form still POSTs; put unsent text back for it.
        if (textarea && pending.size && !textarea.value.trim()) textarea.value = Array.from(pending.values()).join("\n\n");
        pending.clear();
        return;
      }
      setState("closed");
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (stopped) return;
    clearTimeout(reconnectTimer);
    const delay = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** attempts) * (0.5 + Math.random() / 2);
    attempts += 1;
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (stopped || socket) return;
    attempts = 0;
    connect();
  }

  // --- the page --------------------------------------------------------------------------------

  if (form && textarea) {
    form.addEventListener("submit", (event) => {
      const body = textarea.value.trim();
      // Not ready, or nothing to send: the normal POST (the server explains an empty message).
      if (!ready || !body) return;
      const id = uuid();
      if (!send({ type: "send", client_msg_id: id, body })) return;
      event.preventDefault();
      pending.set(id, body);
      textarea.value = "";
      clearSendError();
      textarea.focus();
    });
    textarea.addEventListener("input", () => {
      const now = Date.now();
      if (!ready || !textarea.value.trim() || now - typingSentAt < TYPING_EVERY_MS) return;
      if (send({ type: "typing" })) typingSentAt = now;
    });
  }

  // Retract buttons go once their 5 minutes are over (the server refuses later ones anyway).
  setInterval(() => {
    const now = Date.now();
    thread.querySelectorAll("form[data-retract-until]").forEach((retract) => {
      if (new Date(retract.dataset.retractUntil).getTime() <= now) retract.remove();
    });
  }, 15000);

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    reconnectNow();
    sendRead();
  });
  window.addEventListener("online", reconnectNow);
  window.addEventListener("pagehide", () => {
    stopped = true;
    if (socket) socket.close(1000);
  });
  window.addEventListener("pageshow", (event) => {
    // Back/forward cache: the page comes back without its socket.
    if (!event.persisted) return;
    stopped = false;
    reconnectNow();
  });

  connect();
})();
