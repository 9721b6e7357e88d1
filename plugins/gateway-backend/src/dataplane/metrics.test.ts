import { DataPlaneMetrics } from './metrics';

describe('DataPlaneMetrics', () => {
  it('writes counters, cumulative histogram buckets and token totals in the Prometheus text format', () => {
    const m = new DataPlaneMetrics();
    const call = { product: 'llm-chat', model: 'chat-small-v1', route: 'chat-small', version: 'v1', promptTokens: 10, completionTokens: 5 };
    m.call({ ...call, status: 200, seconds: 0.004 });
    m.call({ ...call, status: 200, seconds: 0.06 });
    m.call({ ...call, status: 502, seconds: 40 });
    m.call({ ...call, status: 429, seconds: 0.001 });
    m.call({ ...call, status: 499, seconds: 0.2 });
    m.call({ ...call, version: 'v2', status: 200, seconds: 0.01 });
    m.refused('', 'key-revoked');
    m.refused('', 'key-revoked');
    const text = m.metrics();
    const labels = 'product="llm-chat",model="chat-small-v1",route="chat-small",version="v1"';
    expect(text).toContain(`quarterdeck_gateway_requests_total{${labels},status="2xx"} 2`);
    expect(text).toContain(`quarterdeck_gateway_requests_total{${labels},status="5xx"} 1`);
    expect(text).toContain(`quarterdeck_gateway_requests_total{${labels},status="4xx"} 2`);
    // The upstream's failures apart from the client's (499): 5xx and 429, as the analysis counts them.
    expect(text).toContain(`quarterdeck_gateway_upstream_errors_total{${labels}} 2`);
    expect(text).toContain('quarterdeck_gateway_upstream_errors_total{product="llm-chat",model="chat-small-v1",route="chat-small",version="v2"} 0');
    expect(text).toContain(`quarterdeck_gateway_request_duration_seconds_bucket{${labels},le="0.005"} 2`);
    expect(text).toContain(`quarterdeck_gateway_request_duration_seconds_bucket{${labels},le="0.05"} 2`);
    expect(text).toContain(`quarterdeck_gateway_request_duration_seconds_bucket{${labels},le="0.1"} 3`);
    expect(text).toContain(`quarterdeck_gateway_request_duration_seconds_bucket{${labels},le="30"} 4`);
    expect(text).toContain(`quarterdeck_gateway_request_duration_seconds_bucket{${labels},le="+Inf"} 5`);
    expect(text).toContain(`quarterdeck_gateway_request_duration_seconds_count{${labels}} 5`);
    expect(text).toMatch(new RegExp(`quarterdeck_gateway_request_duration_seconds_sum\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} 40\\.265`));
    // Both versions' tokens add up under the model.
    expect(text).toContain('quarterdeck_gateway_tokens_total{product="llm-chat",model="chat-small-v1",kind="prompt"} 60');
    expect(text).toContain('quarterdeck_gateway_refusals_total{product="",reason="key-revoked"} 2');
    expect(text).toContain('# TYPE quarterdeck_gateway_request_duration_seconds histogram');
  });

  it('escapes label values', () => {
    const m = new DataPlaneMetrics();
    m.call({ product: 'p', model: 'a"b\\c\nd', status: 200, seconds: 0.1, promptTokens: 0, completionTokens: 0 });
    expect(m.metrics()).toContain('model="a\\"b\\\\c\\nd"');
  });
});
