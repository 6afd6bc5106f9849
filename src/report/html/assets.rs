//! The page's inline style sheet and script (the page loads nothing else).

/// Opens the comparison of a paragraph reached by a link; opens all or none on request;
/// toggles review mode (only recycled paragraphs, comparisons open; `#review` on load).
pub const JS: &str = r#"
(function () {
  var d = document, body = d.body;
  function all(open) {
    var list = d.querySelectorAll("details.cmp");
    for (var i = 0; i < list.length; i++) list[i].open = open;
  }
  function review(on) {
    body.classList.toggle("review", on);
    d.getElementById("nd-review").setAttribute("aria-pressed", on ? "true" : "false");
    all(on);
  }
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (id === "review") { review(true); return; }
    var t = id && d.getElementById(id);
    var c = t && t.querySelector("details.cmp");
    if (c) c.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  d.getElementById("nd-review").addEventListener("click", function () {
    review(!body.classList.contains("review"));
  });
  d.getElementById("nd-open").addEventListener("click", function () { all(true); });
  d.getElementById("nd-close").addEventListener("click", function () { all(false); });
})();
"#;

pub const CSS: &str = r#"
:root {
  --paper: #f5f3ee; --card: #fff; --ink: #1d232b; --muted: #66707c; --rule: #e2ded5;
  --accent: #27405f;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB",
    "Microsoft YaHei", "Noto Sans CJK JP", "Noto Sans CJK KR", sans-serif;
  --serif: "Iowan Old Style", "Charter", "Source Serif 4", Georgia, "Noto Serif CJK SC",
    "Source Han Serif SC", "Songti SC", "SimSun", "Noto Sans CJK SC", serif;
}
* { box-sizing: border-box; }
html { scroll-padding-top: 6rem; }
body { margin: 0; background: var(--paper); color: var(--ink); font: 15px/1.55 var(--sans); }
a { color: var(--accent); }
.layout { display: grid; grid-template-columns: 340px minmax(0, 1fr); align-items: start; }
.panel { position: sticky; top: 0; max-height: 100vh; overflow-y: auto; padding: 1.4rem 1.3rem 2rem;
  border-right: 1px solid var(--rule); background: #fbfaf7; }
.brand { margin: 0; font-size: .72rem; letter-spacing: .12em; text-transform: uppercase; color: var(--muted); }
h1 { font: 600 1.35rem/1.3 var(--serif); margin: .35rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: .78rem; letter-spacing: .08em; text-transform: uppercase; color: var(--muted);
  margin: 1.5rem 0 .6rem; border-bottom: 1px solid var(--rule); padding-bottom: .3rem; }
h2 small { text-transform: none; letter-spacing: 0; font-weight: 400; }
.stats { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; margin: 0; }
.stats div { background: var(--card); border: 1px solid var(--rule); border-radius: 8px; padding: .55rem .7rem; }
.stats dt { font-size: .72rem; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; }
.stats dd { margin: 0; font: 600 1.45rem/1.2 var(--serif); }
.stats small { display: block; font: 400 .72rem/1.3 var(--sans); color: var(--muted); }
.kinds { font-size: .82rem; margin: .8rem 0 0; line-height: 2; }
.kind { display: inline-block; font: 600 .66rem/1.5 var(--sans); letter-spacing: .06em; text-transform: uppercase;
  padding: 0 .4rem; border-radius: 3px; border: 1px solid transparent; vertical-align: .1em; }
.k-exact { background: #7a1f2b; color: #fff; }
.k-near { background: #f3c969; color: #3b2a00; }
.k-partial { background: #fff; color: #1e5d63; border-color: #1e5d63; }
.k-edited { background: #fff; color: #6b3fa0; border-color: #6b3fa0; border-style: dotted; }
.k-short { background: #fff; color: var(--muted); border: 1px dashed #9aa1a9; }
.k-orig { background: #e8edf4; color: var(--accent); }
.sources, .passages { list-style: none; margin: 0; padding: 0; font-size: .86rem; }
.sources li, .passages li { display: grid; grid-template-columns: auto 1fr; gap: .15rem .5rem; align-items: center; margin-bottom: .55rem; }
.sources a, .sources li > span[title], .passages a { overflow-wrap: anywhere; }
.amount { grid-column: 2; font-size: .74rem; color: var(--muted); }
.bar { grid-column: 1 / 3; height: 6px; background: #ebe7df; border-radius: 3px; overflow: hidden; }
.bar span { display: block; height: 100%; background: var(--line); }
.tag { display: inline-block; font: 700 .7rem/1.45 var(--sans); padding: 0 .35rem; border-radius: 3px;
  background: var(--bg); color: var(--dark); border: 2px var(--style) var(--line); }
.map-name { margin: .6rem 0 .3rem; font-size: .8rem; }
.map { display: flex; flex-wrap: wrap; gap: 2px; }
.cell { width: 11px; height: 11px; border-radius: 2px; background: #dedad2; display: block; }
.cell.rec { background-color: var(--line); }
.cell.rec.t1 { background-image: linear-gradient(#fff 0 0); background-size: 100% 2px; background-position: 0 50%; background-repeat: no-repeat; }
.cell.rec.t2 { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.75) 0 2px, transparent 2px 5px); }
.cell.rec.t3 { background-image: radial-gradient(#fff 1.2px, transparent 1.3px); background-size: 5px 5px; }
.cell.short { background: #fff; border: 1px dashed #9aa1a9; }
.cell.orig { background: #fff; border: 2px solid var(--accent); }
.cell:hover { outline: 2px solid var(--ink); }
.legend { padding-left: 1rem; font-size: .8rem; color: #3a424c; margin: 0; }
.legend li { margin-bottom: .45rem; }
.tools button { font: 500 .76rem var(--sans); padding: .3rem .55rem; border: 1px solid #c9c3b8; border-radius: 6px;
  background: var(--card); color: var(--ink); cursor: pointer; }
.tools { margin: .8rem 0 0; display: flex; flex-wrap: wrap; gap: .4rem; }
.tools button:hover { background: #f0ede6; }
.tools button[aria-pressed="true"] { background: var(--accent); color: #fff; border-color: var(--accent); }
.review .para:not(.rec) { display: none; }
.review .para.rec > .body > .txt, .review .chips, .review .doc.no-rec,
.review details.cmp > summary { display: none; }
.review .pair:first-of-type { margin-top: 0; }
main { padding: 1.4rem 2rem 4rem; min-width: 0; }
.doc { max-width: 1060px; margin: 0 auto 2.5rem; }
.doc-head { position: sticky; top: 0; z-index: 2; background: var(--paper); padding: .4rem 0 .5rem;
  border-bottom: 2px solid var(--ink); margin-bottom: .8rem; }
.doc-head h2 { font: 600 1.25rem/1.3 var(--serif); color: var(--ink); text-transform: none; letter-spacing: 0;
  margin: 0; border: 0; padding: 0; }
.path { margin: 0; font-size: .75rem; color: var(--muted); overflow-wrap: anywhere; }
.meta { margin: .1rem 0 0; font-size: .82rem; color: #3a424c; }
.para { display: grid; grid-template-columns: 5.2rem minmax(0, 1fr); gap: .9rem; padding: .55rem .9rem .55rem .6rem;
  margin: 0 0 .35rem; border-left: 4px solid transparent; border-radius: 4px;
  content-visibility: auto; contain-intrinsic-size: auto 90px; }
.para.rec { background: var(--card); border-left: 5px var(--style) var(--line); box-shadow: 0 1px 2px rgba(0,0,0,.05); }
.para.short { border-left: 3px dashed #b3b8bf; }
.para.short .txt { color: var(--muted); }
.para.orig { border-left: 4px solid #b9c6d8; }
.para:target { outline: 3px solid #e0a526; outline-offset: 2px; }
.gutter .kind { white-space: nowrap; }
.gutter { font-size: .74rem; color: var(--muted); display: flex; flex-direction: column; align-items: flex-start; gap: .2rem; padding-top: .2rem; }
.pn { font-weight: 700; color: var(--ink); text-decoration: none; font-size: .82rem; }
.pn:hover { text-decoration: underline; }
.txt { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font: 1rem/1.8 var(--serif); }
.hd .txt { font-weight: 700; font-size: 1.12rem; }
.chips { margin: 0 0 .3rem; display: flex; flex-wrap: wrap; gap: .35rem .9rem; font-size: .8rem; }
.chip { white-space: nowrap; }
.src { text-decoration: none; }
.src:hover { text-decoration: underline; }
.score { color: var(--muted); font-variant-numeric: tabular-nums; }
.reused { margin: .35rem 0 0; font-size: .78rem; color: var(--muted); }
mark { color: inherit; }
mark.hl { background: var(--bg); text-decoration: underline 2px var(--style) var(--line); text-underline-offset: .3em;
  text-decoration-skip-ink: none; border-radius: 2px; }
mark.hl[data-tag]::before { content: attr(data-tag); font: 700 .62rem/1 var(--sans); color: #fff; background: var(--dark);
  padding: .1rem .25rem; border-radius: 3px; margin-right: .25rem; vertical-align: .3em; }
details.cmp { margin-top: .5rem; }
.passage-views { margin-bottom: 1.5rem; }
.passage-view { border: 1px solid var(--rule); border-radius: 6px; background: var(--card); padding: .6rem .8rem; margin-top: .6rem; }
.passage-head { display: flex; flex-wrap: wrap; gap: .3rem .8rem; font-size: .85rem; }
.passage-view .skipped { font-size: .78rem; color: var(--muted); margin: .5rem 0 0; }
.side-link { font-size: .75rem; }
details.cmp > summary { cursor: pointer; font-size: .8rem; font-weight: 600; color: var(--accent); width: max-content; }
.pair { border: 1px solid var(--rule); border-radius: 6px; margin-top: .6rem; background: #fdfcfa; }
.pair-head { display: flex; flex-wrap: wrap; align-items: center; gap: .35rem 1rem; padding: .45rem .7rem;
  border-bottom: 1px solid var(--rule); font-size: .8rem; background: #f7f5f0; border-radius: 6px 6px 0 0; }
.scores { display: flex; flex-wrap: wrap; gap: .2rem .8rem; color: var(--muted); font-variant-numeric: tabular-nums; }
.scores b { color: var(--ink); font-weight: 600; }
.delta { margin-left: auto; color: var(--muted); }
.cols { display: grid; grid-template-columns: 1fr 1fr; }
.side { padding: .5rem .8rem .7rem; min-width: 0; }
.side + .side { border-left: 1px solid var(--rule); }
.side h4 { margin: 0 0 .3rem; font-size: .78rem; font-weight: 600; color: var(--muted); }
.side h4 span { font-size: .68rem; text-transform: uppercase; letter-spacing: .08em; margin-right: .35rem; }
.side .txt { font-size: .95rem; line-height: 1.75; }
mark.sp { background: var(--bg); border-bottom: 2px var(--style) var(--line); padding-bottom: 1px; }
del, ins { text-decoration-thickness: 1.5px; }
del { background: #ffd9d6; color: #8a1020; text-decoration: line-through; }
ins { background: #c9f0d2; color: #0b5a24; text-decoration: underline; text-underline-offset: .25em; }
del.chg, ins.chg { background: #e4e1ff; color: #2d1f7a; text-decoration: none; box-shadow: inset 0 0 0 1px #7b6fd6; border-radius: 2px; }
.delta del, .delta ins, .legend del, .legend ins { padding: 0 .2rem; border-radius: 2px; }
.none, .empty { color: var(--muted); font-style: italic; }
.c0 { --bg: #fde9b0; --line: #b7791f; --dark: #7b4f0c; }
.c1 { --bg: #d3e7fb; --line: #2b6cb0; --dark: #1c4a7c; }
.c2 { --bg: #fbd9e3; --line: #b83280; --dark: #86215c; }
.c3 { --bg: #d6f1d6; --line: #2f855a; --dark: #1f5c3d; }
.c4 { --bg: #e6ddfb; --line: #6b46c1; --dark: #4a2f8a; }
.c5 { --bg: #fde0c8; --line: #c05621; --dark: #853a14; }
.c6 { --bg: #cdeeea; --line: #2c7a7b; --dark: #1d5556; }
.c7 { --bg: #e8edc6; --line: #6b7a1f; --dark: #4a5514; }
.t0 { --style: solid; } .t1 { --style: double; } .t2 { --style: dashed; } .t3 { --style: dotted; }
.para.rec.t1 { border-left-width: 7px; }
@media (max-width: 900px) {
  .layout { display: block; }
  .panel { position: static; max-height: none; border-right: 0; border-bottom: 1px solid var(--rule); }
  main { padding: 1rem; }
  .cols { grid-template-columns: 1fr; }
  .side + .side { border-left: 0; border-top: 1px solid var(--rule); }
}
@media print {
  .layout { display: block; } .panel { position: static; max-height: none; } .tools { display: none; }
  .para { content-visibility: visible; }
}
"#;
