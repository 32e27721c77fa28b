// Keeps the status page current without reloads. It speaks graphql-transport-ws to the public
// `statusPage` subscription at /graphql (no token), re-renders the banner, the services and
// the incidents in place from each snapshot, and reconnects with exponential back-off (with
// jitter) when the connection drops. After each (re)connection it also fetches the current
// snapshot over HTTP, so nothing that changed while it was offline is missed. It shows times
// in the reader's local time zone. Without it the server-rendered page still says it all.
(function () {
  "use strict";

  var FIELDS = "statusPage { updatedAt services { key name status } " +
    "incidents { reference title status priority createdAt updates { at message } } }";
  var SUBSCRIPTION = "subscription StatusPageLive { " + FIELDS + " }";
  var QUERY = "query StatusPageNow { " + FIELDS + " }";
  var SEVERITY = ["OPERATIONAL", "DEGRADED", "PARTIAL_OUTAGE", "MAJOR_OUTAGE"];
  var BACKOFF_BASE_MS = 1000;
  var BACKOFF_MAX_MS = 30000;

  var labels = JSON.parse(document.getElementById("status-labels").textContent);
  var state = { socket: null, attempts: 0, retryTimer: null, lastUpdatedAt: null };
  var timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });

  // ------------------------------------------------------------ rendering

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;  // never innerHTML: data stays text
    return node;
  }

  function utcText(iso) {
    return new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function timeElement(iso) {
    return el("time", { datetime: iso }, utcText(iso));
  }

  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      var moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      if (!node.dataset.utc) node.dataset.utc = node.textContent;
      node.textContent = timeFormat.format(moment);
      node.title = node.dataset.utc;
    });
  }

  function worst(statuses) {
    return statuses.reduce(function (a, b) {
      return SEVERITY.indexOf(b) > SEVERITY.indexOf(a) ? b : a;
    }, "OPERATIONAL");
  }

  function renderBanner(services) {
    var overall = worst(services.map(function (s) { return s.status; }));
    var banner = document.getElementById("banner");
    banner.dataset.status = overall;
    document.getElementById("banner-text").textContent =
      overall === "OPERATIONAL" ? labels.allOperational : labels.service[overall];
    var affected = services.filter(function (s) { return s.status !== "OPERATIONAL"; })
      .map(function (s) { return s.name; });
    var line = document.getElementById("banner-affected");
    line.textContent = "Affected: " + affected.join(", ");
    line.hidden = affected.length === 0;
  }

  function markToday(item, status) {
    var bars = item.querySelectorAll(".bar");
    var today = bars[bars.length - 1];
    if (!today || SEVERITY.indexOf(status) <= SEVERITY.indexOf(today.dataset.status)) return;
    var tip = today.dataset.day + ": " + labels.service[status];
    today.dataset.status = status;
    today.dataset.tip = tip;
    today.title = tip;
    today.setAttribute("aria-label", tip);
  }

  function renameService(item, name) {
    var heading = item.querySelector(".service-name");
    if (heading.textContent === name) return;
    heading.textContent = name;
    item.dataset.service = name;
    var bars = item.querySelector("ol.bars");
    if (bars) bars.setAttribute("aria-label", name + ": the last 90 days");
  }

  function renderServices(services) {
    var list = document.getElementById("service-list");
    var existing = {};
    list.querySelectorAll("li.service").forEach(function (item) {
      existing[item.dataset.key] = item;
    });
    services.forEach(function (service) {
      var item = existing[service.key];
      if (!item) {  // a service made public since the page was rendered: no history yet
        item = el("li", { "class": "service", "data-key": service.key,
                          "data-service": service.name });
        var head = el("div", { "class": "service-head" });
        head.appendChild(el("h3", { "class": "service-name" }, service.name));
        head.appendChild(el("span", { "class": "service-status" }));
        item.appendChild(head);
      }
      renameService(item, service.name);  // a rename keeps the row and its history
      delete existing[service.key];
      list.appendChild(item);  // keeps the server's order (by name)
      item.dataset.status = service.status;
      var badge = item.querySelector(".service-status");
      badge.dataset.status = service.status;
      badge.textContent = labels.service[service.status];
      markToday(item, service.status);
    });
    Object.keys(existing).forEach(function (name) { existing[name].remove(); });
  }

  function renderIncident(incident) {
    var impact = labels.impactByPriority[incident.priority] || "OPERATIONAL";
    var article = el("article", {
      "class": "incident", id: incident.reference, "data-reference": incident.reference,
      "data-status": impact, "aria-labelledby": incident.reference + "-title"
    });
    article.appendChild(el("h3", { id: incident.reference + "-title" }, incident.title));
    var meta = el("p", { "class": "meta" });
    meta.appendChild(el("span", { "class": "impact", "data-status": impact },
      impact === "OPERATIONAL" ? "Minor impact" : labels.service[impact]));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", { "class": "state" }, labels.incident[incident.status]));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", { "class": "reference" }, incident.reference));
    meta.appendChild(document.createTextNode(" · opened "));
    meta.appendChild(timeElement(incident.createdAt));
    article.appendChild(meta);
    if (incident.updates.length) {
      article.appendChild(el("h4", { "class": "visually-hidden" }, "Updates, newest first"));
      var list = el("ol", { "class": "updates" });
      incident.updates.forEach(function (update) {
        var item = el("li");
        item.appendChild(timeElement(update.at));
        item.appendChild(document.createTextNode(" "));
        item.appendChild(el("p", {}, update.message));
        list.appendChild(item);
      });
      article.appendChild(list);
    } else {
      article.appendChild(el("p", { "class": "no-updates" }, "No updates yet."));
    }
    return article;
  }

  function renderIncidents(incidents) {
    var container = document.getElementById("incident-list");
    var fresh = document.createDocumentFragment();
    incidents.forEach(function (incident) { fresh.appendChild(renderIncident(incident)); });
    container.replaceChildren(fresh);
    document.getElementById("no-incidents").hidden = incidents.length > 0;
  }

  function render(page) {
    // Snapshots can arrive out of order (HTTP catch-up vs. the subscription): keep the newest.
    if (state.lastUpdatedAt && new Date(page.updatedAt) < new Date(state.lastUpdatedAt)) return;
    state.lastUpdatedAt = page.updatedAt;
    renderBanner(page.services);
    renderServices(page.services);
    renderIncidents(page.incidents);
    var updated = document.getElementById("updated-at");
    updated.setAttribute("datetime", page.updatedAt);
    updated.textContent = utcText(page.updatedAt);
    delete updated.dataset.utc;
    localizeTimes(document);
    document.body.dataset.renderedAt = String(Date.now());
  }

  // ------------------------------------------------------------ connection

  function setLive(stateName, text) {
    var live = document.getElementById("live");
    live.hidden = false;
    live.dataset.state = stateName;
    live.textContent = text;
  }

  function catchUp() {
    var url = "/graphql?query=" + encodeURIComponent(QUERY);
    fetch(url, { headers: { accept: "application/graphql-response+json, application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) { if (body.data && body.data.statusPage) render(body.data.statusPage); })
      .catch(function () { /* the subscription will bring the next snapshot */ });
  }

  function retryDelay(attempts) {
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, attempts));
    return Math.round(ceiling / 2 + Math.random() * ceiling / 2);  // "equal jitter"
  }

  function scheduleReconnect() {
    if (state.retryTimer) return;
    var delay = retryDelay(state.attempts);
    state.attempts += 1;
    setLive("offline", "Live updates paused; retrying in " + Math.ceil(delay / 1000) + " s.");
    state.retryTimer = setTimeout(function () {
      state.retryTimer = null;
      connect();
    }, delay);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + location.host + "/graphql", "graphql-transport-ws");
    } catch (error) {
      scheduleReconnect();
      return;
    }
    state.socket = socket;
    setLive("connecting", "Connecting to live updates…");
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      switch (message.type) {
        case "connection_ack":
          state.attempts = 0;
          socket.send(JSON.stringify({
            id: "status", type: "subscribe",
            payload: { query: SUBSCRIPTION, operationName: "StatusPageLive" }
          }));
          setLive("live", "Live: this page updates itself.");
          catchUp();
          break;
        case "next":
          if (message.payload && message.payload.data && message.payload.data.statusPage) {
            render(message.payload.data.statusPage);
          }
          break;
        case "ping":
          socket.send(JSON.stringify({ type: "pong" }));
          break;
        case "error":
        case "complete":
          socket.close(1000, "subscription ended");  // start over, after a back-off
          break;
      }
    };
    socket.onclose = function () {
      if (state.socket === socket) state.socket = null;
      scheduleReconnect();
    };
  }

  // ------------------------------------------------------------ history bars: one tab stop

  function rovingBars() {
    document.querySelectorAll(".bars").forEach(function (list) {
      var bars = Array.prototype.slice.call(list.querySelectorAll(".bar"));
      bars.forEach(function (bar, index) {
        bar.tabIndex = index === bars.length - 1 ? 0 : -1;
      });
      list.addEventListener("keydown", function (event) {
        var index = bars.indexOf(document.activeElement);
        if (index < 0) return;
        var next = { ArrowLeft: index - 1, ArrowRight: index + 1, Home: 0, End: bars.length - 1 }[event.key];
        if (next === undefined || next < 0 || next >= bars.length) return;
        event.preventDefault();
        bars[index].tabIndex = -1;
        bars[next].tabIndex = 0;
        bars[next].focus();
      });
    });
  }

  state.lastUpdatedAt = document.getElementById("updated-at").getAttribute("datetime");
  localizeTimes(document);
  rovingBars();
  if ("WebSocket" in window) connect();
})();
