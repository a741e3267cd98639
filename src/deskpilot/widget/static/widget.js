/* deskpilot chat widget: the browser half of the Widget API (API.md 4). Plain JavaScript,
   no build step, no dependencies; everything lives in a shadow root.
   <script src="https://HOST/widget.js"></script>
   <script>initOpenScript({ token: "WIDGET_TOKEN" })</script> */
(() => {
"use strict";
if (window.deskpilot && window.deskpilot.initOpenScript) return; // included twice

// The API lives where this script came from (its folder: an instance may sit under a path).
const SCRIPT_BASE = (() => {
  try {
    const url = new URL(document.currentScript.src);
    return url.origin + url.pathname.replace(/\/[^/]*$/, "");
  } catch (e) {
    return location.origin;
  }
})();
const API = "/backend/widget/v2";
const STORE = "deskpilot:v1:";
const BULLET = /^\s*(?:[-*\u2022]|\d{1,3}[.)])\s+/;
const INLINE =
  /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)'])/g;
const SENT_TYPES = ["message", "agent_message"];
const CLOSED_TYPES = [
  "session_closed",
  "ai_assumed_the_session_resolved",
  "user_confirmed_the_session_resolved",
];

const STRINGS = {
  en: {
    open: "Open chat", close: "Close chat", chat: "Chat", unread: "{n} unread messages",
    dialog: "Chat with {name}", back: "Back to conversations", conversations: "Your conversations",
    none: "No conversations yet.", newChat: "New conversation", placeholder: "Type your message…",
    message: "Message", log: "Messages", send: "Send", attach: "Attach a file", remove: "Remove {name}",
    typing: "{name} is typing…", handoff: "Connecting you to a human…",
    joined: "{name} has joined the conversation", agent: "Support agent", you: "You",
    resolve: "Mark as resolved", closed: "This conversation is closed.",
    resolved: "Conversation resolved", reopened: "Conversation reopened",
    csat: "How would you rate this conversation?", star: "{n} out of 5",
    feedback: "Anything to add? (optional)", rate: "Send rating", thanks: "Thanks for your feedback!",
    away: "We're away right now.", back_at: "We're back {when}.", sources: "Sources",
    form: "Before we start", name: "Name", email: "Email", start: "Start chat",
    failed: "Not sent.", retry: "Retry", reconnecting: "Reconnecting…", uploading: "Uploading…",
    uploadFailed: "The file could not be uploaded.", questions: "Suggested questions",
    sending: "Sending…", open_status: "Open", closed_status: "Closed", error: "Something went wrong.",
  },
  es: {
    open: "Abrir chat", close: "Cerrar chat", chat: "Chat", unread: "{n} mensajes sin leer",
    dialog: "Chatear con {name}", back: "Volver a las conversaciones",
    conversations: "Tus conversaciones", none: "Aún no hay conversaciones.",
    newChat: "Nueva conversación", placeholder: "Escribe tu mensaje…", message: "Mensaje", log: "Mensajes",
    send: "Enviar", attach: "Adjuntar un archivo", remove: "Quitar {name}",
    typing: "{name} está escribiendo…", handoff: "Te estamos conectando con una persona…",
    joined: "{name} se ha unido a la conversación", agent: "Agente de soporte", you: "Tú",
    resolve: "Marcar como resuelta", closed: "Esta conversación está cerrada.",
    resolved: "Conversación resuelta", reopened: "Conversación reabierta",
    csat: "¿Cómo valorarías esta conversación?", star: "{n} de 5",
    feedback: "¿Algo más? (opcional)", rate: "Enviar valoración",
    thanks: "¡Gracias por tu opinión!", away: "Ahora mismo no estamos disponibles.",
    back_at: "Volvemos {when}.", sources: "Fuentes", form: "Antes de empezar", name: "Nombre",
    email: "Correo electrónico", start: "Empezar el chat", failed: "No enviado.",
    retry: "Reintentar", reconnecting: "Reconectando…", uploading: "Subiendo…",
    uploadFailed: "No se pudo subir el archivo.", questions: "Preguntas sugeridas",
    sending: "Enviando…", open_status: "Abierta", closed_status: "Cerrada",
    error: "Algo ha salido mal.",
  },
  fr: {
    open: "Ouvrir le chat", close: "Fermer le chat", chat: "Chat", unread: "{n} messages non lus",
    dialog: "Discuter avec {name}", back: "Retour aux conversations",
    conversations: "Vos conversations", none: "Aucune conversation pour l'instant.",
    newChat: "Nouvelle conversation", placeholder: "Écrivez votre message…", message: "Message", log: "Messages",
    send: "Envoyer", attach: "Joindre un fichier", remove: "Retirer {name}",
    typing: "{name} est en train d'écrire…", handoff: "Nous vous mettons en relation avec une personne…",
    joined: "{name} a rejoint la conversation", agent: "Conseiller", you: "Vous",
    resolve: "Marquer comme résolu", closed: "Cette conversation est fermée.",
    resolved: "Conversation résolue", reopened: "Conversation rouverte",
    csat: "Comment évaluez-vous cette conversation ?", star: "{n} sur 5",
    feedback: "Un commentaire ? (facultatif)", rate: "Envoyer la note",
    thanks: "Merci pour votre avis !", away: "Nous sommes absents pour le moment.",
    back_at: "Retour {when}.", sources: "Sources", form: "Avant de commencer", name: "Nom",
    email: "E-mail", start: "Commencer", failed: "Non envoyé.", retry: "Réessayer",
    reconnecting: "Reconnexion…", uploading: "Envoi du fichier…",
    uploadFailed: "Le fichier n'a pas pu être envoyé.", questions: "Questions suggérées",
    sending: "Envoi…", open_status: "Ouverte", closed_status: "Fermée",
    error: "Une erreur est survenue.",
  },
  de: {
    open: "Chat öffnen", close: "Chat schließen", chat: "Chat", unread: "{n} ungelesene Nachrichten",
    dialog: "Chat mit {name}", back: "Zurück zu den Unterhaltungen",
    conversations: "Ihre Unterhaltungen", none: "Noch keine Unterhaltungen.",
    newChat: "Neue Unterhaltung", placeholder: "Ihre Nachricht…", message: "Nachricht", log: "Nachrichten",
    send: "Senden", attach: "Datei anhängen", remove: "{name} entfernen",
    typing: "{name} schreibt…", handoff: "Wir verbinden Sie mit einem Menschen…",
    joined: "{name} ist der Unterhaltung beigetreten", agent: "Support-Mitarbeiter", you: "Sie",
    resolve: "Als gelöst markieren", closed: "Diese Unterhaltung ist geschlossen.",
    resolved: "Unterhaltung gelöst", reopened: "Unterhaltung wieder geöffnet",
    csat: "Wie bewerten Sie diese Unterhaltung?", star: "{n} von 5",
    feedback: "Noch etwas? (optional)", rate: "Bewertung senden",
    thanks: "Danke für Ihr Feedback!", away: "Wir sind gerade nicht erreichbar.",
    back_at: "Wir sind {when} zurück.", sources: "Quellen", form: "Bevor es losgeht",
    name: "Name", email: "E-Mail", start: "Chat starten", failed: "Nicht gesendet.",
    retry: "Erneut versuchen", reconnecting: "Verbindung wird wiederhergestellt…",
    uploading: "Wird hochgeladen…", uploadFailed: "Die Datei konnte nicht hochgeladen werden.",
    questions: "Vorgeschlagene Fragen", sending: "Wird gesendet…", open_status: "Offen",
    closed_status: "Geschlossen", error: "Etwas ist schiefgelaufen.",
  },
};

