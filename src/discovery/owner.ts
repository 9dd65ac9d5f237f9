// A pod's workload (the name metrics report as destination_workload / source_workload), inferred from its
// controller owner reference and labels the way Istio does it, so that nodemesh never has to watch
// ReplicaSets or Jobs: a Deployment's ReplicaSet is named `<deployment>-<pod-template-hash>`, and a
// CronJob's Job `<cronjob>-<scheduled time in minutes>`.

export interface OwnerRef {
  readonly kind: string;
  readonly name: string;
  readonly controller: boolean;
}

export interface WorkloadName {
  readonly name: string;
  /** Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, … or Pod when the pod has no controller. */
  readonly kind: string;
}

// Istio's pattern: 8 to 10 digits (minutes since the epoch, today 8).
const CRONJOB_JOB = /^(.+)-[0-9]{8,10}$/;

export function workloadOf(podName: string, labels: Readonly<Record<string, string>>, owners: readonly OwnerRef[]): WorkloadName {
  const owner = owners.find((o) => o.controller);
  // A mirror (static) pod is "controlled" by its Node; Istio reports it under its own name.
  if (owner === undefined || owner.kind === 'Node' || owner.name === '') return { name: podName, kind: 'Pod' };
  if (owner.kind === 'ReplicaSet') {
    const deployment = trimSuffix(owner.name, labels['pod-template-hash']);
    if (deployment !== undefined) return { name: deployment, kind: 'Deployment' };
    // Argo Rollouts names its ReplicaSets the same way, with its own label.
    const rollout = trimSuffix(owner.name, labels['rollouts-pod-template-hash']);
    if (rollout !== undefined) return { name: rollout, kind: 'Rollout' };
  }
  // OpenShift: a DeploymentConfig's ReplicationController labels its pods with the config's name.
  const dc = labels['deploymentconfig'];
  if (owner.kind === 'ReplicationController' && dc !== undefined && dc !== '') return { name: dc, kind: 'DeploymentConfig' };
  if (owner.kind === 'Job') {
    const m = CRONJOB_JOB.exec(owner.name);
    if (m !== null) return { name: m[1], kind: 'CronJob' };
  }
  return { name: owner.name, kind: owner.kind };
}

/** NAME without `-HASH`, or undefined when it does not end that way (or nothing would be left). */
function trimSuffix(name: string, hash: string | undefined): string | undefined {
  if (hash === undefined || hash === '') return undefined;
  const suffix = `-${hash}`;
  return name.length > suffix.length && name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
}
