// The CA's use of the Kubernetes API: a pod informer (which pod runs on which node) and TokenReview for
// the agents' ServiceAccount tokens. Loaded only when the API is in use (main.ts imports it lazily),
// because the client library takes seconds to load.
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Informer, type InformerOptions } from '../discovery/informer';
import { loadKubeConfig } from '../discovery/kubeconfig';
import type { KPod } from '../discovery/objects';
import { trimObject } from '../discovery/trim';
import { logger } from '../log';
import type { AccountRef } from './caller';
import { podRecord, PodIndex } from './pods';
import { ReviewAuthenticator, type ReviewPost } from './review';

const log = logger('ca.kube');

export interface CaKubeOptions {
  /** A kubeconfig file; undefined: $KUBECONFIG, else the in-cluster config. */
  readonly kubeconfig: string | undefined;
  readonly audience: string;
  readonly agent: AccountRef;
  readonly informer?: InformerOptions;
  /** Positive TokenReview results are reused this long (ms, default 60 s). */
  readonly reviewCacheMs?: number;
}

export class CaKube {
  readonly pods = new PodIndex();
  readonly authenticator: ReviewAuthenticator;
  private readonly informer: Informer<KPod>;

  private constructor(
    readonly kc: KubeConfig,
    o: CaKubeOptions,
  ) {
    this.authenticator = new ReviewAuthenticator({
      post: tokenReviewPost(kc),
      audience: o.audience,
      agent: o.agent,
      pods: this.pods,
      ...(o.reviewCacheMs !== undefined ? { cacheMs: o.reviewCacheMs } : {}),
    });
    this.informer = new Informer<KPod>(
      kc,
      {
        kind: 'Pod',
        path: '/api/v1/pods',
        trim: (raw) => {
          const r = trimObject('Pod', raw);
          if (!('ok' in r)) return r;
          return r.ok.kind === 'Pod' ? { ok: r.ok } : { skip: `kind ${r.ok.kind} where Pod was expected` };
        },
      },
      {
        upsert: (_kind, key, pod) => this.pods.upsert(key, podRecord(pod)),
        remove: (_kind, key) => this.pods.remove(key),
        // The pod's previous version (if any) stays: it is the last one known to be right.
        skipped: (_kind, key, reason) => log.warn({ code: 'NM_E_KUBE_OBJECT', pod: key, reason }, 'pod skipped'),
        synced: () => {
          this.pods.synced = true;
          log.info({ pods: this.pods.size }, 'pod list synced; identities are checked against the API from now on');
        },
        activity: () => undefined,
      },
      o.informer,
    );
  }

  /** Loads the client config (throws NM_E_USAGE when there is none) and starts watching pods. */
  static start(o: CaKubeOptions): CaKube {
    const k = new CaKube(loadKubeConfig(o.kubeconfig), o);
    k.informer.start();
    log.info({ server: k.kc.getCurrentCluster()?.server, audience: o.audience, agent: `${o.agent.namespace}/${o.agent.name}` }, 'using the Kubernetes API for pods and TokenReview');
    return k;
  }

  get synced(): boolean {
    return this.pods.synced;
  }

  stop(): void {
    this.informer.stop();
  }
}

/** TokenReview through the client library (authentication.k8s.io/v1), answering the review's status. */
export function tokenReviewPost(kc: KubeConfig): ReviewPost {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return async (token, audiences) => {
    const r = await api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } });
    return r.status;
  };
}