const CSS = `
:host{all:initial!important;display:block!important;position:fixed!important;z-index:2147483000!important;
 width:0!important;height:0!important;inset:auto!important;visibility:visible!important;opacity:1!important}
:host([data-inline]){position:relative!important;width:100%!important;height:100%!important;min-height:420px!important;z-index:auto!important}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.dp{--p:#2563eb;--pt:#fff;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;
 -webkit-font-smoothing:antialiased;text-align:left;direction:ltr}
button,input,textarea{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:2px solid var(--p);outline-offset:2px}
.launcher{position:fixed;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;border:0;
 background:var(--p);color:var(--pt);box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;padding:0}
.left .launcher{right:auto;left:20px}
.launcher svg{width:26px;height:26px;fill:currentColor}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;
 background:#dc2626;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center}
.panel{position:fixed;bottom:88px;right:20px;width:380px;height:min(640px,calc(100vh - 110px));background:#fff;
 border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}
.left .panel{right:auto;left:20px}
.inline .panel{position:static;width:100%;height:100%;box-shadow:none;border:1px solid #e5e7eb}
.head{display:flex;align-items:center;gap:10px;padding:12px 14px;background:var(--p);color:var(--pt)}
.head .who{flex:1;min-width:0}
.head h2{margin:0;font-size:15px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.head p{margin:0;font-size:12px;opacity:.85}
.icon{background:transparent;border:0;color:inherit;width:32px;height:32px;border-radius:8px;font-size:20px;line-height:1;padding:0}
.icon:hover,.textbtn:hover{background:rgba(255,255,255,.18)}
.textbtn{background:transparent;border:1px solid currentColor;color:inherit;border-radius:8px;font-size:12px;padding:4px 8px}
.avatar{width:32px;height:32px;border-radius:50%;flex:none;background:rgba(255,255,255,.25);display:flex;
 align-items:center;justify-content:center;font-weight:700;overflow:hidden;font-size:14px}
.avatar img{width:100%;height:100%;object-fit:cover}
.note{padding:8px 14px;font-size:13px;background:#fef3c7;color:#78350f}
.conn{padding:6px 14px;font-size:12px;background:#f3f4f6;color:#374151}
.body{flex:1;min-height:0;display:flex;flex-direction:column}
.scroll{flex:1;overflow-y:auto;padding:14px;overscroll-behavior:contain}
.log{display:flex;flex-direction:column;gap:10px}
.msg{display:flex;flex-direction:column;max-width:85%;align-self:flex-start}
.msg.user{align-self:flex-end;align-items:flex-end}
.msg .name{font-size:12px;color:#6b7280;margin:0 0 2px 4px;display:flex;align-items:center;gap:6px}
.msg .name .avatar{width:20px;height:20px;font-size:10px;background:#e5e7eb;color:#374151}
.bubble{padding:9px 12px;border-radius:14px;background:#f3f4f6;overflow-wrap:anywhere;white-space:normal}
.user .bubble{background:var(--p);color:var(--pt)}
.agent .bubble{background:#ecfdf5}
.bubble p{margin:0 0 6px}.bubble p:last-child{margin:0}
.bubble ul,.bubble ol{margin:4px 0;padding-left:20px}
.bubble code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;background:rgba(0,0,0,.07);padding:1px 4px;border-radius:4px}
.bubble a{color:inherit;text-decoration:underline}
.meta{font-size:11px;color:#6b7280;margin:2px 4px 0}
.meta button{background:none;border:0;color:#b91c1c;text-decoration:underline;padding:0 0 0 4px;font-size:11px}
.pending .bubble{opacity:.7}
.files{display:flex;flex-direction:column;gap:4px;margin-top:6px}
.file{background:rgba(0,0,0,.06);border:0;border-radius:8px;padding:4px 8px;text-align:left;font-size:12px}
.sources{margin-top:6px;font-size:12px;color:#4b5563}
.sources ol{margin:2px 0 0;padding-left:18px}
.sources a{color:var(--p)}
.sys{align-self:center;font-size:12px;color:#6b7280;text-align:center;padding:2px 8px}
.questions{display:flex;flex-wrap:wrap;gap:6px;margin-top:12px;justify-content:flex-end}
.chip{border:1px solid var(--p);color:var(--p);background:#fff;border-radius:16px;padding:5px 11px;font-size:13px;text-align:left}
.typing{margin-top:10px;font-size:12px;color:#6b7280;font-style:italic}
.banner{padding:8px 14px;font-size:13px;background:#eff6ff;color:#1e3a8a;border-top:1px solid #dbeafe}
.banner.joined{background:#ecfdf5;color:#065f46;border-color:#d1fae5}
.csat{margin-top:12px;padding:12px;border:1px solid #e5e7eb;border-radius:12px;background:#fafafa}
.csat p{margin:0 0 8px}
.stars{display:flex;gap:4px;margin-bottom:8px}
.star{border:1px solid #d1d5db;background:#fff;border-radius:8px;width:38px;height:34px;font-size:18px;color:#9ca3af;padding:0}
.star[aria-pressed=true]{color:#f59e0b;border-color:#f59e0b}
.csat textarea,.form input{width:100%;border:1px solid #d1d5db;border-radius:8px;padding:7px 9px;margin-bottom:8px;background:#fff}
.primary{background:var(--p);color:var(--pt);border:0;border-radius:8px;padding:8px 14px;font-weight:600}
.primary:disabled{opacity:.5;cursor:default}
.list{padding:14px;overflow-y:auto;flex:1}
.list h3,.form h3{margin:0 0 10px;font-size:15px}
.list ul{list-style:none;margin:0 0 12px;padding:0;display:flex;flex-direction:column;gap:6px}
.item{width:100%;text-align:left;border:1px solid #e5e7eb;background:#fff;border-radius:10px;padding:9px 11px;display:block}
.item span{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.item small{color:#6b7280}
.form{padding:16px;overflow-y:auto;flex:1}
.form label{display:block;font-size:13px;margin-bottom:3px}
.composer{display:flex;align-items:flex-end;gap:6px;padding:10px;border-top:1px solid #e5e7eb;flex-wrap:wrap;background:#fff}
.composer textarea{flex:1;min-width:0;resize:none;border:1px solid #d1d5db;border-radius:10px;padding:8px 10px;max-height:120px;background:#fff}
.composer .icon{color:#4b5563}
.composer .send{color:var(--p)}
.attached{flex-basis:100%;font-size:12px;display:flex;align-items:center;gap:6px;color:#374151}
.attached button{background:none;border:0;font-size:16px;padding:0 4px}
.closedbox{padding:12px 14px;border-top:1px solid #e5e7eb;text-align:center;font-size:13px;color:#374151}
.closedbox p{margin:0 0 8px}
@media (max-width:480px){.dp:not(.inline) .panel{inset:0;width:100%;height:100%;border-radius:0}
 .dp.opened:not(.inline) .launcher{display:none}}
`;

