// data.path as a hostile config may set it: a FIFO, a device, a huge (sparse) file, a file that is
// not CSV at all. Each is refused quickly with a DataError that quotes nothing of the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseTrainConfig } from '../../src/train/config.ts';
import { loadDataset } from '../../src/train/data.ts';
import { DataError } from '../../src/train/data-csv.ts';
import { openRegularFile, readChunks, readRegularFile } from '../../src/lib/regular-file.ts';
import { tempDir } from './helpers.ts';

const MiB = 1024 * 1024;
const csvConfig = (file: string) => parseTrainConfig({ data: { kind: 'csv', path: file, labelColumn: 'label' }, layers: [] });
const dataError = (pattern: RegExp) => (e: unknown) => e instanceof DataError && e.code === 'invalid_data' && pattern.test(e.message);

test('a FIFO is refused at once (opening one for reading would block)', { timeout: 10_000 }, async (t) => {
  const fifo = path.join(await tempDir(t), 'data.csv');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(loadDataset(csvConfig(fifo)), dataError(/data\.csv is a pipe: only regular files are read/));
});

test('a FIFO is not even opened: a writer waiting for a reader stays blocked', { timeout: 10_000 }, async (t) => {
  const dir = await tempDir(t);
  const fifo = path.join(dir, 'data.csv');
  const opened = path.join(dir, 'writer-got-a-reader');
  execFileSync('mkfifo', [fifo]);
  // The shell's redirection blocks until someone opens the FIFO for reading.
  const writer = spawn('sh', ['-c', 'exec 3>"$1"; touch "$2"', 'sh', fifo, opened], { stdio: 'ignore' });
  t.after(() => writer.kill());
  await assert.rejects(loadDataset(csvConfig(fifo)), dataError(/is a pipe/));
  await sleep(500);
  assert.equal(existsSync(opened), false, 'the FIFO was opened');
});

test('a device such as /dev/zero is refused before any byte is read', async () => {
  await assert.rejects(loadDataset(csvConfig('/dev/zero')), dataError(/\/dev\/zero is a device: only regular files are read/));
  await assert.rejects(readRegularFile('/dev/zero', { maxBytes: MiB }), DataError);
});

test('a file over the size limit is refused from its size, naming the limit and the setting', async (t) => {
  const file = path.join(await tempDir(t), 'huge.csv');
  await writeFile(file, 'a,label\n');
  const handle = await open(file, 'r+');
  await handle.truncate(1900 * MiB); // sparse: no disk used, and no byte of it is read
  await handle.close();
  await assert.rejects(
    loadDataset(csvConfig(file)),
    dataError(/huge\.csv is 1\.9 GiB, over the 512 MiB limit on data files; raise BNSERVE_MAX_DATA_MB to read it/),
  );
  await assert.rejects(loadDataset(csvConfig(file), { maxBytes: MiB }), dataError(/is 1\.9 GiB, over the 1 MiB limit/));

  const previous = process.env.BNSERVE_MAX_DATA_MB;
  t.after(() => {
    if (previous === undefined) delete process.env.BNSERVE_MAX_DATA_MB;
    else process.env.BNSERVE_MAX_DATA_MB = previous;
  });
  process.env.BNSERVE_MAX_DATA_MB = '1';
  await assert.rejects(
    loadDataset(csvConfig(file)),
    dataError(/is 1\.9 GiB, over the 1 MiB limit on data files; raise BNSERVE_MAX_DATA_MB/),
  );
  // Within a raised limit the file is streamed, and refused for its content (one record of NUL bytes) without reading it all.
  process.env.BNSERVE_MAX_DATA_MB = '2048';
  await assert.rejects(
    loadDataset(csvConfig(file)),
    dataError(/huge\.csv: not a valid CSV file: a row is longer than 16777216 characters/),
  );
});

