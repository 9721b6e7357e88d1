import { createBackendModule } from '@backstage/backend-plugin-api';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { createRolloutManifestAction } from './actions/rolloutManifest';

/** Quarterdeck's scaffolder actions. */
export const scaffolderModuleQuarterdeck = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'quarterdeck',
  register(reg) {
    reg.registerInit({
      deps: { scaffolder: scaffolderActionsExtensionPoint },
      async init({ scaffolder }) {
        scaffolder.addActions(createRolloutManifestAction());
      },
    });
  },
});
