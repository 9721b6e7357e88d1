import { keyRequestWatchers } from './config';

describe('keyRequestWatchers', () => {
  it("takes groups and users by full reference, written the catalog's way, and names the first that is not one", () => {
    expect(keyRequestWatchers(undefined)).toEqual([]);
    expect(keyRequestWatchers(['group:platform-admins', 'User:ops/grace'])).toEqual(['group:default/platform-admins', 'user:ops/grace']);
    expect(() => keyRequestWatchers(['group:default/a', 'platform-admins'])).toThrow(
      'gateway.keyRequestWatchers[1]: "platform-admins" is not a group or user reference, such as group:default/platform-admins');
    expect(() => keyRequestWatchers(['component:default/web'])).toThrow('gateway.keyRequestWatchers[0]: "component:default/web" is not a group or user reference');
    expect(() => keyRequestWatchers(['group:a/b/c', 'group:'])).toThrow('gateway.keyRequestWatchers[0]: "group:a/b/c" is not a group or user reference');
    expect(() => keyRequestWatchers(['group:'])).toThrow('gateway.keyRequestWatchers[0]: "group:" is not a group or user reference');
    expect(() => keyRequestWatchers([7])).toThrow('gateway.keyRequestWatchers[0]: 7 is not a group or user reference');
    expect(() => keyRequestWatchers('group:default/a')).toThrow('gateway.keyRequestWatchers: must be a list of group or user references (got "group:default/a")');
  });
});
