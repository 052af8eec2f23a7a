/**
 * The sandbox's email server (docs/messaging.md, "Sandbox"): a local SMTP server (smtp-server) that
 * accepts everything without STARTTLS and keeps each message's raw text, so that `npm start` and the
 * tests see the emails fhir-engage sends to patients. Never a relay: nothing leaves the machine.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface MailCatcher {
  port: number;
  /** Every message received, as sent (headers and body). */
  mails: string[];
  close(): Promise<void>;
}

export async function startMailCatcher(host = '127.0.0.1'): Promise<MailCatcher> {
  const mails: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    size: 1024 * 1024,
    onData(stream, _session, done) {
      let text = '';
      stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
      stream.on('end', () => {
        mails.push(text);
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return {
    port: (server.server.address() as AddressInfo).port,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
