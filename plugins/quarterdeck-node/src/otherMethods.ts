import type express from 'express';

type Layer = {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  regexp?: { fast_slash?: boolean };
};

/** Each path a router (and the routers mounted on it at its root) serves, with the methods it takes there. */
function routesOf(stack: Layer[], into = new Map<string, Set<string>>()) {
  for (const layer of stack) {
    if (layer.route) {
      const methods = Object.keys(layer.route.methods).map(m => (m === '_all' ? '*' : m.toUpperCase()));
      for (const path of ([] as string[]).concat(layer.route.path)) {
        const known = into.get(path) ?? new Set<string>();
        methods.forEach(m => known.add(m));
        into.set(path, known);
      }
    } else if (layer.handle?.stack && layer.regexp?.fast_slash) {
      routesOf(layer.handle.stack, into);
    }
  }
  return into;
}

/**
 * A method a path does not take is a 405 naming the methods it does (and an
 * `Allow` header), rather than Backstage's empty 404, which reads as "no
 * such thing". Call it once every route is on the router. OPTIONS and HEAD
 * are left to Express, which answers them from the same routes.
 */
export function refuseOtherMethods(router: express.Router): void {
  const routes = routesOf((router as unknown as { stack: Layer[] }).stack);
  for (const [path, methods] of routes) {
    // A path some route takes with any method (router.all) has no other method.
    if (methods.has('*')) continue;
    const allowed = [...methods].sort();
    router.all(path, (req, res, next) => {
      // A method the path takes, whose route passed the request on, goes on as before, as do OPTIONS and HEAD.
      if (methods.has(req.method) || req.method === 'OPTIONS' || (req.method === 'HEAD' && methods.has('GET'))) {
        next();
        return;
      }
      res.setHeader('Allow', allowed.join(', '));
      next(Object.assign(new Error(`${req.method} is not taken by ${path}; it takes ${allowed.join(', ')}`), { name: 'MethodNotAllowedError', statusCode: 405 }));
    });
  }
}
