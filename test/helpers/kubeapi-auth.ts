// TokenReview for the Kubernetes API stand-in (pure; see kubeapi.ts): what a registered token means, and
// the review the real server answers (authentication.k8s.io/v1), including audience checks.

/** The audience of tokens issued without one, and of reviews that name none (the API server's own). */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

export interface TokenUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
  /** Audiences the token was issued for (a projected token's `audience`); default the API server's. */
  readonly audiences?: readonly string[];
}

export interface TokenReviewStatus {
  authenticated: boolean;
  user: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

/** Answers the review of `token` for the requested audiences (none: the API server's). */
export function review(tokens: ReadonlyMap<string, TokenUser>, token: unknown, requested: unknown): TokenReviewStatus {
  const info = typeof token === 'string' ? tokens.get(token) : undefined;
  if (!info) return { authenticated: false, user: {}, error: '[invalid bearer token, token lookup failed]' };
  const want = Array.isArray(requested) && requested.length > 0 ? requested.filter((a): a is string => typeof a === 'string') : [API_AUDIENCE];
  const has = info.audiences && info.audiences.length > 0 ? info.audiences : [API_AUDIENCE];
  const common = want.filter((a) => has.includes(a));
  if (common.length === 0) {
    return { authenticated: false, user: {}, error: `[invalid bearer token, token audiences ${JSON.stringify(has)} is invalid for the target audiences ${JSON.stringify(want)}]` };
  }
  const user: TokenReviewStatus['user'] = { username: info.username };
  if (info.uid !== undefined) user.uid = info.uid;
  if (info.groups) user.groups = [...info.groups];
  if (info.extra) user.extra = Object.fromEntries(Object.entries(info.extra).map(([k, v]) => [k, [...v]]));
  return { authenticated: true, user, audiences: common };
}
