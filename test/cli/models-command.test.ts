import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openRegistry, RegistryError, type Registry } from '../../src/registry/index.ts';
import { modelsList, modelsPromote, modelsShow } from '../../src/commands/models.ts';
import { formatTable } from '../../src/commands/text-table.ts';
import { createTestDatabase, type TestDatabase } from '../registry/support/databases.ts';
import { versionInput } from '../registry/support/inputs.ts';

let db: TestDatabase;
let registry: Registry;
before(async () => {
  db = await createTestDatabase('sqlite');
  registry = await openRegistry({ databaseUrl: db.url, artifactsDir: db.artifactsDir });
});
after(async () => {
  await registry.close();
  await db.drop();
});

test('formatTable pads columns to the widest cell', () => {
  assert.equal(
    formatTable(
      ['A', 'LONGER'],
      [
        ['xyz', '1'],
        ['', '22'],
      ],
    ),
    'A    LONGER\nxyz  1\n     22',
  );
});

test('models list on an empty registry says how to get a model', async () => {
  const out = await modelsList(registry);
  assert.match(out.text, /no models registered/);
  assert.deepEqual(out.json, { models: [] });
});

test('models list / show / promote: table text and JSON', async () => {
  await registry.registerVersion(versionInput('iris'));
  await registry.registerVersion(versionInput('iris'));
  await registry.registerVersion(versionInput('wine', { task: 'regression', classLabels: [] }));

  const first = await modelsPromote(registry, 'iris', 1);
  assert.equal(first.text, 'iris: production → version 1 (new alias)');
  const moved = await modelsPromote(registry, 'iris', 2, 'production');
  assert.equal(moved.text, 'iris: production → version 2 (was version 1)');
  assert.deepEqual(
    { ...(moved.json as Record<string, unknown>), model: undefined },
    {
      name: 'iris',
      alias: 'production',
      version: 2,
      previousVersion: 1,
      model: undefined,
    },
  );

  const list = await modelsList(registry);
  assert.deepEqual(list.text.split('\n'), [
    'NAME  LATEST  VERSIONS  ALIASES',
    'iris  2       2         production→2',
    'wine  1       1         -',
  ]);
  assert.deepEqual(list.json, {
    models: [
      { name: 'iris', latestVersion: 2, latestUnflaggedVersion: 2, versionCount: 2, aliases: { production: 2 } },
      { name: 'wine', latestVersion: 1, latestUnflaggedVersion: 1, versionCount: 1, aliases: {} },
    ],
  });

  const show = await modelsShow(registry, 'iris');
  const lines = show.text.split('\n');
  assert.equal(lines[0], 'model iris: 2 version(s), aliases production→2');
  assert.match(lines[1], /^task classification; features sepal_length, .*; classes setosa, versicolor, virginica$/);
  assert.match(lines[3], /^VERSION\s+ALIASES\s+CREATED\s+SHA256\s+SIZE\s+OPSET\s+FOLDED\s+PARITY\s+BN GUARD\s+RUN$/);
  assert.match(lines[4], /^1\s+-\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+[0-9a-f]{12}\s+256 B\s+17\s+yes\s+2\.5e-7\s+ok\s+-$/);
  assert.match(lines[5], /^2\s+production\s/);
  const json = show.json as { name: string; aliases: Record<string, number>; versions: { version: number; createdAt: string }[] };
  assert.equal(json.name, 'iris');
  assert.deepEqual(json.aliases, { production: 2 });
  assert.deepEqual(
    json.versions.map((v) => v.version),
    [1, 2],
  );
  assert.equal(typeof json.versions[0].createdAt, 'string');
  assert.doesNotThrow(() => JSON.stringify(show.json));
});

test('show of an unknown model and promote of a missing version are clean not_found errors', async () => {
  await assert.rejects(
    modelsShow(registry, 'nope'),
    (e: unknown) => e instanceof RegistryError && e.code === 'not_found' && /no model named nope/.test(e.message),
  );
  await assert.rejects(
    modelsPromote(registry, 'iris', 42),
    (e: unknown) => e instanceof RegistryError && e.code === 'not_found' && /no version 42/.test(e.message),
  );
  assert.equal((await registry.getVersion('iris', 'production'))?.version, 2);
});
