/** Timing helpers shared by the benchmarks. */

export const RUNS = Number(process.env['BENCH_RUNS'] ?? 300);
export const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 50);

/** Median wall time (ms) of `fn` over RUNS runs after WARMUP discarded runs. */
export async function median(fn: () => unknown, runs = RUNS, warmup = WARMUP): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)] as number;
}

/** Await a verification whether it accepts or rejects: error verdicts are timed too, reaching them is the work. */
export async function settle(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch {
    /* the verdict itself is not what is measured */
  }
}

/**
 * Median wall times (ms) of several functions timed in turn, one run of each per round, so that a
 * burst of other work on a shared host falls on all of them alike and their ratios stay honest.
 */
export async function interleavedMedians(fns: readonly (() => unknown)[], runs = RUNS, warmup = WARMUP): Promise<number[]> {
  const times = fns.map((): number[] => []);
  for (let round = 0; round < warmup + runs; round++) {
    for (const [i, fn] of fns.entries()) {
      const s = process.hrtime.bigint();
      await fn();
      if (round >= warmup) times[i]?.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return t[Math.floor(t.length / 2)] as number;
  });
}
