/**
 * Email to patients over SMTP (docs/messaging.md): plain text, a Message-ID made from the message's row
 * (the same message is never two different emails), and RFC 8058 one-click unsubscribe headers.
 */
import type { MessagingSettings } from '../config/messaging-settings';
import type { Senders } from './send';
import { smtpTransport } from './smtp';

const TIMEOUT_MS = 15_000;

export function emailSender(
  settings: NonNullable<MessagingSettings['email']>,
): NonNullable<Senders['email']> & { close(): void } {
  const mailer = smtpTransport(settings.smtp, TIMEOUT_MS);
  // The server's rate (messagesPerSecond): sends are spaced, one at a time.
  const spacing = 1000 / settings.messagesPerSecond;
  let last = 0;
  return {
    async send(m) {
      const wait = last + spacing - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      last = Date.now();
      const info = await mailer.sendMail({
        from: settings.from,
        to: m.to,
        subject: m.subject,
        text: m.text,
        messageId: m.messageId,
        ...(m.unsubscribeUrl
          ? {
              headers: {
                'List-Unsubscribe': `<${m.unsubscribeUrl}>`,
                'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
              },
            }
          : {}),
      });
      return info.messageId;
    },
    close: () => mailer.close(),
  };
}
