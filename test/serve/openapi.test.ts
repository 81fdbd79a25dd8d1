import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';

test('GET /docs/json: one component per type, every $ref resolves, no unused component', async () => {
  const app = await buildApp({ registry: new FakeRegistry(), env: {}, providers: ['cpu'], refreshIntervalMs: 0 });
  try {
    await app.ready();
    const r = await app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(r.statusCode, 200);
    const doc = r.json();
    const names = Object.keys(doc.components.schemas);
    for (const id of ['Error', 'InferenceResponse', 'PredictResponse', 'ModelMetadata']) assert.ok(names.includes(id), id);
    for (const name of names)
      assert.ok(!(name.endsWith('Input') && names.includes(name.slice(0, -5))), `${name} duplicates ${name.slice(0, -5)}`);
    const refs = new Set([...JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]));
    for (const ref of refs) assert.ok(names.includes(ref), `$ref ${ref} resolves`);
    for (const name of names) assert.ok(refs.has(name), `${name} is used`);
  } finally {
    await app.close();
  }
});

test('GET /docs: Swagger UI is sent with a Content-Security-Policy that keeps it on this server', async () => {
  const app = await buildApp({ registry: new FakeRegistry(), env: {}, providers: ['cpu'], refreshIntervalMs: 0 });
  try {
    await app.ready();
    for (const url of ['/docs', '/docs/', '/docs/static/swagger-initializer.js', '/docs/json']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 200, url);
      const csp = String(r.headers['content-security-policy'] ?? '');
      assert.match(csp, /default-src 'self'/, url);
      assert.match(csp, /script-src 'self'(;|$)/, `${url}: scripts from this server only`);
      assert.match(csp, /frame-ancestors 'none'/, url);
      // Swagger UI's page has no inline script (the initialiser is a file), so none is allowed.
      assert.doesNotMatch(csp, /unsafe-eval|upgrade-insecure-requests|https:/, url);
    }
    const page = (await app.inject({ method: 'GET', url: '/docs/' })).body;
    assert.doesNotMatch(page, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline <script> the policy would block');
  } finally {
    await app.close();
  }
});
