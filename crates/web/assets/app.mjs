// Telederm's progressive enhancement. Every page works without this file.
import { initAll } from '/assets/nhsuk-frontend.min.mjs';

// NHS.UK frontend runs its modules (error summary focus, header menu, buttons) only when <body> has
// `nhsuk-frontend-supported`. Its documented snippet is an inline script, which our CSP forbids;
// this file is a module, so it runs only in the browsers that snippet would mark as supported.
if ('noModule' in HTMLScriptElement.prototype) document.body.classList.add('nhsuk-frontend-supported');
initAll();

// --- Drafts never lose typing: forms marked data-autosave keep their fields in this tab's
// sessionStorage as you type, and get them back if you navigate away and return. The server copy
// wins for fields it already has; the stored copy is dropped once the form is sent.
//
// Typing is one person's, about one record: it must never reach another user or another patient.
// - Keys are `telederm:draft:<scope>:<form>:<record>`. `<scope>` is <body data-draft-scope>, an
//   opaque value per sign-in session from the server; `data-autosave` names the form and the
//   record (`start:new`, `start:<id>`, `details:<id>`, `outcome:<id>`...). A form restores only its
//   own exact key, so a new referral's typing never lands in an existing draft.
// - On a signed-in page, drafts of any other scope (an earlier user or session) are deleted before
//   anything is restored. On the sign-in page (signed out, or the session expired) the scope is
//   empty and every draft is deleted. Pages with no scope (errors, patient pages) leave them alone.
// - Sign-out also answers `Clear-Site-Data: "storage"`.
const DRAFT_PREFIX = 'telederm:draft:';

function keysOf(storage) {
  const keys = [];
  for (let i = 0; i < storage.length; i++) keys.push(storage.key(i));
  return keys;
}

function dropDrafts(storage, keepScope) {
  for (const k of keysOf(storage)) {
    if (k && k.startsWith(DRAFT_PREFIX) && !(keepScope && k.startsWith(`${DRAFT_PREFIX}${keepScope}:`))) storage.removeItem(k);
  }
}

const draftScope = document.body.dataset.draftScope;
try {
  // Earlier versions kept drafts in localStorage under unscoped keys: never read them, delete them.
  dropDrafts(localStorage, null);
  if (draftScope !== undefined) dropDrafts(sessionStorage, draftScope || null);
} catch { /* storage blocked */ }

for (const form of draftScope ? document.querySelectorAll('form[data-autosave]') : []) {
  const name = form.dataset.autosave;
  if (!/^[a-z-]+:[A-Za-z0-9_-]+$/.test(name)) continue;
  const key = `${DRAFT_PREFIX}${draftScope}:${name}`;
  const fields = () => [...form.elements].filter((el) => el.name && el.name !== '_csrf' && el.type !== 'file' && el.type !== 'hidden');
  let saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(key) || '{}') || {}; } catch { saved = {}; }
  for (const el of fields()) {
    if (!Object.hasOwn(saved, el.name)) continue;
    const v = saved[el.name];
    if (el.type === 'radio') {
      if (!form.querySelector(`input[name="${CSS.escape(el.name)}"]:checked`) && el.value === v) el.checked = true;
    } else if (el.type === 'checkbox') {
      // leave server state alone
    } else if (!el.value) {
      el.value = v;
    }
  }
  const save = () => {
    const data = {};
    for (const el of fields()) {
      if (el.type === 'radio') { if (el.checked) data[el.name] = el.value; }
      else if (el.type !== 'checkbox') data[el.name] = el.value;
    }
    try { sessionStorage.setItem(key, JSON.stringify(data)); } catch { /* storage full or blocked */ }
  };
  form.addEventListener('input', save);
  form.addEventListener('change', save);
  form.addEventListener('submit', () => { try { sessionStorage.removeItem(key); } catch { /* ignore */ } });
}

