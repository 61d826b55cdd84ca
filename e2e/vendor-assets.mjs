// Copies the NHS.UK frontend build from node_modules into crates/web/assets/nhsuk, where the Rust
// build embeds it (so building `telederm` needs no Node). Run after `npm ci` when upgrading
// nhsuk-frontend: `npm run vendor-assets`, then commit crates/web/assets/nhsuk.
//
// The stylesheet's @font-face rules load Frutiger from assets.nhs.uk; a deployment must load
// nothing from outside itself (and Frutiger is licensed), so they are removed and the NHS.UK
// fallback stack (Arial) is used.
import { readFileSync, writeFileSync, mkdirSync, copyFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'node_modules', 'nhsuk-frontend', 'dist', 'nhsuk');
const out = join(here, '..', 'crates', 'web', 'assets', 'nhsuk');
const { version } = JSON.parse(readFileSync(join(here, 'node_modules', 'nhsuk-frontend', 'package.json'), 'utf8'));

mkdirSync(join(out, 'images'), { recursive: true });
let css = readFileSync(join(src, `nhsuk-frontend-${version}.min.css`), 'utf8');
css = css.replace(/@font-face\{[^}]*assets\.nhs\.uk[^}]*\}/g, '').replace(/\/\*# sourceMappingURL=.*?\*\//g, '');
if (/https?:\/\//.test(css.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, ''))) {
  throw new Error('nhsuk-frontend CSS still references an external URL; extend the filter in vendor-assets.mjs');
}
writeFileSync(join(out, 'nhsuk-frontend.min.css'), css);
let js = readFileSync(join(src, `nhsuk-frontend-${version}.min.js`), 'utf8');
js = js.replace(/\/\/# sourceMappingURL=.*$/m, '');
writeFileSync(join(out, 'nhsuk-frontend.min.mjs'), js);
for (const f of readdirSync(join(src, 'assets', 'images'))) {
  if (f.endsWith('.svg') || f === 'favicon.ico') copyFileSync(join(src, 'assets', 'images', f), join(out, 'images', f));
}
writeFileSync(join(out, 'VERSION'), `${version}\n`);
console.log(`vendored nhsuk-frontend ${version} into ${out}`);
