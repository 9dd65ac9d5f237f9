// The balancing layer's public surface.
export { BalancerSet, buildTargets, type BalancerPick, type BalancerSetOptions, type SharedEjection, type Target } from './set';
export { ClusterBalancer, createAlgorithm, type EjectionEvent } from './cluster';
export { type Algorithm, type AlgorithmKind, type Healthy, type PickEnv, type PickInput, algorithmKind } from './algorithm';
export { Breaker, Breakers, limitsOf, UNLIMITED, type BreakerLimits, type Limit, type Waiting } from './breaker';
export { OutlierDetector, type Ejection, type EjectionReason, type OutlierResult } from './outlier';
export { DEFAULT_EWMA, LoadState, type EwmaOptions } from './load';
export { DEFAULT_HEALTH, HealthTable, type HealthOptions } from './health';
export { hash32 } from './hash';
export { chooseGroup, localityOfLabels, parseLocality, planLocality, type Locality, type LocalityPlan, type SelfLocality } from './locality';
export { matchesLabels } from './target';
