import { TestDatabases } from '@backstage/backend-test-utils';
import { describeConformance } from '../__conformance__/suite';
import { argoCrds } from '../manifests';
import { LocalCluster } from './LocalCluster';
import { LocalObjectStore, migrateLocalObjectStore } from './LocalObjectStore';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'], disableDocker: true });

for (const [databaseId] of databases.eachSupportedId()) {
  describeConformance(`local driver on ${databaseId}`, async () => {
    const db = await databases.init(databaseId);
    await migrateLocalObjectStore(db);
    const client = await LocalCluster.open({ name: 'conformance', store: new LocalObjectStore(db, 'conformance') });
    for (const crd of argoCrds()) await client.apply(crd);
    return { client, teardown: async () => client.settle() };
  });
}
