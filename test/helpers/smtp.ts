/** A local SMTP server for tests: the sandbox's mail catcher (no STARTTLS, every message's raw text kept). */
import { startMailCatcher, type MailCatcher } from '../../src/sandbox/mail-catcher';

export type SmtpCatcher = MailCatcher;
export const smtpCatcher = (): Promise<MailCatcher> => startMailCatcher();