// --- NHS number checked as you type (Modulus 11; the server checks again).
function nhsNumberProblem(raw) {
  const digits = raw.replace(/[\s-]/g, '');
  if (!digits) return '';
  if (!/^\d+$/.test(digits)) return 'An NHS number has only digits.';
  if (digits.length < 10) return `${10 - digits.length} more digit${digits.length === 9 ? '' : 's'} to go.`;
  if (digits.length > 10) return 'An NHS number has 10 digits.';
  if (/^(\d)\1{9}$/.test(digits)) return 'This is not a real NHS number.';
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  let check = 11 - (sum % 11);
  if (check === 11) check = 0;
  if (check === 10 || check !== Number(digits[9])) return 'The check digit does not match: check the number was copied correctly.';
  return null;
}
for (const input of document.querySelectorAll('[data-nhs-number]')) {
  const live = document.getElementById('nhs-number-live');
  const show = () => {
    const problem = nhsNumberProblem(input.value);
    if (!live) return;
    live.classList.toggle('app-live--ok', problem === null);
    live.classList.toggle('app-live--bad', Boolean(problem));
    live.textContent = problem === null ? 'Valid NHS number.' : problem;
  };
  input.addEventListener('input', show);
  if (input.value) show();
}

// --- Eligibility decision shown live, from the same rules the server uses.
const elig = document.querySelector('form[data-eligibility]');
if (elig) {
  const panel = document.querySelector('[data-decision-panel]');
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const answers = () => {
    const fd = new FormData(elig);
    const a = {
      referral_date: elig.dataset.referralDate,
      patient: { date_of_birth: elig.dataset.dob, postcode: elig.dataset.postcode },
      condition: fd.get('condition'),
      lesion_count: Number.parseInt(fd.get('lesion_count') || '0', 10),
      body_sites: fd.getAll('body_sites'),
      images_taken_by: fd.get('images_taken_by'),
    };
    for (const el of elig.querySelectorAll('input[type=radio][value=yes], input[type=hidden][data-answer]')) {
      const v = fd.get(el.name);
      a[el.name] = v === null ? null : v === 'yes';
    }
    return a;
  };
  let timer;
  const check = async () => {
    const a = answers();
    if (Object.values(a).some((v) => v === null) || !a.body_sites.length || Number.isNaN(a.lesion_count)) {
      panel.innerHTML = '<p class="nhsuk-body-s">Answer every question to see the decision.</p>';
      for (const next of document.querySelectorAll('[data-decision-next]')) next.hidden = true;
      return;
    }
    try {
      const res = await fetch('/api/v1/eligibility/check', {
        method: 'POST', headers: { 'content-type': 'application/json' }, credentials: 'same-origin',
        body: JSON.stringify({ service: elig.dataset.service, answers: a }),
      });
      const body = await res.json();
      if (!res.ok) { panel.innerHTML = `<p class="nhsuk-body-s">${esc(body.message || 'Check the answers.')}</p>`; return; }
      const label = { eligible: 'Eligible', excluded: 'Not eligible for this service', redirect_2ww: 'Use the two-week-wait form' }[body.decision] || body.decision;
      const cls = body.decision === 'eligible' ? 'nhsuk-tag--green' : 'nhsuk-tag--red';
      // What to do next is the server's text (with the service's 2WW form): shown for the decision.
      for (const next of document.querySelectorAll('[data-decision-next]')) next.hidden = next.dataset.decisionNext !== body.decision;
      let html = '';
      html += `<h2>Decision: <strong class="nhsuk-tag ${cls}">${esc(label)}</strong></h2>`;
      if (body.reasons.length) html += `<h3>Reasons</h3><ul>${body.reasons.map((r) => `<li>${esc(r.message)}</li>`).join('')}</ul>`;
      if (body.warnings.length) html += `<h3>Check before sending</h3><ul>${body.warnings.map((w) => `<li>${esc(w.message)}</li>`).join('')}</ul>`;
      panel.innerHTML = html;
    } catch { /* offline: the server shows the decision after saving */ }
  };
  elig.addEventListener('change', () => { clearTimeout(timer); timer = setTimeout(check, 150); });
  elig.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(check, 300); });
}

// --- Photo upload: say that the check is running (it takes a moment on large photos).
for (const form of document.querySelectorAll('form[data-photo-form]')) {
  form.addEventListener('submit', () => {
    const button = form.querySelector('button[type=submit]');
    if (button) { button.textContent = 'Checking the photo...'; button.setAttribute('aria-disabled', 'true'); }
  });
}

