// Loads an optional peer dependency on first use, turning "not installed" into an error that says what to install.
import { SandboxError } from '../errors.ts';

export async function importOptional<T>(specifier: string, usedFor: string, install: string = specifier): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new SandboxError(
        'SANDBOX_MISSING_DEPENDENCY',
        `${usedFor} needs the optional package ${specifier}, which is not installed: run \`npm install ${install}\``,
        { cause: error },
      );
    }
    throw error;
  }
}