test('a file at the limit is read; one byte over is refused', async (t) => {
  const file = path.join(await tempDir(t), 'small.csv');
  const text = 'a,label\n1,x\n2,y\n3,x\n';
  await writeFile(file, text);
  const data = await loadDataset(csvConfig(file), { maxBytes: text.length });
  assert.deepEqual(Array.from(data.x), [1, 2, 3]);
  await assert.rejects(loadDataset(csvConfig(file), { maxBytes: text.length - 1 }), dataError(/over the 19 bytes limit/));
});

test('a file that is not CSV is never echoed: no line of it, header names cut to 64 characters', async (t) => {
  const dir = await tempDir(t);
  const passwd = path.join(dir, 'passwd');
  await writeFile(passwd, 'root:x:0:0:root:/root:/bin/bash\nalice:$6$secrethash:1000:1000:Alice,,,:/home/alice:/bin/sh\n');
  await assert.rejects(loadDataset(csvConfig(passwd)), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /label column "label" not found; its first line has no commas: not a CSV file with a header row/);
    assert.doesNotMatch(e.message, /root:|secrethash|alice/);
    return true;
  });

  const long = path.join(dir, 'long.csv');
  const name = `${'n'.repeat(60)}SECRET-TAIL`;
  await writeFile(long, `${name},other\n1,2\n`);
  await assert.rejects(loadDataset(csvConfig(long)), (e: Error) => {
    assert.match(e.message, new RegExp(`columns are "${'n'.repeat(60)}SECR…", "other"`));
    assert.doesNotMatch(e.message, /SECRET-TAIL/);
    return true;
  });

  // Cells are never quoted: not a bad number, not an unknown label, not a quote csv-parse complains about.
  const cells = path.join(dir, 'cells.csv');
  await writeFile(cells, 'a,label\n1,x\nsecret-cell,y\n');
  await assert.rejects(loadDataset(csvConfig(cells)), dataError(/cells\.csv: row 3, column "a": not a finite number$/));
  for (const bad of ['"secret"tail', 'sec"ret', '"secret']) {
    const quotes = path.join(dir, 'quotes.csv');
    await writeFile(quotes, `a,label\n1,x\n${bad},y\n`);
    await assert.rejects(loadDataset(csvConfig(quotes)), (e: Error) => {
      assert.ok(e instanceof DataError);
      assert.match(e.message, /quotes\.csv: not a valid CSV file: .* at line 3$/);
      // The temp folder's random name may hold these letters too: only what follows the path counts.
      assert.doesNotMatch(e.message.slice(quotes.length), /sec|ret|tail/);
      return true;
    });
  }
});

test('a line longer than any record may be is refused without buffering the file whole', async (t) => {
  const file = path.join(await tempDir(t), 'one-line.csv');
  await writeFile(file, `a,label\n${'9'.repeat(17 * MiB)}`);
  await assert.rejects(loadDataset(csvConfig(file)), dataError(/not a valid CSV file: a row is longer than 16777216 characters at line 2/));
});

test('reading stops at the limit even when the file grows past the size it had when opened', async (t) => {
  const file = path.join(await tempDir(t), 'growing.csv');
  await writeFile(file, 'x'.repeat(20));
  const handle = await open(file, 'r');
  t.after(() => handle.close());
  const read = async () => {
    for await (const _ of readChunks(handle, file, { maxBytes: 10 })) {
      // consumed
    }
  };
  await assert.rejects(read(), dataError(/growing\.csv grew while being read, over the 10 bytes limit/));
});

test('openRegularFile confirms the opened handle, and the caller gets its size', async (t) => {
  const file = path.join(await tempDir(t), 'f.csv');
  await writeFile(file, 'abc');
  const { handle, size } = await openRegularFile(file, { maxBytes: 10 });
  await handle.close();
  assert.equal(size, 3);
  await assert.rejects(openRegularFile(path.join(path.dirname(file), 'missing.csv'), { maxBytes: 10 }), dataError(/no such file/));
  await assert.rejects(openRegularFile(path.dirname(file), { maxBytes: 10 }), dataError(/is a folder/));
});
