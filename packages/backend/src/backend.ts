import { createBackend } from '@backstage/backend-defaults';
import { devUserSignInModule } from './modules/devUserSignIn';
import { permissionPolicyModule } from './modules/permissionPolicy';

/** The portal's backend: Backstage's core plugins plus Quarterdeck's. */
export function startBackend() {
  const backend = createBackend();

  backend.add(import('@backstage/plugin-app-backend'));

  backend.add(import('@backstage/plugin-auth-backend'));
  backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
  backend.add(import('@backstage/plugin-auth-backend-module-oauth2-proxy-provider'));
  backend.add(devUserSignInModule);

  backend.add(import('@backstage/plugin-permission-backend'));
  backend.add(permissionPolicyModule);

  backend.add(import('@backstage/plugin-catalog-backend'));
  backend.add(
    import('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'),
  );
  backend.add(import('@backstage/plugin-scaffolder-backend'));
  backend.add(
    import('@quarterdeck/plugin-scaffolder-backend-module-quarterdeck'),
  );

  backend.add(import('@backstage/plugin-events-backend'));
  backend.add(import('@backstage/plugin-signals-backend'));
  backend.add(import('@backstage/plugin-notifications-backend'));

  backend.add(import('@backstage/plugin-search-backend'));
  backend.add(import('@backstage/plugin-search-backend-module-catalog'));

  backend.add(import('@quarterdeck/plugin-argo-backend'));
  backend.add(import('@quarterdeck/plugin-gateway-backend'));

  backend.start().catch(error => {
    process.stderr.write(`Start-up failed: ${error?.message ?? error}\n`);
    process.exit(1);
  });
}