const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));

/* DOM built from elements and text nodes only: no markup string ever reaches the page. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (tag === "button") el.type = "button";
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "testid") el.setAttribute("data-testid", value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

function safeUrl(href) {
  try {
    const url = new URL(href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

function link(href, label) {
  const url = safeUrl(href);
  return url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: label }) : null;
}

function inline(parent, text) {
  let last = 0;
  let m;
  INLINE.lastIndex = 0;
  while ((m = INLINE.exec(text))) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    if (m[1] !== undefined) parent.append(h("code", { text: m[1] }));
    else if (m[2] !== undefined) parent.append(h("strong", { text: m[2] }));
    else if (m[3] !== undefined) parent.append(link(m[4], m[3]) || m[0]);
    else parent.append(link(m[5], m[5]) || m[5]);
    last = INLINE.lastIndex;
  }
  if (last < text.length) parent.append(text.slice(last));
}

/* The safe subset: paragraphs, line breaks, lists, **bold**, `code`, http(s) links. */
function markdown(text, rich) {
  const out = document.createDocumentFragment();
  for (const block of String(text || "").replace(/\r\n?/g, "\n").split(/\n\s*\n/)) {
    let list = null;
    let para = null;
    for (const line of block.split("\n")) {
      if (!line.trim()) continue;
      if (rich && BULLET.test(line)) {
        const ordered = /^\s*\d/.test(line);
        if (!list || list.tagName !== (ordered ? "OL" : "UL")) {
          list = h(ordered ? "ol" : "ul");
          out.append(list);
        }
        const item = h("li");
        inline(item, line.replace(BULLET, ""));
        list.append(item);
        para = null;
        continue;
      }
      list = null;
      if (para) para.append(h("br"));
      else out.append((para = h("p")));
      if (rich) inline(para, line);
      else para.append(line);
    }
  }
  return out;
}

function uuid4() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const initials = (name) =>
  (String(name || "?").trim().split(/\s+/).slice(0, 2).map((w) => w[0]).join("") || "?").toUpperCase();

function avatar(url, name) {
  const safe = url && safeUrl(url);
  return h("span", { class: "avatar", "aria-hidden": "true" }, safe ? h("img", { src: safe, alt: "" }) : initials(name));
}

function contrast(hex) {
  const m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(hex || "");
  if (!m) return null;
  const full = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16));
  return { color: `#${full}`, text: r * 0.299 + g * 0.587 + b * 0.114 > 160 ? "#111827" : "#fff" };
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

class Store {
  constructor(key) {
    this.key = STORE + key;
  }
  read() {
    try {
      return JSON.parse(localStorage.getItem(this.key) || "{}") || {};
    } catch (e) {
      return {};
    }
  }
  write(patch) {
    const next = Object.assign(this.read(), patch);
    try {
      localStorage.setItem(this.key, JSON.stringify(next));
    } catch (e) {
      /* storage is off (private mode, sandbox): the chat lasts as long as the page */
    }
  }
}

class Widget {
  constructor(options) {
    const o = Object.assign({}, options);
    if (!o.token || typeof o.token !== "string") throw new Error("initOpenScript: `token` is required");
    this.o = o;
    this.base = String(o.apiUrl || SCRIPT_BASE).replace(/\/+$/, "");
    const wanted = String(o.language || navigator.language || "en").toLowerCase().slice(0, 2);
    this.lang = STRINGS[wanted] ? wanted : "en";
    this.s = STRINGS[this.lang];
    this.store = new Store(o.token);
    this.user = o.user || {};
    this.verified = Boolean(this.user.token);
    this.seen = new Set();
    this.unread = 0;
    this.backoff = 1000;
    this.greetings = [];
    this.listen = [];
    this.build();
    this.isOpen = this.inline;
    this.on(window, "online", () => this.reconnect(0));
    // A stream can look open long after the network went: drop it, poll, come back online.
    this.on(window, "offline", () => {
      if (!this.es) return;
      this.disconnect();
      this.el.conn.hidden = false;
      this.startPolling();
    });
    this.ready = this.boot().catch(() => {});
  }

  t(key, vars) {
    return fill(this.s[key] || STRINGS.en[key] || key, vars || {});
  }

  on(target, type, fn) {
    target.addEventListener(type, fn);
    this.listen.push([target, type, fn]);
  }

  // --- HTTP ------------------------------------------------------------------------------

