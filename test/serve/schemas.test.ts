// Route parameters must accept exactly the names the registry can hold: invalid → 400, valid but unknown → 404.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertAlias, assertModelName } from '../../src/registry/validation.ts';
import { aliasName, modelName } from '../../src/serve/http/schemas.ts';

const registryAccepts = (check: (v: unknown) => void, value: string) => {
  try {
    check(value);
    return true;
  } catch {
    return false;
  }
};

const m64 = 'm'.repeat(64);
const names: [string, boolean][] = [
  ['iris', true],
  ['Iris_v2.1-final', true],
  ['7up', true],
  [m64, true],
  [`${m64}x`, false],
  ['', false],
  ['a@b', false],
  ['a b', false],
  ['a:b', false],
  ['a/b', false],
  ['.hidden', false],
  ['-flag', false],
  ['_x', false],
  ['café', false],
  ['iris\n', false],
];
const aliases: [string, boolean][] = [
  ['production', true],
  ['canary-2.b_x', true],
  [`a${'b'.repeat(63)}`, true],
  [`a${'b'.repeat(64)}`, false],
  ['2nd', false],
  ['', false],
  ['a@b', false],
  ['_x', false],
];

describe('route name schemas follow the registry', () => {
  for (const [what, schema, check, samples] of [
    ['model name', modelName, assertModelName, names],
    ['alias', aliasName, assertAlias, aliases],
  ] as const) {
    it(`${what}: the schema and src/registry/validation.ts agree on every sample`, () => {
      for (const [value, valid] of samples) {
        assert.equal(registryAccepts(check, value), valid, `registry on ${JSON.stringify(value)}`);
        const parsed = schema.safeParse(value);
        assert.equal(parsed.success, valid, `schema on ${JSON.stringify(value)}`);
        if (!parsed.success)
          assert.match(parsed.error.issues[0].message, new RegExp(`^invalid ${what === 'alias' ? 'alias' : 'model name'} `));
      }
    });
  }
});

describe('names in messages', () => {
  it('a long invalid name is quoted cut short, with its length (a body or a gRPC field has no URL limit)', () => {
    for (const [schema, what] of [
      [modelName, 'model name'],
      [aliasName, 'alias'],
    ] as const) {
      const parsed = schema.safeParse(`a${'b'.repeat(9_999)}`);
      assert.equal(parsed.success, false);
      assert.match(parsed.error!.issues[0].message, new RegExp(`^invalid ${what} "ab{63}…\\(10000 chars\\)": `));
    }
  });
});
