// The consultant's case page (issue 15): the photo viewer and the outcome form's helpers.
// Progressive enhancement: without this file the page shows each photo with links to a larger
// view and the original, the saved-phrase lists are added by the server, and a diagnosis picked
// from the list is coded by the server.

// --- Photo viewer -------------------------------------------------------------------------------
// One or two panes (side by side). Each pane shows one photo fitted to the pane, from a
// screen-sized preview; zooming past that swaps in the large preview (up to 4096 px, the
// original's own pixels for most photos), so 100% is true size. Drag, wheel and keys to move.
const viewer = document.querySelector('[data-viewer]');
if (viewer) {
  const figures = [...document.querySelectorAll('[data-photo-list] [data-photo]')];
  const photos = figures.map((f) => ({
    large: f.dataset.large,
    zoom: f.dataset.zoomSrc,
    w: Number(f.dataset.width) || 1,
    h: Number(f.dataset.height) || 1,
    label: f.dataset.label,
    details: f.querySelector('[data-photo-details]'),
  }));
  const status = viewer.querySelector('[data-viewer-status]');
  const compareButton = viewer.querySelector('[data-v="compare"]');
  const fullButton = viewer.querySelector('[data-v="fullscreen"]');
  const MAX_ZOOM = 8;

  const panes = [...viewer.querySelectorAll('[data-pane]')].map((el, n) => {
    const stage = el.querySelector('[data-stage]');
    const img = el.querySelector('[data-stage-img]');
    const info = el.querySelector('[data-info]');
    return { el, stage, img, info, n, i: Math.min(n, photos.length - 1), z: 1, fit: 1, x: 0, y: 0, hi: false };
  });
  let active = panes[0];
  let comparing = false;

  const fitScale = (p) => {
    const ph = photos[p.i];
    const r = p.stage.getBoundingClientRect();
    return Math.min(r.width / ph.w, r.height / ph.h, 1);
  };
  const clampPan = (p) => {
    const ph = photos[p.i];
    const r = p.stage.getBoundingClientRect();
    const w = ph.w * p.z;
    const h = ph.h * p.z;
    p.x = w <= r.width ? (r.width - w) / 2 : Math.min(0, Math.max(r.width - w, p.x));
    p.y = h <= r.height ? (r.height - h) / 2 : Math.min(0, Math.max(r.height - h, p.y));
  };
  const render = (p) => {
    const ph = photos[p.i];
    clampPan(p);
    // The screen-sized preview is enough until one photo pixel takes more than its pixel.
    const needHi = p.z * Math.max(ph.w, ph.h) > 1600 * 1.05;
    if (needHi && !p.hi) { p.hi = true; p.img.src = ph.zoom; }
    p.img.style.width = `${ph.w}px`;
    p.img.style.height = `${ph.h}px`;
    p.img.style.transform = `translate(${p.x}px, ${p.y}px) scale(${p.z})`;
    p.stage.classList.toggle('app-viewer__stage--zoomed', p.z > p.fit + 1e-6);
    p.el.dataset.zoom = String(Math.round(p.z * 100));
    p.el.dataset.photoIndex = String(p.i);
  };
  const describe = (p) => `${photos[p.i].label}. Zoom ${Math.round(p.z * 100)}%${p.z <= p.fit + 1e-6 ? ' (fitted)' : ''}.`;
  const announce = (p) => { status.textContent = (comparing ? `${p.n === 0 ? 'Left' : 'Right'}: ` : '') + describe(p); };

  const show = (p, i) => {
    p.i = (i + photos.length) % photos.length;
    const ph = photos[p.i];
    p.hi = false;
    p.img.src = ph.large;
    p.img.alt = ph.label;
    p.stage.setAttribute('aria-label', ph.label);
    p.info.replaceChildren(...[...ph.details.childNodes].map((c) => c.cloneNode(true)));
    p.fit = fitScale(p);
    p.z = p.fit;
    render(p);
    figures.forEach((f, k) => f.classList.toggle('app-photo--current', panes.some((q) => !q.el.hidden && q.i === k)));
    announce(p);
  };
  // Zoom by `factor` about a point of the stage (its centre by default), keeping that point still.
  const zoom = (p, to, cx, cy) => {
    const r = p.stage.getBoundingClientRect();
    const px = cx ?? r.width / 2;
    const py = cy ?? r.height / 2;
    const z = Math.min(MAX_ZOOM, Math.max(p.fit, to));
    p.x = px - ((px - p.x) * z) / p.z;
    p.y = py - ((py - p.y) * z) / p.z;
    p.z = z;
    render(p);
    announce(p);
  };
  const setCompare = (on) => {
    comparing = on && photos.length > 1;
    panes[1].el.hidden = !comparing;
    viewer.classList.toggle('app-viewer--compare', comparing);
    compareButton.setAttribute('aria-pressed', String(comparing));
    if (comparing) show(panes[1], panes[0].i + 1);
    active = panes[0];
    show(panes[0], panes[0].i);
  };
  const toggleFull = () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (viewer.requestFullscreen) viewer.requestFullscreen();
  };
  document.addEventListener('fullscreenchange', () => {
    fullButton.setAttribute('aria-pressed', String(document.fullscreenElement === viewer));
    panes.forEach((p) => { if (!p.el.hidden) show(p, p.i); });
  });

  const act = (what, p = active) => {
    switch (what) {
      case 'prev': show(p, p.i - 1); break;
      case 'next': show(p, p.i + 1); break;
      case 'in': zoom(p, p.z * 1.5); break;
      case 'out': zoom(p, p.z / 1.5); break;
      case 'fit': zoom(p, p.fit); break;
      case 'actual': zoom(p, 1); break;
      case 'compare': setCompare(!comparing); break;
      case 'fullscreen': toggleFull(); break;
      default: return false;
    }
    return true;
  };
  viewer.querySelector('[role=toolbar]').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-v]');
    if (b) act(b.dataset.v);
  });

  for (const p of panes) {
    p.stage.addEventListener('focus', () => { active = p; });
    p.stage.addEventListener('pointerdown', () => { active = p; });
    p.stage.addEventListener('keydown', (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const zoomed = p.z > p.fit + 1e-6;
      const step = 60;
      const pan = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] }[e.key];
      const keys = { '+': 'in', '=': 'in', '-': 'out', 0: 'fit', 1: 'actual', n: 'next', p: 'prev', PageDown: 'next', PageUp: 'prev', s: 'compare', f: 'fullscreen' };
      if (pan && zoomed) { p.x += pan[0]; p.y += pan[1]; render(p); }
      else if (e.key === 'ArrowLeft') act('prev', p);
      else if (e.key === 'ArrowRight') act('next', p);
      else if (e.key === 'Home') show(p, 0);
      else if (e.key === 'End') show(p, photos.length - 1);
      else if (!(keys[e.key] && act(keys[e.key], p))) return;
      e.preventDefault();
    });
    p.stage.addEventListener('wheel', (e) => {
      e.preventDefault();
      const r = p.stage.getBoundingClientRect();
      zoom(p, p.z * (e.deltaY < 0 ? 1.25 : 0.8), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    p.stage.addEventListener('dblclick', (e) => {
      const r = p.stage.getBoundingClientRect();
      zoom(p, p.z > p.fit + 1e-6 ? p.fit : 1, e.clientX - r.left, e.clientY - r.top);
    });
    let drag = null;
    p.stage.addEventListener('pointerdown', (e) => {
      if (p.z > p.fit + 1e-6) { drag = { px: e.clientX, py: e.clientY, x: p.x, y: p.y }; p.stage.setPointerCapture(e.pointerId); }
    });
    p.stage.addEventListener('pointermove', (e) => {
      if (drag) { p.x = drag.x + e.clientX - drag.px; p.y = drag.y + e.clientY - drag.py; render(p); }
    });
    p.stage.addEventListener('pointerup', () => { drag = null; });
    p.stage.addEventListener('pointercancel', () => { drag = null; });
  }

  // The list below the viewer: each photo's link opens it in the viewer (the active pane).
  for (const a of document.querySelectorAll('[data-view-photo]')) {
    a.addEventListener('click', (e) => {
      e.preventDefault();
      show(active, Number(a.dataset.viewPhoto));
      active.stage.focus({ preventScroll: true });
      viewer.scrollIntoView({ block: 'nearest' });
    });
  }
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => panes.forEach((p) => { if (!p.el.hidden) { p.fit = fitScale(p); if (p.z < p.fit) p.z = p.fit; render(p); } }), 100);
  });

  viewer.hidden = false;
  document.body.classList.add('app-has-viewer');
  show(panes[0], 0);
}

