// The summary `make bench` ends with: issue 13's figures from the JSON results this run wrote, in one
// table with their anchors and goals. `--begin` (the first step of `make bench`) records when the run
// began in bench/results/bench-run.json; without flags it prints the table. A result file older than the
// run start is another run's: its figures are reported as not run in this run. No root needed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runMain, say } from './harness';
import { formatSummary, RESULT_FILES, type LoadedResult, type ResultKey, type SummaryInput } from './summary-table';

const dir = path.resolve(process.env.BENCH_RESULTS_DIR ?? 'bench/results');
const stampFile = path.join(dir, 'bench-run.json');

function load(file: string): LoadedResult | undefined {
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
  try {
    return { mtimeMs, json: JSON.parse(fs.readFileSync(file, 'utf8')) as unknown };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

function runStart(): number | undefined {
  const r = load(stampFile);
  if (!r || 'error' in r) return undefined;
  const at = (r.json as { startedAt?: unknown } | null)?.startedAt;
  const ms = typeof at === 'string' ? Date.parse(at) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

async function main(): Promise<number> {
  if (process.argv.includes('--begin')) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(stampFile, `${JSON.stringify({ startedAt: new Date().toISOString(), pid: process.pid })}\n`);
    say(`run start recorded in ${path.relative(process.cwd(), stampFile) || stampFile}`);
    return 0;
  }
  const results: Partial<Record<ResultKey, LoadedResult>> = {};
  for (const [key, { file }] of Object.entries(RESULT_FILES) as [ResultKey, { file: string }][]) {
    const r = load(path.join(dir, file));
    if (r) results[key] = r;
  }
  const input: SummaryInput = { runStartMs: runStart(), results };
  const load1 = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  process.stdout.write(`\nissue 13 figures, ${os.availableParallelism()} CPU(s), ${os.release()}, node ${process.version}, load average now ${load1}\n`);
  process.stdout.write(`${formatSummary(input)}\n`);
  return 0;
}

runMain(main);
