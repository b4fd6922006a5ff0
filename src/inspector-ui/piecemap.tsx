/**
 * A torrent's piece map: a canvas of cells, one per piece (or per range of pieces for big torrents:
 * the engine sends at most 2048 cells), green for done, amber for in progress, grey for missing, a
 * cell covering many pieces shaded by how many of them are done. Redrawn when the cells or the width
 * change.
 */
import { memo } from 'preact/compat';
import { useEffect, useRef, useState } from 'preact/hooks';
import { pieceCell, type PieceMapView } from '../app/inspect/protocol.js';

const DONE = [22, 163, 74];
const MISSING = [226, 230, 236];
const PROGRESS = '#f59e0b';
const MAX_HEIGHT = 72;

/** Cell size and columns so that `cells` fill `width` in at most {@link MAX_HEIGHT} px (2 to 14 px a cell). */
export function pieceGrid(cells: number, width: number): { size: number; cols: number; rows: number } {
  let size = 14;
  while (size > 2) {
    const cols = Math.max(1, Math.floor(width / size));
    if (Math.ceil(cells / cols) * size <= MAX_HEIGHT) break;
    size--;
  }
  const cols = Math.max(1, Math.floor(width / size));
  return { size, cols, rows: Math.ceil(cells / cols) };
}

function mix(level: number): string {
  const f = level / 8;
  const c = DONE.map((d, i) => Math.round(MISSING[i]! + (d - MISSING[i]!) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export const PieceMap = memo(function PieceMap({ map }: { map: PieceMapView }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = canvas.current?.parentElement;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    const c = canvas.current;
    if (!c || width <= 0) return;
    const { size, cols, rows } = pieceGrid(map.cells.length, width);
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(cols * size * dpr);
    c.height = Math.round(rows * size * dpr);
    c.style.width = `${cols * size}px`;
    c.style.height = `${rows * size}px`;
    const g = c.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cols * size, rows * size);
    const gap = size >= 5 ? 1 : 0;
    for (let i = 0; i < map.cells.length; i++) {
      const { level, inProgress } = pieceCell(map.cells[i]!);
      g.fillStyle = inProgress ? PROGRESS : mix(level);
      g.fillRect((i % cols) * size, Math.floor(i / cols) * size, size - gap, size - gap);
    }
  }, [map.cells, width]);
  const pct = (n: number) => `${((100 * n) / map.count).toFixed(1)} %`;
  return (
    <div
      class="pieces"
      data-testid="piece-map"
      data-count={map.count}
      data-done={map.done}
      data-progress={map.inProgress}
      data-missing={map.missing}
    >
      <div class="pieces-canvas">
        <canvas ref={canvas} aria-label="piece map" />
      </div>
      <p class="pieces-legend">
        <span class="key done" /> {map.done.toLocaleString('en-US')} done ({pct(map.done)})
        <span class="key progress" /> {map.inProgress.toLocaleString('en-US')} in progress
        <span class="key missing" /> {map.missing.toLocaleString('en-US')} missing
        <span class="muted">
          {' '}
          · {map.count.toLocaleString('en-US')} pieces{map.per > 1 ? `, ${map.per} per cell` : ''}
        </span>
      </p>
    </div>
  );
});
