// Discovery's own series: whether the first full sync happened, when the API last said anything, events
// by kind and type, objects held, objects skipped as unusable and Istio objects rejected as invalid.
import { Counter, Gauge, type Registry } from '../telemetry/promlite';

export class DiscoveryMetrics {
  readonly synced: Gauge;
  readonly lastEvent: Gauge;
  readonly events: Counter<'kind' | 'type'>;
  readonly objects: Gauge<'kind'>;
  readonly skipped: Counter<'kind'>;
  readonly rejected: Counter<'kind'>;
  readonly meshedPods: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.synced = new Gauge({ name: 'nodemesh_discovery_synced', help: '1 once every watched Kubernetes resource has been listed in full (stays 1 while reconnecting)', registers });
    this.lastEvent = new Gauge({ name: 'nodemesh_discovery_last_event_timestamp_seconds', help: 'When the Kubernetes API last sent a list or watch event (bookmarks included)', registers });
    this.events = new Counter({ name: 'nodemesh_discovery_events_total', help: 'Kubernetes list and watch events received, by kind and type', labelNames: ['kind', 'type'], registers });
    this.objects = new Gauge({ name: 'nodemesh_discovery_objects', help: 'Kubernetes objects the agent holds, by kind', labelNames: ['kind'], registers });
    this.skipped = new Counter({ name: 'nodemesh_discovery_skipped_total', help: 'Kubernetes objects skipped because they could not be used (named in the log)', labelNames: ['kind'], registers });
    this.rejected = new Counter({ name: 'nodemesh_discovery_rejected_total', help: 'Istio objects from the API rejected as invalid; their previous valid version keeps applying', labelNames: ['kind'], registers });
    this.meshedPods = new Gauge({ name: 'nodemesh_meshed_pods', help: 'Pods on this node in the mesh (istio.io/dataplane-mode=ambient) whose cgroup is in the kernel table', registers });
    this.synced.set(0);
  }
}
