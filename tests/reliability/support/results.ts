// Machine-readable results of the reliability suite: every catalogue case a test covers (passed,
// failed or skipped) and every figure of the catalogue's §4, appended as JSON lines to
// tests/reliability/results/<suite>.jsonl, which scripts/reliability-report renders into
// docs/reliability.md. (.jsonl, not .json: Biome formats .json files, and these are generated.)

import { test } from "bun:test";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where the suites write their results (BACKUPCTL_RELIABILITY_RESULTS moves them, e.g. to keep a full run apart). */
export const resultsDirectory =
  process.env.BACKUPCTL_RELIABILITY_RESULTS ?? join(import.meta.dir, "..", "results");

/** Whether the slow part runs (scripts/check --full sets BACKUPCTL_FULL=1). */
export const isFullRun = process.env.BACKUPCTL_FULL === "1";

/** The reason slow tests give in their title when they are skipped. */
export const slowSkipNote = "(slow: runs with BACKUPCTL_FULL=1)";

/** One record in a results file. */
export type ResultRecord =
  | { kind: "run"; suite: string; startedAt: string; isFull: boolean }
  | {
      kind: "case";
      suite: string;
      cases: number[];
      title: string;
      status: "passed" | "failed" | "skipped";
      durationMs: number;
      error?: string;
    }
  | { kind: "figure"; suite: string; key: string; value: number | string; detail?: string };

/** The recorder of one test file. */
export interface SuiteResults {
  /** Records a figure (the last value recorded under a key wins). */
  figure(key: string, value: number | string, detail?: string): void;
  /** Declares a test that covers catalogue cases and records how it ended. */
  caseTest(cases: number | number[], title: string, body: () => Promise<void>, timeoutMs?: number): void;
  /** Like caseTest, but only with BACKUPCTL_FULL=1; the title says so. */
  slowCaseTest(cases: number | number[], title: string, body: () => Promise<void>, timeoutMs?: number): void;
}

/** Opens (and truncates) the results file of a suite. */
export function openResults(suite: string): SuiteResults {
  mkdirSync(resultsDirectory, { recursive: true });
  const path = join(resultsDirectory, `${suite}.jsonl`);
  const write = (record: ResultRecord) => appendFileSync(path, `${JSON.stringify(record)}\n`);
  writeFileSync(path, "");
  write({ kind: "run", suite, startedAt: new Date().toISOString(), isFull: isFullRun });

  /** Registers the bun test that runs body and records its outcome. */
  function register(
    cases: number | number[],
    title: string,
    body: () => Promise<void>,
    options: { timeoutMs: number; isSlow: boolean },
  ): void {
    const list = Array.isArray(cases) ? cases : [cases];
    const prefix = list.map((id) => `#${id} `).join("");
    const fullTitle = `${prefix}${title}${options.isSlow ? ` ${slowSkipNote}` : ""}`;
    if (options.isSlow && !isFullRun) {
      write({ kind: "case", suite, cases: list, title, status: "skipped", durationMs: 0 });
      test.skip(fullTitle, body);
      return;
    }
    test(
      fullTitle,
      async () => {
        const startedAt = performance.now();
        try {
          await body();
          write({
            kind: "case",
            suite,
            cases: list,
            title,
            status: "passed",
            durationMs: Math.round(performance.now() - startedAt),
          });
        } catch (error) {
          write({
            kind: "case",
            suite,
            cases: list,
            title,
            status: "failed",
            durationMs: Math.round(performance.now() - startedAt),
            error: String(error instanceof Error ? error.message : error).slice(0, 2000),
          });
          throw error;
        }
      },
      options.timeoutMs,
    );
  }

  return {
    figure(key, value, detail) {
      write({ kind: "figure", suite, key, value, ...(detail ? { detail } : {}) });
    },
    caseTest(cases, title, body, timeoutMs = 120_000) {
      register(cases, title, body, { timeoutMs, isSlow: false });
    },
    slowCaseTest(cases, title, body, timeoutMs = 900_000) {
      register(cases, title, body, { timeoutMs, isSlow: true });
    },
  };
}
