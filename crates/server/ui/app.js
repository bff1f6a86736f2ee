// verimath web UI: the run list and problem box (index.html), and the live view of
// one run (job.html): the proof pool by round, each proof with its verifications and
// meta-verdicts, a step-by-step view of the best proof with the verifiers' remarks
// beside the steps, and the lineage of refined proofs. Markdown goes through marked,
// then DOMPurify (model output is untrusted), and LaTeX through KaTeX.
"use strict";
const verimath = (() => {
  const key = () => localStorage.getItem("verimath-key") || "";
  async function api(path, options = {}) {
    const headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
    if (key()) headers.Authorization = "Bearer " + key();
    const r = await fetch(path, Object.assign({}, options, { headers }));
    if (r.status === 401) {
      const k = prompt("This server needs its API key:");
      if (k) { localStorage.setItem("verimath-key", k); return api(path, options); }
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
    return body;
  }
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  // Markdown with LaTeX: math spans are cut out before Markdown sees them (so `_`
  // and `*` inside formulas survive), rendered by KaTeX, and put back.
  function render(text) {
    if (!text) return "";
    const math = [];
    const hold = (tex, display) => { math.push({ tex, display }); return `@@MATH${math.length - 1}@@`; };
    let src = String(text)
      .replace(/\$\$([\s\S]+?)\$\$/g, (_, t) => hold(t, true))
      .replace(/\\\[([\s\S]+?)\\\]/g, (_, t) => hold(t, true))
      .replace(/\\\(([\s\S]+?)\\\)/g, (_, t) => hold(t, false))
      .replace(/(^|[^\\$])\$([^\s$](?:[^$\n]*?[^\s$])?)\$/g, (_, pre, t) => pre + hold(t, false));
    let html = window.marked ? marked.parse(src) : esc(src);
    html = html.replace(/@@MATH(\d+)@@/g, (whole, i) => {
      const m = math[Number(i)];
      if (!m) return whole; // a placeholder the text itself contained
      try { return katex.renderToString(m.tex, { displayMode: m.display, throwOnError: false, output: "html" }); }
      catch (e) { return esc(m.tex); }
    });
    // Sanitise last, over the finished HTML: nothing is inserted after it.
    return window.DOMPurify ? DOMPurify.sanitize(html) : esc(text);
  }
  const scoreClass = (s) => (s == null ? "" : s >= 1 ? "s1" : s >= 0.5 ? "s05" : "s0");
  const badge = (s, label) => `<span class="badge ${scoreClass(s)}">${label ? esc(label) + " " : ""}${s == null ? "–" : (+s).toFixed(2).replace(/\.?0+$/, "") || "0"}</span>`;

  // ---------- index page ----------
  async function listJobs() {
    const body = document.querySelector("#jobs tbody");
    try {
      const { jobs } = await api("/api/jobs");
      body.innerHTML = jobs.map((j) => `<tr><td><a href="/jobs/${encodeURIComponent(j.id)}">${esc(j.id)}</a></td>
        <td>${esc(j.kind)}</td><td class="state-${esc(j.state)}">${esc(j.state)}</td>
        <td>${esc((j.problem || "").slice(0, 90))}</td>
        <td>${j.samples ? `${j.samples.proofs} / ${j.samples.verifications} / ${j.samples.metas}` : ""}</td></tr>`).join("")
        || `<tr><td colspan=5 class="muted">no runs yet</td></tr>`;
    } catch (e) { body.innerHTML = `<tr><td colspan=5 class="error">${esc(e.message)}</td></tr>`; }
  }
  function indexPage() {
    const num = (id) => { const v = document.getElementById(id).value; return v === "" ? undefined : Number(v); };
    const submit = async (path, body) => {
      const message = document.getElementById("message");
      message.textContent = "";
      body.problem = document.getElementById("problem").value;
      try { const { id } = await api(path, { method: "POST", body: JSON.stringify(body) }); location.href = "/jobs/" + encodeURIComponent(id); }
      catch (e) { message.textContent = e.message; }
    };
    document.getElementById("prove").onclick = () => submit("/api/prove", {
      proofs: num("proofs"), verifications: num("verifications"), rounds: num("rounds"), meta: document.getElementById("meta").checked });
    document.getElementById("solve").onclick = () => submit("/api/solve", {
      samples: num("samples"), verify: num("verify"), gold: document.getElementById("gold").value || undefined });
    listJobs();
    setInterval(listJobs, 5000);
  }

  // ---------- job page ----------
  const state = { id: null, job: null, data: null, view: "search", open: new Set() };

  function pool(data) {
    const proofs = data.samples.filter((s) => s.kind === "proof");
    const byTarget = {};
    for (const s of data.samples) if (s.target_id) (byTarget[s.target_id] = byTarget[s.target_id] || []).push(s);
    const meta = !!(data.search && data.search.meta);
    for (const p of proofs) {
      p.verifications = (byTarget[p.id] || []).filter((s) => s.kind === "verification");
      for (const v of p.verifications) {
        v.metas = (byTarget[v.id] || []).filter((s) => s.kind === "meta");
        // With meta-verification, a critique judged unreasonable (0) is set aside.
        v.counted = !(meta && v.metas.some((m) => m.status === "ok" && m.score === 0));
      }
      const scored = p.verifications.filter((v) => v.counted);
      p.mean = scored.length ? scored.reduce((a, v) => a + (v.status === "ok" && v.score != null ? v.score : 0), 0) / scored.length : null;
      p.passed = scored.length > 0 && scored.every((v) => v.status === "ok" && v.score === 1);
    }
    proofs.sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1) || a.round - b.round || a.idx - b.idx);
    return proofs;
  }

  function proofCard(p, best) {
    const open = state.open.has(p.id) ? " open" : "";
    const verifs = p.verifications.map((v) => `<div class="verif v${String(v.score ?? 0).replace(".", "")}">
        <div>${badge(v.status === "ok" ? v.score : null, "score")} <span class="muted">${esc(v.id)}${v.counted ? "" : " · set aside by the meta-verifier"}${v.status !== "ok" ? " · " + esc(v.reason) : ""}</span></div>
        <div class="md">${render(v.text)}</div>
        ${v.metas.map((m) => `<div class="muted">meta-verdict ${badge(m.score)} ${esc((m.text || "").slice(0, 300))}</div>`).join("")}
      </div>`).join("");
    return `<details class="card${best ? " best" : ""}" data-id="${esc(p.id)}"${open}>
      <summary>${badge(p.mean, "mean")} <b>${esc(p.id)}</b>
        <span class="muted">round ${p.round}${p.parent_ids.length ? " · refined from " + p.parent_ids.map(esc).join(", ") : ""}
        · ${p.verifications.length} verifications · self-evaluation ${p.score ?? "–"}${p.status !== "ok" ? " · " + esc(p.reason) : ""}</span>
        ${p.passed ? '<span class="badge s1">passed every verification</span>' : ""}</summary>
      <h4>Proof</h4><div class="md">${render(p.body || p.text)}</div>
      ${p.self_eval ? `<h4>Self-evaluation</h4><div class="md">${render(p.self_eval)}</div>` : ""}
      <h4>Verifications</h4>${verifs || '<p class="muted">none yet</p>'}
    </details>`;
  }

  function renderSolve(job) {
    const r = job.result;
    if (!r || !r.groups) return '<p class="muted">waiting for solutions…</p>';
    const n = r.samples.length;
    const rows = r.groups.map((g, i) => `<tr><td class="md">${render("$" + g.answer + "$")}</td><td>${g.members.length} of ${n}</td>
      <td><div class="bar" style="width:${Math.round(100 * g.members.length / Math.max(n, 1))}%"></div></td><td>${g.weight.toFixed(2)}</td>
      <td>${i === r.majority ? "majority " : ""}${i === r.weighted ? "weighted" : ""}</td></tr>`).join("");
    const verdict = (ok) => (ok === true ? '<span class="badge s1">correct</span>' : ok === false ? '<span class="badge s0">wrong</span>' : "");
    return `<h2>Answers</h2>
      <p>majority: <b>${esc(r.answer ?? "none")}</b> ${verdict(r.correct)} · verification-weighted: <b>${esc(r.weighted_answer ?? "none")}</b> ${verdict(r.weighted_correct)}${r.gold ? ` · gold ${esc(r.gold)}` : ""}</p>
      <table><thead><tr><th>answer</th><th>votes</th><th></th><th>weight</th><th>chosen by</th></tr></thead><tbody>${rows}</tbody></table>
      <h2>Solutions</h2>${r.samples.map((s) => `<details class="card"><summary>${badge(s.mean_score, "verified")} <b>${esc(s.id)}</b>
        <span class="muted">answer ${esc(s.answer ?? "none")} · self-evaluation ${s.self_score ?? "–"}</span></summary><div class="md">${render(s.text)}</div></details>`).join("")}`;
  }

  function renderSearch() {
    const el = document.getElementById("view-search");
    if (state.job && state.job.kind === "solve") { el.innerHTML = renderSolve(state.job); return; }
    const proofs = pool(state.data);
    const best = proofs.find((p) => p.mean != null);
    if (best && state.openBest) { state.open.add(best.id); state.openBest = false; }
    const rounds = [...new Set(proofs.map((p) => p.round))].sort((a, b) => a - b);
    el.innerHTML = rounds.map((r) => `<h2>Round ${r}</h2>` + proofs.filter((p) => p.round === r).map((p) => proofCard(p, p === best)).join("")).join("")
      || '<p class="muted">waiting for the first proofs…</p>';
    el.querySelectorAll("details[data-id]").forEach((d) => d.addEventListener("toggle", () => {
      if (d.open) state.open.add(d.dataset.id); else state.open.delete(d.dataset.id);
    }));
  }

  // Split a proof into steps: paragraphs, list items and display formulas stay with
  // the text they belong to; a heading joins the paragraph after it.
  function steps(text) {
    const blocks = String(text || "").split(/\n\s*\n/).map((b) => b.trim()).filter(Boolean);
    const out = [];
    for (const b of blocks) {
      const last = out[out.length - 1];
      if (last && (/^#{1,6}\s/.test(last) && last.split("\n").length === 1 || /^\s*(\\\[|\$\$)/.test(b))) out[out.length - 1] = last + "\n\n" + b;
      else out.push(b);
    }
    return out;
  }
  const words = (s) => new Set(String(s).toLowerCase().replace(/\\[a-z]+/g, " ").match(/[a-z0-9]{3,}/g) || []);

  // Each remark of a verification goes beside the step it quotes or shares the most
  // words with; remarks that match no step are listed after the proof.
  function renderTutor() {
    const el = document.getElementById("view-tutor");
    const proofs = state.job && state.job.kind === "solve" ? [] : pool(state.data);
    const best = proofs.find((p) => p.mean != null) || proofs[0];
    if (!best) { el.innerHTML = '<p class="muted">no proof yet</p>'; return; }
    const parts = steps(best.body || best.text);
    const stepWords = parts.map(words);
    const beside = parts.map(() => []);
    const general = [];
    for (const v of best.verifications) {
      const remarks = String(v.text || "").split(/\n\s*\n|\n(?=\s*(?:[-*]|\d+[.)])\s)/).map((r) => r.trim()).filter((r) => r.length > 20);
      for (const r of remarks) {
        const quoted = (r.match(/["“`]([^"”`]{12,})["”`]/) || [])[1];
        let at = quoted ? parts.findIndex((p) => p.includes(quoted.trim())) : -1;
        if (at < 0) {
          const w = words(r);
          let bestScore = 0;
          stepWords.forEach((sw, i) => {
            let common = 0;
            for (const x of w) if (sw.has(x)) common++;
            const score = common / Math.sqrt(sw.size + 1);
            if (score > bestScore) { bestScore = score; at = i; }
          });
          if (bestScore < 0.6) at = -1;
        }
        const item = { text: r, score: v.status === "ok" ? v.score : null, id: v.id };
        if (at >= 0) beside[at].push(item); else general.push(item);
      }
    }
    const remark = (m) => `<div class="remark r${String(m.score ?? "").replace(".", "")}">${badge(m.score)} <span class="muted">${esc(m.id.split("/").pop())}</span><div class="md">${render(m.text)}</div></div>`;
    el.innerHTML = `<p class="muted">The best proof, <b>${esc(best.id)}</b> (mean score ${best.mean == null ? "–" : best.mean.toFixed(2)}), step by step; each verifier remark sits beside the step it is about.</p>
      <div class="steps">${parts.map((p, i) => `<div class="step"><div class="n">step ${i + 1}</div><div class="md">${render(p)}</div></div><div class="remarks">${beside[i].map(remark).join("")}</div>`).join("")}</div>
      ${general.length ? `<h2>Remarks on the whole proof</h2>${general.map(remark).join("")}` : ""}`;
  }

  // The lineage: one column per round, one node per proof coloured by its mean score,
  // an edge from each proof to the proofs refined from it.
  function renderLineage() {
    const el = document.getElementById("view-lineage");
    const proofs = state.job && state.job.kind === "solve" ? [] : pool(state.data);
    if (!proofs.length) { el.innerHTML = '<p class="muted">no proofs yet</p>'; return; }
    const rounds = [...new Set(proofs.map((p) => p.round))].sort((a, b) => a - b);
    const colW = 170, rowH = 34, pad = 30;
    const pos = {};
    let rows = 0;
    rounds.forEach((r, c) => {
      proofs.filter((p) => p.round === r).sort((a, b) => a.idx - b.idx).forEach((p, i) => { pos[p.id] = { x: pad + c * colW, y: pad + i * rowH }; rows = Math.max(rows, i + 1); });
    });
    const colour = (m) => (m == null ? "#cbd5e1" : m >= 1 ? "#16a34a" : m >= 0.5 ? "#d97706" : "#dc2626");
    const edges = proofs.flatMap((p) => p.parent_ids.filter((q) => pos[q]).map((q) =>
      `<path d="M${pos[q].x + 8},${pos[q].y} C${pos[q].x + colW / 2},${pos[q].y} ${pos[p.id].x - colW / 2},${pos[p.id].y} ${pos[p.id].x - 8},${pos[p.id].y}" stroke="#94a3b8" fill="none"/>`));
    const nodes = proofs.map((p) => `<g><circle cx="${pos[p.id].x}" cy="${pos[p.id].y}" r="8" fill="${colour(p.mean)}"><title>${esc(p.id)}: mean ${p.mean ?? "–"}</title></circle>
      <text x="${pos[p.id].x + 12}" y="${pos[p.id].y + 4}">${esc(p.id.split("/").slice(-2).join("/"))} ${p.mean == null ? "" : p.mean.toFixed(2)}</text></g>`);
    const heads = rounds.map((r, c) => `<text x="${pad + c * colW - 8}" y="14" font-weight="bold">round ${r}</text>`);
    const w = pad * 2 + rounds.length * colW, h = pad + rows * rowH;
    el.innerHTML = `<svg class="lineage" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${heads.join("")}${edges.join("")}${nodes.join("")}</svg>
      <p class="muted">Green: passed every verification; amber: mean ≥ 0.5; red: below; grey: not verified.</p>`;
  }

  function renderAll() {
    const j = state.job;
    document.getElementById("state").textContent = j.state;
    document.getElementById("state").className = "tag state-" + j.state;
    const question = (state.data.problems[0] || {}).question || j.problem || "";
    document.getElementById("problem").innerHTML = render(question);
    const c = j.samples || {};
    const r = j.result || {};
    document.getElementById("summary").textContent = `${j.kind} · ${c.proofs ?? 0} proofs · ${c.verifications ?? 0} verifications · ${c.metas ?? 0} meta-verifications`
      + (r.stop ? ` · stopped: ${r.stop}` : "") + (r.solved ? " · solved" : "");
    renderSearch();
    if (state.view === "tutor") renderTutor();
    if (state.view === "lineage") renderLineage();
  }

  async function refresh() {
    const [job, data] = await Promise.all([api(`/api/jobs/${encodeURIComponent(state.id)}`), api(`/api/jobs/${encodeURIComponent(state.id)}/samples`)]);
    state.job = job; state.data = data;
    renderAll();
  }

  function jobPage() {
    state.id = decodeURIComponent(location.pathname.split("/").pop());
    document.getElementById("jobid").textContent = state.id;
    document.querySelectorAll("#tabs button").forEach((b) => (b.onclick = () => {
      state.view = b.dataset.view;
      document.querySelectorAll("#tabs button").forEach((x) => x.classList.toggle("on", x === b));
      for (const v of ["search", "tutor", "lineage"]) document.getElementById("view-" + v).hidden = v !== state.view;
      renderAll();
    }));
    // #tutor or #lineage opens that view; #best opens the best proof's card.
    const wanted = location.hash.slice(1);
    const tab = document.querySelector(`#tabs button[data-view="${wanted}"]`);
    if (tab) tab.click();
    state.openBest = wanted === "best";
    let timer = null;
    const soon = () => { if (!timer) timer = setTimeout(() => { timer = null; refresh().catch(() => {}); }, 400); };
    refresh().catch((e) => { document.getElementById("problem").innerHTML = `<p class="error">${esc(e.message)}</p>`; });
    const events = new EventSource(`/api/jobs/${encodeURIComponent(state.id)}/events` + (key() ? "?key=" + encodeURIComponent(key()) : ""));
    events.onmessage = soon;
    for (const name of ["round_started", "sample_done", "best_so_far", "problem_done", "request_failed", "queued", "resumed"]) events.addEventListener(name, soon);
    events.addEventListener("done", () => { events.close(); refresh().catch(() => {}); });
  }

  return { indexPage, jobPage, render };
})();
