/**
 * fhir-engage's dashboard: hash routes (#/safety, #/sources, #/runs/<id>,
 * #/dead-letters, #/programme, #/patient), a login page that keeps the API
 * key in session storage, and nothing rendered from the API without a key
 * the API accepts.
 */
import {
  ApiError,
  get,
  resumeSession,
  session,
  signInOptions,
  signOut,
  tryKey,
  Unauthorized,
  whenUnauthorized,
} from './api';
import { h } from './dom';
import { deadLettersView } from './views/dead-letters';
import { patientView } from './views/patient';
import { programmeView } from './views/programme';
import { runView, sourcesView } from './views/sources';
import { refreshSafetyBadge, safetyView } from './views/safety';
import { worklistView } from './views/worklist';
import { runsView } from './views/runs';
import { patientsView } from './views/patients';
import { keysView } from './views/keys';

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const menu = document.getElementById('menu-toggle') as HTMLButtonElement;

/** On a phone the menu is behind a button; it folds again when a page opens. */
function showMenu(open: boolean): void {
  nav.classList.toggle('open', open);
  menu.setAttribute('aria-expanded', String(open));
}
menu.addEventListener('click', () => showMenu(!nav.classList.contains('open')));

/** The signed-in caller's roles (which menu links show), read once per sign-in. */
let roles: string[] | undefined;

/** With an identity provider: its button first; the API-key form stays for machines' keys and trials. */
async function ssoChoice(): Promise<HTMLElement[]> {
  const options = await signInOptions().catch(
    () => ({ sso: false }) as { sso: boolean; provider?: string; login?: string },
  );
  if (!options.sso || !options.login)
    return [
      h(
        'p',
        { class: 'note', 'data-testid': 'api-key-login' },
        'No identity provider is configured: this service signs people in with an API key (docs/operations.md, "People and access").',
      ),
    ];
  return [
    h(
      'a',
      { class: 'button', href: options.login, 'data-testid': 'sso-login' },
      `Sign in with ${options.provider ?? 'your organisation'}`,
    ),
    h('h2', {}, 'Or with an API key'),
  ];
}

function loginView(message?: string): void {
  roles = undefined;
  nav.hidden = true;
  menu.hidden = true;
  document.title = 'Log in · fhir-engage';
  const key = h('input', { id: 'api-key', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'login-error' }, message ?? '');
  main.replaceChildren(
    h('h1', {}, 'Log in'),
    h(
      'p',
      {},
      'Enter the API key of this fhir-engage service (FHIR_ENGAGE_API_KEY, or the key printed when it started). It is kept for this tab only.',
    ),
    h(
      'form',
      {
        class: 'login',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          error.textContent = '';
          try {
            if (await tryKey(key.value)) {
              session.set(key.value);
              if (!location.hash || location.hash === '#/login') location.hash = '#/sources';
              else void route();
            } else {
              error.textContent = 'This key was not accepted.';
            }
          } catch (err) {
            error.textContent = `The service could not be reached: ${(err as Error).message}`;
          }
        },
      },
      h('label', { for: 'api-key' }, 'API key'),
      key,
      h('button', { type: 'submit' }, 'Log in'),
    ),
    error,
  );
  key.focus();
  void ssoChoice().then((parts) => main.querySelector('h1')?.after(...parts));
}

/** Each view's own tab title (a list of tabs all named "fhir-engage" tells nothing apart). */
function titleOf(hash: string): string {
  if (/^#\/runs\/./.test(hash)) return 'Run';
  const titles: Record<string, string> = {
    '#/safety': 'Safety flags',
    '#/worklist': 'Worklist',
    '#/runs': 'Runs',
    '#/dead-letters': 'Dead letters',
    '#/programme': 'Programme',
    '#/patient': 'Patient',
    '#/patients': 'Patients',
    '#/keys': 'API keys',
  };
  return titles[hash] ?? 'Sources and runs';
}

/** Which roles each menu link's page needs (docs/operations.md, "People and access"): the others are hidden. */
const LINK_ROLES: Record<string, string[]> = {
  '#/safety': ['care-manager'],
  '#/worklist': ['care-manager'],
  '#/runs': ['integration'],
  '#/dead-letters': ['integration'],
  '#/programme': ['programme-lead', 'care-manager'],
  '#/patient': ['care-manager'],
  '#/keys': ['admin'],
};
async function showAllowedLinks(): Promise<void> {
  roles ??= (await get<{ roles: string[] }>('/me').catch(() => ({ roles: [] as string[] }))).roles;
  for (const a of nav.querySelectorAll('a')) {
    const needs = LINK_ROLES[a.getAttribute('href') ?? ''];
    a.hidden = !!needs && !needs.some((r) => roles?.includes(r));
  }
}

async function route(): Promise<void> {
  if (!session.signedIn() && !(await resumeSession().catch(() => false))) return loginView();
  nav.hidden = false;
  menu.hidden = false;
  showMenu(false);
  const hash = location.hash || '#/sources';
  for (const a of nav.querySelectorAll('a')) {
    const here = hash === a.getAttribute('href') || hash.startsWith(`${a.getAttribute('href') ?? '-'}/`);
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${titleOf(hash)} · fhir-engage`;
  await showAllowedLinks();
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  // The badge follows every view: a new safety flag shows wherever the care team is.
  refreshSafetyBadge().catch(() => undefined);
  try {
    const run = /^#\/runs\/([^/]+)$/.exec(hash);
    if (run) await runView(main, decodeURIComponent(run[1] as string));
    else if (hash === '#/runs') await runsView(main);
    else if (hash.startsWith('#/dead-letters')) await deadLettersView(main);
    else if (hash.startsWith('#/programme')) await programmeView(main);
    else if (hash === '#/patients') await patientsView(main);
    else if (hash === '#/keys') await keysView(main);
    else if (hash.startsWith('#/patient')) patientView(main);
    else if (hash.startsWith('#/safety')) await safetyView(main);
    else if (hash.startsWith('#/worklist')) await worklistView(main);
    else await sourcesView(main);
    main.focus();
  } catch (err) {
    if (err instanceof Unauthorized) return;
    main.replaceChildren(
      h('h1', {}, 'Something went wrong'),
      h(
        'p',
        { class: 'error', role: 'alert' },
        err instanceof ApiError ? err.message : 'The service could not be reached.',
      ),
    );
  }
}

whenUnauthorized(() => loginView('Your session ended or your key was refused: sign in again.'));
document.getElementById('logout')?.addEventListener('click', () => {
  if (session.person())
    void signOut().then((next) => {
      session.clear();
      location.assign(next);
    });
  else {
    session.clear();
    loginView();
  }
});
// The skip link moves focus to the content; as a hash it would be routed as a page that does not exist.
document.querySelector('a.skip')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => void route());
void route();
