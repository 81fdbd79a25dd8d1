// What anonymous dashboard callers see of server paths, and who counts as anonymous.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactConfigPaths, redactPaths } from '../../src/serve/dashboard/path-redaction.ts';
import { isLoopbackHost, mayReadRawData, rawDataAudience } from '../../src/serve/dashboard/raw-data-access.ts';

describe('redactPaths', () => {
  it('reduces absolute paths to their last name, wherever they stand in a sentence', () => {
    const cases: [string, string][] = [
      [
        'training diverged: the loss became Infinity at epoch 2. Its epochs are kept in /srv/bnserve/data/runs/iris/abc (metrics.json, cost.svg).',
        'training diverged: the loss became Infinity at epoch 2. Its epochs are kept in …/abc (metrics.json, cost.svg).',
      ],
      [
        'Its metrics were not kept: /home/alice/out.diverged holds other files.',
        'Its metrics were not kept: …/out.diverged holds other files.',
      ],
      ['/data/iris.csv: row 3, column "a": "b" is not a finite number', '…/iris.csv: row 3, column "a": "b" is not a finite number'],
      ['cannot read /home/alice/My Data/iris.csv: ENOENT', 'cannot read …/iris.csv: ENOENT'],
      ['kept in "/a/b", (/c/d) and x=/e/f.', 'kept in "…/b", (…/d) and x=…/f.'],
      ['C:\\Users\\bob\\iris.csv and C:/data/x.csv', '…/iris.csv and …/x.csv'],
      ['\\\\nas\\share\\x.csv, file:///etc/passwd, ~/data/x.csv', '…/x.csv, …/passwd, …/x.csv'],
      ['/single', '…/single'],
    ];
    for (const [text, shown] of cases) assert.equal(redactPaths(text), shown, text);
  });

  it('leaves ratios, "and/or", relative names and URLs alone', () => {
    for (const text of ['and/or 5/10 km/h', 'rows 0..5 (end exclusive)', 'metrics.json', 'http://registry:5432/db', '']) {
      assert.equal(redactPaths(text), text);
    }
  });
});

describe('redactConfigPaths', () => {
  it("keeps the data file's name only (relative paths too) and redacts paths in any other string", () => {
    const config = {
      name: 'iris',
      data: { kind: 'csv', path: '/srv/data/iris.csv', labelColumn: 'species' },
      note: 'copied from /mnt/share/raw/iris.csv',
      layers: [{ type: 'dense', units: 4 }],
    };
    assert.deepEqual(redactConfigPaths(config), {
      name: 'iris',
      data: { kind: 'csv', path: 'iris.csv', labelColumn: 'species' },
      note: 'copied from …/iris.csv',
      layers: [{ type: 'dense', units: 4 }],
    });
    assert.deepEqual(redactConfigPaths({ data: { kind: 'csv', path: 'rel/dir/x.csv' } }), { data: { kind: 'csv', path: 'x.csv' } });
    assert.equal(config.data.path, '/srv/data/iris.csv', 'the stored config is not changed');
    assert.equal(redactConfigPaths(null), null);
  });
});

describe('who may read raw data', () => {
  it('knows the loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', 'localhost.example.com', '::ffff:10.0.0.1']) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });

  it('auto: everyone on loopback, else the admin; the setting overrides', () => {
    assert.equal(rawDataAudience({ host: '127.0.0.1', dashboardRawData: 'auto' }), 'everyone');
    assert.equal(rawDataAudience({ host: '0.0.0.0', dashboardRawData: 'auto' }), 'admin');
    assert.equal(rawDataAudience({ host: '127.0.0.1', dashboardRawData: 'admin' }), 'admin');
    assert.equal(rawDataAudience({ host: '0.0.0.0', dashboardRawData: 'everyone' }), 'everyone');
  });

  it('admin: only the right bearer token, and never without a configured one', () => {
    const config = { host: '0.0.0.0', dashboardRawData: 'auto' as const, adminToken: 'secret' };
    assert.equal(mayReadRawData(config, 'Bearer secret'), true);
    assert.equal(mayReadRawData(config, 'Bearer wrong'), false);
    assert.equal(mayReadRawData(config, undefined), false);
    assert.equal(mayReadRawData({ ...config, adminToken: undefined }, 'Bearer '), false);
    assert.equal(mayReadRawData({ ...config, adminToken: '' }, 'Bearer '), false);
  });
});
