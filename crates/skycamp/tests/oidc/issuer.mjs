// A real OpenID Connect provider for Skycamp's tests: `node issuer.mjs PORT [REDIRECT_URI]`.
//
// oidc-provider (a certified implementation) publishes discovery and a JWKS, and issues RS256
// JWT access tokens for the audience `skycamp` through the client-credentials grant. Each test
// user is a client: its token carries the claims a real provider would put in a user's token
// (phone_number, phone_number_verified, and roles under realm_access.roles, as Keycloak does).
// Every start makes a fresh signing key, so restarting the issuer is a key rotation.
//
// With REDIRECT_URI, the web sites' client `skycamp-web` signs people in through the authorization
// code flow with PKCE: the provider's own (development) login page takes a user name of the table
// below, with any password, and asks for consent.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const redirect = process.argv[3];
const issuer = `http://127.0.0.1:${port}`;

const users = {
  'customer-a': { phone: '+82 10 5555 0101', verified: true, roles: ['customer'] },
  'customer-b': { phone: '+82 10 5555 0102', verified: true, roles: ['customer'] },
  unverified: { phone: '+82 10 5555 0109', verified: false, roles: ['customer'] },
  ops: { roles: ['skycamp-admin'] },
};

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: Object.keys(users).map((id) => ({
    client_id: id,
    client_secret: `secret-${id}`,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  })).concat(redirect ? [{
    client_id: 'skycamp-web',
    client_secret: 'secret-skycamp-web',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [redirect],
  }] : []),
  jwks: { keys: [jwk] },
  ttl: { ClientCredentials: 600 },
  features: {
    devInteractions: { enabled: Boolean(redirect) },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:skycamp:api',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: 'skycamp',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => {
    // A person signed in through the web client, or a test user's own client.
    const user = users[token.accountId || token.clientId];
    if (!user) return undefined;
    const claims = { realm_access: { roles: user.roles } };
    if (!token.accountId) claims.sub = token.clientId;
    if (user.phone) {
      claims.phone_number = user.phone;
      claims.phone_number_verified = user.verified;
    }
    return claims;
  },
});

provider.listen(port, '127.0.0.1', () => console.log(`issuer ${issuer} kid ${jwk.kid}`));
