// What one request reports when it ends (call.ts runs the request): the response code and grpc-status,
// Envoy's response flags in their order, bytes both ways, the upstream's timing and local address, the
// termination details, recorded once in the metrics, the access log and the request's span.
import type { Target } from '../balance/target';
import type { Service } from '../config/model';
import type { ConnContext } from '../conn/context';
import type { ResolvedDestination } from '../route/types';
import { record } from '../telemetry/record';
import type { RequestTrace } from '../telemetry/tracing';
import type { EngineParts } from './deps';
import type { L7Request } from './types';

export abstract class CallReport {
  readonly t0: number;
  service: Service;
  cluster: string;
  requestId: string | null = null;
  /** Set by admission: the request's trace context, span and access-log setting. */
  trace: RequestTrace | undefined;
  protected flags: string[] = [];
  protected code = 0;
  protected grpcStatus = '';
  protected respBytes = 0;
  protected upstreamMs = -1;
  protected upLocal: string | null = null;
  protected termination: string | null = null;
  /** The endpoint of the last try. */
  protected target: Target | undefined;

  constructor(
    readonly p: EngineParts,
    readonly req: L7Request,
    readonly ctx: ConnContext,
  ) {
    this.t0 = p.now();
    this.service = ctx.service;
    this.cluster = ctx.cluster;
  }

  /** connection_termination_details for the access log. */
  note(detail: string): void {
    this.termination = detail;
  }

  addFlag(flag: string): void {
    if (!this.flags.includes(flag)) this.flags.push(flag);
  }

  /** The one record of the request; DEST: where it was forwarded (undefined: answered before that). */
  protected report(dest: ResolvedDestination | undefined, requestBytes: number): void {
    if (this.code === 0 && this.flags.length === 0) this.addFlag('DC');
    record(this.p.metrics, this.p.accessLog, this.ctx, this.req, {
      code: this.code,
      flags: this.flags.length === 0 ? '-' : this.flags.join(','),
      grpcStatus: this.grpcStatus,
      durationMs: this.p.now() - this.t0,
      requestBytes,
      responseBytes: this.respBytes,
      upstreamMs: this.upstreamMs,
      service: dest?.service ?? this.service,
      target: this.target,
      cluster: dest?.cluster ?? this.cluster,
      upstreamLocal: this.upLocal,
      requestId: this.requestId,
      termination: this.termination,
      ...(this.trace !== undefined ? { trace: this.trace } : {}),
    });
  }
}
