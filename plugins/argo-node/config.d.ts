export interface Config {
  /**
   * The Backstage Kubernetes plugin's cluster config, of which Quarterdeck reads
   * the `config` locator's clusters (`ClusterService`). Only what Quarterdeck
   * reads is declared here, with the same types as the Kubernetes plugin's own
   * schema (`@backstage/plugin-kubernetes-backend`), so both merge when that
   * plugin is installed too.
   */
  kubernetes?: {
    clusterLocatorMethods?: Array<{
      /** Only `config` locators are read; others are left to the Kubernetes plugin. */
      type: string;
      clusters?: Array<{
        /** Unique among all configured clusters. */
        name: string;
        /** The API server, e.g. https://kubernetes.example.com:6443. */
        url: string;
        /** Only `serviceAccount` (the default) is supported by Quarterdeck. */
        authProvider?: string;
        /**
         * The bearer token Quarterdeck calls the API server with.
         * @visibility secret
         */
        serviceAccountToken?: string;
        /** The API server's CA certificate, base64 PEM. */
        caData?: string;
        /** A file holding the API server's CA certificate. */
        caFile?: string;
        /** Skip verifying the API server's certificate. Only for test clusters. */
        skipTLSVerify?: boolean;
      }>;
    }>;
  };
  quarterdeck?: {
    clusters?: {
      /**
       * Modes of the clusters read from the Kubernetes plugin's
       * `kubernetes.clusterLocatorMethods` (observe unless set), by cluster name.
       */
      modes?: {
        [cluster: string]: {
          gitops?: 'reconcile' | 'observe';
          rollouts?: 'reconcile' | 'observe';
          workflows?: 'reconcile' | 'observe';
          events?: 'reconcile' | 'observe';
        };
      };
      /** The cluster used when an entity names none. Defaults to the first configured. */
      default?: string;
      /** Embedded clusters, kept in the argo plugin's database. */
      local?: Array<{
        name: string;
        /**
         * Let pods annotated `quarterdeck.io/execute: host` run their command
         * on this machine as the backend's user. Only for trusted setups.
         */
        execute?: boolean;
        kubelet?: {
          /** Pending → Running and Ready after this many milliseconds. */
          readyDelayMs?: number;
        };
        /**
         * Manifest files (or directories) applied once each at start, in
         * order; a file waits until the Rollouts of the one before are
         * Healthy. `$(QUARTERDECK_BASE_URL)` is replaced by backend.baseUrl.
         */
        manifests?: string[];
        /** Per domain: reconcile (default for local clusters) or observe. */
        modes?: {
          gitops?: 'reconcile' | 'observe';
          rollouts?: 'reconcile' | 'observe';
          workflows?: 'reconcile' | 'observe';
          events?: 'reconcile' | 'observe';
        };
      }>;
      /** Clusters from kubeconfig files. */
      kubeconfig?: Array<{
        name: string;
        path: string;
        context?: string;
        modes?: {
          gitops?: 'reconcile' | 'observe';
          rollouts?: 'reconcile' | 'observe';
          workflows?: 'reconcile' | 'observe';
          events?: 'reconcile' | 'observe';
        };
      }>;
      /** The cluster the backend runs in, through its service account. */
      inCluster?: {
        name?: string;
        modes?: {
          gitops?: 'reconcile' | 'observe';
          rollouts?: 'reconcile' | 'observe';
          workflows?: 'reconcile' | 'observe';
          events?: 'reconcile' | 'observe';
        };
      };
    };
  };
}
