import { TestDatabases } from '@backstage/backend-test-utils';
import { describeConformance } from '../__conformance__/suite';
import { startLocalCluster } from './startLocalCluster';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });

for (const [databaseId] of databases.eachSupportedId()) {
  describeConformance(`local driver on ${databaseId}`, async () => {
    const db = await databases.init(databaseId);
    const { cluster, stop } = await startLocalCluster({
      name: 'conformance',
      db,
      kubelet: { readyDelayMs: 50, execute: true },
    });
    return { client: cluster, teardown: stop };
  });
}
