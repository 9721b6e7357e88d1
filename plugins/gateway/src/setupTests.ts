import '@testing-library/jest-dom';

// A page test renders the whole test app (MUI, Backstage's providers); on a
// 2-core CI machine running two workers, the first one in a worker has taken
// more than jest's default 5 s (2026-12-03). A hang still fails, at 20 s.
jest.setTimeout(20_000);
