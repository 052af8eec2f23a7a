/* global process */
// A real OpenID provider for the tests (oidc-provider, a certified implementation), in its own process:
// node test/helpers/oidc-idp.mjs <port> <clientId> <clientSecret> <redirectUri> <postLogoutRedirectUri>.
// Its development login form takes any account name; the accounts below carry the groups claim.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri, postLogout] = process.argv.slice(2);
const ACCOUNTS = {
  carla: { name: 'Carla Care', email: 'carla@clinic-a.example', groups: ['fhir-engage-care-a'] },
  ivan: { name: 'Ivan Integration', email: 'ivan@hospital.example', groups: ['fhir-engage-integration'] },
  nobody: { name: 'No Groups', email: 'nobody@hospital.example', groups: [] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [postLogout],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name'], email: ['email'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ['test-idp-cookie-key-not-secret'] },
  async findAccount(_ctx, sub) {
    const a = ACCOUNTS[sub] ?? { name: sub, email: `${sub}@example.org`, groups: [] };
    return { accountId: sub, claims: async () => ({ sub, ...a }) };
  },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => process.stdout.write(`listening http://127.0.0.1:${port}\n`));
