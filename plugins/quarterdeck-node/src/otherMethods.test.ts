import express from 'express';
import request from 'supertest';
import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { mockServices } from '@backstage/backend-test-utils';
import { refuseOtherMethods } from './otherMethods';

/** A plugin's router with a sub-router mounted at its root, behind Backstage's error handler. */
function app() {
  const router = express.Router();
  router.get('/products/:id', (_req, res) => { res.json({ id: 'p' }); });
  router.put('/products/:id', (_req, res) => { res.json({ id: 'p' }); });
  const actions = express.Router();
  actions.post('/keys/:id/revoke', (_req, res) => { res.json({ revoked: true }); });
  router.use(actions);
  // A route that passes some requests on, and a path taken with any method.
  router.get('/maybe', (req, res, next) => (req.query.here ? res.json({ here: true }) : next()));
  router.all('/anything', (_req, res) => { res.json({ any: true }); });
  // Two routes that share paths: /runs/r1/audit is taken by both.
  router.get('/runs/:id/audit', (_req, res) => { res.json([]); });
  router.post('/runs/:id/:action', (_req, res) => { res.json({ done: true }); });
  refuseOtherMethods(router);
  const server = express();
  server.use('/api/gateway', router);
  server.use(MiddlewareFactory.create({ config: mockServices.rootConfig(), logger: mockServices.logger.mock() }).notFound());
  server.use(MiddlewareFactory.create({ config: mockServices.rootConfig(), logger: mockServices.logger.mock() }).error());
  return server;
}

describe('refuseOtherMethods', () => {
  it('answers a method a path does not take with 405, the methods it takes and an Allow header', async () => {
    const server = app();
    const post = await request(server).post('/api/gateway/products/llm-chat').send({});
    expect([post.status, post.headers.allow, post.body.error.message]).toEqual([405, 'GET, PUT', 'POST is not taken by /products/:id; it takes GET, PUT']);
    // Routes of a router mounted at the root are known too.
    const get = await request(server).get('/api/gateway/keys/k1/revoke');
    expect([get.status, get.headers.allow]).toEqual([405, 'POST']);
  });

  it('names the methods of every route a path matches', async () => {
    const server = app();
    const deleted = await request(server).delete('/api/gateway/runs/r1/audit');
    expect([deleted.status, deleted.headers.allow, deleted.body.error.message])
      .toEqual([405, 'GET, POST', 'DELETE is not taken by /runs/:id/audit or /runs/:id/:action; they take GET, POST']);
    expect((await request(server).post('/api/gateway/runs/r1/audit')).status).toBe(200);
    const action = await request(server).get('/api/gateway/runs/r1/retry');
    expect([action.status, action.headers.allow]).toEqual([405, 'POST']);
  });

  it('leaves the routes, HEAD and OPTIONS of them, and unknown paths as they were', async () => {
    const server = app();
    expect((await request(server).get('/api/gateway/products/p')).status).toBe(200);
    expect((await request(server).post('/api/gateway/keys/k1/revoke')).status).toBe(200);
    expect((await request(server).head('/api/gateway/products/p')).status).toBe(200);
    const options = await request(server).options('/api/gateway/products/p');
    expect([options.status, options.headers.allow]).toEqual([200, 'GET,HEAD,PUT']);
    expect((await request(server).get('/api/gateway/nothing-here')).status).toBe(404);
    // A GET its route passed on is not "a method the path does not take".
    expect((await request(server).get('/api/gateway/maybe')).status).toBe(404);
    expect((await request(server).delete('/api/gateway/anything')).status).toBe(200);
  });
});
