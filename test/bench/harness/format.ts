/** How the report writes numbers; "–" for what was not measured (NaN, undefined). */

const measured = (n: number | undefined): n is number => n !== undefined && Number.isFinite(n);

export const fmt = (n: number, d = 0) => (measured(n) ? n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }) : "–");
export const ms = (n: number | undefined) => (measured(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms` : "–");
export const us = (n: number) => (measured(n) ? `${n.toFixed(1)} µs` : "–");
export const mib = (kb: number) => (measured(kb) ? `${(kb / 1024).toFixed(0)} MiB` : "–");
/** a ÷ b as "1.23×". */
export const ratio = (a: number, b: number | undefined) => (measured(a) && b ? `${(a / b).toFixed(2)}×` : "–");
