// A real OpenID Connect provider for Skycamp's tests: `node issuer.mjs PORT`.
//
// oidc-provider (a certified implementation) publishes discovery and a JWKS, and issues RS256
// JWT access tokens for the audience `skycamp` through the client-credentials grant. Each test
// user is a client: its token carries the claims a real provider would put in a user's token
// (phone_number, phone_number_verified, and roles under realm_access.roles, as Keycloak does).
// Every start makes a fresh signing key, so restarting the issuer is a key rotation.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
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
  })),
  jwks: { keys: [jwk] },
  ttl: { ClientCredentials: 600 },
  features: {
    devInteractions: { enabled: false },
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
    const user = users[token.clientId];
    if (!user) return undefined;
    const claims = { sub: token.clientId, realm_access: { roles: user.roles } };
    if (user.phone) {
      claims.phone_number = user.phone;
      claims.phone_number_verified = user.verified;
    }
    return claims;
  },
});

provider.listen(port, '127.0.0.1', () => console.log(`issuer ${issuer} kid ${jwk.kid}`));
