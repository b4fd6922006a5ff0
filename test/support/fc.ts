/**
 * Shared fast-check settings. Every property runs at least 10,000 cases (the CI floor);
 * BT_PROPERTY_RUNS raises it locally, e.g. `BT_PROPERTY_RUNS=200000 npm test`.
 */
const requested = Number(process.env.BT_PROPERTY_RUNS ?? '');
export const numRuns = Number.isFinite(requested) && requested > 10_000 ? Math.floor(requested) : 10_000;
export const propertyOptions = { numRuns } as const;
