// The pure half of the bench summary: issue 13's figures taken from the JSON results of one `make bench`
// run, each with its anchor and goal. A result file written before the run began is not this run's: its
// figures are reported as not run, never shown as current. No I/O here.
import { formatGrid } from './tables';
import { formatPerWorker } from './workers-report';
import { formatMs, formatRps } from './wrk';

/** The result files the summary reads (in bench/results), by the bench that writes each. */
export const RESULT_FILES = {
  run: { bench: 'run.js', file: 'latest.json' },
  crossnode: { bench: 'crossnode.js', file: 'crossnode.json' },
  h2: { bench: 'h2.js', file: 'h2.json' },
  lean: { bench: 'lean.js', file: 'lean.json' },
  workers: { bench: 'workers.js', file: 'workers.json' },
} as const;
export type ResultKey = keyof typeof RESULT_FILES;

/** One result file as read: its modification time and parsed JSON, or why it could not be read. */
export type LoadedResult = { readonly mtimeMs: number; readonly json: unknown } | { readonly error: string };

export interface SummaryInput {
  /** When this run began (ms since the epoch); undefined when no run start was recorded. */
  readonly runStartMs: number | undefined;
  /** Absent: the file does not exist. */
  readonly results: Partial<Record<ResultKey, LoadedResult>>;
}

export type Verdict = 'met' | 'MISSED' | '-' | 'not run';

