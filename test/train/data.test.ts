import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { IRIS_CSV, splitDataset } from '../../src/train/data.ts';
import { datasetFromCsv, DataError } from '../../src/train/data-csv.ts';
import { syntheticClassification } from '../../src/train/data-synthetic.ts';
import { fitStandardization, standardizeDataset } from '../../src/train/standardize.ts';

test('the shipped Iris is value-for-value scikit-learn’s iris.csv', async () => {
  const text = await readFile(IRIS_CSV, 'utf8');
  const data = datasetFromCsv(text, { labelColumn: 'species', task: 'classification' });
  assert.equal(data.y.length, 150);
  assert.deepEqual(data.classLabels, ['setosa', 'versicolor', 'virginica']);
  // Rebuild scikit-learn's own file layout (header "150,4,<names>", class indices, CRLF) and
  // compare with the sha256 of sklearn/datasets/data/iris.csv (2885 bytes).
  const lines = ['150,4,setosa,versicolor,virginica'];
  for (let i = 0; i < 150; i++) {
    const features = Array.from(data.x.subarray(i * 4, i * 4 + 4), (v) => v.toFixed(1));
    lines.push(`${features.join(',')},${data.y[i]}`);
  }
  const sklearnLayout = lines.map((l) => `${l}\r\n`).join('');
  assert.equal(sklearnLayout.length, 2885);
  assert.equal(
    createHash('sha256').update(sklearnLayout).digest('hex'),
    'f9e3809b56cc0f2f2f69554b7a0ea04e94d0e2c21343c86593eaf5581551dab6',
  );
});

test('CSV errors name the row and the column', () => {
  const options = { labelColumn: 'label', task: 'classification' as const };
  assert.throws(() => datasetFromCsv('', options, 'empty.csv'), /empty\.csv: the file is empty/);
  assert.throws(() => datasetFromCsv('a,b,label\n', options, 'f.csv'), /no data rows/);
  assert.throws(() => datasetFromCsv('a,b,kind\n1,2,x\n', options, 'f.csv'), /label column "label" not found; columns are a, b, kind/);
  assert.throws(
    () => datasetFromCsv('a,b,label\n1,2,x\n3,oops,y\n', options, 'f.csv'),
    (e: unknown) => e instanceof DataError && /f\.csv: row 3, column "b": "oops" is not a finite number/.test(e.message),
  );
  assert.throws(() => datasetFromCsv('a,b,label\n1,,x\n3,4,y\n', options, 'f.csv'), /row 2, column "b": "" is not a finite number/);
  // Line numbers are the file's, blank lines included.
  assert.throws(() => datasetFromCsv('a,b,label\n\n1,2,x\n\n\n3,z,y\n', options, 'f.csv'), /row 6, column "b": "z"/);
  assert.throws(() => datasetFromCsv('a,b,label\n1,2,x\n3,4\n', options, 'f.csv'), /f\.csv: .*(column|record)/i);
  assert.throws(() => datasetFromCsv('a,b,label\n1,2,x\n3,4,x\n', options, 'f.csv'), /at least 2 classes/);
});

test('stratified split is seeded, disjoint, complete and keeps class proportions', () => {
  const data = syntheticClassification({ samples: 300, features: 3, classes: 3, noise: 1, scale: 1, offset: 0, seed: 3 });
  const options = { train: 0.7, validation: 0.1, test: 0.2, seed: 9, stratify: true };
  const a = splitDataset(data, options, 'classification');
  const b = splitDataset(data, options, 'classification');
  assert.deepEqual(a.test.x, b.test.x);
  assert.equal(a.train.y.length + a.validation.y.length + a.test.y.length, 300);
  assert.equal(a.test.y.length, 60);
  for (let cls = 0; cls < 3; cls++) assert.equal(a.test.y.filter((y) => y === cls).length, 20);
  const c = splitDataset(data, { ...options, seed: 10 }, 'classification');
  assert.notDeepEqual(a.test.x, c.test.x);
});

test('standardisation uses the training split only, with population std', () => {
  const data = datasetFromCsv('a,b,label\n1,5,x\n3,5,y\n100,5,x\n', { labelColumn: 'label', task: 'classification' });
  const train = { ...data, x: data.x.slice(0, 4), y: data.y.slice(0, 2) };
  const s = fitStandardization(train);
  assert.deepEqual(s.mean, [2, 5]);
  assert.deepEqual(s.std, [1, 1]); // population std of [1, 3] is 1; a constant column gets 1
  const standardized = standardizeDataset(data, s);
  assert.deepEqual(Array.from(standardized.x), [-1, 0, 1, 0, 98, 0]);
});

test('synthetic image data has the requested shape and per-channel statistics', () => {
  const data = syntheticClassification({
    samples: 12,
    features: 1,
    classes: 2,
    image: { height: 4, width: 5, channels: 2 },
    noise: 0.1,
    scale: 3,
    offset: 1,
    seed: 1,
  });
  assert.deepEqual(data.inputShape, [4, 5, 2]);
  assert.equal(data.x.length, 12 * 40);
  assert.equal(fitStandardization(data).mean.length, 2);
});
