import type { Bundle, Resource } from '@medplum/fhirtypes';
import { SandboxRepository } from '../../src/sandbox/repository';
import { seedRepository, type SeedOptions } from '../../src/sandbox/seed';
import { startSandbox, type SandboxOptions, type SandboxServer } from '../../src/sandbox/server';

export const TEST_ANCHOR = '2026-06-01T00:00:00.000Z';

export async function seededSandbox(
  seed: Partial<SeedOptions> = {},
  options: SandboxOptions = {},
): Promise<SandboxServer> {
  const repo = new SandboxRepository();
  await seedRepository(repo, { patients: 20, seed: 11, anchor: TEST_ANCHOR, fixtures: false, ...seed });
  return startSandbox({ ...options, repo });
}

export async function getJson<T = Resource>(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as T, headers: res.headers };
}

export function nextLink(bundle: Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === 'next')?.url;
}

/** Follows next links to the end; returns every resource and the number of pages. */
export async function pageAll(url: string, init: RequestInit = {}): Promise<{ resources: Resource[]; pages: number }> {
  const resources: Resource[] = [];
  let pages = 0;
  let next: string | undefined = url;
  while (next) {
    const { status, body } = await getJson<Bundle>(next, init);
    if (status !== 200) throw new Error(`status ${status} for ${next}`);
    pages++;
    resources.push(...(body.entry ?? []).map((e) => e.resource as Resource));
    next = nextLink(body);
  }
  return { resources, pages };
}
