import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EXIT_CODES } from '../../src/commands/errors.ts';
import { ERROR_CODES, type ErrorCode } from '../../src/lib/errors.ts';
import { HTTP_STATUS } from '../../src/serve/http/plugins/errors.ts';

const readme = readFileSync(path.resolve(import.meta.dirname, '../../docs/cli.md'), 'utf8');

/** code → [exit, http] as the README's error-code table shows them ('—' where an edge never sees the code). */
function readmeRows(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  const start = readme.search(/^\| code +\| exit \| HTTP \|/m);
  assert.ok(start >= 0, 'README has the error-code table');
  for (const line of readme.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [codes, exit, http] = line
      .split('|')
      .slice(1, 4)
      .map((c) => c.trim());
    for (const [, code] of codes.matchAll(/`(\w+)`/g)) rows.set(code, [exit, http]);
  }
  return rows;
}

describe('error codes: one list, two edges, one README table', () => {
  it('the README lists every code with the exit code and HTTP status the edges use', () => {
    const rows = readmeRows();
    assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const [exit, http] = rows.get(code)!;
      if (exit !== '—') assert.equal(Number(exit), EXIT_CODES[code], `exit code of ${code}`);
      else assert.equal(EXIT_CODES[code], 1, `${code}: a CLI that meets it reports exit 1`);
      if (http !== '—') assert.equal(Number(http), HTTP_STATUS[code], `HTTP status of ${code}`);
      else assert.equal(HTTP_STATUS[code], 500, `${code}: a server that meets it answers 500`);
    }
  });
});
