// A virtual grid (seed 004's virtual scrolling): however many items are
// loaded, only the rows in view plus a margin exist in the DOM, and their
// cells are recycled — a cell scrolled out is handed the next item scrolling
// in, so a library of 10,000 items keeps a few dozen nodes. Columns follow
// the width (1 to 5, at least `minWidth` px each); rows are square media plus
// a caption. When the view nears the end of what is loaded, `onNeedMore`
// asks for the next keyset page. Arrow keys move the focus cell by cell
// (rendering the target first), so the grid is keyboard operable too.

const GAP = 12;
const MARGIN_ROWS = 2;

export function createVirtualGrid({ scroller, container, minWidth = 200, captionHeight = 64, createCell, renderCell, onNeedMore }) {
  let items = [];
  let columns = 1;
  let cellWidth = minWidth;
  let rowHeight = minWidth + captionHeight;
  const shown = new Map(); // index → cell node
  const spare = [];

  function measure() {
    const width = container.clientWidth;
    columns = Math.max(1, Math.min(5, Math.floor((width + GAP) / (minWidth + GAP))));
    cellWidth = (width - GAP * (columns - 1)) / columns;
    rowHeight = cellWidth + captionHeight + GAP;
    container.style.setProperty('--columns', String(columns));
  }

  function place(cell, index) {
    const row = Math.floor(index / columns);
    const column = index % columns;
    cell.style.transform = `translate(${column * (cellWidth + GAP)}px, ${row * rowHeight}px)`;
    cell.style.width = `${cellWidth}px`;
    cell.style.height = `${rowHeight - GAP}px`;
  }

  function update() {
    const rows = Math.ceil(items.length / columns);
    container.style.height = `${Math.max(0, rows * rowHeight - GAP)}px`;
    const top = scroller.scrollTop - container.offsetTop;
    const first = Math.max(0, Math.floor(top / rowHeight) - MARGIN_ROWS) * columns;
    const last = Math.min(items.length, (Math.ceil((top + scroller.clientHeight) / rowHeight) + MARGIN_ROWS) * columns);
    for (const [index, cell] of shown) {
      // A focused cell stays until focus leaves it, so the keyboard never loses its place.
      if ((index < first || index >= last) && !cell.contains(document.activeElement)) {
        shown.delete(index);
        cell.hidden = true;
        spare.push(cell);
      }
    }
    for (let index = first; index < last; index++) {
      let cell = shown.get(index);
      if (!cell) {
        cell = spare.pop() ?? container.appendChild(createCell());
        cell.hidden = false;
        shown.set(index, cell);
      }
      cell.dataset.index = String(index);
      renderCell(cell, items[index], index);
      place(cell, index);
    }
    if (last >= items.length - columns * 3) onNeedMore();
  }

  /** Move keyboard focus to cell `index`, scrolling it into view first. */
  function focusIndex(index) {
    if (index < 0 || index >= items.length) return;
    const row = Math.floor(index / columns);
    const top = container.offsetTop + row * rowHeight;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + rowHeight > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + rowHeight - scroller.clientHeight;
    update();
    shown.get(index)?.querySelector('.open')?.focus();
  }

  container.addEventListener('keydown', (event) => {
    const cell = event.target.closest('[data-index]');
    if (!cell || !event.target.classList.contains('open')) return;
    const index = Number(cell.dataset.index);
    const move = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns, Home: -index, End: items.length - 1 - index }[event.key];
    if (move === undefined) return;
    event.preventDefault();
    focusIndex(index + move);
  });

  let frame = 0;
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0;
      update();
    });
  };
  scroller.addEventListener('scroll', schedule, { passive: true });
  new ResizeObserver(() => {
    measure();
    schedule();
  }).observe(container);

  return {
    /** Show `list` (the same array grown by a page, or a new one). */
    setItems(list) {
      items = list;
      measure();
      update();
    },
    /** Re-render the cells in view (an item changed). */
    refresh: update,
    reset() {
      scroller.scrollTop = 0;
    },
  };
}
