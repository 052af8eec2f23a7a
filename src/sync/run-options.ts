/** What a run is asked to do (`syncSource`), and the error when its source is busy. */
import { conflict, EngageError } from '../errors';
import type { OutboxItem } from '../store/types';
import type { SyncEvent } from './events';
import type { Message, SendStep } from './messaging-step';

export interface SyncOptions {
  asOf: Date;
  /** Id of the run (default: a new UUID), so that a caller can name it before it starts. */
  runId?: string;
  full?: boolean;
  /** Pull through Bulk Data `$export` this run, whatever `pull.method` says. */
  bulk?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: SyncEvent) => void;
  /**
   * A run for these patients only (a survey answered through its link, docs/surveys.md): nothing is
   * pulled or read back; their data as stored is computed, the outbox sent and safety alerts raised.
   */
  patients?: string[];
  /** Throw on invalid outgoing resources (tests). */
  strict?: boolean;
  /** Test hooks (crash injection: after a page, a write, before dispatch, at each step of sending a message). */
  afterPageCommitted?: (resourceType: string, page: number) => void | Promise<void>;
  afterSend?: (item: OutboxItem) => void | Promise<void>;
  beforeDispatch?: () => void | Promise<void>;
  atMessageStep?: (step: SendStep, m: Message) => void | Promise<void>;
}

export class SyncBusyError extends EngageError {
  constructor(sourceId: string) {
    super('internal', conflict(`a sync of ${sourceId} is already running`));
  }
}