// --- Outcome form: saved phrases and the coded diagnosis ----------------------------------------
// Picking a saved phrase adds its text to the field at once (on a new paragraph) and resets the
// list, so the server does not add it a second time.
for (const select of document.querySelectorAll('select[data-phrase-for]')) {
  const field = document.getElementById(select.dataset.phraseFor);
  if (!field) continue;
  select.addEventListener('change', () => {
    const option = select.selectedOptions[0];
    const text = option && option.dataset.phraseBody;
    if (!text) return;
    const current = field.value.trimEnd();
    if (!current.includes(text)) field.value = current ? `${current}\n\n${text}` : text;
    field.dispatchEvent(new Event('input', { bubbles: true }));
    select.value = '';
    field.focus();
  });
}

const diagnosis = document.querySelector('[data-diagnosis]');
if (diagnosis && diagnosis.list) {
  const note = document.querySelector('[data-diagnosis-coded]');
  const terms = new Map([...diagnosis.list.options].map((o) => [o.value.toLowerCase(), o.dataset.code]));
  const update = () => {
    const code = terms.get(diagnosis.value.trim().toLowerCase());
    note.textContent = code ? `Coded: SNOMED CT ${code}` : (diagnosis.value.trim() ? 'Not on the list: recorded as text only.' : '');
  };
  diagnosis.addEventListener('input', update);
  update();
}
