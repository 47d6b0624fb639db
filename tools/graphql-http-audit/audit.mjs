// Audits a running hub with graphql-http's server audit; exits non-zero when any audit
// is not ok (MUST failures are errors, SHOULD failures warnings: both count).
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:4000/graphql [token]');
  process.exit(2);
}
// The hub refuses callers without a bearer token; the audit runs as one.
const token = process.argv[3] || process.env.C360_TOKEN;
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};
const results = await auditServer({ url, fetchFn });
let failed = 0;
for (const result of results) {
  if (result.status !== 'ok') {
    failed++;
    console.log(`${result.status.toUpperCase()} ${result.name}: ${result.reason}`);
  }
}
console.log(`graphql-http audit: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
