// The baseline for bench/startup: a plain Backstage backend with the same
// catalog, auth and app serving, but none of Quarterdeck's or the portal's
// other plugins (and permissions off). The ratio shows what the portal adds.
import { createBackend } from '@backstage/backend-defaults';

const backend = createBackend();
backend.add(import('@backstage/plugin-app-backend'));
backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
backend.add(import('@backstage/plugin-catalog-backend'));
backend.start();
