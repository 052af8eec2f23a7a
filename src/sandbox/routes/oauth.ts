/** The token endpoint and SMART discovery: client credentials and SMART Backend Services (private_key_jwt). */
import express from 'express';
import { FHIR_BASE_PATH, type SandboxRoutes } from './context';

export const oauthRoutes: SandboxRoutes = {
  register(app, ctx) {
    app.post('/oauth2/token', express.urlencoded({ extended: false }), (req, res, next) => {
      ctx.auth.token(req, res, ctx.tokenUrl()).catch(next);
    });
    app.get(`${FHIR_BASE_PATH}/.well-known/smart-configuration`, (_req, res) => {
      res.json({
        token_endpoint: ctx.tokenUrl(),
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
        grant_types_supported: ['client_credentials'],
        scopes_supported: ['system/*.read', 'system/*.write'],
        capabilities: ['client-confidential-asymmetric', 'client-confidential-symmetric'],
      });
    });
  },
};
