// What each scenario reports, and the markdown table / JSON file the runner writes.

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export interface ScenarioResult {
  scenario: string;
  pass: boolean;
  /** Requests (or operations) the scenario sent. */
  sent: number;
  /** Answered, but not as the criteria require (a 5xx, a wrong version, a wrong exit code…). */
  failed: number;
  /** Never answered: connection reset, refused after acceptance, timeout. */
  lost: number;
  outcome: string;
  checks: Check[];
  numbers: Record<string, unknown>;
  seconds: number;
  skipped?: string;
}

export class Checks {
  readonly list: Check[] = [];

  add(name: string, pass: boolean, detail: string): boolean {
    this.list.push({ name, pass, detail });
    return pass;
  }

  get pass(): boolean {
    return this.list.length > 0 && this.list.every((c) => c.pass);
  }

  /** Short outcome line: every failed check, or "all N checks passed". */
  outcome(): string {
    const failed = this.list.filter((c) => !c.pass);
    if (failed.length === 0) return `all ${this.list.length} checks passed`;
    return failed.map((c) => `${c.name}: ${c.detail}`).join('; ');
  }
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function markdownTable(results: ScenarioResult[]): string {
  const lines = ['| scenario | result | sent | failed | lost | seconds | outcome |', '|---|---|---|---|---|---|---|'];
  for (const r of results) {
    const verdict = r.skipped ? 'SKIP' : r.pass ? 'PASS' : 'FAIL';
    lines.push(
      `| ${cell(r.scenario)} | ${verdict} | ${r.sent} | ${r.failed} | ${r.lost} | ${r.seconds.toFixed(1)} | ${cell(r.skipped ?? r.outcome)} |`,
    );
  }
  return lines.join('\n');
}

export function checkLines(results: ScenarioResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`\n### ${r.scenario}`);
    for (const c of r.checks) out.push(`- ${c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
  }
  return out.join('\n');
}
