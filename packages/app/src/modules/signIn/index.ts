import { createFrontendModule } from '@backstage/frontend-plugin-api';
import { SignInPageBlueprint } from '@backstage/plugin-app-react';

const devSignInPage = SignInPageBlueprint.make({
  params: {
    loader: async () => (await import('./SignInPage')).QuarterdeckSignInPage,
  },
});

export const signInModule = createFrontendModule({
  pluginId: 'app',
  extensions: [devSignInPage],
});
