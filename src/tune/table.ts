// The sweep as a terminal table: one line per setting and concurrency, the recommended setting
// marked, then what was skipped and the verdict. Pure: a report in, text out.
import type { Measurement } from './choose.ts';
import { type Candidate, settingLabel } from './plan.ts';
import type { SweepReport } from './sweep.ts';

const HEADERS = ['', '#', 'setting', 'c', 'req/s', 'p50 ms', 'p99 ms', 'rows/run', 'verdict'];
/** Columns aligned right (numbers). */
const RIGHT = new Set([1, 3, 4, 5, 6, 7]);

function layout(rows: string[][]): string {
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (RIGHT.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(HEADERS), ...rows.map(line)].join('\n');
}

const fixed = (n: number, digits: number) => n.toFixed(digits);

function describe(c: Candidate): string {
  return `${c.source === 'current' ? 'current: ' : ''}${settingLabel(c)}`;
}

function measurementCells(m: Measurement): string[] {
  return [
    String(m.concurrency),
    fixed(m.requestsPerSecond, 0),
    // autocannon records whole milliseconds: no decimals to suggest more.
    String(m.p50Ms),
    String(m.p99Ms),
    m.rowsPerRun === null ? '-' : fixed(m.rowsPerRun, 2),
  ];
}

export function formatSweep(report: SweepReport): string {
  const rows: string[][] = [];
  report.results.forEach((result, i) => {
    const verdict = report.disqualified[i] ?? 'ok';
    result.measurements.forEach((m, j) => {
      const first = j === 0;
      rows.push([
        first && report.best === i ? '*' : '',
        first ? String(i + 1) : '',
        first ? describe(result.candidate) : '',
        ...measurementCells(m),
        first ? verdict : '',
      ]);
    });
  });
  const target = report.p99TargetMs === null ? 'no p99 target' : `p99 target ${report.p99TargetMs} ms`;
  const lines = [
    `tuned ${report.model} version ${report.version}: ${report.rowsPerRequest} row(s) per request (${report.rowSource}), ` +
      `concurrency ${report.concurrencies.join(', ')}, ${target}; ${report.elapsedS.toFixed(0)} s of a ${report.budgetS} s budget`,
    '',
    layout(rows),
  ];
  if (report.stoppedBy !== null) {
    lines.push('', `stopped early, the server stopped answering at ${report.stoppedBy}`);
  }
  if (report.skipped.length > 0) {
    const why =
      report.stoppedBy === null
        ? `the ${report.budgetS} s budget did not fit them; raise --budget-s to include them`
        : `the sweep stopped early, or the ${report.budgetS} s budget did not fit them`;
    lines.push('', `not measured (${why}): ${report.skipped.length} setting(s)`, ...report.skipped.map((c) => `  ${describe(c)}`));
  }
  lines.push('');
  if (report.best === null) {
    lines.push(
      report.p99TargetMs === null
        ? 'no setting answered every request at every concurrency: nothing to recommend'
        : `no measured setting met the p99 target of ${report.p99TargetMs} ms at every concurrency without failures: nothing to recommend`,
    );
  } else {
    const best = report.results[report.best];
    lines.push(
      `best (* above): ${describe(best.candidate)}: the highest req/s at concurrency ${Math.max(...report.concurrencies)} ` +
        `among the settings that qualified`,
    );
  }
  return lines.join('\n');
}
