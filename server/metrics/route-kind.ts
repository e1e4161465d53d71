/** What a request path is, for the request counters (pure: no I/O). */
export type RouteKind = 'pool' | 'serial' | 'latest' | 'api' | 'keys' | 'web' | 'metrics' | 'mr' | 'archive' | 'other';

export function routeKind(url: string): RouteKind {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (path === '/api' || path.startsWith('/api/')) return 'api';
  if (path.startsWith('/keys/')) return 'keys';
  if (path === '/metrics') return 'metrics';
  if (path.startsWith('/mr/') || path.startsWith('/file/')) return 'mr';
  if (path.startsWith('/archive/')) return 'archive';
  if (path === '/' || path.startsWith('/web/')) return 'web';
  const m = /^\/[^/]+\/([^/]+)(\/.*)?$/.exec(path);
  if (!m) return 'other';
  const [, serial, rest = ''] = m;
  const isSerial = /^\d{10}$/.test(serial!) || /^\d{8}T\d{6}Z$/.test(serial!);
  if (!isSerial && serial !== 'latest') return 'other';
  if (rest.startsWith('/pool/')) return 'pool';
  return isSerial ? 'serial' : 'latest';
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