  async call(method, path, { body, query, auth = true, form } = {}) {
    const headers = { "X-Bot-Token": this.o.token };
    if (auth) headers.Authorization = `Bearer ${await this.contact()}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let url = this.base + API + path;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query || {})) if (v !== null && v !== undefined) params.set(k, v);
    if (String(params)) url += `?${params}`;
    const response = await fetch(url, {
      method,
      headers,
      body: form || (body !== undefined ? JSON.stringify(body) : undefined),
      credentials: "omit",
    });
    if (!response.ok) {
      let message = response.statusText;
      try {
        message = (await response.json()).message || message;
      } catch (e) {
        /* not JSON */
      }
      if (response.status === 401 && auth && !this.verified) this.forgetContact();
      throw new ApiError(response.status, message);
    }
    return response.status === 204 ? null : response.json();
  }

  /* The contact token: the host page's verified one, the stored one, or a new one. */
  async contact() {
    if (this.verified) return this.user.token;
    const data = this.user.data || this.formData || {};
    const sig = JSON.stringify([data.name || null, data.email || null]);
    const saved = this.store.read();
    if (saved.c && (saved.sig === sig || (!this.user.data && !this.formData))) return saved.c;
    if (!this.contactPending) {
      const body = {};
      if (data.email) body.email = String(data.email);
      if (data.name) body.non_verified_name = String(data.name);
      this.contactPending = this.call("POST", "/contact/create-unverified", { body, auth: false })
        .then((r) => {
          this.store.write({ c: r.token, sig, s: null });
          return r.token;
        })
        .finally(() => {
          this.contactPending = null;
        });
    }
    return this.contactPending;
  }

  forgetContact() {
    this.store.write({ c: null, s: null });
  }

  // --- boot ------------------------------------------------------------------------------

  async boot() {
    try {
      [this.config, this.prelude] = await Promise.all([
        this.call("GET", "/config", { auth: false }),
        this.call("GET", "/prelude", { auth: false }),
      ]);
    } catch (e) {
      this.config = this.config || { sessionPollingIntervalSeconds: 5, sessionsPollingIntervalSeconds: 30, push: { sse: true } };
      this.prelude = this.prelude || {};
    }
    this.brand();
    const saved = this.store.read();
    const stored = this.verified ? saved.vs : saved.c && saved.s;
    if (stored) {
      await this.openSession(stored, true);
    } else if (this.o.collectUserData && !this.verified && !this.user.data && !saved.c) {
      this.show("form");
    } else {
      this.newChat();
    }
  }

  brand() {
    const p = this.prelude || {};
    this.botName = this.o.botName || p.botName || p.organizationName || this.t("chat");
    this.botAvatar = this.o.botAvatarUrl || p.botAvatarUrl || null;
    const color = contrast(this.o.primaryColor || p.primaryColor);
    if (color) {
      this.root.style.setProperty("--p", color.color);
      this.root.style.setProperty("--pt", color.text);
    }
    this.panel.setAttribute("aria-label", this.t("dialog", { name: this.botName }));
    const status = p.officeHoursStatus;
    if (status && status.isOpen === false) {
      let text = this.t("away");
      if (status.nextChangeAt) {
        const when = new Intl.DateTimeFormat(this.lang, { weekday: "short", hour: "numeric", minute: "2-digit" });
        text += ` ${this.t("back_at", { when: when.format(new Date(status.nextChangeAt)) })}`;
      }
      this.el.hours.textContent = text;
      this.el.hours.hidden = false;
    }
    this.header();
  }

  // --- the frame -------------------------------------------------------------------------

  build() {
    const s = this.s;
    this.host = document.createElement("deskpilot-widget");
    const target = this.o.inline
      ? typeof this.o.inline === "string"
        ? document.querySelector(this.o.inline)
        : this.o.inline
      : null;
    if (this.o.inline && !(target instanceof Element)) throw new Error("initOpenScript: `inline` container not found");
    this.inline = Boolean(target);
    // Inline !important styles beat any host-page rule aimed at this element.
    const fixed = this.inline ? {} : { position: "fixed", "z-index": "2147483000" };
    for (const [k, v] of Object.entries(Object.assign({ display: "block", visibility: "visible" }, fixed)))
      this.host.style.setProperty(k, v, "important");
    if (this.inline) this.host.setAttribute("data-inline", "");
    const shadow = this.host.attachShadow({ mode: "open" });
    this.shadow = shadow;
    this.addStyles(CSS);
    if (this.o.cssOverrides) this.addStyles(String(this.o.cssOverrides));

    const el = (this.el = {});
    el.badge = h("span", { class: "badge", testid: "unread-badge", hidden: true, "aria-hidden": "true" });
    el.launcher = h(
      "button",
      { class: "launcher", testid: "launcher", "aria-label": s.open, "aria-expanded": "false", "aria-controls": "dp-panel", onclick: () => (this.isOpen ? this.close() : this.open()) },
      svg("M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"),
      el.badge,
    );
    el.back = h("button", { class: "icon", testid: "back", "aria-label": s.back, text: "\u2039", onclick: () => this.showList() });
    el.avatar = h("span", { class: "avatar", "aria-hidden": "true" });
    el.title = h("h2", { id: "dp-title", testid: "title" });
    el.subtitle = h("p", { testid: "subtitle" });
    el.resolve = h("button", { class: "textbtn", testid: "resolve", hidden: true, text: s.resolve, onclick: () => this.resolve() });
    el.close = this.inline ? null : h("button", { class: "icon", testid: "close", "aria-label": s.close, text: "\u00d7", onclick: () => this.close() });
    el.hours = h("div", { class: "note", role: "note", testid: "office-hours", hidden: true });
    el.conn = h("div", { class: "conn", role: "status", testid: "connection", hidden: true, text: s.reconnecting });

    el.items = h("ul");
    el.list = h(
      "div",
      { class: "list", testid: "conversation-list", hidden: true },
      h("h3", { text: s.conversations }),
      el.items,
      h("button", { class: "primary", testid: "new-conversation", text: s.newChat, onclick: () => this.newChat(true) }),
    );

    el.name = h("input", { id: "dp-name", name: "name", autocomplete: "name", maxlength: "200", testid: "form-name" });
    el.email = h("input", { id: "dp-email", name: "email", type: "email", autocomplete: "email", required: true, maxlength: "254", testid: "form-email" });
    el.form = h(
      "form",
      { class: "form", testid: "contact-form", hidden: true, onsubmit: (e) => this.submitForm(e) },
      h("h3", { text: s.form }),
      h("label", { for: "dp-name", text: s.name }),
      el.name,
      h("label", { for: "dp-email", text: s.email }),
      el.email,
      h("button", { class: "primary", type: "submit", testid: "form-submit", text: s.start }),
    );

    el.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": s.log, testid: "messages" });
    el.questions = h("div", { class: "questions", role: "group", "aria-label": s.questions, testid: "initial-questions" });
    // The AI's reply as it is written: out of the live log, which announces it once stored.
    el.draft = h("div", { class: "msg ai", testid: "draft", "aria-hidden": "true", hidden: true });
    el.typing = h("div", { class: "typing", role: "status", testid: "typing", hidden: true });
    el.csat = h("div", { class: "csat", testid: "csat", hidden: true });
    el.scroll = h("div", { class: "scroll" }, el.log, el.draft, el.questions, el.typing, el.csat);
    el.chat = h("div", { class: "body", testid: "chat", hidden: true }, el.scroll);
    el.banner = h("div", { class: "banner", role: "status", testid: "handoff", hidden: true });

    el.file = h("input", { type: "file", hidden: true, testid: "file-input", tabindex: "-1", onchange: () => this.upload() });
    el.attached = h("div", { class: "attached", testid: "attachment", hidden: true });
    el.input = h("textarea", { rows: "1", maxlength: "10000", "aria-label": s.message, placeholder: s.placeholder, testid: "input" });
    el.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    el.composer = h(
      "form",
      { class: "composer", testid: "composer", hidden: true, onsubmit: (e) => (e.preventDefault(), this.submit()) },
      el.attached,
      h("button", { class: "icon", testid: "attach", "aria-label": s.attach, onclick: () => el.file.click() }, svg("M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z")),
      el.file,
      el.input,
      h("button", { class: "icon send", type: "submit", testid: "send", "aria-label": s.send }, svg("M3 20l18-8L3 4v6l12 2-12 2z")),
    );
    el.closedBox = h(
      "div",
      { class: "closedbox", testid: "closed", hidden: true },
      h("p", { text: s.closed }),
      h("button", { class: "primary", testid: "start-new", text: s.newChat, onclick: () => this.newChat(true) }),
    );

    this.panel = h(
      "section",
      { class: "panel", id: "dp-panel", role: "dialog", "aria-modal": "false", "aria-label": s.chat, testid: "panel", hidden: !this.inline },
      h("header", { class: "head" }, el.back, el.avatar, h("div", { class: "who" }, el.title, el.subtitle), el.resolve, el.close),
      el.hours,
      el.conn,
      el.list,
      el.form,
      el.chat,
      el.banner,
      el.composer,
      el.closedBox,
    );
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !this.inline) {
        e.stopPropagation();
        this.close();
      }
    });
    const side = this.o.position === "left" ? "left" : "right";
    this.root = h("div", { class: `dp ${side}${this.inline ? " inline" : ""}`, lang: this.lang }, this.inline ? null : el.launcher, this.panel);
    shadow.append(this.root);
    (target || document.body || document.documentElement).append(this.host);
    this.header();
  }

  addStyles(text) {
    // Constructed sheets work under a page's strict style-src CSP; <style> is the fallback.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(text);
      this.shadow.adoptedStyleSheets = [...this.shadow.adoptedStyleSheets, sheet];
    } catch (e) {
      this.shadow.append(h("style", { text }));
    }
  }

  /* A person is in the conversation: assigned to it, or has written or joined in it. */
  human() {
    const s = this.session;
    return Boolean(s && s.isOpened && ((s.assignee && s.assignee.kind === "human") || this.agent));
  }

  agentName() {
    const assignee = (this.session && this.session.assignee) || {};
    return (this.agent && this.agent.name) || assignee.name || this.t("agent");
  }

  header() {
    const el = this.el;
    const human = this.human();
    const name = human ? this.agentName() : this.botName || this.t("chat");
    const org = this.prelude && this.prelude.organizationName;
    el.title.textContent = name;
    el.subtitle.textContent = org && org !== name ? org : "";
    el.subtitle.hidden = !el.subtitle.textContent;
    const assignee = (this.session && this.session.assignee) || {};
    const pic = human ? (this.agent && this.agent.avatar) || assignee.avatarUrl : this.botAvatar;
    el.avatar.replaceWith((el.avatar = avatar(pic, name)));
  }

  show(screen) {
    const el = this.el;
    this.screen = screen;
    el.list.hidden = screen !== "list";
    el.form.hidden = screen !== "form";
    el.chat.hidden = screen !== "chat";
    this.chatState();
    if (screen !== "list") this.stopListPolling();
  }

  hasContact() {
    return this.verified || Boolean(this.store.read().c);
  }

  chatState() {
    const el = this.el;
    const chat = this.screen === "chat";
    const s = this.session;
    const closed = Boolean(s && !s.isOpened);
    el.back.hidden = !chat || !this.hasContact();
    el.composer.hidden = !chat || closed;
    el.closedBox.hidden = !chat || !closed;
    el.resolve.hidden = !chat || !s || closed || !this.hasContactMessage;
    const human = this.human();
    const handedOff = s && s.isHandedOff;
    el.banner.hidden = !chat || closed || !(human || handedOff);
    el.banner.className = human ? "banner joined" : "banner";
    el.banner.setAttribute("data-state", human ? "joined" : handedOff ? "handoff" : "ai");
    el.banner.textContent = human ? this.t("joined", { name: this.agentName() }) : this.t("handoff");
    el.questions.hidden = !chat || this.hasContactMessage || closed;
    if (chat && closed && !this.csatDone) this.showCsat();
    if (!closed) el.csat.hidden = true;
    this.header();
  }

  open() {
    if (this.inline || this.destroyed) return;
    this.isOpen = true;
    this.panel.hidden = false;
    this.root.classList.add("opened");
    this.el.launcher.setAttribute("aria-expanded", "true");
    this.unread = 0;
    this.badge();
    this.scrollDown();
    this.ready.then(() => this.isOpen && this.focusFirst());
    this.focusFirst();
  }

  close() {
    if (this.inline || !this.isOpen) return;
    this.isOpen = false;
    this.panel.hidden = true;
    this.root.classList.remove("opened");
    this.el.launcher.setAttribute("aria-expanded", "false");
    this.el.launcher.focus();
  }

  focusFirst() {
    const el = this.el;
    const target =
      this.screen === "form" ? el.name
        : this.screen === "chat" && !el.composer.hidden ? el.input
          : this.panel.querySelector(".body:not([hidden]) button, .list:not([hidden]) button, .closedbox:not([hidden]) button") || el.close;
    if (target) target.focus({ preventScroll: true });
  }

  badge() {
    const el = this.el;
    el.badge.hidden = this.unread === 0;
    el.badge.textContent = this.unread > 9 ? "9+" : String(this.unread);
    el.launcher.setAttribute("aria-label", this.unread ? `${this.s.open} (${this.t("unread", { n: this.unread })})` : this.s.open);
  }

  scrollDown() {
    const box = this.el.scroll;
    box.scrollTop = box.scrollHeight;
  }

  // --- screens ---------------------------------------------------------------------------

  submitForm(e) {
    e.preventDefault();
    const el = this.el;
    if (!el.form.reportValidity()) return;
    this.formData = { name: el.name.value.trim(), email: el.email.value.trim() };
    this.newChat();
    this.focusFirst();
  }

  reset(id) {
    const el = this.el;
    this.disconnect();
    el.log.replaceChildren();
    el.questions.replaceChildren();
    el.csat.replaceChildren();
    el.csat.hidden = true;
    this.seen.clear();
    this.greetings = [];
    this.agent = null;
    this.csatDone = false;
    this.csatRequest = null;
    this.hasContactMessage = false;
    this.lastSentAt = null;
    this.lastEventId = null;
    this.session = null;
    this.sessionId = id;
  }

  newChat(focus) {
    this.reset(null);
    this.store.write(this.verified ? { vs: null } : { s: null });
    const p = this.prelude || {};
    const lines = Array.isArray(this.o.initialMessages) ? this.o.initialMessages : p.initialMessages || [];
    this.greetings = lines.filter((l) => typeof l === "string" && l.trim()).slice(0, 10).map((text) => ({ uuid: uuid4(), text: text.trim() }));
    for (const g of this.greetings) {
      g.el = this.bubble("ai", { text: g.text, name: this.botName, avatar: this.botAvatar, pending: "greeting" });
      this.el.log.append(g.el);
    }
    const questions = Array.isArray(this.o.initialQuestions) ? this.o.initialQuestions : p.initialQuestions || [];
    this.el.questions.replaceChildren(
      ...questions.filter((q) => typeof q === "string" && q.trim()).map((q) => h("button", { class: "chip", testid: "initial-question", text: q, onclick: () => this.submit(q) })),
    );
    this.show("chat");
    if (focus) this.focusFirst();
  }

  async showList() {
    this.show("list");
    this.focusFirst();
    await this.loadList();
    this.stopListPolling();
    const every = ((this.config && this.config.sessionsPollingIntervalSeconds) || 30) * 1000;
    this.listTimer = setInterval(() => this.loadList(), every);
  }

  stopListPolling() {
    clearInterval(this.listTimer);
    this.listTimer = null;
  }

  async loadList() {
    const el = this.el;
    let page;
    try {
      page = await this.call("GET", "/sessions", { query: { limit: 50 } });
    } catch (e) {
      return;
    }
    if (this.screen !== "list") return;
    const fmt = new Intl.DateTimeFormat(this.lang, { dateStyle: "medium", timeStyle: "short" });
    el.items.replaceChildren(
      ...page.items.map((item) =>
        h(
          "li",
          null,
          h(
            "button",
            { class: "item", testid: "conversation", "data-session-id": item.id, onclick: () => this.openSession(item.id) },
            h("span", { text: item.lastMessage || this.t("newChat") }),
            h("small", { text: `${fmt.format(new Date(item.updatedAt))} · ${item.isOpened ? this.s.open_status : this.s.closed_status}` }),
          ),
        ),
      ),
    );
    if (!page.items.length) el.items.append(h("li", { text: this.s.none }));
  }

  async openSession(id, quiet) {
    this.reset(id);
    let result;
    try {
      result = await this.call("GET", `/poll/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e.status !== 404 && e.status !== 401 && e.status !== 400) {
        // Offline for now: show what we have and let polling catch up.
        this.show("chat");
        this.startPolling();
        this.reconnect();
        return;
      }
      this.newChat();
      return;
    }
    if (this.sessionId !== id) return;
    this.store.write(this.verified ? { vs: id } : { s: id });
    for (const item of result.history) this.add(item, false);
    this.applySession(result.session);
    this.show("chat");
    this.scrollDown();
    if (!quiet) this.focusFirst();
    this.connect();
  }

  // --- messages --------------------------------------------------------------------------

  bubble(kind, { text, name, avatar: pic, pending, sources, files, id, time }) {
    const rich = kind !== "user";
    const body = h("div", { class: "bubble" }, markdown(text, rich));
    const box = h("div", { class: `msg ${kind}${pending === true ? " pending" : ""}`, testid: "message", "data-kind": kind, "data-id": id || null }, body);
    if (kind !== "user") box.prepend(h("div", { class: "name", testid: "sender" }, kind === "agent" ? avatar(pic, name) : null, name || ""));
    if (files && files.length) {
      body.append(
        h("div", { class: "files" }, ...files.map((f) => h("button", { class: "file", testid: "attachment-link", text: `\ud83d\udcce ${f.name}`, onclick: () => this.download(f) }))),
      );
    }
    const links = (sources || []).map((src) => link(src.url, src.title || src.url)).filter(Boolean);
    if (links.length) {
      box.append(h("div", { class: "sources", testid: "sources" }, this.s.sources, h("ol", null, ...links.map((a) => (a.setAttribute("data-testid", "source-link"), h("li", null, a))))));
    }
    box.append(h("div", { class: "meta", testid: "meta", text: pending === true ? this.s.sending : time ? this.time(time) : "" }));
    return box;
  }

  time(iso) {
    const when = new Date(iso);
    return isNaN(when) ? "" : new Intl.DateTimeFormat(this.lang, { hour: "numeric", minute: "2-digit" }).format(when);
  }

  system(type, text) {
    this.el.log.append(h("div", { class: "sys", testid: "system-message", "data-type": type, text }));
  }

  /* One history item, from any of history, poll, stream or send: shown once (publicId). */
  add(item, live) {
    if (!item || !item.publicId || this.seen.has(item.publicId)) return;
    this.seen.add(item.publicId);
    if (!this.lastSentAt || item.sentAt > this.lastSentAt) this.lastSentAt = item.sentAt;
    this.lastEventId = item.publicId;
    const sender = item.sender || {};
    const text = (item.content && item.content.text) || "";
    const type = item.type;
    const atBottom = this.nearBottom();
    if (SENT_TYPES.includes(type)) {
      const kind = type === "agent_message" || sender.kind === "agent" ? "agent" : sender.kind === "user" ? "user" : "ai";
      if (kind === "user") this.hasContactMessage = true;
      if (kind === "agent") this.agent = { name: sender.name || (this.agent && this.agent.name), avatar: sender.avatar };
      const mine = this.adopt(kind, text, item);
      if (!mine) {
        this.el.log.append(
          this.bubble(kind, {
            text,
            id: item.publicId,
            time: item.sentAt,
            name: kind === "agent" ? sender.name || this.t("agent") : this.botName,
            avatar: kind === "agent" ? sender.avatar : this.botAvatar,
            sources: item.sources,
            files: item.attachments,
          }),
        );
        if (kind !== "user") {
          this.typing({ active: false });
          if (live && !this.isOpen) {
            this.unread += 1;
            this.badge();
          }
        }
      }
    } else if (type === "handoff" || type.startsWith("handoff_to_")) {
      this.system(type, this.t("handoff"));
    } else if (type === "agent_joined" || type === "agent_took_session_from_ai") {
      const name = sender.name || (this.agent && this.agent.name) || this.t("agent");
      this.agent = { name, avatar: sender.avatar || (this.agent && this.agent.avatar) };
      this.system(type, this.t("joined", { name }));
    } else if (CLOSED_TYPES.includes(type)) {
      this.system(type, this.s.resolved);
    } else if (type === "agent_reopened_session") {
      this.csatDone = false;
      this.system(type, this.s.reopened);
    } else if (type === "csat_requested") {
      this.csatRequest = (item.systemMessagePayload && item.systemMessagePayload.csatRequestId) || null;
      if (!this.csatDone) this.showCsat();
    } else if (type === "csat_submitted") {
      this.csatDone = true;
      if (!this.el.csat.querySelector("[data-testid=csat-thanks]")) this.el.csat.hidden = true;
    }
    if (this.screen === "chat") this.chatState();
    if (atBottom || (sender.kind === "user" && live)) this.scrollDown();
  }

  /* The server's copy of a message this page drew first (a send, a greeting). */
  adopt(kind, text, item) {
    const wanted = kind === "user" ? "true" : "greeting";
    for (const el of this.el.log.querySelectorAll(`.msg[data-wait="${wanted}"]`)) {
      if (el.dataset.kind !== kind || el.dataset.text !== text) continue;
      el.classList.remove("pending");
      for (const name of ["data-wait", "data-text", "data-uuid"]) el.removeAttribute(name);
      el.setAttribute("data-id", item.publicId);
      el.querySelector(".meta").textContent = this.time(item.sentAt);
      return true;
    }
    return false;
  }

  nearBottom() {
    const box = this.el.scroll;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  applySession(session) {
    if (!session || session.id !== this.sessionId) return;
    const wasOpen = this.session ? this.session.isOpened : true;
    this.session = session;
    if (session.isOpened && !wasOpen) this.csatDone = false;
    if (this.screen === "chat") this.chatState();
  }

  delta(data) {
    const el = this.el;
    if (typeof data.text !== "string") return;
    this.draftText = (this.draftText || "") + data.text;
    el.draft.replaceChildren(
      h("div", { class: "name", text: this.botName }),
      h("div", { class: "bubble" }, markdown(this.draftText, true)),
    );
    el.draft.hidden = false;
    el.typing.hidden = true;
    if (this.nearBottom()) this.scrollDown();
  }

  typing(data) {
    const el = this.el;
    clearTimeout(this.typingTimer);
    if (!data.active) {
      el.typing.hidden = true;
      this.draftText = "";
      el.draft.hidden = true; // the turn is over: its message, if any, came before this
      return;
    }
    const name = data.kind === "agent" ? this.agentName() : this.botName;
    el.typing.textContent = this.t("typing", { name });
    el.typing.hidden = !el.draft.hidden;
    if (this.nearBottom()) this.scrollDown();
    this.typingTimer = setTimeout(() => (el.typing.hidden = true), 30000);
  }

  // --- sending ---------------------------------------------------------------------------

  submit(preset) {
    const el = this.el;
    const typed = typeof preset === "string" ? preset : el.input.value;
    const file = this.attachment;
    const text = typed.trim() || (file ? file.name : "");
    if (!text || this.uploading) return;
    if (typeof preset !== "string") el.input.value = "";
    this.attachment = null;
    el.attached.hidden = true;
    el.attached.replaceChildren();
    this.send(text.slice(0, 10000), file ? [file] : []);
  }

  async send(text, files, retry) {
    const box =
      retry ||
      this.bubble("user", { text, pending: true, files: files.map((f) => ({ name: f.name })) });
    const uuid = retry ? box.dataset.uuid : uuid4();
    Object.assign(box.dataset, { uuid, text, wait: "true" });
    box.classList.add("pending");
    box.querySelector(".meta").textContent = this.s.sending;
    if (!retry) this.el.log.append(box);
    this.hasContactMessage = true;
    this.chatState();
    this.scrollDown();
    let result;
    try {
      const id = await this.ensureSession();
      const body = { uuid, content: text, session_id: id, bot_token: this.o.token, language: this.lang, attachments: files };
      const greetings = this.greetings.filter((g) => g.el.dataset.id === undefined);
      if (greetings.length) {
        body.initial_messages = greetings.map((g) => ({ uuid: g.uuid, content: g.text }));
        for (const g of greetings) Object.assign(g.el.dataset, { text: g.text, wait: "greeting" });
      }
      result = await this.retrying(() => this.call("POST", "/chat/send", { body }));
    } catch (e) {
      this.failed(box, text, files);
      return;
    }
    if (!result.success) {
      const code = result.error && result.error.code;
      if (code === "session_not_found" && !retry) {
        // The session went with its contact (a token that expired): start a new one.
        this.sessionId = null;
        this.session = null;
        return this.send(text, files, box);
      }
      if (code === "session_closed" && this.session) this.applySession(Object.assign({}, this.session, { isOpened: false }));
      this.failed(box, text, files, code === "session_closed" || code === "session_not_found");
      return;
    }
    if (result.session) this.applySession(result.session);
    const reply = result.autopilotResponse;
    if (box.classList.contains("pending") || (reply && !this.seen.has(reply.id))) await this.sync();
  }

  async retrying(work) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await work();
      } catch (e) {
        const transient = !(e instanceof ApiError) || e.status >= 500 || e.status === 429 || e.status === 401;
        if (!transient || attempt >= 4 || (e.status === 401 && this.verified)) throw e;
        await sleep(Math.min(8000, 500 * 2 ** attempt));
      }
    }
  }

  failed(box, text, files, final) {
    const meta = box.querySelector(".meta");
    meta.replaceChildren(this.s.failed);
    if (!final) {
      meta.append(h("button", { type: "button", testid: "retry", text: this.s.retry, onclick: () => this.send(text, files, box) }));
    }
  }

  async ensureSession() {
    if (this.sessionId) return this.sessionId;
    if (!this.creating) {
      this.creating = (async () => {
        const custom = this.o.customData && typeof this.o.customData === "object" ? this.o.customData : {};
        const session = await this.retrying(() => this.call("POST", "/create-session", { body: { customData: custom } }));
        this.sessionId = session.id;
        this.store.write(this.verified ? { vs: session.id } : { s: session.id });
        this.applySession(session);
        // The stream must be listening before the first message, so nothing is missed.
        await Promise.race([new Promise((resolve) => this.connect(resolve)), sleep(2500)]);
        return session.id;
      })().finally(() => {
        this.creating = null;
      });
    }
    return this.creating;
  }

  async upload() {
    const el = this.el;
    const file = el.file.files && el.file.files[0];
    el.file.value = "";
    if (!file) return;
    this.uploading = true;
    el.attached.hidden = false;
    el.attached.replaceChildren(this.s.uploading);
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      const result = await this.call("POST", "/upload", { form });
      this.attachment = { id: result.id, name: result.fileName, size: file.size, type: file.type || null, url: result.fileUrl };
      el.attached.replaceChildren(
        h("span", { testid: "attachment-name", text: `\ud83d\udcce ${result.fileName}` }),
        h("button", { type: "button", "aria-label": this.t("remove", { name: result.fileName }), text: "\u00d7", onclick: () => ((this.attachment = null), (el.attached.hidden = true), el.input.focus()) }),
      );
    } catch (e) {
      this.attachment = null;
      el.attached.replaceChildren(h("span", { role: "alert", text: e.status === 413 ? `${this.s.uploadFailed} (10 MB)` : `${this.s.uploadFailed} ${e.message || ""}` }));
    } finally {
      this.uploading = false;
    }
  }

  async download(file) {
    const url = file.url && safeUrl(file.url);
    if (!url) return;
    // A file elsewhere opens as a link: the tokens go to deskpilot only.
    if (!url.startsWith(`${this.base}${API}/`)) {
      window.open(url, "_blank", "noopener,noreferrer");
      return;
    }
    // Files are served to their contact only: fetched with the token, handed over as a blob.
    try {
      const response = await fetch(url, { headers: { "X-Bot-Token": this.o.token, Authorization: `Bearer ${await this.contact()}` }, credentials: "omit" });
      if (!response.ok) throw new ApiError(response.status, response.statusText);
      const href = URL.createObjectURL(await response.blob());
      const a = h("a", { href, download: file.name || "file", rel: "noopener" });
      this.shadow.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(href), 10000);
    } catch (e) {
      this.system("error", this.s.error);
    }
  }

  // --- resolve and CSAT --------------------------------------------------------------------

  async resolve() {
    if (!this.sessionId) return;
    try {
      await this.call("POST", "/session/resolve", { body: { session_id: this.sessionId } });
    } catch (e) {
      this.system("error", this.s.error);
      return;
    }
    if (this.session) this.applySession(Object.assign({}, this.session, { isOpened: false }));
    this.sync();
  }

  showCsat() {
    const el = this.el;
    if (!el.csat.hidden || !this.sessionId) return;
    let score = 0;
    const stars = [1, 2, 3, 4, 5].map((n) =>
      h("button", {
        class: "star", testid: `csat-${n}`, "aria-pressed": "false", "aria-label": this.t("star", { n }), text: "\u2605",
        onclick: () => {
          score = n;
          stars.forEach((b, i) => b.setAttribute("aria-pressed", String(i < n)));
          submit.disabled = false;
        },
      }),
    );
    const feedback = h("textarea", { rows: "2", maxlength: "2000", "aria-label": this.s.feedback, placeholder: this.s.feedback, testid: "csat-feedback" });
    const submit = h("button", { class: "primary", disabled: true, testid: "csat-submit", text: this.s.rate });
    submit.addEventListener("click", async () => {
      submit.disabled = true;
      const body = { session_id: this.sessionId, score };
      if (feedback.value.trim()) body.feedback = feedback.value.trim();
      if (this.csatRequest) body.system_message_uuid = this.csatRequest;
      try {
        await this.call("POST", "/submit-csat", { body });
      } catch (e) {
        if (e.status !== 409) {
          submit.disabled = false;
          return;
        }
      }
      this.csatDone = true;
      el.csat.replaceChildren(h("p", { role: "status", testid: "csat-thanks", text: this.s.thanks }));
      el.csat.hidden = false;
    });
    el.csat.replaceChildren(
      h("p", { id: "dp-csat", text: this.s.csat }),
      h("div", { class: "stars", role: "group", "aria-labelledby": "dp-csat" }, ...stars),
      feedback,
      submit,
    );
    el.csat.hidden = false;
    if (this.nearBottom()) this.scrollDown();
  }

  // --- staying in sync: the stream, with polling while it is down ------------------------

  connect(onOpen) {
    if (!this.sessionId || this.es || this.connecting || this.destroyed) return;
    const push = this.config && this.config.push;
    if (!window.EventSource || !push || !push.sse) {
      this.startPolling();
      if (onOpen) onOpen();
      return;
    }
    const id = this.sessionId;
    this.connecting = true;
    this.call("POST", "/stream-ticket", { body: { session_id: id } })
      .then((r) => {
        this.connecting = false;
        if (this.sessionId !== id || this.destroyed) return;
        const query = new URLSearchParams({ ticket: r.ticket });
        if (this.lastEventId) query.set("last_event_id", this.lastEventId);
        const es = new EventSource(`${this.base}${API}/stream/${encodeURIComponent(id)}?${query}`);
        this.es = es;
        es.addEventListener("open", () => {
          this.backoff = 1000;
          this.stopPolling();
          this.el.conn.hidden = true;
          if (onOpen) onOpen();
          this.sync(); // closes any gap between the last read and the stream's start
        });
        es.addEventListener("message", (e) => this.frame(e, (data) => this.add(data, true)));
        es.addEventListener("session", (e) => this.frame(e, (data) => this.applySession(data)));
        es.addEventListener("typing", (e) => this.frame(e, (data) => this.typing(data)));
        es.addEventListener("delta", (e) => this.frame(e, (data) => this.delta(data)));
        // A ticket opens one stream: every reconnect asks for a new one, resuming after
        // the last message held.
        es.addEventListener("error", () => {
          es.close();
          if (this.es !== es) return;
          this.es = null;
          if (onOpen) onOpen();
          this.startPolling();
          this.reconnect();
        });
      })
      .catch((e) => {
        this.connecting = false;
        if (onOpen) onOpen();
        if (e.status === 404) return; // the session is gone: nothing to follow
        this.startPolling();
        this.reconnect();
      });
  }

  frame(event, use) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    use(data);
  }

  reconnect(delay) {
    clearTimeout(this.reconnectTimer);
    if (!this.sessionId || this.destroyed) return;
    const wait = delay === undefined ? this.backoff : delay;
    this.backoff = Math.min(30000, this.backoff * 2);
    if (delay !== 0) this.el.conn.hidden = false;
    this.reconnectTimer = setTimeout(() => {
      if (!this.es) this.connect();
      if (delay === 0) this.sync();
    }, wait);
  }

  startPolling() {
    if (this.pollTimer || !this.sessionId) return;
    const every = ((this.config && this.config.sessionPollingIntervalSeconds) || 5) * 1000;
    this.pollTimer = setInterval(() => this.sync(), every);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  /* One poll at a time; a call during one runs again once it ends. */
  sync() {
    if (!this.sessionId) return Promise.resolve();
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        const id = this.sessionId;
        try {
          const query = { lastMessageTimestamp: this.lastSentAt };
          const result = await this.call("GET", `/poll/${encodeURIComponent(id)}`, { query });
          if (this.sessionId !== id) return;
          for (const item of result.history) this.add(item, true);
          this.applySession(result.session);
        } catch (e) {
          return; // offline: the next poll or the stream catches up
        }
      } while (this.syncAgain);
    })().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  disconnect() {
    if (this.es) this.es.close();
    this.es = null;
    this.stopPolling();
    clearTimeout(this.reconnectTimer);
    this.el.conn.hidden = true;
    this.typing({ active: false });
  }

  destroy() {
    this.destroyed = true;
    this.disconnect();
    this.stopListPolling();
    clearTimeout(this.typingTimer);
    for (const [target, type, fn] of this.listen) target.removeEventListener(type, fn);
    this.host.remove();
  }
}

function svg(path) {
  const ns = "http://www.w3.org/2000/svg";
  const el = document.createElementNS(ns, "svg");
  el.setAttribute("viewBox", "0 0 24 24");
  el.setAttribute("aria-hidden", "true");
  el.setAttribute("focusable", "false");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", path);
  el.append(p);
  return el;
}

const widgets = [];

/* OpenCX's embed name. Returns open(), close() and destroy() for this widget. */
function initOpenScript(options) {
  let widget = null;
  const start = () => widgets.push((widget = new Widget(options)));
  if (document.body || (options && options.inline)) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
  return {
    open: () => widget && widget.open(),
    close: () => widget && widget.close(),
    destroy: () => {
      if (!widget) return;
      widget.destroy();
      widgets.splice(widgets.indexOf(widget), 1);
      widget = null;
    },
  };
}

window.initOpenScript = initOpenScript;
window.deskpilot = {
  initOpenScript,
  open: () => widgets.forEach((w) => w.open()),
  close: () => widgets.forEach((w) => w.close()),
  destroy: () => widgets.splice(0).forEach((w) => w.destroy()),
};
})();
