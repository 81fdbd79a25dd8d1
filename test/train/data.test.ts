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
  assert.throws(
    () => datasetFromCsv('a,b,kind\n1,2,x\n', options, 'f.csv'),
    /label column "label" not found; columns are "a", "b", "kind"/,
  );
  assert.throws(
    () => datasetFromCsv('a,b,label\n1,2,x\n3,oops,y\n', options, 'f.csv'),
    (e: unknown) => e instanceof DataError && /f\.csv: row 3, column "b": not a finite number$/.test(e.message),
  );
  assert.throws(() => datasetFromCsv('a,b,label\n1,,x\n3,4,y\n', options, 'f.csv'), /row 2, column "b": empty, a number is needed/);
  // Line numbers are the file's, blank lines included.
  assert.throws(() => datasetFromCsv('a,b,label\n\n1,2,x\n\n\n3,z,y\n', options, 'f.csv'), /row 6, column "b": not a finite number/);
  assert.throws(
    () => datasetFromCsv('a,b,label\n1,2,x\n3,4\n', options, 'f.csv'),
    /f\.csv: not a valid CSV file: a row has a different number of columns than the header at line 3/,
  );
  assert.throws(() => datasetFromCsv('a,b,label\n1,2,x\n3,4,x\n', options, 'f.csv'), /at least 2 classes/);
});

test('a UTF-8 byte order mark is not part of the first column name', () => {
  const data = datasetFromCsv('\ufeffsepal,petal,label\n1,2,x\n3,4,y\n', { labelColumn: 'label', task: 'classification' });
  assert.deepEqual(data.featureNames, ['sepal', 'petal']);
  const labelFirst = datasetFromCsv('\ufefflabel,a\nx,1\ny,2\n', { labelColumn: 'label', task: 'classification' });
  assert.deepEqual(labelFirst.featureNames, ['a']);
});

test('duplicate header names are refused, naming them', () => {
  const options = { labelColumn: 'label', task: 'classification' as const };
  assert.throws(
    () => datasetFromCsv('a,b,a,b,c,label\n1,2,3,4,5,x\n', options, 'f.csv'),
    (e: unknown) => e instanceof DataError && /f\.csv: the header names "a", "b" more than once/.test(e.message),
  );
});

test('data that cannot fill the requested splits is refused, never split silently', () => {
  const split = { train: 0.7, validation: 0.15, test: 0.15, seed: 1, stratify: true };
  const numeric = datasetFromCsv(`a,y\n${Array.from({ length: 30 }, (_, i) => `${i},${i / 10}`).join('\n')}\n`, {
    labelColumn: 'y',
    task: 'classification',
  });
  for (const stratify of [true, false]) {
    assert.throws(
      () => splitDataset(numeric, { ...split, stratify }, 'classification'),
      /label column "y" has 30 classes and 30 of them have fewer than 3 rows \(the smallest has 1\), too few to appear in each of the train 0\.7, validation 0\.15, test 0\.15 splits; its values are all numbers: did you mean "task": "regression"\?/,
    );
  }
  assert.doesNotThrow(() => splitDataset(numeric, split, 'regression'));
  const rare = datasetFromCsv('a,label\n1,x\n2,x\n3,x\n4,y\n5,y\n', { labelColumn: 'label', task: 'classification' });
  assert.throws(
    () => splitDataset(rare, split, 'classification'),
    /1 of them have fewer than 3 rows \(the smallest has 2\).*merge or drop the rare classes, or set split\.validation to 0/,
  );
  // Without a validation split two rows per class are enough, and each class is in both splits.
  const twoSplits = splitDataset(rare, { ...split, train: 0.85, validation: 0 }, 'classification');
  assert.deepEqual([...new Set(twoSplits.test.y)].sort(), [0, 1]);
  assert.deepEqual([...new Set(twoSplits.train.y)].sort(), [0, 1]);
  const tiny = datasetFromCsv('a,y\n1,0.5\n2,0.7\n', { labelColumn: 'y', task: 'regression' });
  assert.throws(
    () => splitDataset(tiny, split, 'regression'),
    /2 rows are too few to fill the train 0\.7, validation 0\.15, test 0\.15 splits: at least 3/,
  );
});

test('a small class still gets a row in every requested split (rounding never empties one)', () => {
  const text = `a,label\n${[...'xxxxxxxxxxxxxxxxxxxx', 'y', 'y', 'y', 'y'].map((l, i) => `${i},${l}`).join('\n')}\n`;
  const data = datasetFromCsv(text, { labelColumn: 'label', task: 'classification' });
  const splits = splitDataset(data, { train: 0.8, validation: 0.1, test: 0.1, seed: 1, stratify: true }, 'classification');
  for (const part of [splits.train, splits.validation, splits.test]) assert.ok(part.y.includes(1), 'class y in every split');
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
