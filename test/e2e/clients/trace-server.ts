// A pod-side HTTP server for tracing e2e tests (argv[2]: port): answers with the trace fields it
// received as JSON, with the status a `/status/<code>` path asks for, and writes every request's path
// to stdout (after a first `ready` line) so a test can tell which requests reached the pod.
import * as http from 'node:http';

const port = Number(process.argv[2] ?? 8080);
const FIELDS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'x-request-id'];

http
  .createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const seen: Record<string, string> = {};
      for (const f of FIELDS) {
        const v = req.headers[f];
        if (v !== undefined) seen[f] = Array.isArray(v) ? v.join(', ') : v;
      }
      process.stdout.write(`request ${req.url ?? ''}\n`);
      const m = /^\/status\/(\d{3})$/.exec(req.url ?? '');
      res.writeHead(m ? Number(m[1]) : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(seen));
    });
  })
  .listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
