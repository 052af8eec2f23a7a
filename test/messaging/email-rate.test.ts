/** The email server's rate (messaging.email.messagesPerSecond): sends are spaced, against a local SMTP server. */
import { emailSender } from '../../src/messaging/email';
import { smtpCatcher } from '../helpers/smtp';

test('five emails at 10 per second take at least 400 ms; each carries its Message-ID', async () => {
  const smtp = await smtpCatcher();
  const sender = emailSender({
    from: 'r@example.org',
    smtp: { host: '127.0.0.1', port: smtp.port, tls: 'off' },
    messagesPerSecond: 10,
  });
  try {
    const started = Date.now();
    for (let i = 0; i < 5; i++)
      await sender.send({
        to: `p${i}@example.org`,
        subject: 's',
        text: 't',
        messageId: `<message-${i}.s@fhir-engage>`,
      });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(smtp.mails).toHaveLength(5);
    expect(smtp.mails[3]).toContain('Message-ID: <message-3.s@fhir-engage>');
  } finally {
    sender.close();
    await smtp.close();
  }
});