// --- Photo zoom and pan: buttons, mouse wheel, drag, and keyboard (+, -, 0, arrows).
for (const fig of document.querySelectorAll('.app-photo')) {
  const frame = fig.querySelector('[data-zoom-frame]');
  const img = fig.querySelector('[data-zoom-img]');
  const controls = fig.querySelector('[data-zoom-controls]');
  if (!frame || !img) continue;
  controls.hidden = false;
  frame.tabIndex = 0;
  frame.setAttribute('role', 'group');
  frame.setAttribute('aria-label', `${img.alt}: use plus and minus to zoom, arrow keys to move`);
  let scale = 1, x = 0, y = 0;
  const apply = () => {
    scale = Math.min(8, Math.max(1, scale));
    if (scale === 1) { x = 0; y = 0; }
    img.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    frame.classList.toggle('app-photo__frame--zoomed', scale > 1);
    fig.dataset.zoom = String(scale);
  };
  controls.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-zoom]');
    if (!b) return;
    if (b.dataset.zoom === 'in') scale *= 1.5;
    else if (b.dataset.zoom === 'out') scale /= 1.5;
    else scale = 1;
    apply();
  });
  frame.addEventListener('wheel', (e) => { e.preventDefault(); scale *= e.deltaY < 0 ? 1.2 : 1 / 1.2; apply(); }, { passive: false });
  frame.addEventListener('keydown', (e) => {
    const step = 40;
    const keys = { '+': () => { scale *= 1.5; }, '=': () => { scale *= 1.5; }, '-': () => { scale /= 1.5; }, '0': () => { scale = 1; },
      ArrowLeft: () => { x += step; }, ArrowRight: () => { x -= step; }, ArrowUp: () => { y += step; }, ArrowDown: () => { y -= step; } };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); apply(); }
  });
  let drag = null;
  frame.addEventListener('pointerdown', (e) => { if (scale > 1) { drag = { px: e.clientX, py: e.clientY, x, y }; frame.setPointerCapture(e.pointerId); } });
  frame.addEventListener('pointermove', (e) => { if (drag) { x = drag.x + e.clientX - drag.px; y = drag.y + e.clientY - drag.py; apply(); } });
  frame.addEventListener('pointerup', () => { drag = null; });
  frame.addEventListener('dblclick', () => { scale = scale > 1 ? 1 : 2.5; apply(); });
}

// --- Step 1: say which services suit the patient (from the server's rules, once the date of
// birth and postcode are in), and ask for the route only when the chosen service offers both.
const start = document.querySelector('form[data-start]');
if (start) {
  const routeQuestion = start.querySelector('[data-route-question]');
  const showRoute = () => {
    const chosen = start.querySelector('input[name=service]:checked');
    const routes = chosen ? chosen.dataset.routes.split(' ') : [];
    if (routeQuestion) routeQuestion.hidden = routes.length === 1;
  };
  start.addEventListener('change', (e) => { if (e.target.name === 'service') showRoute(); });
  showRoute();
  let asked = '';
  const suggest = async () => {
    const fd = new FormData(start);
    const [d, m, y] = ['dob_day', 'dob_month', 'dob_year'].map((n) => String(fd.get(n) || '').trim());
    const postcode = String(fd.get('postcode') || '').trim();
    if (!d || !m || y.length !== 4 || postcode.length < 5) return;
    const dob = `${y}-${m.padStart(2, '0')}-${d.padStart(2, '0')}`;
    const query = new URLSearchParams({ date_of_birth: dob, postcode }).toString();
    if (query === asked) return;
    asked = query;
    try {
      const res = await fetch(`/api/v1/services/suggestions?${query}`, { credentials: 'same-origin' });
      if (!res.ok) return;
      const body = await res.json();
      for (const s of body.suggestions) {
        const el = start.querySelector(`[data-fit-for="${CSS.escape(s.service)}"]`);
        if (!el) continue;
        el.replaceChildren();
        const tag = document.createElement('strong');
        tag.className = `nhsuk-tag ${s.suits ? 'nhsuk-tag--green' : 'nhsuk-tag--grey'}`;
        tag.textContent = s.suits ? 'Suits this patient' : 'Not for this patient';
        el.append(tag, ` ${s.reason}`);
      }
    } catch { /* offline: the criteria under each service still say who it takes */ }
  };
  start.addEventListener('input', () => { clearTimeout(start.suggestTimer); start.suggestTimer = setTimeout(suggest, 400); });
  suggest();
}

// --- The consultant's case page (photo viewer, outcome helpers): loaded only where it is used, at
// the same version as this file.
if (document.querySelector('[data-viewer], [data-phrase-for], [data-diagnosis]')) {
  import(new URL(`triage.mjs${new URL(import.meta.url).search}`, import.meta.url).href);
}
