import type express from 'express';

type Layer = {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  regexp?: RegExp & { fast_slash?: boolean };
};

type KnownRoute = { path: string; matches: RegExp; methods: Set<string> };

/** Each route of a router (and of the routers mounted on it at its root): its path, Express's own pattern of it, and its methods. */
function routesOf(stack: Layer[], into: KnownRoute[] = []) {
  for (const layer of stack) {
    if (layer.route && layer.regexp) {
      const methods = new Set(Object.keys(layer.route.methods).map(m => (m === '_all' ? '*' : m.toUpperCase())));
      into.push({ path: ([] as string[]).concat(layer.route.path).join(' or '), matches: layer.regexp, methods });
    } else if (layer.handle?.stack && layer.regexp?.fast_slash) {
      routesOf(layer.handle.stack, into);
    }
  }
  return into;
}

/**
 * A method a path does not take is a 405 naming the methods it does (and an
 * `Allow` header), rather than Backstage's empty 404, which reads as "no
 * such thing". Call it once every route is on the router. A path can match
 * several routes (`/rollouts/:name/audit` and `/rollouts/:name/:action`):
 * it takes the methods of all of them. OPTIONS, and HEAD where a route
 * takes GET, are left to Express, which answers them from the same routes.
 */
export function refuseOtherMethods(router: express.Router): void {
  const routes = routesOf((router as unknown as { stack: Layer[] }).stack);
  router.use((req, res, next) => {
    const matching = routes.filter(route => route.matches.test(req.path));
    const methods = new Set(matching.flatMap(route => [...route.methods]));
    // No route has the path (a 404), a route takes it with any method (router.all), or it takes this method
    // and its route passed the request on: as before. OPTIONS and HEAD too.
    if (matching.length === 0 || methods.has('*') || methods.has(req.method) || req.method === 'OPTIONS' || (req.method === 'HEAD' && methods.has('GET'))) {
      next();
      return;
    }
    const allowed = [...methods].sort().join(', ');
    const paths = [...new Set(matching.map(route => route.path))];
    res.setHeader('Allow', allowed);
    next(Object.assign(new Error(`${req.method} is not taken by ${paths.join(' or ')}; ${paths.length > 1 ? 'they take' : 'it takes'} ${allowed}`), { name: 'MethodNotAllowedError', statusCode: 405 }));
  });
}
