// Subscribes with the reference `graphql-ws` client and prints one JSON line per message.
// usage: node subscribe.mjs <ws-url> <token|-> <count> <query> [variables-json]
// Prints {"ready":true} once the server has acknowledged the subscription's connection, then
// {"next": payload} per result, {"error": …} on a refusal, and exits after <count> results.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, countText, query, variablesText] = process.argv.slice(2);
const count = Number(countText);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  lazy: false,
  connectionParams: token === "-" ? {} : { authorization: `Bearer ${token}` },
  on: { connected: () => console.log(JSON.stringify({ ready: true })) },
});
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
let seen = 0;
const timer = setTimeout(() => { print({ timeout: true, seen }); process.exit(2); }, 30000);
client.subscribe(
  { query, variables: variablesText ? JSON.parse(variablesText) : {} },
  {
    next: (payload) => {
      print({ next: payload });
      if (++seen >= count) { clearTimeout(timer); client.dispose(); process.exit(0); }
    },
    error: (error) => {
      const detail = Array.isArray(error) ? error
        : error && error.code ? { code: error.code, reason: error.reason } : String(error);
      print({ error: detail });
      clearTimeout(timer); client.dispose(); process.exit(0);
    },
    complete: () => { print({ complete: true }); clearTimeout(timer); process.exit(0); },
  },
);
