// Runs inside a node's network namespace, where the test's Prometheus listens: reads a JSON list of
// requests on stdin ({query} for /api/v1/query, {label, match} for /api/v1/label/<label>/values), asks
// Prometheus (argv[2], its base URL) a few at a time, prints one JSON array of answers in order.
import type { PromAnswer as Answer } from '../prometheus';
interface Ask {
  query?: string;
  label?: string;
  match?: string;
  time?: number;
}


const base = process.argv[2] ?? 'http://127.0.0.1:9090';

async function ask(a: Ask): Promise<Answer> {
  const url = new URL(a.query !== undefined ? '/api/v1/query' : `/api/v1/label/${a.label}/values`, base);
  if (a.query !== undefined) {
    url.searchParams.set('query', a.query);
    if (a.time !== undefined) url.searchParams.set('time', String(a.time));
  } else if (a.match !== undefined) url.searchParams.append('match[]', a.match);
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; error?: string; data?: any };
    if (body.status !== 'success') return { ok: false, error: body.error ?? `HTTP ${res.status}`, series: 0, finite: 0, values: [] };
    if (a.query === undefined) {
      const values = (body.data as string[]).map((v) => ({ metric: {}, value: v }));
      return { ok: true, resultType: 'labels', series: values.length, finite: values.length, values };
    }
    const { resultType, result } = body.data as { resultType: string; result: any };
    const rows: { metric: Record<string, string>; value: [number, string] }[] = resultType === 'vector' ? result : resultType === 'scalar' ? [{ metric: {}, value: result }] : [];
    const finite = rows.filter((r) => Number.isFinite(Number(r.value[1]))).length;
    return { ok: true, resultType, series: rows.length, finite, values: rows.slice(0, 5).map((r) => ({ metric: r.metric, value: r.value[1] })) };
  } catch (e) {
    return { ok: false, error: (e as Error).message, series: 0, finite: 0, values: [] };
  }
}

async function main(): Promise<void> {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const asks = JSON.parse(input) as Ask[];
  const answers: Answer[] = new Array(asks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < asks.length) {
      const i = next++;
      answers[i] = await ask(asks[i]!);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  process.stdout.write(JSON.stringify(answers));
}

void main();
