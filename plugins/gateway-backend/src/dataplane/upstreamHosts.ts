import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';

/**
 * Whether `gateway.allowedUpstreamHosts` takes an upstream URL. An entry is
 * a host, named as it is or under a `*.` suffix, with any port; or
 * `host:port` (`[v6]:port`), that port only, so that a host whose other ports
 * serve something else (the portal, an admin API) is not reachable through
 * a product. Ports are as the URL implies them (80 for http, 443 for https).
 */
export function upstreamAllowed(url: URL, allowed: readonly string[]): boolean {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return allowed.some(entry => {
    const [host, entryPort] = splitEntry(entry);
    if (entryPort !== undefined && entryPort !== port) return false;
    return host === url.hostname || (host.startsWith('*.') && url.hostname.endsWith(host.slice(1)));
  });
}

/**
 * An allowlist entry's host, as URL.hostname writes it, and port (undefined:
 * any). A bare IPv6 address has colons and no port. The host is compared with
 * a URL's hostname, which is lowercased and has IPv6 bracketed and shortened:
 * `Models.Internal` or `::1` as written would never match.
 */
function splitEntry(entry: string): [string, string | undefined] {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry.trim());
  const [host, port] = match ? [match[1], match[2]] : [entry.trim(), undefined];
  return [host.startsWith('*.') ? `*.${hostnameOf(host.slice(2))}` : hostnameOf(host), port];
}

/** A host as URL.hostname writes it; an entry no URL could have, lowercased (it matches nothing either way). */
function hostnameOf(host: string): string {
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  try {
    return new URL(`http://${bracketed}/`).hostname;
  } catch {
    return bracketed.toLowerCase();
  }
}

/** An upstream of a stored product whose host the allowlist no longer takes (it was narrowed after the product was written). */
export interface UpstreamOutsideAllowlist {
  productId: string;
  upstream: string;
  host: string;
}

export function upstreamsOutsideAllowlist(products: readonly GatewayProduct[], allowed: readonly string[]): UpstreamOutsideAllowlist[] {
  const outside: UpstreamOutsideAllowlist[] = [];
  for (const product of products) {
    for (const upstream of product.upstreams) {
      const host = hostOf(upstream.url);
      let url: URL | undefined;
      try {
        url = new URL(upstream.url);
      } catch {
        // a URL that cannot be read, which no entry takes
      }
      if (!url || !upstreamAllowed(url, allowed)) outside.push({ productId: product.id, upstream: upstream.name, host });
    }
  }
  return outside;
}

/** The host an upstream URL names, as the allowlist reads it ('' for a URL that cannot be read, which no entry takes). */
export function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}