export interface SummaryRow {
  readonly figure: string;
  readonly value: string;
  readonly anchor: string;
  readonly goal: string;
  readonly verdict: Verdict;
  readonly source: string;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** This run's JSON of one bench, or why there is none (not run in this run, unreadable). */
export function thisRun(input: SummaryInput, key: ResultKey): { json: Json } | { why: string } {
  const { bench, file } = RESULT_FILES[key];
  const r = input.results[key];
  if (r === undefined) return { why: `${bench} did not run in this run (no ${file})` };
  if ('error' in r) return { why: `${file} unreadable: ${r.error}` };
  if (input.runStartMs === undefined) return { why: `no run start recorded (make bench records one): ${file} of ${iso(r.mtimeMs)} not shown` };
  const json = obj(r.json);
  if (!json) return { why: `${file} is not a JSON object` };
  const started = typeof json.startedAt === 'string' ? Date.parse(json.startedAt) : NaN;
  if (r.mtimeMs < input.runStartMs || (Number.isFinite(started) && started < input.runStartMs)) {
    return { why: `${bench} did not run in this run (${file} is from ${iso(r.mtimeMs)})` };
  }
  if (typeof json.error === 'string') return { why: `${bench} failed: ${json.error}` };
  return { json };
}

/**
 * A row whose figure is missing, with why in the notes: `not run` when its bench did not run in this
 * run, `unavailable` when it ran and could not measure it.
 */
const missing = (figure: string, anchor: string, goal: string, source: string, value: 'not run' | 'unavailable' = 'not run'): SummaryRow =>
  ({ figure, value, anchor, goal, verdict: 'not run', source });

/** Why a case of this run's JSON has no figures: its recorded reason, or that it is missing. */
const caseWhy = (json: Json, key: string): string => {
  const c = arr(json.cases).map(obj).find((x) => x?.key === key);
  if (!c) return 'the case is not in the results';
  return typeof c.reason === 'string' ? `unavailable: ${c.reason}` : 'no figures recorded';
};

const okCase = (json: Json, key: string): Json | undefined =>
  arr(json.cases).map(obj).find((c) => c?.key === key && c.status === 'ok');

const judge = (ok: boolean): Verdict => (ok ? 'met' : 'MISSED');
const mib = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`;

type Built = { rows: SummaryRow[]; notes: string[] };

function h2Rows(input: SummaryInput): Built {
  const figure = 'HTTP/2 agent / nginx req/s (h2load -c16 -m100)';
  const goal = '≥ 1.00x';
  const r = thisRun(input, 'h2');
  if ('why' in r) return { rows: [missing(figure, 'nginx 1 worker, grpc_pass', goal, 'h2.js')], notes: [`${figure}: ${r.why}`] };
  const agent = num(okCase(r.json, 'nodemesh-proxy')?.rps);
  const nginx = num(okCase(r.json, 'nginx')?.rps);
  if (agent === undefined || nginx === undefined || nginx <= 0) {
    const [side, key] = agent === undefined ? ['the agent case', 'nodemesh-proxy'] : ['the nginx case', 'nginx'];
    return { rows: [missing(figure, 'nginx 1 worker, grpc_pass', goal, 'h2.js', 'unavailable')], notes: [`${figure}: ${side}: ${caseWhy(r.json, key)}`] };
  }
  const ratio = agent / nginx;
  return {
    rows: [{ figure, value: `${ratio.toFixed(2)}x (${formatRps(agent)} req/s)`, anchor: `nginx ${formatRps(nginx)} req/s`, goal, verdict: judge(ratio >= 1), source: 'h2.js' }],
    notes: [],
  };
}

function crossnodeRows(input: SummaryInput): Built {
  const p50 = 'cross-node added p50 at 1000 req/s (mTLS)';
  const p99 = 'cross-node added p99 at 1000 req/s (mTLS)';
  const max = 'cross-node max throughput / direct';
  const r = thisRun(input, 'crossnode');
  if ('why' in r) {
    return {
      rows: [missing(p50, 'direct pod → pod', '≤ 0.25 ms', 'crossnode.js'), missing(p99, 'direct pod → pod', '≤ 0.50 ms', 'crossnode.js'),
        missing(max, 'direct pod → pod', '≥ 0.50x', 'crossnode.js')],
      notes: [`cross-node figures: ${r.why}`],
    };
  }
  const fixed = obj(r.json.fixedRate);
  const added = obj(fixed?.addedMs);
  const direct = obj(fixed?.direct);
  const rows: SummaryRow[] = [];
  const notes: string[] = [];
  for (const [figure, k, limit] of [[p50, 'p50', 0.25], [p99, 'p99', 0.5]] as const) {
    const v = num(added?.[k]);
    const d = num(direct?.[k]);
    const goal = `≤ ${limit.toFixed(2)} ms`;
    if (v === undefined) {
      rows.push(missing(figure, 'direct pod → pod', goal, 'crossnode.js', 'unavailable'));
      notes.push(`${figure}: not in crossnode.json`);
    } else {
      rows.push({ figure, value: `+${v.toFixed(3)} ms`, anchor: d === undefined ? 'direct' : `direct ${k} ${formatMs(d)}`, goal, verdict: judge(v <= limit), source: 'crossnode.js' });
    }
  }
  const mt = obj(r.json.maxThroughput);
  const ratio = num(mt?.ratio);
  const directRps = num(mt?.directRps);
  const meshRps = num(mt?.meshRps);
  if (ratio === undefined || meshRps === undefined) {
    rows.push(missing(max, 'direct pod → pod', '≥ 0.50x', 'crossnode.js', 'unavailable'));
    notes.push(`${max}: not in crossnode.json`);
  } else {
    rows.push({ figure: max, value: `${ratio.toFixed(2)}x (${formatRps(meshRps)} req/s)`,
      anchor: directRps === undefined ? 'direct' : `direct ${formatRps(directRps)} req/s`, goal: '≥ 0.50x', verdict: judge(ratio >= 0.5), source: 'crossnode.js' });
  }
  return { rows, notes };
}

function memoryRows(input: SummaryInput): Built {
  const idle = 'agent RSS idle, fresh agent, 10 services';
  const perConn = 'agent RSS per idle connection';
  const idleGoal = '≤ 60 MiB';
  const connGoal = '≤ 30 KiB';
  const rows: SummaryRow[] = [];
  const notes: string[] = [];
  const lean = thisRun(input, 'lean');
  if ('why' in lean) {
    rows.push(missing(idle, 'issue 13 start: 97 MB', idleGoal, 'lean.js'), missing(perConn, 'issue 13 start: unmeasured', connGoal, 'lean.js'));
    notes.push(`memory figures: ${lean.why}`);
  } else {
    const kb = num(obj(lean.json.idle)?.rssKb);
    if (kb === undefined) {
      rows.push(missing(idle, 'issue 13 start: 97 MB', idleGoal, 'lean.js', 'unavailable'));
      notes.push(`${idle}: not in lean.json`);
    } else rows.push({ figure: idle, value: mib(kb), anchor: 'issue 13 start: 97 MB', goal: idleGoal, verdict: judge(kb <= 60 * 1024), source: 'lean.js' });
    // The largest connection count measured: the issue's figure is at 10k.
    const runs = arr(lean.json.keepAlive).map(obj).filter((c): c is Json => num(c?.connections) !== undefined && num(c?.rssKbPerConn) !== undefined);
    const biggest = runs.sort((a, b) => (num(b.connections) ?? 0) - (num(a.connections) ?? 0))[0];
    if (!biggest) {
      rows.push(missing(perConn, 'issue 13 start: unmeasured', connGoal, 'lean.js', 'unavailable'));
      notes.push(`${perConn}: not in lean.json`);
    } else {
      const v = num(biggest.rssKbPerConn) ?? 0;
      rows.push({ figure: `${perConn} (${formatRps(num(biggest.connections) ?? 0)} conns)`, value: `${v.toFixed(1)} KiB`,
        anchor: 'issue 13 start: unmeasured', goal: connGoal, verdict: judge(v <= 30), source: 'lean.js' });
    }
  }
  const run = thisRun(input, 'run');
  const runFigure = 'agent RSS idle, bench mesh, before load';
  const runKb = 'json' in run ? num(obj(run.json.agent)?.rssIdleKb) : undefined;
  if (runKb === undefined) {
    rows.push(missing(runFigure, 'issue 13 start: 97 MB', idleGoal, 'run.js', 'why' in run ? 'not run' : 'unavailable'));
    notes.push(`${runFigure}: ${'why' in run ? run.why : 'not in latest.json'}`);
  } else rows.push({ figure: runFigure, value: mib(runKb), anchor: 'issue 13 start: 97 MB', goal: idleGoal, verdict: judge(runKb <= 60 * 1024), source: 'run.js' });
  return { rows, notes };
}

function workersRows(input: SummaryInput, counts: readonly number[] = [1, 2]): Built {
  const r = thisRun(input, 'workers');
  const rows: SummaryRow[] = [];
  if ('why' in r) {
    for (const n of counts) rows.push(missing(`requests per worker, ${n} worker(s)`, 'wrk requests completed', 'every worker serves', 'workers.js'));
    for (const n of counts) rows.push(missing(`agent CPU per request, ${n} worker(s)`, n === 1 ? 'direct has no agent' : '1 worker', 'reported (no goal)', 'workers.js'));
    return { rows, notes: [`worker figures: ${r.why}`] };
  }
  const notes: string[] = [];
  const caseOf = (n: number): Json | undefined => okCase(r.json, `workers-${n}`);
  for (const n of counts) {
    const figure = `requests per worker, ${n} worker(s)`;
    const c = caseOf(n);
    const per = obj(c?.perWorker);
    const values = per ? Object.values(per).map(num) : [];
    if (!c || !per || values.some((v) => v === undefined)) {
      rows.push(missing(figure, 'wrk requests completed', 'every worker serves', 'workers.js', 'unavailable'));
      notes.push(`${figure}: ${c ? 'no per-worker counts in workers.json' : caseWhy(r.json, `workers-${n}`)}`);
      continue;
    }
    const perWorker = per as Record<string, number>;
    const serving = Object.values(perWorker).filter((v) => v > 0).length;
    rows.push({ figure, value: formatPerWorker(perWorker), anchor: `wrk ${formatRps(num(c.requests) ?? 0)} requests`,
      goal: 'every worker serves', verdict: judge(serving === n && Object.keys(perWorker).length === n), source: 'workers.js' });
  }
  const cpu1 = num(caseOf(1)?.cpuUsPerRequest);
  for (const n of counts) {
    const figure = `agent CPU per request, ${n} worker(s)`;
    const v = num(caseOf(n)?.cpuUsPerRequest);
    const anchor = n === 1 || cpu1 === undefined ? 'agent process, all threads' : `1 worker ${cpu1.toFixed(1)} µs`;
    if (v === undefined) {
      rows.push(missing(figure, anchor, 'reported (no goal)', 'workers.js', 'unavailable'));
      notes.push(`${figure}: ${caseOf(n) ? 'no CPU figure in workers.json' : caseWhy(r.json, `workers-${n}`)}`);
      continue;
    }
    const ratio = n !== 1 && cpu1 !== undefined && cpu1 > 0 ? ` (${(v / cpu1).toFixed(2)}x)` : '';
    rows.push({ figure, value: `${v.toFixed(1)} µs${ratio}`, anchor, goal: 'reported (no goal)', verdict: '-', source: 'workers.js' });
  }
  const twoOverOne = num(obj(r.json.ratios)?.twoOverOne);
  if (twoOverOne !== undefined) {
    rows.push({ figure: 'req/s, 2 workers / 1 worker', value: `${twoOverOne.toFixed(2)}x`, anchor: '1 worker',
      goal: 'no scaling on 2 shared vCPUs', verdict: '-', source: 'workers.js' });
  }
  return { rows, notes };
}

/** Every row of the summary, in the issue's order, and the notes saying why a figure is missing. */
export function summaryRows(input: SummaryInput): Built {
  const parts = [h2Rows(input), crossnodeRows(input), memoryRows(input), workersRows(input)];
  return { rows: parts.flatMap((p) => p.rows), notes: parts.flatMap((p) => p.notes) };
}

/** The one table `make bench` ends with. */
export function formatSummary(input: SummaryInput): string {
  const { rows, notes } = summaryRows(input);
  const header = ['figure (issue 13)', 'this run', 'anchor', 'goal', 'verdict', 'bench'];
  const grid = formatGrid(header, rows.map((r) => [r.figure, r.value, r.anchor, r.goal, r.verdict, r.source]));
  const met = rows.filter((r) => r.verdict === 'met').length;
  const judged = rows.filter((r) => r.verdict === 'met' || r.verdict === 'MISSED').length;
  const notRun = rows.filter((r) => r.verdict === 'not run').length;
  const head = input.runStartMs === undefined ? 'run start: not recorded' : `run started ${iso(input.runStartMs)}`;
  const tail = `${met} of ${judged} goals met${notRun > 0 ? `; ${notRun} figure(s) not measured in this run` : ''}`;
  return [head, grid, '', tail, ...notes.map((n) => `- ${n}`)].join('\n');
}
