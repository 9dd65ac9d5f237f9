// Deep Object.freeze: a MeshConfig is shared by every module and must never change under them.

export function deepFreeze<T>(value: T): T {
  // A frozen object was frozen whole by an earlier call (discovery reuses unchanged parts across
  // configs), so its subtree is skipped: refreezing a large cluster on every change would cost O(size).
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (Array.isArray(value)) for (const v of value) deepFreeze(v);
    else for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
