// Pod-side gRPC client for e2e tests: a unary call with metadata, a failing unary call, and a
// bidirectional stream whose messages interleave; prints what it saw as one JSON line. With `probe`
// as the second argument, one unary call and its status code.
import * as grpc from '@grpc/grpc-js';
import { echoPackage, type EchoReply } from '../grpc-echo';

interface Seen {
  unary?: { text: string; echo: string; trailer: string };
  failed?: { code: number; details: string; trailer: string };
  chat?: { replies: string[]; trailer: string; code: number };
  error?: string;
}

async function main(): Promise<void> {
  const target = process.argv[2] ?? '';
  const pkg = echoPackage();
  const client = new pkg.Echo(target, grpc.credentials.createInsecure());
  const seen: Seen = {};
  if (process.argv[3] === 'probe') {
    // One unary call; prints its status only (for denials).
    const code = await new Promise<number>((resolve) => client.Unary({ text: 'probe' }, (err: grpc.ServiceError | null) => resolve(err?.code ?? 0)));
    client.close();
    process.stdout.write(`${JSON.stringify({ code })}\n`);
    return;
  }
  const md = new grpc.Metadata();
  md.set('x-echo', 'hello-md');
  seen.unary = await new Promise((resolve, reject) => {
    let echo = '';
    let text = '';
    // grpc-js calls back before it emits 'status' (which carries the trailers): answer on 'status'.
    const call = client.Unary({ text: 'ping' }, md, (err: grpc.ServiceError | null, res: EchoReply) => (err ? reject(err) : (text = res.text)));
    call.on('metadata', (m: grpc.Metadata) => (echo = String(m.get('x-echo')[0] ?? '')));
    call.on('status', (s: grpc.StatusObject) => resolve({ text, echo, trailer: String(s.metadata.get('x-trailer')[0] ?? '') }));
  });
  seen.failed = await new Promise((resolve) => {
    client.Unary({ text: 'x', fail_code: grpc.status.NOT_FOUND }, (err: grpc.ServiceError | null) => {
      resolve({ code: err?.code ?? 0, details: err?.details ?? '', trailer: String(err?.metadata?.get('x-trailer')[0] ?? '') });
    });
  });
  seen.chat = await new Promise((resolve) => {
    const replies: string[] = [];
    const call = client.Chat();
    let i = 0;
    // Send the next message only after the previous echo came back: proves both directions stream.
    const send = (): void => {
      if (i < 5) call.write({ text: `m${i++}` });
      else call.end();
    };
    call.on('data', (r: EchoReply) => {
      replies.push(r.text);
      send();
    });
    call.on('status', (s: grpc.StatusObject) => resolve({ replies, trailer: String(s.metadata.get('x-trailer')[0] ?? ''), code: s.code }));
    call.on('error', () => undefined);
    send();
  });
  client.close();
  process.stdout.write(`${JSON.stringify(seen)}\n`);
}

setTimeout(() => process.exit(2), 30_000).unref();
main().catch((e: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: String(e) })}\n`);
  process.exit(1);
});
