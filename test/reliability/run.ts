/**
 * The reliability suite's runner: loads every `scenarios/*.ts` (each exports `scenarios:
 * Scenario[]`), runs them one after another (they start processes and load the machine; running
 * them together would measure each other), bounds each by its budget, and prints the table:
 * scenario, what was injected, what was expected, what happened, and the figures.
 *
 *   npm run reliability [-- --long] [-- --only a,b] [-- --json <file>]
 *   (node --import tsx test/reliability/run.ts ...; npm test runs the short mode after the tests)
 *
 * Exit status 0 only when every scenario passed; the last line says `N passed, N failed`.
 * See scenario.ts for the contract.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Mode, Scenario, ScenarioResult } from './scenario.ts';

export interface Outcome {
  readonly scenario: Scenario;
  readonly result: ScenarioResult;
  readonly ms: number;
  /** The scenario itself broke (threw or ran past its budget), as opposed to reporting a failure. */
  readonly broke: boolean;
}

const SCENARIO_DIR = join(import.meta.dirname, 'scenarios');
const GROUPS: readonly Scenario['group'][] = ['load', 'fault', 'hostile', 'fuzz', 'security'];

/** Every scenario of the suite, in file order, then declaration order. */
export async function loadScenarios(): Promise<Scenario[]> {
  const files = (await readdir(SCENARIO_DIR)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort();
  const out: Scenario[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(SCENARIO_DIR, f)).href)) as { scenarios?: unknown };
    if (!Array.isArray(mod.scenarios)) throw new Error(`test/reliability/scenarios/${f} exports no scenarios array`);
    out.push(...(mod.scenarios as Scenario[]));
  }
  const names = new Set<string>();
  for (const s of out) {
    if (names.has(s.name)) throw new Error(`two scenarios are named ${s.name}`);
    names.add(s.name);
  }
  return out;
}

async function runOne(s: Scenario, mode: Mode, print: (line: string) => void): Promise<Outcome> {
  const dir = await mkdtemp(join(tmpdir(), `attestgate-rel-${s.name}-`));
  const cleanups: (() => Promise<void> | void)[] = [];
  const started = performance.now();
  const budget = s.budgetMs[mode];
  let timer: NodeJS.Timeout | undefined;
  let result: ScenarioResult;
  let broke = false;
  try {
    result = await Promise.race([
      s.run({
        mode,
        dir,
        log: (line) => {
          print(`    ${line}`);
        },
        defer: (fn) => {
          cleanups.push(fn);
        },
      }),
      new Promise<never>((_res, rej) => {
        timer = setTimeout(() => {
          rej(new Error(`ran past its budget of ${budget} ms`));
        }, budget);
      }),
    ]);
  } catch (e: unknown) {
    broke = true;
    result = { ok: false, happened: `the scenario broke: ${e instanceof Error ? e.message : String(e)}`, figures: {} };
  } finally {
    clearTimeout(timer);
  }
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (e: unknown) {
      print(`    cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (result.ok) await rm(dir, { recursive: true, force: true });
  else print(`    kept ${dir} for inspection`);
  return { scenario: s, result, ms: Math.round(performance.now() - started), broke };
}

/** Runs the scenarios in order; `print` receives progress lines. */
export async function runSuite(scenarios: readonly Scenario[], mode: Mode, print: (line: string) => void): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const s of scenarios) {
    print(`- ${s.name} (${s.group}): ${s.injected}`);
    const o = await runOne(s, mode, print);
    print(`  ${o.result.ok ? 'PASS' : 'FAIL'} in ${o.ms} ms: ${o.result.happened}`);
    out.push(o);
  }
  return out;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ');

/** The table (Markdown), one row per scenario, and the totals. */
export function table(outcomes: readonly Outcome[], mode: Mode): string {
  const lines = [
    `Reliability suite, ${mode} mode (npm run reliability${mode === 'long' ? ' -- --long' : ''}), Node ${process.version}`,
    '',
    '| scenario | group | injected | expected | happened | figures | result |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const o of outcomes) {
    const figures = Object.entries(o.result.figures)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
    lines.push(`| ${o.scenario.name} | ${o.scenario.group} | ${cell(o.scenario.injected)} | ${cell(o.scenario.expected)} | ${cell(o.result.happened)} | ${cell(figures)} | ${o.result.ok ? 'pass' : o.broke ? 'BROKE' : 'FAIL'} (${(o.ms / 1000).toFixed(1)} s) |`);
  }
  const sum = (k: string): number => outcomes.reduce((a, o) => a + (typeof o.result.figures[k] === 'number' ? o.result.figures[k] : 0), 0);
  const failed = outcomes.filter((o) => !o.result.ok).length;
  lines.push('', `requests ${sum('requests')}, unexpected errors ${sum('errors')}, entries lost ${sum('entries_lost')}`, `${outcomes.length - failed} passed, ${failed} failed`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { long: { type: 'boolean' }, only: { type: 'string' }, json: { type: 'string' } }, strict: true });
  const mode: Mode = values.long === true ? 'long' : 'short';
  let scenarios = await loadScenarios();
  const groups = new Set(scenarios.map((s) => s.group));
  const missing = GROUPS.filter((g) => !groups.has(g));
  if (missing.length > 0) throw new Error(`the suite has no ${missing.join(', ')} scenario`);
  if (values.only !== undefined) {
    const want = new Set(values.only.split(',').map((s) => s.trim()));
    const unknown = [...want].filter((n) => !scenarios.some((s) => s.name === n));
    if (unknown.length > 0) {
      process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}\n`);
      return 2;
    }
    scenarios = scenarios.filter((s) => want.has(s.name));
  }
  const outcomes = await runSuite(scenarios, mode, (l) => {
    process.stderr.write(`${l}\n`);
  });
  process.stdout.write(`\n${table(outcomes, mode)}\n`);
  if (values.json !== undefined) {
    await writeFile(values.json, JSON.stringify(outcomes.map((o) => ({ name: o.scenario.name, group: o.scenario.group, injected: o.scenario.injected, expected: o.scenario.expected, ...o.result, ms: o.ms, broke: o.broke })), null, 2));
  }
  return outcomes.every((o) => o.result.ok) ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 2;
    },
  );
}
