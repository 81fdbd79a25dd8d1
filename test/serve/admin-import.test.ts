// POST /admin/models/{model}/import against a real registry: the token, the body's type and size, the
// refusals, and a served answer right after the import.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openRegistry, type Registry } from '../../src/registry/index.ts';
import { type RunningServer, startServer } from '../../src/serve/index.ts';

const TOKEN = 'import-token';
const FIXTURES = path.join(import.meta.dirname, '../fixtures/pytorch');
const onnx = (file: string) => readFileSync(path.join(FIXTURES, file));

let dir: string;
let registry: Registry;
let server: RunningServer;

const post = (model: string, body: Uint8Array | string, query = '', headers: Record<string, string> = {}) =>
  fetch(`${server.url}/admin/models/${model}/import${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream', ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'bnserve-admin-import-'));
  registry = await openRegistry({ databaseUrl: `file:${path.join(dir, 'registry.db')}`, artifactsDir: path.join(dir, 'artifacts') });
  server = await startServer({
    registry,
    env: { BNSERVE_MAX_IMPORT_MB: '1' },
    host: '127.0.0.1',
    port: 0,
    providers: ['cpu'],
    adminToken: TOKEN,
    logger: false,
    refreshIntervalMs: 0,
  });
});
after(async () => {
  await server?.close();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /admin/models/{model}/import', () => {
  test('without the admin token: 401, and nothing is registered', async () => {
    const r = await post('mlp', onnx('mlp_eval.onnx'), '', { authorization: 'Bearer wrong' });
    assert.equal(r.status, 401);
    assert.deepEqual(await registry.listVersions('mlp'), []);
  });

  test('a JSON body is not an ONNX file: 415', async () => {
    const r = await post('mlp', '{"model": "x"}', '', { 'content-type': 'application/json' });
    assert.equal(r.status, 415);
  });

  test('a body over BNSERVE_MAX_IMPORT_MB: 413', async () => {
    const r = await post('mlp', Buffer.alloc(1024 * 1024 + 1));
    assert.equal(r.status, 413);
  });

  test('the training-mode export: 400 naming the BN nodes', async () => {
    const r = await post('cnn', onnx('cnn_training.onnx'));
    const body = (await r.json()) as { error: string };
    assert.equal(r.status, 400);
    assert.match(body.error, /training mode: BatchNormalization \/features\/features\.1\/BatchNormalization/);
    assert.deepEqual(await registry.listVersions('cnn'), []);
  });

  test('the eval-mode MLP is registered folded and answers at once; the same bytes again register nothing', async () => {
    const r = await post('mlp', onnx('mlp_eval.onnx'));
    const body = (await r.json()) as Record<string, unknown>;
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.version, 1);
    assert.equal(body.folded, true);
    assert.equal(body.already_registered, false);
    assert.ok((body.parity as { max_scaled_diff: number }).max_scaled_diff < 1e-5);
    const predict = await fetch(`${server.url}/v1/models/mlp:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] }),
    });
    assert.equal(predict.status, 200, await predict.clone().text());
    const int8 = (await (await post('mlp', onnx('mlp_eval.onnx'), '?precision=int8')).json()) as Record<string, unknown>;
    assert.deepEqual([int8.version, int8.precision], [2, 'int8'], JSON.stringify(int8));
    assert.ok((int8.agreement as number) >= 0.99);
    const again = (await (await post('mlp', onnx('mlp_eval.onnx'))).json()) as Record<string, unknown>;
    assert.equal(again.already_registered, true);
    assert.equal(again.version, 1);
    assert.equal((await registry.listVersions('mlp')).length, 2);
  });

  test('the untrained export with alias=production: registered flagged, the alias refused (409) unless force=true', async () => {
    const refused = await post('cnn', onnx('cnn_untrained.onnx'), '?alias=production');
    assert.equal(refused.status, 409, await refused.clone().text());
    const [flagged] = await registry.listVersions('cnn');
    assert.match(flagged.bnGuardWarning ?? '', /never updated/);
    const forced = await post('cnn', onnx('cnn_untrained.onnx'), '?alias=production&force=true');
    const body = (await forced.json()) as Record<string, unknown>;
    assert.equal(forced.status, 200, JSON.stringify(body));
    assert.equal(body.already_registered, true);
    assert.equal((await registry.getVersion('cnn', 'production'))?.version, flagged.version);
  });
});
