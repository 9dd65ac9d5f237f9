// Kubernetes Events on objects the agent rejects, so `kubectl describe` shows why a VirtualService does
// not apply. Written with the client library; one Event per object version and node. Refusals (RBAC,
// an API that is away) are logged once and never stop the agent.
import { createHash } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { logger } from '../log';

const log = logger('discovery.events');

export interface EventTarget {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
}

export interface EventSink {
  warn(target: EventTarget, reason: string, message: string): void;
}

/** Kubernetes caps an Event message at 1 KiB in practice (the API allows more, kubectl shows less). */
const MAX_MESSAGE = 1024;

export class KubeEvents implements EventSink {
  private readonly api: CoreV1Api;
  private readonly sent = new Set<string>();
  private refusedLogged = false;

  constructor(
    kc: KubeConfig,
    private readonly node: string,
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  warn(target: EventTarget, reason: string, message: string): void {
    const once = `${target.uid}/${target.resourceVersion}/${reason}`;
    if (this.sent.has(once)) return;
    if (this.sent.size > 10_000) this.sent.clear();
    this.sent.add(once);
    const now = new Date();
    const body = {
      // One name per object version and reason, whichever agent writes it: the first agent's Event
      // stands, the others' creates are refused as conflicts (409) and dropped, so N nodes make one.
      metadata: { name: `${target.name.slice(0, 200)}.${eventSuffix(once)}`, namespace: target.namespace },
      involvedObject: {
        apiVersion: target.apiVersion,
        kind: target.kind,
        namespace: target.namespace,
        name: target.name,
        uid: target.uid,
        resourceVersion: target.resourceVersion,
      },
      reason,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
      type: 'Warning',
      source: { component: 'nodemesh', host: this.node },
      reportingComponent: 'nodemesh.io/agent',
      reportingInstance: this.node,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.api.createNamespacedEvent({ namespace: target.namespace, body }).then(
      () => undefined,
      (e: unknown) => {
        if ((e as { code?: unknown }).code === 409) return;
        if (this.refusedLogged) return;
        this.refusedLogged = true;
        log.warn({ code: 'NM_E_KUBE_API', err: (e as Error).message }, 'cannot write Kubernetes Events (RBAC or API); rejections are still logged and counted');
      },
    );
  }
}

function eventSuffix(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
