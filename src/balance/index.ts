// The balancing layer's public surface.
export { Balancer, BalancerSet, buildTargets, type BalancerPick, type BalancerSetOptions, type Target } from './set';
export { DEFAULT_HEALTH, HealthTable, type HealthOptions } from './health';
export { pickRoundRobin, type RoundRobinPick } from './picker';
