import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { AuthenticationError, isError } from '@backstage/errors';
import {
  authProvidersExtensionPoint,
  createProxyAuthenticator,
  createProxyAuthProviderFactory,
} from '@backstage/plugin-auth-node';

/** The provider id the frontend's sign-in page calls: `/api/auth/dev-user/refresh`. */
export const DEV_USER_PROVIDER_ID = 'dev-user';
/** The request header naming the catalog user to sign in as. */
export const DEV_USER_HEADER = 'x-quarterdeck-dev-user';

const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

/**
 * Development sign-in as any User of the catalog, so that a journey with two
 * people (a requester and an approver) can be tried on one machine. It trusts
 * a request header, so it refuses to start when NODE_ENV is `production`, and
 * it is only registered when `auth.providers.dev-user` is configured, which
 * app-config.production.yaml does not do.
 */
export const devUserAuthenticator = createProxyAuthenticator({
  defaultProfileTransform: async (result: { userName: string }) => ({
    profile: { displayName: result.userName },
  }),
  initialize() {},
  async authenticate({ req }) {
    const userName = req.header(DEV_USER_HEADER);
    if (!userName || !USER_NAME.test(userName)) {
      throw new AuthenticationError(
        `Development sign-in needs the ${DEV_USER_HEADER} header with a catalog user name`,
      );
    }
    return { result: { userName } };
  },
});

export const devUserSignInModule = createBackendModule({
  pluginId: 'auth',
  moduleId: 'quarterdeck-dev-user-provider',
  register(reg) {
    reg.registerInit({
      deps: {
        providers: authProvidersExtensionPoint,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
      },
      async init({ providers, config, logger }) {
        if (!config.has(`auth.providers.${DEV_USER_PROVIDER_ID}`)) {
          return;
        }
        if (process.env.NODE_ENV === 'production') {
          throw new Error(
            `auth.providers.${DEV_USER_PROVIDER_ID} lets anyone sign in as any user; it is refused when NODE_ENV=production`,
          );
        }
        logger.warn(
          'Development sign-in is on: anyone who can reach this backend may sign in as any catalog user',
        );
        providers.registerProvider({
          providerId: DEV_USER_PROVIDER_ID,
          factory: createProxyAuthProviderFactory({
            authenticator: devUserAuthenticator,
            async signInResolver({ result }, ctx) {
              try {
                return await ctx.signInWithCatalogUser({
                  entityRef: { name: result.userName },
                });
              } catch (error) {
                if (isError(error) && error.name === 'NotFoundError') {
                  throw new AuthenticationError(
                    `No User named '${result.userName}' in the catalog (yet: a new catalog needs a few seconds to load)`,
                  );
                }
                throw error;
              }
            },
          }),
        });
      },
    });
  },
});
