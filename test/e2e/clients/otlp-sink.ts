// An OTLP/HTTP endpoint for a node of the namespace cluster (argv[2] host, argv[3] port): answers every
// POST as a collector does (200, an empty ExportTraceServiceResponse) and writes each request to stdout
// as one JSON line `{path, contentType, body}` (body in base64), for the test to decode with the
// official schema (test/helpers/otlp-receiver.ts). A first line `ready` says it listens.
import * as http from 'node:http';

const host = process.argv[2] ?? '127.0.0.1';
const port = Number(process.argv[3] ?? 4318);

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const line = { path: req.url ?? '', method: req.method ?? '', contentType: String(req.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('base64') };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      res.writeHead(req.method === 'POST' ? 200 : 404, { 'content-type': 'application/x-protobuf' }).end();
    });
  })
  .listen(port, host, () => process.stdout.write('ready\n'));
