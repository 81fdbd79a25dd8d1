#!/usr/bin/env node
// Vendors the openAPIV3Schema of KServe's ServingRuntime and InferenceService CRDs into
// deploy/kserve/schemas/, for test/deploy/kubernetes.test.ts (offline validation with ajv).
//   node scripts/kserve-schemas.mjs <kserve checkout> <ref>
// reads config/crd/full/serving.kserve.io_{servingruntimes,inferenceservices}.yaml at <ref> with
// `git show` (a bare mirror works). Descriptions and status are dropped, and so are the subtrees our
// manifests do not use (listed in each file's $comment): the test treats every field not in the
// schema as unknown, so a manifest that starts using a dropped field fails until it is re-vendored.
// A key `[]` in a drop path steps into an array's items (spec.canary[].predictor...).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = path.join(root, 'deploy', 'kserve', 'schemas');

// Pod-spec and framework fields that are large and that our manifests never set.
const UNUSED_POD_FIELDS = ['affinity', 'volumes', 'initContainers', 'workerSpec'];
const FRAMEWORKS = ['huggingface', 'lightgbm', 'onnx', 'paddle', 'pmml', 'pytorch', 'sklearn', 'tensorflow', 'triton', 'xgboost'];

const CRDS = [
  {
    file: 'serving.kserve.io_servingruntimes.yaml',
    version: 'v1alpha1',
    out: 'servingruntime.v1alpha1.json',
    drop: [['status'], ['spec', 'affinity'], ['spec', 'volumes'], ['spec', 'workerSpec']],
  },
  {
    file: 'serving.kserve.io_inferenceservices.yaml',
    version: 'v1beta1',
    out: 'inferenceservice.v1beta1.json',
    drop: [
      ['status'],
      ['spec', 'explainer'],
      ['spec', 'transformer'],
      // spec.canary (v0.20, Standard mode) is kept: deploy/kserve/inferenceservice-standard.yaml uses it.
      ...[...UNUSED_POD_FIELDS, ...FRAMEWORKS].map((f) => ['spec', 'predictor', f]),
      ...[...UNUSED_POD_FIELDS, ...FRAMEWORKS].map((f) => ['spec', 'canary', '[]', 'predictor', f]),
    ],
  },
];

function withoutDescriptions(node) {
  if (Array.isArray(node)) return node.map(withoutDescriptions);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).flatMap(([k, v]) => (k === 'description' ? [] : [[k, withoutDescriptions(v)]])));
}

function dropProperty(schema, keys) {
  let node = schema;
  for (const key of keys.slice(0, -1)) node = key === '[]' ? node?.items : node?.properties?.[key];
  const last = keys.at(-1);
  if (!node?.properties?.[last]) throw new Error(`${keys.join('.')} is not in the schema: update the drop list`);
  delete node.properties[last];
}

const [checkout, ref] = process.argv.slice(2);
if (!checkout || !ref) {
  console.error('usage: node scripts/kserve-schemas.mjs <kserve checkout or bare mirror> <git ref, e.g. v0.20.0>');
  process.exit(2);
}
const commit = execFileSync('git', ['-C', checkout, 'rev-parse', `${ref}^{commit}`], { encoding: 'utf8' }).trim();
for (const crd of CRDS) {
  const source = `config/crd/full/${crd.file}`;
  const doc = YAML.parse(execFileSync('git', ['-C', checkout, 'show', `${commit}:${source}`], { encoding: 'utf8', maxBuffer: 1 << 28 }));
  const served = doc.spec.versions.find((v) => v.name === crd.version);
  if (!served) throw new Error(`${crd.file} has no version ${crd.version}`);
  const schema = withoutDescriptions(served.schema.openAPIV3Schema);
  for (const keys of crd.drop) dropProperty(schema, keys);
  const vendored = {
    $comment:
      `openAPIV3Schema of ${doc.spec.names.kind} ${doc.spec.group}/${crd.version} from github.com/kserve/kserve ${ref} (${commit}), ` +
      `${source}; written by scripts/kserve-schemas.mjs without descriptions and without: ${crd.drop.map((k) => k.join('.').replaceAll('.[]', '[]')).join(', ')}`,
    ...schema,
  };
  const out = path.join(OUT_DIR, crd.out);
  writeFileSync(out, `${JSON.stringify(vendored, null, 2)}\n`);
  // In the repository's own JSON style, so that `biome check .` passes.
  execFileSync('npx', ['--no-install', 'biome', 'format', '--write', out], { cwd: root, stdio: 'ignore' });
  console.log(`wrote ${path.relative(root, out)}`);
}
