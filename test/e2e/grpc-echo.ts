// The gRPC echo service of the e2e tests (real @grpc/grpc-js on both sides): the server runs in the
// test process, the client (clients/grpc.ts) in the pods' cgroup so the kernel captures it.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import * as path from 'node:path';

export const PROTO = path.resolve(__dirname, '../../../test/e2e/protos/echo.proto');

export interface EchoRequest {
  text: string;
  fail_code?: number;
}
export interface EchoReply {
  text: string;
  server: string;
}

export function echoPackage(): any {
  const def = loader.loadSync(PROTO, { keepCase: true, defaults: true });
  return (grpc.loadPackageDefinition(def) as Record<string, unknown>).nmtest;
}

export interface EchoServer {
  readonly port: number;
  calls: number;
  close(): Promise<void>;
}

/**
 * Unary echoes text with metadata x-echo copied back as response metadata and a trailer x-trailer;
 * fail_code > 0 answers that status. Chat echoes every message, then ends with OK and a trailer.
 */
export async function startEchoServer(name: string, bind = '127.0.0.1:0'): Promise<EchoServer> {
  const pkg = echoPackage();
  const server = new grpc.Server();
  const state: EchoServer = { port: 0, calls: 0, close: () => new Promise((r) => server.tryShutdown(() => r())) };
  server.addService(pkg.Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      state.calls++;
      const md = new grpc.Metadata();
      md.set('x-echo', String(call.metadata.get('x-echo')[0] ?? ''));
      call.sendMetadata(md);
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'done');
      const code = call.request.fail_code ?? 0;
      if (code > 0) return cb({ code, details: `failing with ${code}`, metadata: trailer });
      cb(null, { text: call.request.text, server: name }, trailer);
    },
    Chat: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      state.calls++;
      call.on('data', (m: EchoRequest) => call.write({ text: m.text, server: name }));
      call.on('end', () => {
        const trailer = new grpc.Metadata();
        trailer.set('x-trailer', 'chat-done');
        call.end(trailer);
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(bind, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return Object.assign(state, { port });
}
