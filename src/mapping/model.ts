/**
 * The engagement model: what fhir-engage knows about one patient, mapped from
 * the EMR's resources. Only what outreach and indicators need: no names, no
 * contact details, no free text about the person.
 */

export const APPOINTMENT_STATUSES = ['kept', 'no-show', 'cancelled', 'upcoming', 'other'] as const;
export const ACTIVITY_STATUSES = ['completed', 'in-progress', 'scheduled', 'overdue', 'cancelled', 'other'] as const;
export const RESPONSE_STATUSES = ['completed', 'in-progress', 'other'] as const;
export type AppointmentStatus = (typeof APPOINTMENT_STATUSES)[number];
export type ActivityStatus = (typeof ACTIVITY_STATUSES)[number];
export type ResponseStatus = (typeof RESPONSE_STATUSES)[number];

/**
 * Fields the EMR sent as present without a value (a primitive carrying only
 * extensions), with the data-absent-reason code (`unknown`, `masked`,
 * `asked-declined`…) or `absent`: "unknown" in the model, never a rejection.
 */
export type AbsentReasons = Record<string, string>;

export interface PatientFacts {
  active?: boolean;
  deceased?: boolean;
  gender?: string;
  birthYear?: number;
  language?: string;
  /** Whether a phone number / email address is on file (never the value). */
  hasPhone?: boolean;
  hasEmail?: boolean;
  /** Reachable telecom kinds with their preference (never the number or address). */
  contacts?: ContactKind[];
  /** Channels the patient opted out of (STOP, an unsubscribe link): never used until they opt in (docs/messaging.md). */
  optedOut?: ('sms' | 'email')[];
  absent?: AbsentReasons;
}

export interface ContactKind {
  system: string;
  use?: string;
  rank?: number;
  /** The contact point is not used after this instant. */
  until?: string;
}

export interface AppointmentItem {
  id: string;
  start?: string;
  end?: string;
  status: AppointmentStatus;
  sourceStatus?: string;
  serviceType?: string;
  /** The visit's codings as `system|code` (service type, specialty, appointment type). */
  codes?: string[];
  /** Practitioners, roles and locations taking part, as `Type/id`. */
  actors?: string[];
  absent?: AbsentReasons;
}

/** A care plan: its status and category codings (`system|code`), whatever its activities. */
export interface CarePlanItem {
  id: string;
  status?: string;
  codes: string[];
}

export interface ActivityItem {
  /** `<planId>#<index>`: activities have no id of their own in FHIR. */
  id: string;
  planId: string;
  planStatus?: string;
  description?: string;
  status: ActivityStatus;
  sourceStatus?: string;
  start?: string;
  due?: string;
}

export interface Score {
  instrument: string;
  /** Total used by indicators: the stated total if the response has one, else the sum of the items when complete. */
  total?: number;
  /** True when every counted item was answered and scorable. */
  complete: boolean;
  statedTotal?: number;
  computedTotal?: number;
  /** Points per item key (e.g. item9 for PHQ-9 item 9). */
  items: Record<string, number>;
  /** Item keys without a scorable answer. */
  missing: string[];
}

export interface Answer {
  linkId: string;
  /** A coding's code, or a number, string or boolean. */
  value: string | number | boolean;
  system?: string;
}

export interface ResponseItem {
  id: string;
  questionnaire?: string;
  instrument?: string;
  authored?: string;
  status: ResponseStatus;
  sourceStatus?: string;
  answers: Answer[];
  score?: Score;
  absent?: AbsentReasons;
}

/** Something requested of the patient (a Task for a questionnaire, for example). */
export interface RequestItem {
  id: string;
  status?: string;
  instrument?: string;
  questionnaire?: string;
  authoredOn?: string;
  /** Written by fhir-engage (a survey assignment): cancelled means its window closed unanswered. */
  own?: boolean;
  /** End of the window to answer in: until then an unanswered request is not yet "not answered". */
  due?: string;
}

export interface EngagementModel {
  sourceId: string;
  patientId: string;
  patient: PatientFacts;
  appointments: AppointmentItem[];
  carePlans: CarePlanItem[];
  activities: ActivityItem[];
  responses: ResponseItem[];
  requests: RequestItem[];
  /** Latest kept appointment, completed response or completed activity (ISO date-time). */
  lastContact?: string;
}
