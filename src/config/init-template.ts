/**
 * What `fhir-engage config init` writes for an EMR profile (docs/onboarding/): the source in the sources
 * file, its secrets as `${ENV}` references, and the lines of the `.env` skeleton to fill in. Pure: the
 * answers in, the text out; the command asks the questions and writes the files.
 */
export const INIT_PROFILES = ['epic', 'oracle-health', 'smart-backend', 'client-credentials', 'bearer'] as const;
export type InitProfile = (typeof INIT_PROFILES)[number];

export interface InitAnswers {
  profile: InitProfile;
  id: string;
  baseUrl: string;
  clientId?: string;
  /** The environment variable holding the client secret or the token (client-credentials, oracle-health, bearer). */
  secretEnv?: string;
  tokenUrl?: string;
  /** The Group the programme's patients are in (Bulk Data export, enrolment). */
  groupId?: string;
  timeZone?: string;
  /** smart-backend and epic: the key made for the source. */
  keyFile?: string;
  keyId?: string;
}

/** The questions a profile needs, in order (the others are not asked). */
export function questionsFor(profile: InitProfile): (keyof InitAnswers)[] {
  const common: (keyof InitAnswers)[] = ['id', 'baseUrl'];
  switch (profile) {
    case 'epic':
      return [...common, 'clientId', 'groupId', 'timeZone'];
    case 'oracle-health':
      return [...common, 'clientId', 'secretEnv', 'tokenUrl', 'groupId', 'timeZone'];
    case 'smart-backend':
      return [...common, 'clientId', 'tokenUrl', 'timeZone'];
    case 'client-credentials':
      return [...common, 'clientId', 'secretEnv', 'tokenUrl', 'timeZone'];
    case 'bearer':
      return [...common, 'secretEnv', 'timeZone'];
  }
}

/** Client credentials need the token endpoint named (SMART Backend Services may discover it). */
export const tokenRequired = (profile: InitProfile): boolean =>
  profile === 'oracle-health' || profile === 'client-credentials';

/** Needs a signing key made for it (SMART Backend Services). */
export const needsKey = (profile: InitProfile): boolean => profile === 'epic' || profile === 'smart-backend';

const READ_SCOPES =
  'system/Patient.read system/Appointment.read system/CarePlan.read system/QuestionnaireResponse.read';
const WRITE_SCOPES = 'system/Task.read system/Task.write system/Observation.write';

const q = (s: string): string => JSON.stringify(s);

/** The source's YAML (a `sources:` file of one source) and the `.env` lines to fill in. */
export function initSourcesFile(a: InitAnswers): { yaml: string; envLines: string[] } {
  const lines = ['sources:', `  - id: ${a.id}`, `    baseUrl: ${q(a.baseUrl)}`, '    auth:'];
  const envLines: string[] = [];
  switch (a.profile) {
    case 'epic':
    case 'smart-backend':
      lines.push(
        '      type: smart-backend',
        `      clientId: ${q(a.clientId ?? '')}`,
        `      keyFile: ${q(a.keyFile ?? '')}`,
        `      keyId: ${q(a.keyId ?? '')}`,
        '      algorithm: RS384',
        ...(a.tokenUrl
          ? [`      tokenUrl: ${q(a.tokenUrl)}`]
          : ['      # tokenUrl: discovered from <baseUrl>/.well-known/smart-configuration']),
        `      scope: ${q(`${READ_SCOPES} ${WRITE_SCOPES}`)}`,
      );
      break;
    case 'oracle-health':
    case 'client-credentials':
      lines.push(
        '      type: client_credentials',
        ...(a.tokenUrl ? [`      tokenUrl: ${q(a.tokenUrl)}`] : []),
        `      clientId: ${q(a.clientId ?? '')}`,
        `      clientSecret: "\${${a.secretEnv}}"`,
        `      scope: ${q(READ_SCOPES)}`,
      );
      envLines.push(`${a.secretEnv}=`);
      break;
    case 'bearer':
      lines.push('      type: bearer', `      token: "\${${a.secretEnv}}"`);
      envLines.push(`${a.secretEnv}=`);
      break;
  }
  if (a.profile === 'epic' && a.groupId)
    lines.push(
      '    # Epic answers no population search: after the first load (the Group export) each member of the',
      '    # Group is searched by patient, and Patient by _id (docs/onboarding/epic.md).',
      '    mode: per-patient',
    );
  if (a.profile === 'oracle-health')
    lines.push(
      '    # Millennium serves these searches per patient only (docs/onboarding/oracle-health.md).',
      '    mode: per-patient',
      '    perPatientTypes: [Appointment, QuestionnaireResponse]',
    );
  if (a.timeZone) lines.push(`    timeZone: ${a.timeZone}`);
  if (a.groupId)
    lines.push(
      '    pull:',
      '      method: auto                # Bulk Data for the first load, searches after',
      `      bulk: { level: group, groupId: ${q(a.groupId)} }`,
    );
  lines.push('    schedule: "*/30 * * * *"');
  return { yaml: `${lines.join('\n')}\n`, envLines };
}
