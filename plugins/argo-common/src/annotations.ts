/**
 * Catalog annotations Quarterdeck reads to find an entity's Argo objects.
 *
 * The ecosystem's names come first, so a catalog already annotated for the
 * Backstage Kubernetes plugin or the Argo CD plugin needs nothing new.
 */

/** Backstage Kubernetes plugin: objects labelled `backstage.io/kubernetes-id=<value>`. */
export const KUBERNETES_ID_ANNOTATION = 'backstage.io/kubernetes-id';
/** Backstage Kubernetes plugin: a label selector string, e.g. `app=payments,tier=api`. */
export const KUBERNETES_LABEL_SELECTOR_ANNOTATION =
  'backstage.io/kubernetes-label-selector';
/** Backstage Kubernetes plugin: restricts lookups to one namespace. */
export const KUBERNETES_NAMESPACE_ANNOTATION = 'backstage.io/kubernetes-namespace';
/** Argo CD Backstage plugin: the Application's name. */
export const ARGOCD_APP_NAME_ANNOTATION = 'argocd/app-name';
/** Argo CD Backstage plugin: a label selector over Applications. */
export const ARGOCD_APP_SELECTOR_ANNOTATION = 'argocd/app-selector';

/**
 * The cluster (by its configured name) an entity's objects live on. No
 * ecosystem convention exists: the Kubernetes plugin searches every cluster.
 * Without it Quarterdeck uses the default cluster.
 */
export const QUARTERDECK_CLUSTER_ANNOTATION = 'quarterdeck.io/cluster';

/** The label Quarterdeck (like the Kubernetes plugin) matches on for `kubernetes-id`. */
export const KUBERNETES_ID_LABEL = 'backstage.io/kubernetes-id';
