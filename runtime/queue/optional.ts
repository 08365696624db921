// Loads an optional dependency on first use, turning "not installed" into an error that says what to install.
import { SandboxError } from '../errors.ts';

function missing(error: unknown, specifier: string): boolean {
  const code = (error as { code?: unknown }).code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  // Only the package we asked about: a missing file inside our own package is a bug, not a missing install.
  const message = (error as Error).message;
  return message.includes(`'${specifier}'`) || message.includes(`"${specifier}"`) || message.includes(`'${specifier}/`);
}

function missingDependency(specifier: string, usedFor: string, install: string, cause: unknown): SandboxError {
  return new SandboxError(
    'SANDBOX_MISSING_DEPENDENCY',
    `${usedFor} needs the optional package ${specifier}, which is not installed: run \`npm install ${install}\``,
    {
      cause,
    },
  );
}

export async function importOptional<T>(specifier: string, usedFor: string, install: string = specifier): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    if (missing(error, specifier)) throw missingDependency(specifier, usedFor, install, error);
    throw error;
  }
}

/**
 * Loads one of our own modules that imports an optional package at its top (prom-client for the metrics), so
 * the package is needed only by the commands that use it.
 */
export async function loadWithOptional<T>(
  load: () => Promise<T>,
  specifier: string,
  usedFor: string,
  install: string = specifier,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (missing(error, specifier)) throw missingDependency(specifier, usedFor, install, error);
    throw error;
  }
}
