// Minimal typings for the parts of ffi-napi that src/capture/ffi.ts uses.
declare module 'ffi-napi' {
  type FfiType = string;
  export function Library(path: string, funcs: Record<string, [FfiType, FfiType[]]>): Record<string, (...args: unknown[]) => unknown>;
}
