/**
 * API keys for machines (admin; docs/operations.md, "People and access"): each with its name, roles,
 * sources and expiry; make one (shown this once), revoke one (refused from the next request on).
 */
import { get, post } from '../api';
import type { ApiKeys, ApiKeyView, NewApiKey } from '../../../src/api/schemas/people';
import type { SourcesResponse } from '../../../src/api/schemas/sources';
import { announce, h, table, when } from '../dom';

const ROLES = ['care-manager', 'programme-lead', 'integration', 'admin'];

function newKeyForm(main: HTMLElement, sources: string[], justMade?: NewApiKey): HTMLElement {
  const name = h('input', { id: 'key-name', required: true, maxlength: '80' });
  const days = h('input', { id: 'key-days', type: 'number', min: '1', max: '3650', value: '90' });
  const box = (group: string, value: string): HTMLElement => {
    const id = `${group}-${value}`;
    return h(
      'span',
      { class: 'check' },
      h('input', { type: 'checkbox', id, value, name: group }),
      h('label', { for: id }, value),
    );
  };
  const shown = h(
    'p',
    { 'data-testid': 'new-key', 'aria-live': 'polite' },
    ...(justMade
      ? [`Key ${justMade.details.id} made. Copy it now: it is not shown again. `, h('code', {}, justMade.key)]
      : []),
  );
  return h(
    'form',
    {
      class: 'new-key',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const checked = (group: string) =>
          [...main.querySelectorAll<HTMLInputElement>(`input[name=${group}]:checked`)].map((i) => i.value);
        const picked = checked('source');
        const made = await post<NewApiKey>('/keys', {
          name: (name as HTMLInputElement).value,
          roles: checked('role'),
          ...(picked.length ? { sources: picked } : {}),
          expiresAt: new Date(Date.now() + Number((days as HTMLInputElement).value) * 86_400_000).toISOString(),
        }).catch((err: Error) => ({ error: err.message }));
        if ('error' in made) {
          shown.textContent = `Not made: ${made.error}`;
          return;
        }
        await keysView(main, made);
        announce(`key ${made.details.id} made`);
      },
    },
    h('h2', {}, 'Make a key'),
    h('label', { for: 'key-name' }, 'What it is for'),
    name,
    h('fieldset', {}, h('legend', {}, 'Roles'), ...ROLES.map((r) => box('role', r))),
    h('fieldset', {}, h('legend', {}, 'Sources (none ticked: every source)'), ...sources.map((s) => box('source', s))),
    h('label', { for: 'key-days' }, 'Expires after (days)'),
    days,
    h('button', { type: 'submit' }, 'Make the key'),
    shown,
  );
}

export async function keysView(main: HTMLElement, justMade?: NewApiKey): Promise<void> {
  const [{ keys }, { sources }] = await Promise.all([get<ApiKeys>('/keys'), get<SourcesResponse>('/sources')]);
  const revoke = (k: ApiKeyView): HTMLElement =>
    k.revokedAt
      ? h('span', {}, `revoked ${when(k.revokedAt)}`)
      : h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: async () => {
              await post(`/keys/${encodeURIComponent(k.id)}/revoke`);
              announce(`key ${k.id} revoked`);
              await keysView(main);
            },
          },
          `Revoke ${k.name}`,
        );
  main.replaceChildren(
    h('h1', {}, 'API keys'),
    h(
      'p',
      {},
      'Keys for machines: each with its roles, the sources it may see and an expiry. Only each key’s digest is kept.',
    ),
    table(
      `Keys (${keys.length})`,
      ['id', 'name', 'roles', 'sources', 'expires', 'made by', ''],
      keys.map((k) => [
        k.id,
        k.name,
        k.roles.join(', '),
        k.sources?.join(', ') ?? 'all',
        k.expiresAt ? when(k.expiresAt) : 'never',
        k.createdBy ?? '—',
        revoke(k),
      ]),
      { 'data-testid': 'keys' },
    ),
    newKeyForm(
      main,
      sources.map((s) => s.id),
      justMade,
    ),
  );
}
