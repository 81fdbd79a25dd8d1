// `npm run bench -- startup [--rounds 7]`: wall time of `bnserve --help` as the images start it
// (bin/bnserve.js → compiled dist/cli.js) against the sources loaded through tsx (how bin/bnserve.js
// ran before the build existed) and a bare `node -e 0`, interleaved, medians. Needs `npm run build`.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './median.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

const variants: Array<{ name: string; args: string[] }> = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'bin/bnserve.js --help (dist)', args: [path.join(ROOT, 'bin', 'bnserve.js'), '--help'] },
  { name: 'tsx src/cli.ts --help', args: ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts'), '--help'] },
];

function seconds(args: string[]): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  const elapsed = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${run.status}:\n${run.stderr}`);
  return elapsed;
}

export async function benchStartup(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' } }, strict: false });
  const rounds = Number(values.rounds);
  const times = variants.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, variant] of variants.entries()) times[i].push(seconds(variant.args));
  }
  const dist = median(times[1]);
  console.log(`\n## startup (${process.version}, ${rounds} interleaved rounds, wall seconds)\n`);
  console.log('| command | median | runs | vs dist |');
  console.log('| --- | --- | --- | --- |');
  for (const [i, variant] of variants.entries()) {
    const runs = times[i].map((t) => t.toFixed(2)).join(' ');
    console.log(`| ${variant.name} | ${median(times[i]).toFixed(3)} | ${runs} | ${(median(times[i]) / dist).toFixed(2)}× |`);
  }
}
