import { createRouteRef } from '@backstage/frontend-plugin-api';

/** The gateway admin page (`/gateway`). */
export const rootRouteRef = createRouteRef();
