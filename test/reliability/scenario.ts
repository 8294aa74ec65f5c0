/**
 * The reliability suite's contract (issue: "Holds under load, faults and hostile input"). Every
 * scenario injects one thing, says what a correct gateway must do, runs with all traffic on
 * 127.0.0.1 and every loop bounded in count AND time, and reports what happened with figures.
 *
 *   npm run reliability              the short mode (what CI runs: npm test runs it after the tests)
 *   npm run reliability -- --long    the longer mode, run by hand
 *   npm run reliability -- --only <name>[,<name>...]   some scenarios
 *
 * A scenario never throws for a gateway that misbehaves: it returns `ok: false` with what happened.
 * A throw means the scenario itself broke (it is reported as such, and also fails the run).
 */

export type Mode = 'short' | 'long';

export interface ScenarioContext {
  readonly mode: Mode;
  /** A fresh temporary directory for this scenario (removed after it, unless it failed). */
  readonly dir: string;
  /** Progress lines (printed as the scenario runs, indented). */
  log(line: string): void;
  /** Register cleanup (processes, servers); run in reverse order after the scenario, even on a throw. */
  defer(fn: () => Promise<void> | void): void;
}

/** Figures a scenario reports; the table prints them as `key value` pairs, in insertion order. */
export type Figures = Readonly<Record<string, number | string>>;

export interface ScenarioResult {
  readonly ok: boolean;
  /** What happened, in one or two sentences (for the table). */
  readonly happened: string;
  /**
   * Numbers. Where they apply, use these keys so the table lines up: `requests`, `errors`
   * (unexpected ones; must be 0), `entries_lost` (must be 0), `p50_ms`, `p99_ms`, `rps`,
   * `rss_before_mb`, `rss_after_mb`.
   */
  readonly figures: Figures;
}

export interface Scenario {
  /** Short kebab-case name, unique in the suite. */
  readonly name: string;
  /** The group it belongs to in the table. */
  readonly group: 'load' | 'fault' | 'hostile' | 'fuzz' | 'security';
  /** What is injected. */
  readonly injected: string;
  /** What a correct gateway must do. */
  readonly expected: string;
  /** Upper bound on the scenario's run time in each mode, in ms (the runner aborts past it). */
  readonly budgetMs: Readonly<Record<Mode, number>>;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}
