// Drives /status in headless Chromium (Debian's chromium through playwright-core) and prints
// what a reader saw as one JSON object; tests/statuspage/test_browser.py asserts on it.
//
//   node status_page.mjs <scenario> <server url> <admin token> <screenshot path> [json args]
//
// Scenarios:
//   static   load the page, read the banner, services, incidents and times, take a screenshot
//   live     also open a P1 by mutation and time the page's change (no reload), then add a
//            public note, an internal note and another public note, optionally rename a
//            service, and read the page again
//   protocol serve a scripted graphql-transport-ws peer in the browser (routeWebSocket) to
//            watch the script subscribe, render pushed snapshots and reconnect with back-off
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [scenario, baseUrl, token, screenshotPath, extra] = process.argv.slice(2);
const options = extra ? JSON.parse(extra) : {};
const report = { scenario, consoleErrors: [], pageErrors: [], steps: {} };

async function graphql(query, variables = {}) {
  const response = await fetch(baseUrl + "/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function readPage(page) {
  return page.evaluate(() => {
    const text = (node) => (node ? node.textContent.replace(/\s+/g, " ").trim() : null);
    return {
      title: document.title,
      banner: text(document.querySelector("#banner h2")),
      bannerStatus: document.querySelector("#banner").dataset.status,
      services: [...document.querySelectorAll("#service-list > li")].map((li) => ({
        name: text(li.querySelector(".service-name")),
        status: text(li.querySelector(".service-status")),
        bars: li.querySelectorAll(".bar").length,
        todayStatus: [...li.querySelectorAll(".bar")].pop()?.dataset.status ?? null,
      })),
      incidents: [...document.querySelectorAll("#incident-list article")].map((a) => ({
        reference: a.dataset.reference,
        title: text(a.querySelector("h3")),
        updates: [...a.querySelectorAll("ol.updates li p")].map(text),
      })),
      times: [...document.querySelectorAll("time[datetime]")].map((t) => ({
        datetime: t.getAttribute("datetime"), shown: text(t), title: t.title,
      })),
      live: document.querySelector("#live").dataset.state,
      bodyText: document.body.innerText,
      marker: window.__sameDocument === true,
    };
  });
}

async function waitUntil(page, predicate, arg, timeout) {
  const started = Date.now();
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 20 });
    return { ok: true, ms: Date.now() - started };
  } catch (error) {
    return { ok: false, ms: Date.now() - started };
  }
}

async function scenarioLive(page) {
  await page.evaluate(() => { window.__sameDocument = true; });
  // The script must be connected before the change, or the change would come from catch-up.
  report.steps.connected = await waitUntil(
    page, () => document.querySelector("#live").dataset.state === "live", null, 10000);
  const opened = await graphql(
    `mutation($s: ID!) { createIncident(input: { title: "edge router r7 down", serviceId: $s,
       impact: HIGH, urgency: HIGH, public: true, publicTitle: "Checkout is down" })
       { id reference priority } }`, { s: options.serviceId });
  const incident = opened.createIncident;
  report.steps.incident = incident;
  report.steps.outage = await waitUntil(
    page, () => document.querySelector("#banner").dataset.status === "MAJOR_OUTAGE", null, 2000);
  const note = (text, isPublic) => graphql(
    `mutation($id: ID!, $n: String!, $p: Boolean!) { addIncidentNote(id: $id, note: $n,
       public: $p) { sequence } }`, { id: incident.id, n: text, p: isPublic });
  await note("We are rerouting traffic", true);
  report.steps.publicNote = await waitUntil(
    page, (t) => document.body.innerText.includes(t), "We are rerouting traffic", 2000);
  await note("r7 PSU fried, Alice swapping it", false);
  await note("Traffic is flowing again", true);
  report.steps.secondPublicNote = await waitUntil(
    page, (t) => document.body.innerText.includes(t), "Traffic is flowing again", 2000);
  if (options.renameId) {  // a rename keeps the service's row and its day bars
    await graphql(`mutation($id: ID!) { updateService(id: $id, input: { name: "Site search" })
       { name } }`, { id: options.renameId });
    report.steps.renamed = await waitUntil(
      page, (t) => [...document.querySelectorAll(".service-name")].some((h) => h.textContent === t),
      "Site search", 2000);
  }
  await page.waitForTimeout(300);  // anything else the internal note might have caused
}

async function scenarioProtocol(page, context) {
  // A scripted graphql-transport-ws peer: the first connection acks, takes the subscription
  // and pushes one snapshot, then drops; later ones are refused, so the script must back off.
  const log = [];
  const started = Date.now();
  let connections = 0;
  await context.routeWebSocket(/\/graphql$/, (ws) => {
    connections += 1;
    const n = connections;
    log.push({ event: "open", n, at: Date.now() - started, protocol: ws.protocol?.() ?? null });
    if (n > 1) { ws.close({ code: 1011, reason: "down" }); return; }
    ws.onMessage((raw) => {
      const message = JSON.parse(raw);
      log.push({ event: "message", n, type: message.type, query: message.payload?.query ?? null });
      if (message.type === "connection_init") ws.send(JSON.stringify({ type: "connection_ack" }));
      if (message.type === "subscribe") {
        ws.send(JSON.stringify({ type: "ping" }));
        ws.send(JSON.stringify({ id: message.id, type: "next", payload: { data: { statusPage:
          options.snapshot } } }));
        setTimeout(() => ws.close({ code: 1001, reason: "going away" }), 300);
      }
    });
  });
  await page.goto(baseUrl + "/status");
  await page.evaluate(() => { window.__sameDocument = true; });
  report.steps.pushed = await waitUntil(
    page, (t) => document.body.innerText.includes(t), options.expectText, 3000);
  report.steps.afterPush = await readPage(page);
  await page.waitForTimeout(options.watchMs ?? 4000);
  report.steps.connections = log;
  report.steps.afterDrop = await readPage(page);
}

const userDataDir = mkdtempSync(join(tmpdir(), "tocsin-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
    timezoneId: options.timezone || "UTC",
    locale: "en-GB",
    viewport: { width: 1000, height: 900 },
  });
  const page = context.pages()[0] || await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") report.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));
  if (scenario === "protocol") {
    await scenarioProtocol(page, context);
  } else {
    await page.goto(baseUrl + "/status");
    report.steps.initial = await readPage(page);
    if (scenario === "live") await scenarioLive(page);
    report.steps.final = await readPage(page);
  }
  await page.screenshot({ path: screenshotPath, fullPage: true });
} catch (error) {
  report.error = String(error && error.stack || error);
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report));
