// A pod-side gRPC echo server for the mesh e2e tests: listens on 0.0.0.0:argv[2], says "ready".
import { startEchoServer } from '../grpc-echo';

startEchoServer(process.argv[3] ?? 'grpc-pod', `0.0.0.0:${process.argv[2] ?? '7070'}`).then(
  () => process.stdout.write('ready\n'),
  (e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  },
);
