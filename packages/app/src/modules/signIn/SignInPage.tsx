import { useState, type ComponentType } from 'react';
import {
  Content,
  Header,
  InfoCard,
  Page,
  ProxiedSignInPage,
} from '@backstage/core-components';
import {
  configApiRef,
  useApi,
  type IdentityApi,
} from '@backstage/core-plugin-api';
import type { SignInPageProps } from '@backstage/plugin-app-react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Grid from '@mui/material/Grid';
import List from '@mui/material/List';
import ListItemButton from '@mui/material/ListItemButton';
import ListItemText from '@mui/material/ListItemText';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';

/** Where the chosen identity is kept, so a reload signs in again. */
export const SIGN_IN_STORAGE_KEY = '@quarterdeck/dev-sign-in';
/** Must match the backend's dev-user provider (packages/backend/src/modules/devUserSignIn.ts). */
const DEV_USER_PROVIDER = 'dev-user';
const DEV_USER_HEADER = 'x-quarterdeck-dev-user';

type Choice = { provider: 'guest' } | { provider: 'dev-user'; user: string };

function readChoice(): Choice | undefined {
  try {
    const raw = window.localStorage.getItem(SIGN_IN_STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Choice) : undefined;
  } catch {
    return undefined;
  }
}

/** Signing out also forgets the choice, so the picker shows again. */
function forgetOnSignOut(identity: IdentityApi): IdentityApi {
  return {
    getProfileInfo: () => identity.getProfileInfo(),
    getBackstageIdentity: () => identity.getBackstageIdentity(),
    getCredentials: () => identity.getCredentials(),
    signOut: async () => {
      window.localStorage.removeItem(SIGN_IN_STORAGE_KEY);
      await identity.signOut();
    },
  };
}

/**
 * Development sign-in: as a guest, or as any User of the catalog (the backend
 * resolves the name against the catalog, so ownership and group membership
 * are real). Only offered where app-config enables it.
 */
const DevSignInPage: ComponentType<SignInPageProps> = props => {
  const config = useApi(configApiRef);
  const users =
    config.getOptionalConfigArray('quarterdeck.signIn.users')?.map(c => ({
      name: c.getString('name'),
      description: c.getOptionalString('description'),
    })) ?? [];
  const [choice, setChoice] = useState<Choice | undefined>(readChoice);
  const [typed, setTyped] = useState('');

  const choose = (next: Choice) => {
    window.localStorage.setItem(SIGN_IN_STORAGE_KEY, JSON.stringify(next));
    setChoice(next);
  };

  if (choice) {
    const ErrorComponent = ({ error }: { error?: Error }) => (
      <Page themeId="home">
        <Header title="Quarterdeck" subtitle="Sign-in failed" />
        <Content>
          <Alert severity="error" sx={{ mb: 2 }}>
            {choice.provider === 'dev-user'
              ? `Could not sign in as "${choice.user}": ${error?.message ?? 'unknown error'}`
              : `Could not sign in as guest: ${error?.message ?? 'unknown error'}`}
          </Alert>
          <Button
            variant="contained"
            onClick={() => {
              window.localStorage.removeItem(SIGN_IN_STORAGE_KEY);
              setChoice(undefined);
            }}
          >
            Choose another identity
          </Button>
        </Content>
      </Page>
    );
    return (
      <ProxiedSignInPage
        key={JSON.stringify(choice)}
        onSignInSuccess={identity => props.onSignInSuccess(forgetOnSignOut(identity))}
        provider={choice.provider === 'guest' ? 'guest' : DEV_USER_PROVIDER}
        headers={
          choice.provider === 'dev-user'
            ? { [DEV_USER_HEADER]: choice.user }
            : undefined
        }
        ErrorComponent={ErrorComponent}
      />
    );
  }

  return (
    <Page themeId="home">
      <Header
        title="Quarterdeck"
        subtitle="Every service's delivery deck: GitOps, rollouts, workflows, events and its API gateway"
      />
      <Content>
        <Grid container spacing={3}>
          <Grid item xs={12} md={5}>
            <InfoCard title="Guest">
              <Typography variant="body2" paragraph>
                Look around without an identity of the catalog. You can read
                everything but own nothing.
              </Typography>
              <Button
                variant="contained"
                onClick={() => choose({ provider: 'guest' })}
              >
                Enter as guest
              </Button>
            </InfoCard>
          </Grid>
          <Grid item xs={12} md={7}>
            <InfoCard title="Sign in as a catalog user (development only)">
              <Typography variant="body2">
                Try a journey with two people, for example a requester and an
                approver. Owners of an entity may act on it; platform admins may
                do everything.
              </Typography>
              {users.length > 0 && (
                <List dense aria-label="catalog users">
                  {users.map(user => (
                    <ListItemButton
                      key={user.name}
                      onClick={() => choose({ provider: 'dev-user', user: user.name })}
                    >
                      <ListItemText
                        primary={`Sign in as ${user.name}`}
                        secondary={user.description}
                      />
                    </ListItemButton>
                  ))}
                </List>
              )}
              <Box
                component="form"
                onSubmit={e => {
                  e.preventDefault();
                  if (typed.trim()) {
                    choose({ provider: 'dev-user', user: typed.trim() });
                  }
                }}
              >
                <Stack direction="row" spacing={1} alignItems="center">
                  <TextField
                    size="small"
                    label="Any user name"
                    value={typed}
                    onChange={e => setTyped(e.target.value)}
                  />
                  <Button type="submit" variant="outlined" disabled={!typed.trim()}>
                    Sign in
                  </Button>
                </Stack>
              </Box>
            </InfoCard>
          </Grid>
        </Grid>
      </Content>
    </Page>
  );
};

/**
 * The app's sign-in page. In development (`quarterdeck.signIn.development`)
 * it offers guest and any catalog user; otherwise it relies on the
 * oauth2-proxy provider: production runs behind an authenticating proxy.
 */
export const QuarterdeckSignInPage: ComponentType<SignInPageProps> = props => {
  const config = useApi(configApiRef);
  if (config.getOptionalBoolean('quarterdeck.signIn.development')) {
    return <DevSignInPage {...props} />;
  }
  return <ProxiedSignInPage {...props} provider="oauth2Proxy" />;
};
