/**
 * The store: one `Store` over PostgreSQL or PGlite, composed of its roles (one module each, with
 * their SQL): runs, resources, patient data, computations, indicator history, outbox, written, dead letters, bulk exports, programme,
 * access, retention, approvals, enrolments, safety, alerts, worklist, care team, messages, survey links. Callers see one object; `transaction` gives the same object over one transaction.
 */
import type { Db, Driver, LockBusy } from './driver';
import type { RoleContext } from './role';
import { runsRole, type RunsRole } from './runs';
import { resourcesRole, type ResourcesRole } from './resources';
import { patientDataRole, type PatientDataRole } from './patient-data';
import { computationsRole, type ComputationsRole } from './computations';
import { indicatorHistoryRole, type IndicatorHistoryRole } from './indicator-history';
import { outboxRole, type OutboxRole } from './outbox';
import { writtenRole, type WrittenRole } from './written';
import { deadLettersRole, type DeadLettersRole } from './dead-letters';
import { bulkExportsRole, type BulkExportsRole } from './bulk-exports';
import { programmeRole, type ProgrammeRole } from './programme';
import { accessRole, type AccessRole } from './access';
import { retentionRole, type RetentionRole } from './retention';
import { approvalsRole, type ApprovalsRole } from './approvals';
import { enrolmentsRole, type EnrolmentsRole } from './enrolments';
import { safetyRole, type SafetyRole } from './safety';
import { alertsRole, type AlertsRole } from './safety-alerts';
import { careTeamRole, type CareTeamRole } from './care-team';
import { messagesRole, type MessagesRole } from './messages';
import { messageEventsRole, type MessageEventsRole } from './message-events';
import { surveyLinksRole, type SurveyLinksRole } from './survey-links';
import { apiKeysRole, type ApiKeysRole } from './api-keys';
import { sessionsRole, type SessionsRole } from './sessions';
import { patientListRole, worklistRole, type PatientListRole, type WorklistRole } from './worklist';

// One interface per role, merged into the class: the roles' methods are assigned in the constructor.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Store
  extends
    RunsRole,
    ResourcesRole,
    PatientDataRole,
    ComputationsRole,
    IndicatorHistoryRole,
    OutboxRole,
    WrittenRole,
    DeadLettersRole,
    BulkExportsRole,
    ProgrammeRole,
    AccessRole,
    RetentionRole,
    ApprovalsRole,
    EnrolmentsRole,
    SafetyRole,
    AlertsRole,
    WorklistRole,
    PatientListRole,
    CareTeamRole,
    MessagesRole,
    MessageEventsRole,
    SurveyLinksRole,
    ApiKeysRole,
    SessionsRole {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Store {
  constructor(
    /** The connection, or the transaction this store runs in (its roles query through it). */
    readonly db: Db,
    readonly driver: Driver,
  ) {
    const ctx: RoleContext = { db, store: this };
    Object.assign(
      this,
      runsRole(ctx),
      resourcesRole(ctx),
      patientDataRole(ctx),
      computationsRole(ctx),
      indicatorHistoryRole(ctx),
      outboxRole(ctx),
      writtenRole(ctx),
      deadLettersRole(ctx),
      bulkExportsRole(ctx),
      programmeRole(ctx),
      accessRole(ctx),
      retentionRole(ctx),
      approvalsRole(ctx),
      enrolmentsRole(ctx),
      safetyRole(ctx),
      alertsRole(ctx),
      worklistRole(ctx),
      patientListRole(ctx),
      careTeamRole(ctx),
      messagesRole(ctx),
      messageEventsRole(ctx),
      surveyLinksRole(ctx),
      apiKeysRole(ctx),
      sessionsRole(ctx),
    );
  }

  get kind(): Driver['kind'] {
    return this.driver.kind;
  }

  /** Runs `fn` in one transaction: everything it stores commits together or not at all. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.driver.transaction((db) => fn(new Store(db, this.driver)));
  }

  tryWithAdvisoryLock<T>(name: string, fn: (lockLost: AbortSignal) => Promise<T>): Promise<T | LockBusy> {
    return this.driver.tryWithAdvisoryLock(name, fn);
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  async ping(): Promise<void> {
    await this.db.query({ text: 'SELECT 1', values: [] });
  }
}
