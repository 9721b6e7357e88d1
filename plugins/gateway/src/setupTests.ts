import '@testing-library/jest-dom';
import { configure } from '@testing-library/react';

// A page test renders the whole test app (MUI, Backstage's providers); on a
// 2-core CI machine running two workers, the first one in a worker has taken
// more than jest's default 5 s (2026-12-03). A hang still fails, at 20 s.
jest.setTimeout(20_000);

// What a page shows after its API answers is waited for 5 s, not Testing Library's 1 s: a chart's
// first render took longer on a slow machine under load (2026-12-07). Something that never shows
// still fails.
configure({ asyncUtilTimeout: 5_000 });
