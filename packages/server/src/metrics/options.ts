/**
 * `metrics` option of a broker: Prometheus metrics at `{prefix}/metrics`. Off by default.
 * Protected by its own bearer token, or served on a separate listen address (an internal
 * port Prometheus scrapes), or both.
 */
export interface MetricsOptions {
  /** A token Prometheus presents as `Authorization: Bearer <token>` (`bearer_token` in a scrape config). */
  token?: string;
  /**
   * A separate address to serve the metrics on (and only them), e.g. `http://127.0.0.1:9464`:
   * `GET /metrics` and `GET {prefix}/metrics` there. The broker's own port then has no metrics.
   */
  listen?: string;
}

/** `admin` option of a broker: the admin page at `{prefix}/admin`. */
export interface AdminOptions {
  /**
   * A token the page must be opened with (`{prefix}/admin#token=...`; API calls send it as
   * `Authorization: Bearer`). Required in production mode, optional in development mode.
   */
  token?: string;
}

/** The `metrics` option after checking: `false` when off. */
export type ResolvedMetricsOptions = MetricsOptions | false;

/** The `admin` option after checking: `false` when off. */
export type ResolvedAdminOptions = AdminOptions | false;

/**
 * Checks the `metrics` option. `true` serves open metrics on the broker's port, allowed only in
 * development mode: in production they need a token or a listen address of their own.
 */
export function resolveMetrics(
  value: boolean | MetricsOptions | undefined,
  mode: 'development' | 'production',
): ResolvedMetricsOptions {
  if (value === undefined || value === false) return false;
  const options: MetricsOptions = value === true ? {} : value;
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 8))
    throw new TypeError('metrics.token must be a string of at least 8 characters');
  if (
    options.listen !== undefined &&
    (typeof options.listen !== 'string' || !/^https?:\/\/[^/]+:\d+\/?$/.test(options.listen))
  )
    throw new TypeError('metrics.listen must be an address with a port, such as http://127.0.0.1:9464');
  if (mode === 'production' && options.token === undefined && options.listen === undefined)
    throw new TypeError(
      'in production, metrics need a token (metrics.token) or an address of their own (metrics.listen)',
    );
  return options;
}

/**
 * Checks the `admin` option. Default: on in development mode (open, unless a token is given),
 * off in production unless a token is given.
 */
export function resolveAdmin(
  value: boolean | AdminOptions | undefined,
  mode: 'development' | 'production',
): ResolvedAdminOptions {
  if (value === false) return false;
  const options: AdminOptions = typeof value === 'object' ? value : {};
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 8))
    throw new TypeError('admin.token must be a string of at least 8 characters');
  if (mode === 'production' && options.token === undefined) {
    if (value === true) throw new TypeError('in production, the admin page needs a token (admin.token)');
    return false;
  }
  return options;
}
