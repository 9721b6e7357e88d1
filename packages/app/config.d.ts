export interface Config {
  quarterdeck?: {
    signIn?: {
      /**
       * Offer guest and any-catalog-user sign-in. Development only: the
       * backend refuses the matching provider when NODE_ENV=production.
       * @visibility frontend
       */
      development?: boolean;
      /**
       * Catalog users offered on the development sign-in page.
       * @visibility frontend
       */
      users?: Array<{
        /** @visibility frontend */
        name: string;
        /** @visibility frontend */
        description?: string;
      }>;
    };
  };
}
