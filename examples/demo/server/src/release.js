// What this release is. A broken release is a different artifact (this file
// changed and rebuilt), never a runtime flag: `fail: true` answers every
// request with a 500. `npm run demo` ships a second release with it set.
export const release = { version: '1', fail: false };
