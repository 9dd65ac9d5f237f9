// --no-capture: the same proxy without eBPF, for development. Clients dial the service VIPs, which the
// agent listens on itself (127.0.0.0/8 addresses are bindable on Linux), so the original destination
// is simply the accepted socket's local address.
import type { MeshConfig } from '../config/model';
import type { Datapath, KernelCounters, MapStat } from './types';

export class NoCapture implements Datapath {
  readonly mode = 'none' as const;
  sync(_config: MeshConfig): void {}
  /** Nothing is captured here: clients reach the agent only by dialling its listeners. */
  syncMeshed(_cgroupIds: readonly bigint[] | undefined): void {}
  counters(): KernelCounters[] {
    return [];
  }
  maps(): MapStat[] {
    return [];
  }
  attached(): boolean {
    return true;
  }
  close(): void {}
}
