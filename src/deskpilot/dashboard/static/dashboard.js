// The dashboard's few behaviours on top of htmx: notices for failed requests, forms that
// clear after sending, local times, filters that apply on change, and the live inbox (a
// server-sent events feed that makes htmx re-fetch the list and the open conversation).
(function () {
  "use strict";

  var flash = document.getElementById("flash");
  var flashTimer = null;

  function showFlash(text) {
    if (!flash) return;
    flash.textContent = text;
    flash.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(function () { flash.hidden = true; }, 8000);
  }

  function localTimes(root) {
    var nodes = (root || document).querySelectorAll("time[data-local]");
    var today = new Date().toDateString();
    nodes.forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      node.textContent = when.toDateString() === today
        ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
        : when.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
      node.title = when.toLocaleString();
    });
  }

  function transcriptToEnd(root) {
    var scroll = (root || document).querySelector("[data-testid=transcript-scroll]");
    if (scroll) scroll.scrollTop = scroll.scrollHeight;
  }

  // Every htmx request carries the session's CSRF token (forms also hold it for no-JS use).
  var csrf = document.querySelector("meta[name=csrf-token]");
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (csrf) event.detail.headers["X-CSRF-Token"] = csrf.getAttribute("content");
  });

  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 401) {
      showFlash("Your session has ended: open the dashboard again from your app.");
      return;
    }
    showFlash((xhr.responseText || "Something went wrong. Try again.").slice(0, 300));
  });
  document.body.addEventListener("htmx:sendError", function () {
    showFlash("The server can't be reached. Check your connection.");
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (event.detail.successful && form instanceof HTMLFormElement && form.hasAttribute("data-reset-on-success")) {
      form.reset();
    }
  });

  // A refresh keeps the debug panels the reader opened, and the transcript's end in view
  // when it was there.
  var openPanels = [];
  var wasAtEnd = true;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "conversation-live") return;
    openPanels = Array.prototype.map.call(target.querySelectorAll("details[open][id]"), function (node) { return node.id; });
    var scroll = target.querySelector("[data-testid=transcript-scroll]");
    wasAtEnd = !scroll || scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 40;
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    localTimes(target);
    if (!target || target.id !== "conversation-live") return;
    openPanels.forEach(function (id) {
      var node = document.getElementById(id);
      if (node) node.open = true;
    });
    if (wasAtEnd) transcriptToEnd(target);
  });

  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });

  // Forms that delete something ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  localTimes(document);
  transcriptToEnd(document);

  var live = document.querySelector("[data-live-stream]");
  if (!live || !window.EventSource || !window.htmx) return;

  var pending = {};
  var refreshTimer = null;

  function refresh(id) {
    var node = document.getElementById(id);
    if (node) window.htmx.trigger(node, "dp:refresh");
  }

  function schedule(sessionId) {
    pending[sessionId] = true;
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      var open = document.getElementById("conversation-live");
      if (open && (pending["*"] || pending[open.getAttribute("data-session-id")])) {
        refresh("conversation-live");
      }
      refresh("conversation-list");
      pending = {};
    }, 200);
  }

  var connected = false;
  var source = new EventSource(live.getAttribute("data-live-stream"));
  source.addEventListener("ready", function () {
    // After a reconnect, whatever happened meanwhile.
    if (connected) schedule("*");
    connected = true;
    document.body.setAttribute("data-live", "on");
  });
  source.addEventListener("change", function (event) {
    var data = {};
    try { data = JSON.parse(event.data); } catch (error) { data = {}; }
    schedule(data.session_id ? String(data.session_id) : "*");
  });
  source.addEventListener("resync", function () { schedule("*"); });
  source.addEventListener("end", function () {
    source.close();
    document.body.setAttribute("data-live", "off");
    showFlash("Your session has ended: open the dashboard again from your app.");
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
