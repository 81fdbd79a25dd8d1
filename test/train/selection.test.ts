import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTrainConfig, ConfigError } from '../../src/train/config.ts';
import { loadDataset, splitDataset } from '../../src/train/data.ts';
import { datasetFromCsv, DataError } from '../../src/train/data-csv.ts';

const iris = (data: object, extra: object = {}) => parseTrainConfig({ data: { kind: 'iris', ...data }, layers: [], ...extra });

test('Iris rows, classes and feature columns can be chosen, and labels mapped to ±1', async () => {
  const data = await loadDataset(
    iris(
      { rows: { start: 0, end: 100 }, featureColumns: ['sepal_length', 'petal_length'], labelMap: { setosa: -1, '*': 1 } },
      { task: 'regression' },
    ),
  );
  assert.equal(data.y.length, 100);
  assert.deepEqual(data.featureNames, ['sepal_length', 'petal_length']);
  assert.deepEqual([data.x[0], data.x[1]], [Math.fround(5.1), Math.fround(1.4)]);
  assert.deepEqual([data.y[0], data.y[49], data.y[50], data.y[99]], [-1, -1, 1, 1]);
  assert.deepEqual(data.signClasses, { negative: 'setosa', positive: 'versicolor' });

  const two = await loadDataset(iris({ classes: ['virginica', 'setosa'] }));
  assert.deepEqual(two.classLabels, ['setosa', 'virginica']);
  assert.equal(two.y.length, 100);
});

test('selections that do not fit the data are refused with the reason', () => {
  const csv = 'a,b,label\n1,2,x\n3,4,y\n5,6,z\n';
  const options = { labelColumn: 'label', task: 'classification' as const };
  assert.throws(() => datasetFromCsv(csv, { ...options, rows: { start: 0, end: 9 } }), /rows 0\.\.9 .* 3 data rows/);
  assert.throws(
    () => datasetFromCsv(csv, { ...options, classes: ['x', 'w'] }),
    (e: Error) => e instanceof DataError && /"w" not found/.test(e.message),
  );
  assert.throws(
    () => datasetFromCsv(csv, { labelColumn: 'label', task: 'regression', labelMap: { x: 1 } }),
    /row 3: its label \(column "label"\) is not in labelMap/,
  );
  assert.deepEqual(Array.from(datasetFromCsv(csv, { labelColumn: 'label', task: 'regression', labelMap: { x: 1, '*': 0 } }).y), [1, 0, 0]);
});

test('labelMap needs a regression task; early stopping needs a validation split; sse is a regression loss', () => {
  assert.throws(
    () => iris({ labelMap: { setosa: -1, '*': 1 } }),
    (e: Error) => e instanceof ConfigError && /labelMap.*"task": "regression"/.test(e.message),
  );
  assert.throws(() => iris({}, { split: { train: 0.8, validation: 0, test: 0.2 }, earlyStopping: {} }), /needs a validation split/);
  assert.throws(() => iris({}, { loss: 'sse' }), /"sse" is a regression loss/);
});

test('split.train 1 trains on every row, with empty validation and test splits', async () => {
  const config = iris({}, { split: { train: 1, validation: 0, test: 0 } });
  const splits = splitDataset(await loadDataset(config), config.split, config.task);
  assert.equal(splits.train.y.length, 150);
  assert.equal(splits.validation.y.length, 0);
  assert.equal(splits.test.y.length, 0);
});

test('the tutorial key "decay" is an alias of the BN momentum; both at once are refused', () => {
  const bn = (layer: object) => parseTrainConfig({ data: { kind: 'iris' }, layers: [{ type: 'batchNormalization', ...layer }] }).layers[0];
  assert.equal((bn({ decay: 0.9 }) as { momentum: number }).momentum, 0.9);
  assert.equal((bn({}) as { momentum: number }).momentum, 0.99);
  assert.throws(() => bn({ decay: 0.9, momentum: 0.9 }), /either "decay" or "momentum"/);
  assert.throws(() => bn({ decay: 1 }), /momentum/);
  assert.throws(() => parseTrainConfig({ data: { kind: 'iris' }, layers: [{ type: 'dense', units: 2, decay: 0.9 }] }), /decay/);
});
