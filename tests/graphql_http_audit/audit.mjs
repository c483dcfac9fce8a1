// Runs graphql-http's server audits (GraphQL over HTTP conformance) against a URL:
//
//   node audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one JSON array, an entry per audit: {id, name, status, reason?, httpStatus?},
// status "ok", "notice" (MAY), "warn" (SHOULD) or "error" (MUST). Exits 0 when every audit
// is ok, 1 when one is not, 2 when the audits could not run (usage, a fatal error).
// tests/test_graphql_http_audit.py runs it against a real server and reads the JSON.
import { serverAudits } from 'graphql-http';

const REQUEST_TIMEOUT_MS = 10_000;

const url = process.argv[2];
if (!url || process.argv.length !== 3) {
  process.stderr.write('usage: node audit.mjs <graphql endpoint URL>\n');
  process.exit(2);
}

// A request that hangs must fail the audit run, not hang the test suite.
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

try {
  const results = [];
  // One audit at a time: the server under test shares the machine with other test runs.
  for (const { fn } of serverAudits({ url, fetchFn })) {
    const result = await fn();
    const entry = { id: result.id, name: result.name, status: result.status };
    if (result.status !== 'ok') {
      entry.reason = result.reason;
      entry.httpStatus = result.response?.status;
    }
    results.push(entry);
  }
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  process.exit(results.every((r) => r.status === 'ok') ? 0 : 1);
} catch (error) {
  process.stderr.write(`audit could not run: ${error?.stack ?? error}\n`);
  process.exit(2);
}
