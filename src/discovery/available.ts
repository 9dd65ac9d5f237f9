// Whether to use the Kubernetes API at all, decided without loading the client library (which takes
// seconds to load, and most commands never need it).
import * as fs from 'node:fs';

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** A kubeconfig was named (flag or $KUBECONFIG), or the process runs in a pod with a ServiceAccount. */
export function kubernetesAvailable(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (kubeconfig !== undefined) return true;
  if (env.KUBECONFIG) return true;
  return Boolean(env.KUBERNETES_SERVICE_HOST) && fs.existsSync(IN_CLUSTER_TOKEN);
}
