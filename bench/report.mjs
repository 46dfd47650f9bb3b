// Renders bench/results.json (as produced by scripts/bench.mjs) into the Markdown report and
// the SVG bar charts. Pure functions of the results object.

const OURS = 'jwt-keeper';
const OURS_ASYNC = 'jwt-keeper verifyJwtAsync';
const OURS_CLIENT_VERIFY = 'jwt-keeper client setSession';
const OURS_VERIFY = 'jwt-keeper/verify';

// The targets of issue 10.
/** Start-up bytes (client app bundle + core wasm, gzip -9) at most 17 KB. */
const START_UP_TARGET_GZIP = 17 * 1024;
/** The client path's verification rate at least this share of jose's (WebCrypto). */
const CLIENT_VERIFY_SHARE = 0.8;
/** decodeJwt at least this many times jwt-decode's rate. */
const DECODE_FACTOR = 3;

// --- formatting ---------------------------------------------------------------------------------

const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;
function rate(x) {
  if (x == null) return 'n/a';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M/s`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)} k/s`;
  if (x >= 100) return `${Math.round(x).toLocaleString('en-US')}/s`;
  return `${x.toFixed(1)}/s`;
}
const ms = (x) => (x == null ? 'n/a' : x >= 100 ? `${Math.round(x)} ms` : `${x.toFixed(1)} ms`);
const ratio = (a, b) => (a == null || b == null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`);
const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const list = (xs, f = (x) => x) => xs.map(f).join(', ');
const verdict = (ok) => (ok == null ? '–' : ok ? '**yes**' : '**no**');

function table(header, rows) {
  const line = (cells) => `| ${cells.map(esc).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

const find = (rows, name) => rows?.find((r) => r.name === name);
const measured = (rows) => (rows ?? []).filter((r) => r.median != null);

// --- targets ------------------------------------------------------------------------------------

/** The stated targets, each with the numbers it was judged on (`met` null: shown, no target). */
export function evaluateTargets(r) {
  const out = [];
  if (r.sizes) {
    const ours = find(r.sizes, OURS);
    const oidc = find(r.sizes, 'oidc-client-ts');
    if (ours) {
      const parts = `(${ours.js.files} JS chunk(s) ${kb(ours.js.gzip)} + ${ours.wasmFile} ${kb(ours.wasm.gzip)})`;
      out.push({
        target: `start-up bytes ≤ ${kb(START_UP_TARGET_GZIP)} gzip (createAuthClient + setSession + getAccessToken app, code-split; entry chunk + static imports + core wasm)`,
        ours: `${kb(ours.total.gzip)} ${parts}`,
        peer: `target ${kb(START_UP_TARGET_GZIP)}`,
        ratio: ratio(ours.total.gzip, START_UP_TARGET_GZIP),
        met: ours.total.gzip <= START_UP_TARGET_GZIP,
        note:
          ours.total.gzip <= START_UP_TARGET_GZIP
            ? `${kb(START_UP_TARGET_GZIP - ours.total.gzip)} under`
            : `${kb(ours.total.gzip - START_UP_TARGET_GZIP)} over; the core wasm alone is ${kb(ours.wasm.gzip)}`,
      });
      if (oidc) {
        out.push({
          target: 'start-up bytes below oidc-client-ts (bundled the same way)',
          ours: kb(ours.total.gzip),
          peer: `oidc-client-ts ${kb(oidc.total.gzip)}`,
          ratio: ratio(ours.total.gzip, oidc.total.gzip),
          met: ours.total.gzip < oidc.total.gzip,
          note: ours.total.gzip < oidc.total.gzip ? `${kb(oidc.total.gzip - ours.total.gzip)} smaller` : `${kb(ours.total.gzip - oidc.total.gzip)} larger`,
        });
      }
    }
  }
  if (r.startup) {
    const ours = find(r.startup.rows, OURS);
    const jose = find(r.startup.rows, 'jose');
    if (ours?.medianMs != null && jose?.medianMs != null) {
      const others = [OURS_ASYNC, OURS_VERIFY].map((n) => find(r.startup.rows, n)).filter((x) => x?.medianMs != null);
      out.push({
        target: "import → first token (client) no slower than jose's import → first verification",
        ours: ms(ours.medianMs),
        peer: `jose ${ms(jose.medianMs)}`,
        ratio: ratio(ours.medianMs, jose.medianMs),
        met: ours.medianMs <= jose.medianMs,
        note: `medians of ${ours.samplesMs.length} cold starts (above 1× = slower); ${others.map((x) => `${x.name} ${ms(x.medianMs)}`).join(', ')}`,
      });
    }
  }
  if (r.verify) {
    const client = find(r.verify, OURS_CLIENT_VERIFY);
    const async = find(r.verify, OURS_ASYNC);
    const wasm = find(r.verify, OURS_VERIFY);
    const jose = find(r.verify, 'jose');
    if (client?.median && jose?.median) {
      out.push({
        target: `client-path ES256 verification (setSession of new tokens) ≥ ${CLIENT_VERIFY_SHARE}× jose on WebCrypto`,
        ours: rate(client.median),
        peer: `jose ${rate(jose.median)}`,
        ratio: ratio(client.median, jose.median),
        met: client.median >= CLIENT_VERIFY_SHARE * jose.median,
        note: 'each call a token the client has not seen: core checks + WebCrypto verify (key imported once) + adoption; jose with a key imported once',
      });
    }
    if (async?.median && jose?.median) {
      out.push({
        target: 'verifyJwtAsync rate: shown, no target',
        ours: rate(async.median),
        peer: `jose ${rate(jose.median)}`,
        ratio: ratio(async.median, jose.median),
        met: null,
        note: 'the client core\'s checks (key parsed per call) + WebCrypto verify',
      });
    }
    if (wasm?.median && jose?.median) {
      out.push({
        target: 'wasm verifyJwt rate (jwt-keeper/verify, p256 in wasm): shown, no target',
        ours: rate(wasm.median),
        peer: `jose ${rate(jose.median)}`,
        ratio: ratio(wasm.median, jose.median),
        met: null,
        note: `the path where WebCrypto is missing; ${(1e3 / wasm.median).toFixed(2)} ms per verification`,
      });
    }
  }
  if (r.decode) {
    const ours = find(r.decode, OURS);
    const peer = find(r.decode, 'jwt-decode');
    const both = find(r.decode, 'jwt-decode (header + payload)');
    if (ours?.median && peer?.median) {
      out.push({
        target: `decode ≥ ${DECODE_FACTOR}× jwt-decode`,
        ours: rate(ours.median),
        peer: `jwt-decode ${rate(peer.median)}`,
        ratio: ratio(ours.median, peer.median),
        met: ours.median >= DECODE_FACTOR * peer.median,
        note: `ours returns header and payload, jwt-decode the payload only${both?.median ? ` (${ratio(ours.median, both.median)} jwt-decode header + payload)` : ''}`,
      });
    }
  }
  if (r.wycheproof) {
    const w = r.wycheproof;
    const want = w.numberOfTests;
    out.push({
      target: `Wycheproof P-256 (${w.file}): ${want}/${want} agreeing, WebCrypto (Chromium) vs the wasm verifier`,
      ours: `${w.allAgree}/${w.cases} (paths agree ${w.pathsAgree}, WebCrypto = Wycheproof ${w.webcryptoAgrees}, wasm = Wycheproof ${w.wasmAgrees})`,
      peer: `Wycheproof: ${w.expected.valid} valid, ${w.expected.invalid} invalid, ${w.expected.acceptable} acceptable`,
      ratio: '–',
      met: w.cases === want && w.allAgree === want,
      note: `${w.disagreements.length} disagreement(s); ${w.refusedByCore} cases are signatures the client core refuses before WebCrypto (not 64-byte r‖s in [1, n)): WebCrypto alone said invalid on ${w.refusedByCoreWebcryptoInvalid}`,
    });
  }
  if (r.hotPath) {
    const ours = find(r.hotPath, OURS);
    const peers = measured(r.hotPath).filter((x) => x.name !== OURS);
    const best = peers.sort((a, b) => b.median - a.median)[0];
    if (ours?.median && best) {
      out.push({
        target: "cached getAccessToken() at least as fast as the fastest peer's cached getter",
        ours: rate(ours.median),
        peer: `${best.name} ${rate(best.median)}`,
        ratio: ratio(ours.median, best.median),
        met: ours.median >= best.median,
        note: `${ours.median >= best.median ? `${(ours.median / best.median).toFixed(1)}× faster than` : `${(best.median / ours.median).toFixed(1)}× slower than`} ${best.name}: ${(1e6 / ours.median).toFixed(1)} µs per call vs ${(1e6 / best.median).toFixed(1)} µs`,
      });
    }
  }
  if (r.network) {
    for (const [key, label] of [
      ['concurrent', `${r.meta.plan.callers} concurrent callers at expiry: exactly one refresh request`],
      ['tabs', `${r.meta.plan.tabs} tabs at expiry: exactly one refresh request`],
    ]) {
      const ours = find(r.network[key], OURS);
      if (!ours) continue;
      const counts = ours.runs.map((x) => x.requests ?? 'error');
      const allGood = ours.runs.every((x) => x.requests === 1 && x.ok === (x.callers ?? r.meta.plan.tabs) && x.distinctTokens === 1 && !x.gotOldToken);
      const peers = r.network[key].filter((x) => x.name !== OURS && !x.na).map((x) => `${x.name} ${x.runs.map((y) => y.requests ?? 'error').join('/')}`);
      out.push({
        target: label,
        ours: `${counts.join(' / ')} (runs)`,
        peer: peers.join('; ') || 'n/a',
        ratio: '–',
        met: allGood,
        note: allGood ? `in every run all ${key === 'tabs' ? 'tabs' : 'callers'} got the same new token` : 'see the network section',
      });
    }
  }
  if (r.memory) {
    const c = r.memory.checkpoints;
    const first = c[0];
    const last = c.at(-1);
    const wasmGrowth = last.wasmBytes - first.wasmBytes;
    const jsGrowth = last.jsUsed - first.jsUsed;
    // "No growth": the wasm memory does not grow at all, and the JS heap after GC stays within
    // 256 KB of where it was after the warm-up.
    const met = wasmGrowth === 0 && jsGrowth < 256 * 1024 && r.memory.failures === 0;
    out.push({
      target: `no memory growth over ${r.memory.cycles.toLocaleString('en-US')} refresh cycles`,
      ours: `wasm ${wasmGrowth >= 0 ? '+' : ''}${wasmGrowth} B, JS heap ${jsGrowth >= 0 ? '+' : ''}${(jsGrowth / 1024).toFixed(1)} KB`,
      peer: '–',
      ratio: '–',
      met,
      note: `wasm ${kb(last.wasmBytes)}, JS heap ${kb(last.jsUsed)} after GC; ${r.memory.failures} failed refreshes`,
    });
  }
  return out;
}

// --- Markdown -----------------------------------------------------------------------------------

export function renderMarkdown(r) {
  const m = r.meta;
  const out = [];
  const p = (...lines) => out.push(...lines, '');
  p('# jwt-keeper benchmark');
  p(
    `One run of \`npm run bench\`, ${m.date.slice(0, 16).replace('T', ' ')} UTC: ${m.machine.cpus} cores (${m.machine.cpuModel}), ${m.machine.memoryGiB} GiB, ` +
      `Chromium ${m.chromium ?? '?'} headless, Node ${m.node}. Load average at start ${m.machine.loadAvgAtStart.map((x) => x.toFixed(2)).join(' ')}, ` +
      `at end ${m.machine.loadAvgAtEnd?.map((x) => x.toFixed(2)).join(' ') ?? '?'}. Every library runs in the same browser, the same way; ` +
      `rates are medians of ${m.plan.rate.windows} windows of ${m.plan.rate.windowMs} ms after a ${m.plan.rate.warmupMs} ms warm-up, ` +
      `start-up the median of ${m.plan.startupRuns} cold starts, network counts ${m.plan.networkRuns} runs each.`,
  );
  if (m.quick) p('> **Quick mode** (`--quick`): fewer runs and shorter windows; the numbers are noisier.');

  const targets = evaluateTargets(r);
  if (targets.length) {
    p('## Targets', '', 'ours/peer is jwt-keeper\'s number divided by the peer\'s (or the target): above 1 means larger (bytes), slower (start-up times) or faster (rates). Every verdict is computed from the numbers of this run.');
    p(table(['target', 'jwt-keeper', 'compared with', 'ours/peer', 'met', 'note'], targets.map((t) => [t.target, t.ours, t.peer, t.ratio, verdict(t.met), t.note])));
  }

  if (r.sizes) {
    const ours = find(r.sizes, OURS);
    const verify = find(r.sizes, OURS_VERIFY);
    p(
      '## Start-up bytes',
      '',
      'Each entry bundled by esbuild as an app ships it: code splitting, ESM, minified, browser, no legal comments. Counted: the entry chunk and the chunks it imports statically (metafile `import-statement`), each compressed on its own (gzip -9, brotli 11) as it is served; chunks reached only by a dynamic `import()` are loaded later, only when used, and are not counted (shown apart). jwt-keeper adds the `.wasm` its glue fetches first (a separate download). ' +
        `jwt-keeper: an app that calls createAuthClient, setSession and getAccessToken (what it needs before the first token); the peers: their one-line entries.`,
    );
    p(
      table(
        ['library', 'entry', 'JS min', 'JS gzip', 'wasm gzip', 'start-up gzip', 'start-up brotli', 'dynamic-only chunks (min)', 'jwt-keeper ÷ it (gzip)'],
        r.sizes.map((s) => [
          s.name,
          `\`${s.entry}\``,
          `${kb(s.js.raw)} (${s.js.files} chunk${s.js.files === 1 ? '' : 's'})`,
          kb(s.js.gzip),
          s.wasm ? `${kb(s.wasm.gzip)} (${s.wasmFile})` : '–',
          `**${kb(s.total.gzip)}**`,
          kb(s.total.brotli),
          s.lazyJs?.files ? `${s.lazyJs.files}: ${kb(s.lazyJs.raw)}` : '–',
          s.name === OURS ? '–' : ratio(ours?.total.gzip, s.total.gzip),
        ]),
      ),
    );
    const lines = [];
    const b = r.buildSizeReport;
    if (b?.startUp) {
      lines.push(
        `Cross-check, the build's own report (pkg/.size.json, each chunk gzipped on its own): start-up ${kb(b.startUp.gzip)} gzip (its budget ${b.startUpBudgetGzip != null ? kb(b.startUpBudgetGzip) : '?'}), jwt-keeper/verify ${b.verify ? kb(b.verify.gzip) : '?'} (budget ${b.verifyBudgetGzip != null ? kb(b.verifyBudgetGzip) : '?'}).`,
        '',
      );
    }
    if (ours?.wasm && verify?.wasm) {
      lines.push(
        "Where jwt-keeper's bytes go (gzip -9):",
        '',
        `- the client core wasm (${ours.wasmFile}: the session state machine and the token checks; no elliptic-curve code, signatures go to WebCrypto): ${kb(ours.wasm.gzip)};`,
        `- the verifier wasm (${verify.wasmFile}: P-256/ECDSA for verifyJwt, decodeJwt, and the client where WebCrypto is missing), not loaded by the client at start-up: ${kb(verify.wasm.gzip)};`,
        `- JS at start-up (wasm-bindgen glue, AuthError, the AuthClient shell, WebCrypto signature check): ${kb(ours.js.gzip)} for the client app, ${kb(verify.js.gzip)} for jwt-keeper/verify.`,
      );
    }
    for (const s of r.sizes.filter((x) => x.wasmSections)) {
      if (r.sizes.some((x) => x.wasmSections && x.wasmFile === s.wasmFile && r.sizes.indexOf(x) < r.sizes.indexOf(s))) continue;
      const parts = s.wasmSections
        .filter((x) => x.raw > 512)
        .map((x) => `${x.name} ${kb(x.raw)} raw / ${kb(x.gzip)} gzip`)
        .join(', ');
      lines.push(`- ${s.wasmFile} by section (each gzipped alone): ${parts}; ${s.wasmFunctions} functions.`);
    }
    const warned = r.sizes.filter((x) => x.warnings?.length);
    if (warned.length) lines.push('', `esbuild warnings: ${warned.map((x) => `${x.name}: ${x.warnings.slice(0, 2).join('; ')}`).join(' · ')}`);
    if (lines.length) p(...lines);
  }

  if (r.startup) {
    const base = find(r.startup.rows, OURS)?.medianMs;
    const jose = find(r.startup.rows, 'jose')?.medianMs;
    p(
      '## Start-up: import to first token / first verification',
      '',
      'In a fresh browser context each time (nothing cached): `import()` of the minified, code-split bundle (its static chunks; chunks it imports dynamically when it does), the wasm fetched, compiled and instantiated where there is one, then the first token from the client or the first verification of a token from the local server. Subjects interleaved run by run.',
    );
    p(
      table(
        ['library', 'work', 'median', 'runs (ms)', 'phases: median end, ms after import() began', 'files fetched (first run)', 'jwt-keeper client ÷ it', 'it ÷ jose'],
        r.startup.rows.map((x) => [
          x.name,
          x.work,
          `**${ms(x.medianMs)}**`,
          list(x.samplesMs, (v) => v.toFixed(0)),
          Object.entries(x.phasesMedianMs ?? {}).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' → ') || '–',
          x.files?.length ? x.files.map((f) => f.split('/').pop()).join(', ') : '–',
          x.name === OURS ? '–' : ratio(base, x.medianMs),
          x.name === 'jose' ? '–' : ratio(x.medianMs, jose),
        ]),
      ),
    );
  }

  /** A rate table; `versus`: [name, column header] of our rows the others are divided by. */
  const rateSection = (title, intro, rows, versus = [[OURS, 'jwt-keeper ÷ it']]) => {
    if (!rows) return;
    const ourRows = versus.map(([n]) => find(rows, n));
    p(`## ${title}`, '', intro);
    p(
      table(
        ['library', 'call', 'median', 'windows (interleaved with the others)', ...versus.map(([, h]) => h)],
        rows.map((x) =>
          x.median == null
            ? [x.name, '–', 'n/a', x.na ?? 'not measured', ...versus.map(() => '–')]
            : [
                x.name,
                `\`${x.call}\``,
                `**${rate(x.median)}**`,
                list(x.samples, (v) => rate(v).replace('/s', '')),
                ...versus.map(([n], i) => (x.name === n ? '–' : ratio(ourRows[i]?.median, x.median))),
              ],
        ),
      ),
    );
    const noisy = rows.filter((x) => x.networkRequests?.length);
    if (noisy.length) p(`Requests other than the page and its scripts, set-up included (there should be none): ${noisy.map((x) => `${x.name}: ${[...new Set(x.networkRequests)].join(', ')}`).join('; ')}.`);
  };
  rateSection(
    'Hot path: cached token getter',
    'Calls per second of each library\'s own cached-token getter, each call awaited, with a valid token in its store (set up offline, no request made: checked). jwt-keeper: createAuthClient + setSession with a token from the local auth server. Stores in memory for every library.',
    r.hotPath,
  );
  rateSection(
    'ES256 verification',
    'Verifications per second of one and the same token (signature and `exp`), the same token for every library, each call finished (awaited where async) before the next; keys imported/parsed once where the library lets the caller keep them (jwt-keeper verifyJwtAsync caches its WebCrypto key itself). The client subject instead cycles through 256 distinct tokens: it keeps the verdicts of 8, so the same token would never be verified again. Each verifier is first checked to reject a token with a changed signature.',
    r.verify,
    [
      [OURS_CLIENT_VERIFY, 'client ÷ it'],
      [OURS_ASYNC, 'verifyJwtAsync ÷ it'],
      [OURS_VERIFY, 'jwt-keeper/verify ÷ it'],
    ],
  );
  rateSection('Decoding', 'Decodes per second of the same token, no verification.', r.decode);

  if (r.wycheproof) {
    const w = r.wycheproof;
    const verdicts = (v) => Object.entries(v).map(([k, n]) => `${n} ${k}`).join(', ');
    p(
      '## Wycheproof P-256: WebCrypto (Chromium) vs the wasm verifier',
      '',
      `The ${w.cases} cases of \`${w.file}\` (Wycheproof ${w.wycheproofVersion ?? '?'}, ${w.groups} key groups; read from ${w.source} at run time), in one page (secure context: ${w.page?.secureContext}, crypto.subtle: ${w.page?.subtle}). ` +
        'Each case: key = the group\'s uncompressed point as a P-256 JWK, data = the message, sig = the P1363 signature (base64url), through `checkSignature` (pkg/signature.js, the client\'s WebCrypto path) and through `signatureVerdict` (pkg/verify/verifier.js, p256 in wasm). ' +
        "Agreeing with Wycheproof: `valid` → valid; `invalid` → invalid or bad_key; `acceptable` → either.",
    );
    p(
      table(
        ['cases', 'Wycheproof says', 'WebCrypto = wasm', 'WebCrypto = Wycheproof', 'wasm = Wycheproof', 'all three agree', 'WebCrypto answers', 'wasm answers'],
        [[w.cases, verdicts(w.expected), w.pathsAgree, w.webcryptoAgrees, w.wasmAgrees, `**${w.allAgree}/${w.cases}**`, verdicts(w.webcryptoVerdicts), verdicts(w.wasmVerdicts)]],
      ),
    );
    const lines = [
      `${w.refusedByCore} of the cases are signatures the client core refuses itself before WebCrypto is asked (not 64 bytes r‖s, or r or s outside [1, n): counted here by that rule, not by running the core); they were given to WebCrypto anyway: it said invalid on ${w.refusedByCoreWebcryptoInvalid} of ${w.refusedByCore} (Wycheproof: invalid on ${w.refusedByCoreExpectedInvalid}).`,
    ];
    if (w.disagreements.length) {
      lines.push('', 'Disagreements:', '');
      for (const d of w.disagreements) lines.push(`- tcId ${d.tcId} (${d.comment}; ${d.sigBytes}-byte sig): Wycheproof ${d.expected}, WebCrypto ${d.webcrypto}, wasm ${d.wasm}`);
    } else {
      lines.push('', 'No disagreement.');
    }
    if (w.errors?.length) lines.push('', `Errors: ${w.errors.join(' | ')}`);
    p(...lines);
  }

  if (r.network) {
    p(
      '## Network: refresh requests at expiry',
      '',
      `Counted at the local auth server (oauth2 style, \`POST /oauth/token\`, rotating refresh tokens). **${r.meta.plan.callers} callers**: one tab; the session is adopted while the token is good, the main thread is then frozen until just past expiry (no timer of any library can run, as in a throttled or sleeping tab), then ${r.meta.plan.callers} getter calls start in one task. **${r.meta.plan.tabs} tabs**: three pages of one browser profile; the first stores the session where the library shares it between tabs, the others start after it; every library's own timers are left running (due ~3 s before a 6 s token expires), and past expiry each tab asks for a token.`,
    );
    const row = (x, plan) =>
      x.na
        ? ['n/a', x.na]
        : [
            `**${x.requests ?? 'error'}** (${x.runs.map((y) => y.requests ?? 'error').join(', ')})`,
            x.runs
              .map((y) =>
                y.error
                  ? `error: ${y.error}`
                  : `${y.ok}/${y.callers ?? plan} ok, ${y.distinctTokens} distinct token(s)${y.gotOldToken ? ', OLD token handed out' : ''}` +
                    `${y.outcomes ? `, server: ${Object.entries(y.outcomes).map(([k, v]) => `${v} ${k}`).join(' + ')}` : ''}${y.errors?.length ? `, errors: ${y.errors.join('; ')}` : ''}`,
              )
              .join(' · '),
          ];
    const names = [...new Set([...r.network.concurrent.map((x) => x.name), ...r.network.tabs.map((x) => x.name)])];
    p(
      table(
        ['library', `${r.meta.plan.callers} callers: requests (median, runs)`, 'details', `${r.meta.plan.tabs} tabs: requests (median, runs)`, 'details'],
        names.map((n) => {
          const c = find(r.network.concurrent, n);
          const t = find(r.network.tabs, n);
          if (c?.na && t?.na && c.na === t.na) return [n, 'n/a', c.na, 'n/a', ''];
          return [n, ...row(c ?? { na: 'not run' }, r.meta.plan.callers), ...row(t ?? { na: 'not run' }, r.meta.plan.tabs)];
        }),
      ),
    );
    p(
      'How each was driven: jwt-keeper `getAccessToken()` (crossTab on, `persist: \'local\'` for tabs); oidc-client-ts `getUser()` then `signinSilent()` (refresh_token grant) when `user.expired` ' +
        '(it has no single-flight getter), tabs with `automaticSilentRenew` and a localStorage user store; okta-auth-js `getOrRenewAccessToken()` (tokens seeded with `tokenUrl` on the local server), ' +
        'tabs with localStorage, `autoRenew` and `syncStorage` services started (leader election).',
    );
  }

  if (r.memory) {
    const mm = r.memory;
    p(
      '## Memory: jwt-keeper after refresh cycles',
      '',
      `One client (createAuthClient, oauth2 against the local server, crossTab off for the loop), ${mm.warmupCycles} warm-up refreshes, then ${mm.cycles.toLocaleString('en-US')} forced \`refresh()\` cycles (request, verification, adoption). ` +
        'JS heap: CDP `Runtime.getHeapUsage` after `HeapProfiler.collectGarbage`; wasm: `memory.buffer.byteLength` of the client core wasm (the exports `init()` of `jwt_keeper_core.js` resolves to; the verifier wasm is not loaded by the client).',
    );
    p(table(['cycles after warm-up', 'wasm memory', 'JS heap used', 'JS heap total'], mm.checkpoints.map((c) => [c.cycles.toLocaleString('en-US'), `${c.wasmBytes.toLocaleString('en-US')} B`, `${c.jsUsed.toLocaleString('en-US')} B`, `${c.jsTotal.toLocaleString('en-US')} B`])));
    const lines = [`${mm.failures} refreshes failed${mm.lastError ? ` (last: ${mm.lastError})` : ''}; ${ms(mm.msPerCycle)} per cycle; still authenticated at the end: ${mm.authenticatedAtEnd}.`];
    if (mm.refreshLatency) {
      const l = mm.refreshLatency;
      lines.push(
        '',
        `refresh() latency (not a target; median of spaced calls / average of back-to-back calls): crossTab on ${ms(l.crossTabOn.median)} / ${ms(l.crossTabOn.backToBackMs)}, ` +
          `crossTab off ${ms(l.crossTabOff.median)} / ${ms(l.crossTabOff.backToBackMs)}. With crossTab on, each refresh takes a Web Lock and keeps it a moment after finishing so that the other tabs see the result first; back-to-back refreshes wait for it.`,
      );
    }
    p(...lines);
  }

  const notes = [];
  for (const [k, rows] of [['hot path', r.hotPath], ['verify', r.verify], ['decode', r.decode]]) for (const x of rows ?? []) if (x.na) notes.push(`${k}, ${x.name}: ${x.na}`);
  for (const x of r.network?.concurrent ?? []) if (x.na) notes.push(`network, ${x.name}: ${x.na}`);
  notes.push(
    'hot path, @auth0/auth0-spa-js: its memory cache has no public way to be filled without a login at a real Auth0 tenant; it is seeded through the client\'s internal `cacheManager` with the entry its own code-exchange path stores (the access token stands in for the ID token).',
    'hot path and network, peers: access-token expiry is what each library believes (its stored `expires_at`/`expiresAt`); none of them verifies the access token, jwt-keeper verifies it before adopting it.',
    'jose and jsrsasign have no session/refresh logic, jwt-decode has no verification: they appear only where they apply.',
    "network, @okta/okta-auth-js: the local server's token answer has no `scope` (RFC 6749 allows leaving it out when unchanged); okta-auth-js then stores the renewed refresh token without `scopes`, and a later renew from that store throws `TypeError … reading 'join'` before sending anything. A failed okta tab run shows that error in its details.",
    'the machine is shared: other work running at the same time shows up as single slow windows (the medians absorb some of it) and in the load averages above.',
  );
  const errs = [...(r.startup?.errors ?? []), ...(r.memory?.errors ?? [])];
  for (const rows of [r.hotPath, r.verify, r.decode]) for (const x of rows ?? []) errs.push(...(x.errors ?? []));
  if (errs.length) notes.push(`page errors seen: ${[...new Set(errs)].slice(0, 5).join(' | ')}`);
  p('## Not measured, and caveats', '', ...notes.map((n) => `- ${n}`));

  p('## Versions', '', table(['package', 'version'], Object.entries(m.versions)));
  p(
    '## Run',
    '',
    `${Object.entries(m.timingsSeconds ?? {}).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')}; bench.mjs total ${m.totalSeconds?.toFixed(0)} s.`,
  );
  return `${out.join('\n').trimEnd()}\n`;
}

// --- SVG ----------------------------------------------------------------------------------------

const W = 900;
const LABEL_W = 230;
const BAR_W = 440;
const ROW_H = 22;
const OURS_FILL = '#c2410c';
const PEER_FILL = '#64748b';
const xml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** One horizontal bar chart; rows: [{ label, value, text, ours, parts? }]. */
function panel(y, title, subtitle, rows, { log = false } = {}) {
  const parts = [];
  const max = Math.max(...rows.map((r) => r.value ?? 0), 1e-9);
  const min = log ? Math.max(Math.min(...rows.filter((r) => r.value > 0).map((r) => r.value)) / 2, 1e-9) : 0;
  const scale = (v) => {
    if (!(v > 0)) return 0;
    if (!log) return (v / max) * BAR_W;
    return (Math.log(v / min) / Math.log(max / min)) * BAR_W;
  };
  parts.push(`<text x="10" y="${y + 18}" class="t">${xml(title)}</text>`);
  parts.push(`<text x="10" y="${y + 34}" class="s">${xml(subtitle)}${log ? ' (log scale)' : ''}</text>`);
  let yy = y + 46;
  for (const r of rows) {
    parts.push(`<text x="${LABEL_W - 8}" y="${yy + 15}" class="l" text-anchor="end">${xml(r.label)}</text>`);
    if (r.value == null) {
      parts.push(`<text x="${LABEL_W + 4}" y="${yy + 15}" class="na">${xml(r.text)}</text>`);
    } else if (r.parts) {
      let x = LABEL_W;
      for (const part of r.parts) {
        const w = scale(r.value) * (part.value / r.value);
        parts.push(`<rect x="${x.toFixed(1)}" y="${yy + 3}" width="${w.toFixed(1)}" height="${ROW_H - 6}" fill="${part.fill}"><title>${xml(part.label)}</title></rect>`);
        x += w;
      }
      parts.push(`<text x="${(x + 6).toFixed(1)}" y="${yy + 15}" class="v">${xml(r.text)}</text>`);
    } else {
      const w = Math.max(scale(r.value), 1);
      parts.push(`<rect x="${LABEL_W}" y="${yy + 3}" width="${w.toFixed(1)}" height="${ROW_H - 6}" fill="${r.ours ? OURS_FILL : PEER_FILL}"/>`);
      parts.push(`<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${yy + 15}" class="v">${xml(r.text)}</text>`);
    }
    yy += ROW_H;
  }
  return { svg: parts.join('\n'), height: yy - y + 14 };
}

export function renderSvg(r) {
  const panels = [];
  const isOurs = (n) => n === OURS || n === OURS_ASYNC || n === OURS_VERIFY || n === OURS_CLIENT_VERIFY;
  if (r.sizes) {
    panels.push([
      `Start-up bytes, gzip -9 (smaller is better; target ${kb(START_UP_TARGET_GZIP)})`,
      'code-split esbuild bundle: entry chunk + static imports; jwt-keeper: JS + .wasm (darker part: wasm)',
      [...r.sizes]
        .sort((a, b) => a.total.gzip - b.total.gzip)
        .map((s) => ({
          label: s.name,
          value: s.total.gzip,
          text: kb(s.total.gzip),
          ours: isOurs(s.name),
          parts: s.wasm
            ? [
                { value: s.wasm.gzip, fill: '#7c2d12', label: `wasm ${kb(s.wasm.gzip)}` },
                { value: s.js.gzip, fill: OURS_FILL, label: `JS ${kb(s.js.gzip)}` },
              ]
            : undefined,
        })),
      {},
    ]);
  }
  if (r.startup) {
    panels.push([
      'Start-up: import to first token / verification (lower is better)',
      'median of cold starts in fresh browser contexts',
      r.startup.rows.map((x) => ({ label: x.name, value: x.medianMs, text: ms(x.medianMs), ours: isOurs(x.name) })),
      {},
    ]);
  }
  const rates = (rows) => rows.map((x) => ({ label: x.name, value: x.median ?? null, text: x.median == null ? `n/a: ${String(x.na).slice(0, 70)}` : rate(x.median), ours: isOurs(x.name) }));
  if (r.hotPath) panels.push(['Cached token getter, calls/s (higher is better)', 'each call awaited; valid token in the library\'s memory store', rates(r.hotPath), {}]);
  if (r.verify) panels.push(['ES256 verifications/s (higher is better)', 'the same token for all, signature + exp', rates(r.verify), {}]);
  if (r.decode) panels.push(['Decodes/s (higher is better)', 'one token, no verification', rates(r.decode), {}]);
  if (r.wycheproof) {
    const w = r.wycheproof;
    panels.push([
      `Wycheproof P-256, ${w.cases} cases (all should agree)`,
      'WebCrypto (Chromium) through checkSignature vs p256 in wasm through signatureVerdict',
      [
        ['WebCrypto = wasm', w.pathsAgree],
        ['WebCrypto = Wycheproof', w.webcryptoAgrees],
        ['wasm = Wycheproof', w.wasmAgrees],
      ].map(([label, n]) => ({ label, value: n, text: `${n}/${w.cases}`, ours: true })),
      {},
    ]);
  }
  if (r.network) {
    const rows = [];
    for (const [key, label] of [['concurrent', `${r.meta.plan.callers} callers`], ['tabs', `${r.meta.plan.tabs} tabs`]]) {
      for (const x of r.network[key].filter((y) => !y.na)) {
        const expected = key === 'tabs' ? r.meta.plan.tabs : r.meta.plan.callers;
        const bad = x.runs.filter((y) => y.error || y.ok !== expected).length;
        const text = `${x.requests} request(s)${bad ? ` (${bad} of ${x.runs.length} runs: callers failed)` : ''}`;
        rows.push({ label: `${x.name}, ${label}`, value: x.requests, text, ours: isOurs(x.name) });
      }
    }
    panels.push(['Refresh requests at expiry (1 is the goal)', 'counted at the local auth server; median of runs', rows, {}]);
  }
  if (r.memory) {
    panels.push([
      'jwt-keeper memory after refresh cycles',
      'JS heap used after GC, per checkpoint (wasm memory alongside)',
      r.memory.checkpoints.map((c) => ({ label: `${c.cycles.toLocaleString('en-US')} cycles`, value: c.jsUsed, text: `JS ${kb(c.jsUsed)}, wasm ${kb(c.wasmBytes)}`, ours: true })),
      {},
    ]);
  }
  let y = 10;
  const body = [];
  for (const [title, subtitle, rows, opts] of panels) {
    const p = panel(y, title, subtitle, rows, opts);
    body.push(p.svg);
    y += p.height;
  }
  const height = y + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">
<style>
.t { font-size: 15px; font-weight: 600; fill: #0f172a; }
.s { font-size: 11px; fill: #475569; }
.l { font-size: 12px; fill: #1e293b; }
.v { font-size: 12px; fill: #0f172a; }
.na { font-size: 11px; fill: #94a3b8; font-style: italic; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
${body.join('\n')}
</svg>
`;
}
