/**
 * A statechart drawn from a machine definition sent by the engine: nested boxes for compound states,
 * side-by-side regions for parallel states. By default each state is labelled with its meaning in
 * BitTorrent terms; with the XState details on, with its key and the transitions defined on it. Active
 * states are highlighted; the states entered by the latest transition flash. Nothing here knows the
 * names of any machine's states.
 */
import { memo } from 'preact/compat';
import { useMemo } from 'preact/hooks';
import type { MachineDef, StateDef, TransitionDef } from '../app/inspect/protocol.js';

interface Props {
  def: MachineDef;
  active: Set<string>;
  /** Paths entered by the latest transition (they flash), and a key that changes with each one. */
  entered: Set<string>;
  flashKey: number;
  /** Show XState's keys and transitions rather than the meanings. */
  xstate: boolean;
}

const parentOf = (p: string) => (p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '');
const keyOf = (p: string) => p.slice(p.lastIndexOf('.') + 1);

/** Targets as text: a sibling by its key, the state itself as ↻, anything else by its path. */
function targetText(t: TransitionDef, from: StateDef): string {
  return t.targets
    .map((p) => {
      if (p === from.path) return '↻';
      if (parentOf(p) === parentOf(from.path)) return keyOf(p);
      return `#${p || '(machine)'}`;
    })
    .join(', ');
}

function Transitions({ node }: { node: StateDef }) {
  const targeted = node.on.filter((t) => t.targets.length > 0);
  const internal = node.on.filter((t) => t.targets.length === 0);
  if (targeted.length === 0 && internal.length === 0) return null;
  const internalNames = [...new Set(internal.map((t) => t.label))];
  return (
    <ul class="st-on">
      {targeted.map((t, i) => (
        <li
          key={i}
          title={[
            t.event || 'eventless',
            t.guard && `guard: ${t.guard}`,
            t.actions.length > 0 && `actions: ${t.actions.join(', ')}`,
          ]
            .filter(Boolean)
            .join('\n')}
        >
          <span class="ev">{t.label}</span>
          {t.guard && <span class="guard"> [{t.guard}]</span>}
          <span class="arrow"> → </span>
          <span class="tgt">{targetText(t, node)}</span>
        </li>
      ))}
      {internalNames.length > 0 && (
        <li class="internal" title={internalNames.join('\n')}>
          also reacts to {internalNames.length} other event{internalNames.length === 1 ? '' : 's'} here (no state
          change)
        </li>
      )}
    </ul>
  );
}

function StateBox({ node, parent, props }: { node: StateDef; parent: StateDef | undefined; props: Props }) {
  const isActive = props.active.has(node.path);
  const flash = props.entered.has(node.path);
  const cls = [
    'st',
    `st-${node.type}`,
    node.states.length > 0 ? 'st-parent' : '',
    isActive ? 'active' : '',
    flash ? 'flash' : '',
  ]
    .filter(Boolean)
    .join(' ');
  const isInitial = parent !== undefined && parent.type === 'compound' && parent.initial === node.key;
  return (
    <div
      class={cls}
      data-path={node.path}
      data-active={isActive ? 'true' : 'false'}
      key={flash ? `${node.path}#${props.flashKey}` : node.path}
    >
      <div class="st-head">
        {isInitial && (
          <span class="initial" title="initial state">
            ●
          </span>
        )}
        {props.xstate ? (
          <span class="st-name" title={node.meaning}>
            {node.key}
          </span>
        ) : (
          <span class="st-meaning" title={node.path}>
            {node.meaning ?? node.key}
          </span>
        )}
        {props.xstate && node.type === 'parallel' && <span class="tag">parallel</span>}
        {props.xstate && node.type === 'final' && <span class="tag">final</span>}
        {props.xstate && node.invoke.length > 0 && (
          <span class="tag invoke" title="invoked actors">
            ⚙ {node.invoke.join(', ')}
          </span>
        )}
      </div>
      {props.xstate && <Transitions node={node} />}
      {node.states.length > 0 && (
        <div class={node.type === 'parallel' ? 'st-kids regions' : 'st-kids'}>
          {node.states.map((c) => (
            <StateBox key={c.path} node={c} parent={node} props={props} />
          ))}
        </div>
      )}
    </div>
  );
}

/**
 * The chart re-renders only when the machine, the active states (`activeKey`: their paths joined)
 * or the latest transition change — not on every update of the actor's counters.
 */
export const Statechart = memo(function Statechart({
  def,
  activeKey,
  entered,
  flashKey,
  xstate,
  title,
}: Omit<Props, 'active'> & { activeKey: string; title: string }) {
  const active = useMemo(() => new Set(activeKey.split(',')), [activeKey]);
  const root = useMemo(() => ({ ...def.root, key: def.id, meaning: title }), [def, title]);
  return (
    <div class={`chart ${xstate ? 'chart-xstate' : ''}`} data-machine={def.id}>
      <StateBox node={root} parent={undefined} props={{ def, active, entered, flashKey, xstate }} />
    </div>
  );
});
