/**
 * Single sign-on for the dashboard (docs/operations.md, "People and access"): OpenID Connect with the
 * organisation's identity provider (Entra ID, Okta, Keycloak, Google Workspace), and how a person's
 * claims become roles and sources. Every option is described once, in config.schema.json's `sso`.
 */
export interface RoleGrant {
  roles: string[];
  /** The sources granted; absent: every source. */
  sources?: string[];
}

export interface SsoSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** fhir-engage's address as browsers reach it: the redirect URI is <publicUrl>/auth/callback. */
  publicUrl: string;
  scopes: string[];
  /** The claim carrying groups or roles (Entra ID: groups or roles; Okta: groups; Keycloak: groups or roles). */
  rolesClaim: string;
  /** A claim value (a group's name or id) → roles and sources. */
  roles: Record<string, RoleGrant>;
  /** A person by email → roles and sources, beside what their claims grant. */
  users: Record<string, RoleGrant>;
  session: { idleMinutes: number; absoluteHours: number };
}

export const DEFAULT_SSO_SESSION = { idleMinutes: 30, absoluteHours: 12 };

/**
 * What a person's claims grant (pure): the roles of every matching claim value and of their email, the
 * sources of them all (any grant without sources: every source). No role: no access.
 */
export function grantOf(
  settings: Pick<SsoSettings, 'rolesClaim' | 'roles' | 'users'>,
  claims: Record<string, unknown>,
): { roles: string[]; sources: string[] | null } {
  const raw = claims[settings.rolesClaim];
  const values = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).map(String);
  const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : undefined;
  const grants = [
    ...values.flatMap((v) => (settings.roles[v] ? [settings.roles[v]] : [])),
    ...(email && settings.users[email] ? [settings.users[email]] : []),
  ];
  const roles = [...new Set(grants.flatMap((g) => g.roles))].sort();
  const sources = grants.some((g) => !g.sources) ? null : [...new Set(grants.flatMap((g) => g.sources ?? []))].sort();
  return { roles, sources };
}
