import { upstreamAllowed } from './upstreamHosts';

const allowed = (url: string, entries: string[]) => upstreamAllowed(new URL(url), entries);

describe('gateway.allowedUpstreamHosts', () => {
  it('takes a host on any port, or host:port on that port only, and a *. suffix either way', () => {
    expect(allowed('http://models.internal:8080/v1', ['models.internal'])).toBe(true);
    expect(allowed('http://models.internal:8080/v1', ['models.internal:8080'])).toBe(true);
    // The same host's other ports (the portal on 7007, an admin API) are not products' to call.
    expect(allowed('http://models.internal:7007/api/auth', ['models.internal:8080'])).toBe(false);
    expect(allowed('https://llm.ml.svc.cluster.local/v1', ['*.svc.cluster.local:443'])).toBe(true);
    expect(allowed('http://llm.ml.svc.cluster.local/v1', ['*.svc.cluster.local:443'])).toBe(false);
    expect(allowed('http://evil.example.com/', ['models.internal', '*.internal'])).toBe(false);
    expect(allowed('http://[::1]:8080/', ['[::1]:8080'])).toBe(true);
    expect(allowed('http://[::1]:9090/', ['[::1]:8080'])).toBe(false);
  });

  it('reads an entry as a URL writes its host: any case, IPv6 bare or bracketed, long or short', () => {
    // URL.hostname is lowercased: an entry as an operator may write it must still match.
    expect(allowed('http://models.internal:8080/v1', ['Models.Internal'])).toBe(true);
    expect(allowed('http://MODELS.internal:8080/v1', ['Models.Internal:8080'])).toBe(true);
    expect(allowed('https://llm.ML.svc.cluster.local/v1', ['*.SVC.Cluster.Local'])).toBe(true);
    // URL.hostname brackets IPv6, and shortens it.
    expect(allowed('http://[::1]:8080/', ['::1'])).toBe(true);
    expect(allowed('http://[::1]:8080/', ['0:0:0:0:0:0:0:1'])).toBe(true);
    expect(allowed('http://[fe80::1]/', ['FE80::1'])).toBe(true);
    expect(allowed('http://[::2]:8080/', ['::1'])).toBe(false);
    expect(allowed('http://models.internal.evil.com/', ['Models.Internal'])).toBe(false);
  });
});
