import express from 'express';
import request from 'supertest';
import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { mockServices } from '@backstage/backend-test-utils';
import { jsonBodies } from './jsonBodies';
import { formatAuditCursor, parseAuditCursor } from './auditCursor';

/** An app as a plugin's router sits in Backstage: our body parsing, a route, Backstage's error handler. */
function app() {
  const received: unknown[] = [];
  const server = express();
  server.use(...jsonBodies({ limit: '1kb' }));
  server.post('/act', (req, res) => {
    received.push(req.body);
    res.json({ ok: true });
  });
  server.use(MiddlewareFactory.create({ config: mockServices.rootConfig(), logger: mockServices.logger.mock() }).error());
  return { server, received };
}

describe('jsonBodies', () => {
  it('reads JSON, and a request with no body', async () => {
    const { server, received } = app();
    expect((await request(server).post('/act').send({ reason: 'x' })).status).toBe(200);
    expect((await request(server).post('/act')).status).toBe(200);
    expect(received).toEqual([{ reason: 'x' }, {}]);
  });

  it('refuses a body that is not JSON, unparseable JSON and a body too large, before the route runs', async () => {
    const { server, received } = app();
    const text = await request(server).post('/act').set('content-type', 'text/plain').send('{"graceSeconds":0}');
    expect([text.status, text.body.error.message]).toEqual([415, 'The body must be JSON (content-type: application/json), not text/plain']);
    const broken = await request(server).post('/act').set('content-type', 'application/json').send('{"reason":');
    expect([broken.status, broken.body.error.message]).toEqual([400, expect.stringMatching(/^body: not valid JSON, or not an object or array \(/)]);
    const bare = await request(server).post('/act').set('content-type', 'application/json').send('null');
    expect(bare.status).toBe(400);
    expect((await request(server).post('/act').send({ reason: 'x'.repeat(2000) })).status).toBe(413);
    expect(received).toEqual([]);
  });
});

describe('audit cursors', () => {
  it('read back what they wrote, and nothing else', () => {
    const at = new Date('2026-12-06T17:00:00.123Z');
    const text = formatAuditCursor({ createdAt: at.toISOString(), id: '42' });
    expect(text).toBe(`${at.getTime()}-42`);
    expect(parseAuditCursor(text)).toEqual({ createdAt: at, id: '42' });
    for (const bad of ['', '42', 'x-1', '1-x', `${'9'.repeat(16)}-1`]) expect(parseAuditCursor(bad)).toBeUndefined();
  });
});
