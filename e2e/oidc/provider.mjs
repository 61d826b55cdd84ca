// A real OpenID Connect provider (node-oidc-provider) on loopback for Telederm's single sign-on
// tests. It signs ID tokens with a fresh RSA key, requires PKCE, and uses the library's own
// development login and consent pages: any login name is accepted and becomes the subject and the
// email claim. Extra claims per login come from OIDC_ACCOUNTS (JSON: {"login": {claim: value}}).
//
//   OIDC_PORT=9000 OIDC_REDIRECT_URI=http://127.0.0.1:8080/auth/oidc/callback \
//   OIDC_CLIENT_ID=telederm OIDC_CLIENT_SECRET=secret node provider.mjs
//
// Prints "ready <issuer>" on stdout once it listens.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`set ${name}`);
    process.exit(2);
  }
  return v;
};
const port = Number(env('OIDC_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'telederm-test-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('OIDC_CLIENT_ID'),
    client_secret: env('OIDC_CLIENT_SECRET'),
    redirect_uris: [env('OIDC_REDIRECT_URI')],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  // Put the granted claims in the ID token itself (CIS2 also offers them from userinfo).
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'telederm_role', 'telederm_profession', 'nhsid_nrbac_roles'],
  },
  cookies: { keys: ['telederm-oidc-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true, name: id, ...(accounts[id] || {}) };
      },
    };
  },
});
provider.on('server_error', (ctx, err) => console.error('oidc-provider error', err));

const server = provider.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
