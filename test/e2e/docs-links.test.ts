// Every relative link in README.md and docs/*.md points at a file that exists and, where it names a
// #fragment of a markdown page, at a heading of that page (GitHub's anchors), so moving or renaming a
// page or a heading cannot leave dead links behind.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../cli/run-cli.ts';

/** Fenced code blocks and inline code spans blanked out (newlines kept, so offsets keep their line). */
function proseOnly(markdown: string): string {
  const blank = (s: string) => s.replace(/[^\n]/g, ' ');
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, blank).replace(/`[^`\n]*`/g, blank);
}

/**
 * GitHub's anchor for a heading: its text as rendered (code and emphasis markers and link targets
 * gone), lowercased, punctuation dropped except `-` and `_`, each space turned into `-`; a repeated
 * anchor gets `-1`, `-2`, … in order.
 */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const prose = markdown.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, '');
  for (const [, text] of prose.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const rendered = text.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const slug = rendered
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

interface Link {
  line: number;
  target: string;
}

/** Inline links and images (`[text](target)`, `![alt](target)`) and reference definitions, outside code. */
export function markdownLinks(markdown: string): Link[] {
  const prose = proseOnly(markdown);
  const lineAt = (index: number) => prose.slice(0, index).split('\n').length;
  const links: Link[] = [];
  for (const m of prose.matchAll(/!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    links.push({ line: lineAt(m.index), target: m[1] });
  }
  for (const m of prose.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$/gm)) links.push({ line: lineAt(m.index), target: m[1] });
  return links;
}

/** What is wrong with the relative links of one page ("file:line: target: why"); empty when nothing is. */
export function brokenLinks(file: string, root: string): string[] {
  const markdown = readFileSync(file, 'utf8');
  const problems: string[] = [];
  const where = path.relative(root, file);
  for (const { line, target } of markdownLinks(markdown)) {
    if (/^[a-z][a-z\d+.-]*:/i.test(target) || target.startsWith('//')) continue; // https:, mailto:, …
    const [rawPath, anchor] = target.split('#', 2) as [string, string | undefined];
    const resolved = rawPath === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(rawPath));
    const say = (why: string) => problems.push(`${where}:${line}: ${target}: ${why}`);
    if (path.relative(root, resolved).startsWith('..')) say('points outside the repository');
    else if (!existsSync(resolved)) say(`no such file ${path.relative(root, resolved)}`);
    else if (anchor !== undefined && resolved.endsWith('.md')) {
      const anchors = headingAnchors(readFileSync(resolved, 'utf8'));
      if (!anchors.has(decodeURIComponent(anchor))) say(`no heading with anchor #${anchor} in ${path.relative(root, resolved)}`);
    }
  }
  return problems;
}

function documentationPages(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join(ROOT, 'docs', f));
  return [path.join(ROOT, 'README.md'), ...docs.sort()];
}

describe('documentation links', () => {
  test('every relative link in README.md and docs/*.md resolves to a file, and to a heading where it names one', () => {
    const pages = documentationPages();
    assert.ok(pages.length > 1, 'docs/ has pages');
    const links = pages.flatMap((p) => markdownLinks(readFileSync(p, 'utf8')));
    assert.ok(
      links.some((l) => l.target.includes('#')),
      'some links name a heading',
    );
    assert.deepEqual(
      pages.flatMap((p) => brokenLinks(p, ROOT)),
      [],
    );
  });

  test('every page under docs/ is linked from README.md', () => {
    const readme = path.join(ROOT, 'README.md');
    const linked = new Set(markdownLinks(readFileSync(readme, 'utf8')).map((l) => path.resolve(ROOT, l.target.split('#')[0])));
    const orphans = documentationPages().filter((p) => p !== readme && !linked.has(p));
    assert.deepEqual(
      orphans.map((p) => path.relative(ROOT, p)),
      [],
    );
  });

  test("anchors follow GitHub's rule", () => {
    const anchors = headingAnchors(
      [
        '# Export: BN folding and the parity gate',
        "## Using Triton's and KServe's clients",
        '## Performance (latest `serve-ceiling`)',
        '### GPU server (profile `gpu`)',
        '## Checked here, and not',
        '## BNSERVE_ORT_SPINNING',
        '## Notes',
        '## Notes',
        '```sh',
        '# not a heading',
        '```',
      ].join('\n'),
    );
    assert.deepEqual(
      [...anchors],
      [
        'export-bn-folding-and-the-parity-gate',
        'using-tritons-and-kserves-clients',
        'performance-latest-serve-ceiling',
        'gpu-server-profile-gpu',
        'checked-here-and-not',
        'bnserve_ort_spinning',
        'notes',
        'notes-1',
      ],
    );
  });

  test('a broken file link and a broken anchor are both reported; links in code are not links', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bnserve-links-'));
    try {
      writeFileSync(path.join(dir, 'other.md'), '# Other page\n\n## A section\n');
      writeFileSync(
        path.join(dir, 'page.md'),
        [
          '# Page',
          'Fine: [other](other.md), [section](other.md#a-section), [here](#page), [web](https://example.com/x.md).',
          'Broken: [gone](gone.md) and',
          '[no such heading](other.md#b-section), [self](#nowhere).',
          'In code: `[x](missing.md)` and',
          '```md',
          '[y](missing.md)',
          '```',
        ].join('\n'),
      );
      assert.deepEqual(brokenLinks(path.join(dir, 'page.md'), dir), [
        'page.md:3: gone.md: no such file gone.md',
        'page.md:4: other.md#b-section: no heading with anchor #b-section in other.md',
        'page.md:4: #nowhere: no heading with anchor #nowhere in page.md',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
