// The address names what the page shows: `#gan?dataset=mnist&class=3&seed=7` opens the GAN tab
// with those settings, so that a link shows its reader what its sender saw, and back and forward
// step through the views and settings visited. main.js shows the views; each tab shares its
// settings here: `read()` gives them now, `apply(settings)` takes them from the address.

const views = new Map(); // view name -> { read, apply }
let onShow = () => {};
let routing = false; // while the address is being followed, changes replace it instead of adding

// The view and settings the address names.
export function parse(hash = location.hash) {
  const [view, query = ''] = hash.replace(/^#/, '').split('?');
  return { view, settings: Object.fromEntries(new URLSearchParams(query)) };
}

const address = (view, settings) => {
  const query = new URLSearchParams(settings).toString();
  return `#${view}${query ? `?${query}` : ''}`;
};

// Shares a tab's settings under `view`; returns the settings the address gives it now (or {}),
// for the tab to start from.
export function share(view, handlers) {
  views.set(view, handlers);
  const named = parse();
  return named.view === view ? named.settings : {};
}

// Shares the values of the input fields `names` of `els` under `view`, as they are, and takes
// those the address gives now.
export function shareFields(view, els, names) {
  const read = () => Object.fromEntries(names.map((name) => [name, els[name].value]));
  const apply = (settings) => {
    for (const name of names) if (settings[name] !== undefined) els[name].value = settings[name];
  };
  apply(share(view, { read, apply }));
}

// Records that `view` is shown with its current settings: a new history entry when the address
// changes (or, while an address is being followed, the same entry, completed).
export function changed(view) {
  const next = address(view, views.get(view)?.read() ?? {});
  if (next === location.hash) return;
  if (routing) history.replaceState(null, '', next);
  else history.pushState(null, '', next);
}

// Follows the address: `show(view)` brings the view up (main.js), and the tab takes the settings.
async function follow() {
  const { view, settings } = parse();
  routing = true;
  try {
    if (!onShow(view)) return;
    await views.get(view)?.apply(settings);
  } finally {
    routing = false;
  }
}

// Starts following the address, at once and after every change of it (a link, back, forward:
// each fires popstate); `show(view)` returns whether it knows the view.
export function route(show) {
  onShow = show;
  addEventListener('popstate', follow);
  return follow();
}
