import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { mockServices } from '@backstage/backend-test-utils';
import express from 'express';
import request from 'supertest';
import {
  InvalidObjectError,
  ObjectConflictError,
  ObjectNotFoundError,
  UnknownClusterError,
} from './errors';

describe('cluster errors', () => {
  const app = express();
  const thrown: Record<string, Error> = {
    invalid: new InvalidObjectError('metadata.name: Required value'),
    cluster: new UnknownClusterError('prod-eu'),
    missing: new ObjectNotFoundError('rollouts.argoproj.io "x" not found'),
    conflict: new ObjectConflictError('the object has been modified'),
  };
  app.get('/:what', (req, _res, next) => next(thrown[req.params.what]));
  app.use(
    MiddlewareFactory.create({
      config: mockServices.rootConfig(),
      logger: mockServices.logger.mock(),
    }).error(),
  );

  it.each([
    ['invalid', 400, 'metadata.name: Required value'],
    ['cluster', 404, "No cluster named 'prod-eu' is configured"],
    ['missing', 404, 'rollouts.argoproj.io "x" not found'],
    ['conflict', 409, 'the object has been modified'],
  ])('a route that lets the %s error through answers %i with its message', async (what, status, message) => {
    const res = await request(app).get(`/${what}`);
    expect(res.status).toBe(status);
    expect(res.body.error.message).toBe(message);
  });
});
