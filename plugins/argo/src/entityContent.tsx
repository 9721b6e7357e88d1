import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import { KUBERNETES_ID_ANNOTATION, KUBERNETES_LABEL_SELECTOR_ANNOTATION } from '@quarterdeck/plugin-argo-common';

/** The Rollouts tab, on entities whose Kubernetes objects Quarterdeck can find. */
export const rolloutsEntityContent = EntityContentBlueprint.make({
  name: 'rollouts',
  params: {
    path: '/rollouts',
    title: 'Rollouts',
    filter: entity =>
      Boolean(entity.metadata.annotations?.[KUBERNETES_ID_ANNOTATION] || entity.metadata.annotations?.[KUBERNETES_LABEL_SELECTOR_ANNOTATION]),
    loader: () => import('./components/rollouts/RolloutsContent').then(m => <m.RolloutsContent />),
  },
});
