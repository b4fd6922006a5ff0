/** The named scenarios of `npm run sim` (docs/simulation.md). */
import type { Scenario } from '../scenario.js';
import { churn } from './churn.js';
import { endgame } from './endgame.js';
import { flashCrowd } from './flash-crowd.js';
import { optimisticFairness } from './optimistic-fairness.js';
import { poisoner } from './poisoner.js';
import { seedDies } from './seed-dies.js';
import { slowDisk } from './slow-disk.js';
import { titForTat } from './tit-for-tat.js';
import { trackerFailover } from './tracker-failover.js';

export const scenarios: Scenario[] = [
  flashCrowd,
  poisoner,
  churn,
  optimisticFairness,
  titForTat,
  endgame,
  trackerFailover,
  seedDies,
  slowDisk,
];

export function scenarioNamed(name: string): Scenario | undefined {
  return scenarios.find((s) => s.name === name);
}
