import { fireEvent, screen, waitFor } from '@testing-library/react';
import { renderInTestApp, mockApis } from '@backstage/frontend-test-utils';
import { configApiRef } from '@backstage/core-plugin-api';
import { TestApiProvider } from '@backstage/test-utils';
import { QuarterdeckSignInPage, SIGN_IN_STORAGE_KEY } from './SignInPage';

const devConfig = mockApis.config({
  data: {
    backend: { baseUrl: 'http://localhost:7007' },
    quarterdeck: {
      signIn: {
        development: true,
        users: [
          { name: 'alice', description: 'team-payments' },
          { name: 'carol', description: 'team-ml' },
        ],
      },
    },
  },
});

describe('QuarterdeckSignInPage', () => {
  const fetchSpy = jest.spyOn(global, 'fetch');
  beforeEach(() => {
    window.localStorage.clear();
    fetchSpy.mockReset();
    // The backend refuses: the page must say so and offer another choice.
    fetchSpy.mockResolvedValue(
      new Response(JSON.stringify({ error: { name: 'AuthenticationError', message: "No User named 'alice'" } }), {
        status: 401,
        headers: { 'content-type': 'application/json' },
      }),
    );
  });

  it('offers guest and the configured catalog users', async () => {
    await renderInTestApp(
      <TestApiProvider apis={[[configApiRef, devConfig]]}>
        <QuarterdeckSignInPage onSignInSuccess={jest.fn()} />
      </TestApiProvider>,
    );
    expect(screen.getByRole('button', { name: 'Enter as guest' })).toBeInTheDocument();
    expect(screen.getByText('Sign in as alice')).toBeInTheDocument();
    expect(screen.getByText('team-ml')).toBeInTheDocument();
  });

  it('signs in as the chosen user through the dev-user provider, and remembers the choice', async () => {
    await renderInTestApp(
      <TestApiProvider apis={[[configApiRef, devConfig]]}>
        <QuarterdeckSignInPage onSignInSuccess={jest.fn()} />
      </TestApiProvider>,
    );
    fireEvent.click(screen.getByText('Sign in as alice'));
    await waitFor(() => expect(fetchSpy).toHaveBeenCalled());
    const [url, init] = fetchSpy.mock.calls[0] as [string, RequestInit];
    expect(url).toBe('http://localhost:7007/api/auth/dev-user/refresh');
    expect(new Headers(init.headers).get('x-quarterdeck-dev-user')).toBe('alice');
    expect(JSON.parse(window.localStorage.getItem(SIGN_IN_STORAGE_KEY)!)).toEqual({
      provider: 'dev-user',
      user: 'alice',
    });
    expect(await screen.findByText(/Could not sign in as "alice"/)).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Choose another identity' }));
    expect(await screen.findByText('Sign in as carol')).toBeInTheDocument();
    expect(window.localStorage.getItem(SIGN_IN_STORAGE_KEY)).toBeNull();
  });

  it('outside development relies on the authenticating proxy only', async () => {
    await renderInTestApp(
      <TestApiProvider
        apis={[[configApiRef, mockApis.config({ data: { backend: { baseUrl: 'http://localhost:7007' } } })]]}
      >
        <QuarterdeckSignInPage onSignInSuccess={jest.fn()} />
      </TestApiProvider>,
    );
    await waitFor(() => expect(fetchSpy).toHaveBeenCalled());
    expect(fetchSpy.mock.calls[0][0]).toBe('http://localhost:7007/api/auth/oauth2Proxy/refresh');
    expect(screen.queryByText('Enter as guest')).not.toBeInTheDocument();
  });
});
