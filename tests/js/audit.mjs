// Runs the graphql-http audit suite against a GraphQL-over-HTTP endpoint and prints one JSON
// object: {"results": [{"id", "name", "status", "reason"}]}. Usage: node audit.mjs URL
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
const out = [];
for (const r of results) {
  const entry = { id: r.id, name: r.name, status: r.status };
  if (r.status !== 'ok') entry.reason = r.reason;
  out.push(entry);
}
process.stdout.write(JSON.stringify({ results: out }));
