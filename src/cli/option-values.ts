import { InvalidArgumentError } from 'commander';

/** A commander parser for a whole number in [min, max]; anything else is a usage error naming the range. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `give a whole number of ${min} or more.`
          : `give a whole number from ${min} to ${max}.`,
      );
    }
    return n;
  };
}

/** A TCP port (0 = any free port). */
export const portNumber = wholeNumber(0, 65_535);
