// monitrace HTML report. Written for monitrace; no library, no network.
// Every name from the data reaches the page through textContent only.
(function () {
  "use strict";
  var errors = [];
  function fail(msg) {
    errors.push(String(msg));
    var box = document.getElementById("mt-errors");
    if (box) { box.textContent = errors.join("\n"); }
    document.body.setAttribute("data-mt-errors", String(errors.length));
  }
  window.addEventListener("error", function (e) { fail("error: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) { fail("rejection: " + e.reason); });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function fmtNs(ns) {
    if (ns === null || ns === undefined || ns < 0) { return "\u2013"; }
    if (ns < 1e3) { return ns.toFixed(0) + " ns"; }
    if (ns < 1e6) { return (ns / 1e3).toPrecision(3) + " \u00b5s"; }
    if (ns < 1e9) { return (ns / 1e6).toPrecision(3) + " ms"; }
    return (ns / 1e9).toPrecision(4) + " s";
  }
  function fmtSec(ns) { return ns < 0 ? "\u2013" : (ns / 1e9).toFixed(6); }
  function fmtInt(n) { return Math.round(n).toLocaleString("en-US"); }
  function pct(part, whole) { return whole > 0 ? (100 * part / whole).toFixed(1) + "%" : ""; }

  var D = JSON.parse(document.getElementById("mt-data").textContent);
  var F = D.functions; // [full name, short file, line, kind]
  function fname(fn) {
    if (fn === -1) { return "(all)"; }
    if (fn === -2) { return "(smaller calls)"; }
    return F[fn][0];
  }
  function floc(fn) {
    if (fn < 0) { return ""; }
    var f = F[fn];
    if (f[3] === "c") { return "built-in (C)"; }
    return f[1] + (f[2] ? ":" + f[2] : "");
  }
  function hue(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) { h = (h * 31 + s.charCodeAt(i)) | 0; }
    return Math.abs(h);
  }
  function color(fn) {
    if (fn < 0) { return "#c9c9c4"; }
    var f = F[fn], h = hue(f[0].split(".")[0]);
    if (f[3] === "c") { return "hsl(" + (200 + h % 30) + ",45%," + (70 + h % 10) + "%)"; }
    if (f[1].indexOf("<stdlib>") === 0 || f[1].indexOf("site-packages") === 0) {
      return "hsl(" + (60 + h % 40) + ",50%," + (68 + h % 10) + "%)";
    }
    return "hsl(" + (h % 45) + ",78%," + (62 + h % 12) + "%)";
  }

  // ---- views: trees from flat node lists or from caller edges ----------
  function flatTree(flat) {
    var nodes = [];
    for (var i = 0; i < flat.length; i += 5) {
      var n = { fn: flat[i], calls: flat[i + 2], total: flat[i + 3], self: flat[i + 4],
                kids: [], parent: null, depth: 0 };
      var p = flat[i + 1];
      if (p >= 0) { n.parent = nodes[p]; n.depth = n.parent.depth + 1; n.parent.kids.push(n); }
      nodes.push(n);
    }
    return nodes.length ? nodes[0] : null;
  }
  // Approximate tree from caller->callee pairs: below the roots, a
  // callee's pairs are scaled by the share of its time this path holds.
  function edgeTree(edges, stats) {
    var out = {}, hasCaller = {}, inclusive = {};
    edges.forEach(function (e) {
      if (e[0] === e[1]) { return; }
      (out[e[0]] = out[e[0]] || []).push(e);
      hasCaller[e[1]] = true;
    });
    stats.forEach(function (r) { inclusive[r[0]] = r[4]; });
    // A node's callees: its function's pairs, scaled by the part of the
    // function's inclusive time this path holds (1 for a root function:
    // its callees are exact; below them, estimates).
    function make(fn, calls, total, self, parent, onPath, approx) {
      var n = { fn: fn, calls: calls, total: total, self: self, parent: parent,
                depth: parent ? parent.depth + 1 : 0, approx: approx };
      Object.defineProperty(n, "kids", { get: function () {
        if (n._kids) { return n._kids; }
        var kids = [];
        if (fn >= 0 && n.depth < 200) {
          var whole = inclusive[fn] || 0;
          var f = whole > 0 ? Math.min(1, total / whole) : 0;
          var estimate = approx || f < 1;
          (out[fn] || []).forEach(function (e) {
            if (onPath[e[1]]) { return; }
            var path = Object.create(onPath); path[e[1]] = true;
            kids.push(make(e[1], e[2] * f, e[3] * f, e[4] * f, n, path, estimate));
          });
        }
        kids.sort(function (a, b) { return b.total - a.total; });
        n._kids = kids;
        return kids;
      } });
      return n;
    }
    var root = { fn: -1, calls: 0, total: 0, self: 0, parent: null, depth: 0 };
    var kids = [];
    function addRoot(r) {
      var on = {}; on[r[0]] = true;
      kids.push(make(r[0], r[1], r[4], r[3], root, on, false));
    }
    stats.forEach(function (r) { if (!hasCaller[r[0]]) { addRoot(r); } });
    if (!kids.length) {
      // Every function has a caller (a cycle at the top): start from the
      // functions with the most inclusive time instead.
      stats.slice().sort(function (a, b) { return b[4] - a[4]; }).slice(0, 20).forEach(addRoot);
    }
    kids.sort(function (a, b) { return b.total - a.total; });
    root.kids = kids;
    root.total = kids.reduce(function (s, k) { return s + k.total; }, 0);
    return root;
  }

  var views = (D.views || []).map(function (v, i) {
    var view = { index: i, name: v.name, ident: v.ident, stats: v.stats, bars: v.bars,
                 callsSeen: v.calls_seen, tree: null, byFn: {} };
    if (v.tree) { view.tree = flatTree(v.tree); }
    else if (v.edges && D.tree_kind === "approximate") { view.tree = edgeTree(v.edges, v.stats); }
    v.stats.forEach(function (r) { view.byFn[r[0]] = r; });
    return view;
  });
  var current = views[0];
  var query = "";
  var status = el("div"); status.id = "mt-status"; status.hidden = true;

  function matches(fn) {
    if (!query || fn < 0) { return false; }
    var q = query.toLowerCase();
    return fname(fn).toLowerCase().indexOf(q) >= 0 || floc(fn).toLowerCase().indexOf(q) >= 0;
  }

  // ---- hover details ---------------------------------------------------------
  var tip = el("div"); tip.id = "mt-tip"; tip.hidden = true;
  function showTip(ev, fn, node) {
    if (D.diff) { showDiffTip(ev, fn, node); return; }
    tip.textContent = "";
    tip.appendChild(el("div", "t", fname(fn)));
    if (fn >= 0) { tip.appendChild(el("div", null, floc(fn))); }
    var t = el("table"), rows = [];
    var total = current.tree ? current.tree.total : 0;
    if (node) {
      rows.push([node.approx ? "calls (this path, estimated)" : "calls (this path)",
                 fmtInt(node.calls)]);
      rows.push(["inclusive (this path)", fmtNs(node.total) + "  " + pct(node.total, total)]);
      rows.push(["self (this path)", fmtNs(node.self)]);
    }
    var r = current.byFn[fn];
    if (r) {
      rows.push(["calls (all)", fmtInt(r[1]) + (r[2] !== r[1] ? " (" + fmtInt(r[2]) + " primitive)" : "")]);
      rows.push(["inclusive (all)", fmtNs(r[4])]);
      rows.push(["self (all)", fmtNs(r[3])]);
      if (r[10] > 0) {
        rows.push(["wall (all, awaits included)", fmtNs(r[10])]);
      }
      if (r[9] >= 0) {
        rows.push(["min / max", fmtNs(r[5]) + " / " + fmtNs(r[9])]);
        rows.push(["p50 / p90 / p99", fmtNs(r[6]) + " / " + fmtNs(r[7]) + " / " + fmtNs(r[8])]);
      }
    }
    rows.forEach(function (row) {
      var tr = el("tr"); tr.appendChild(el("td", null, row[0])); tr.appendChild(el("td", null, row[1]));
      t.appendChild(tr);
    });
    tip.appendChild(t);
    tip.hidden = false;
    moveTip(ev);
  }
  function moveTip(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth) { x = Math.max(0, ev.clientX - w - 10); }
    if (y + h > window.innerHeight) { y = Math.max(0, ev.clientY - h - 10); }
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function hideTip() { tip.hidden = true; }

  // ---- flame graph -----------------------------------------------------------
  var ROW = 18, MAX_DEPTH = 300, MAX_ELEMENTS = 12000;
  var flameBox, crumbs, flameHint, zoomed = null;
  // What a frame's width and colour are drawn from: the report's own, or
  // the diff mode's (width from one side, colour by change).
  var flame = {
    root: function () { return current.tree; },
    width: function (node) { return node.total; },
    color: function (node) { return color(node.fn); },
    mark: null
  };
  function drawFlame() {
    flameBox.textContent = ""; crumbs.textContent = "";
    var root = flame.root();
    if (D.diff && root && D.tree_kind !== "none") {
      flameHint.textContent = diffFlameHint();
    } else if (!root || D.tree_kind !== "exact") {
      flameHint.textContent = D.tree_kind === "approximate"
        ? "No flame graph: the call paths were not recorded (trace with record=True). The call tree below is rebuilt from caller\u2192callee pairs."
        : "No flame graph: this file holds no call paths.";
      flameBox.style.height = "0px";
      status.setAttribute("data-flame-nodes", "0");
      return;
    } else {
      flameHint.textContent = "Inclusive time, callers above callees. Click a frame to zoom into it; click an ancestor, (all) or press Escape to zoom out; the search box highlights frames.";
    }
    var focus = zoomed && zoomed.view === current ? zoomed.node : root;
    var width = flameBox.clientWidth || 1000;
    var chain = [], n = focus;
    while (n) { chain.unshift(n); n = n.parent; }
    chain.forEach(function (c, i) {
      if (i) { crumbs.appendChild(document.createTextNode(" \u203a ")); }
      var s = el("span", null, fname(c.fn));
      s.addEventListener("click", function () { zoomed = { view: current, node: c }; drawFlame(); });
      crumbs.appendChild(s);
    });
    var count = 0, maxRow = 0, matchedNs = 0;
    var frag = document.createDocumentFragment();
    function put(node, x, w, row, cls) {
      var d = el("div", "fn" + cls, node.fn === -1 ? "(all) " + fmtNs(flame.width(node)) : fname(node.fn));
      d.style.left = x + "px"; d.style.width = Math.max(1, w - 1) + "px"; d.style.top = row * ROW + "px";
      d.style.background = flame.color(node);
      d.setAttribute("data-fn", String(node.fn));
      if (flame.mark) { flame.mark(d, node); }
      d._node = node;
      frag.appendChild(d);
      count++;
      if (row > maxRow) { maxRow = row; }
    }
    // ancestors of the focus: full width, faded
    for (var i = 0; i < chain.length - 1; i++) { put(chain[i], 0, width, i, " anc"); }
    var base = chain.length - 1;
    var focusW = flame.width(focus);
    var scale = focusW > 0 ? width / focusW : 0;
    var stack = [[focus, 0, base, false]];
    while (stack.length) {
      var item = stack.pop(), node = item[0], x = item[1], row = item[2], inMatch = item[3];
      var w = flame.width(node) * scale;
      if (w < 1 || row - base > MAX_DEPTH || count >= MAX_ELEMENTS) { continue; }
      var m = matches(node.fn);
      if (m && !inMatch) { matchedNs += flame.width(node); }
      put(node, x, w, row, query ? (m ? " match" : " dim") : "");
      var cx = x;
      var kids = node.kids;
      var pending = [];
      for (var k = 0; k < kids.length; k++) {
        pending.push([kids[k], cx, row + 1, inMatch || m]);
        cx += flame.width(kids[k]) * scale;
      }
      for (var j = pending.length - 1; j >= 0; j--) { stack.push(pending[j]); }
    }
    flameBox.appendChild(frag);
    flameBox.style.height = (maxRow + 1) * ROW + "px";
    status.setAttribute("data-flame-nodes", String(count));
    if (query) {
      crumbs.appendChild(el("span", "meta", "   \u2014 matches: " + pct(matchedNs, focusW) + " of this view"));
    }
  }

  // ---- call tree -------------------------------------------------------------
  var treeBox, treeHint, treeRows = 0;
  function treeRow(node, depth, total, parentEl) {
    var row = el("div", "row" + (matches(node.fn) ? " match" : ""));
    var name = el("div", "name");
    name.style.paddingLeft = (depth * 14) + "px";
    var tog = el("span", "tog", node.kids.length ? "\u25b8" : "");
    name.appendChild(tog);
    name.appendChild(el("span", null, fname(node.fn)));
    if (node.fn >= 0) { name.appendChild(el("span", "file", floc(node.fn))); }
    row.appendChild(name);
    row.appendChild(el("div", "num", node.fn === -1 ? "" : node.approx ? "~" + fmtInt(node.calls) : fmtInt(node.calls)));
    row.appendChild(el("div", "num", fmtNs(node.total)));
    row.appendChild(el("div", "num", fmtNs(node.self)));
    row.appendChild(el("div", "num", pct(node.total, total)));
    row.setAttribute("data-fn", String(node.fn));
    row._node = node;
    parentEl.appendChild(row);
    treeRows++;
    var box = el("div"); parentEl.appendChild(box);
    var handle = { node: node, open: false, kids: [] };
    handle.toggle = function () {
      if (!node.kids.length) { return; }
      handle.open = !handle.open;
      tog.textContent = handle.open ? "\u25be" : "\u25b8";
      handle.kids = [];
      box.textContent = "";
      if (handle.open) {
        var kids = node.kids, shown = Math.min(kids.length, 200);
        for (var i = 0; i < shown; i++) { handle.kids.push(treeRow(kids[i], depth + 1, total, box)); }
        if (kids.length > shown) { box.appendChild(el("div", "hint", (kids.length - shown) + " more callees not listed")); }
      }
    };
    tog.addEventListener("click", handle.toggle);
    return handle;
  }
  function drawTree() {
    treeBox.textContent = ""; treeRows = 0;
    var root = current.tree;
    if (!root) { treeHint.textContent = "No call tree in this data (statistics only)."; return; }
    treeHint.textContent = D.tree_kind === "exact"
      ? "Aggregated by call path: every distinct path is one row; calls and times are exact."
      : "Approximate: rebuilt from caller\u2192callee pairs. The first level under each root is exact; deeper levels split a function's callees in proportion to the time the path holds (~ marks estimated counts).";
    var head = el("div", "row head");
    ["function", "calls", "inclusive", "self", "% total"].forEach(function (h, i) {
      head.appendChild(el("div", i ? "num" : "name", h));
    });
    treeBox.appendChild(head);
    // Open the hottest path a few levels down.
    var h = treeRow(root, 0, root.total, treeBox);
    for (var d = 0; d < 12 && h && h.node.kids.length; d++) { h.toggle(); h = h.kids[0]; }
    status.setAttribute("data-tree-rows", String(treeRows));
  }

  // ---- statistics table --------------------------------------------------------
  var COLS = [
    ["ncalls", function (r) { return r[1]; }],
    ["tottime", function (r) { return r[3]; }],
    ["percall", function (r) { return r[1] ? r[3] / r[1] : 0; }],
    ["cumtime", function (r) { return r[4]; }],
    ["percall", function (r) { return r[2] ? r[4] / r[2] : 0; }],
    ["p50", function (r) { return r[6]; }],
    ["p90", function (r) { return r[7]; }],
    ["p99", function (r) { return r[8]; }],
    ["max", function (r) { return r[9]; }],
    ["function", function (r) { return fname(r[0]).toLowerCase(); }]
  ];
  var WALL_COL = ["walltime", function (r) { return r[10] || 0; }];
  var sortCol = 1, sortAsc = false, tableBox, tableHint, LIMIT = 1000;
  function drawTable() {
    tableBox.textContent = "";
    // A wall time column (start to finish, awaits included) whenever a
    // generator or coroutine ran.
    var wall = current.stats.some(function (r) { return r[10] > 0; });
    var cols = COLS.slice(0, 5).concat(wall ? [WALL_COL] : [], COLS.slice(5));
    var fnCol = cols.length - 1;
    if (sortCol >= cols.length) { sortCol = 1; sortAsc = false; }
    var rows = current.stats.filter(function (r) { return !query || matches(r[0]); });
    var key = cols[sortCol][1];
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return sortAsc ? c : -c;
    });
    var t = el("table"), thead = el("thead"), tr = el("tr");
    cols.forEach(function (c, i) {
      var th = el("th", (i === fnCol ? "fname" : "") + (i === sortCol ? " sorted" + (sortAsc ? " asc" : "") : ""), c[0]);
      th.addEventListener("click", function () {
        if (sortCol === i) { sortAsc = !sortAsc; } else { sortCol = i; sortAsc = i === fnCol; }
        drawTable();
      });
      tr.appendChild(th);
    });
    thead.appendChild(tr); t.appendChild(thead);
    var tbody = el("tbody");
    var shown = Math.min(rows.length, LIMIT);
    for (var i = 0; i < shown; i++) {
      var r = rows[i], row = el("tr");
      row.setAttribute("data-fn", String(r[0]));
      row.appendChild(el("td", "num", r[2] !== r[1] ? r[1] + "/" + r[2] : String(r[1])));
      row.appendChild(el("td", "num", fmtSec(r[3])));
      row.appendChild(el("td", "num", fmtSec(r[1] ? r[3] / r[1] : 0)));
      row.appendChild(el("td", "num", fmtSec(r[4])));
      row.appendChild(el("td", "num", fmtSec(r[2] ? r[4] / r[2] : 0)));
      if (wall) { row.appendChild(el("td", "num", r[10] > 0 ? fmtSec(r[10]) : "")); }
      for (var k = 6; k <= 9; k++) { row.appendChild(el("td", "num", fmtNs(r[k]))); }
      var name = el("td", "fname");
      name.appendChild(el("span", null, fname(r[0])));
      name.appendChild(el("span", "file", floc(r[0])));
      row.appendChild(name);
      tbody.appendChild(row);
    }
    t.appendChild(tbody);
    tableBox.appendChild(t);
    tableHint.textContent = "Times in seconds as cProfile prints them (tottime: self, cumtime: inclusive); " +
      "p50/p90/p99/max: single calls. Click a heading to sort, a row to find the function in the flame graph. " +
      (rows.length > shown ? "Showing " + shown + " of " + rows.length + " functions; search to narrow." :
        rows.length + " of " + current.stats.length + " functions.");
    status.setAttribute("data-table-rows", String(shown));
  }

  // ---- timeline ----------------------------------------------------------------
  // One time window for every track (the bars count from the first call
  // of all threads), so the threads line up; wheel zooms it, drag pans it.
  var timeBox, timeHint, BAR = 14, RULER = 16;
  var win = { t0: 0, t1: 1, end: 1, tracks: [] };
  function drawTimeline() {
    timeBox.textContent = "";
    win.tracks = [];
    var list = current.index === 0 ? views.slice(1) : [current];
    list = list.filter(function (v) { return v.bars && v.bars.length; });
    if (!list.length) {
      timeHint.textContent = "No timeline: the calls were not recorded (trace with record=True).";
      status.setAttribute("data-timeline-bars", "0");
      return;
    }
    var bars = 0, end = 1;
    list.forEach(function (v) {
      var b = v.bars;
      for (var i = 0; i < b.length; i += 4) { end = Math.max(end, b[i + 1] + Math.max(0, b[i + 2])); }
    });
    win.t0 = 0; win.t1 = end; win.end = end;
    timeHint.textContent = "The first " + fmtInt(D.timeline_cap) + " calls of each thread, as nested bars, on one time axis from the first recorded call. Wheel to zoom, drag to pan, double-click to reset.";
    list.forEach(function (v) {
      var track = el("div", "track");
      var n = v.bars.length / 4;
      bars += n;
      var label = v.name + " \u2014 " + (v.callsSeen > n ? fmtInt(n) + " of " + fmtInt(v.callsSeen) + " calls shown (capped)" : fmtInt(n) + " calls");
      track.appendChild(el("div", "label", label));
      var canvas = el("canvas");
      track.appendChild(canvas);
      timeBox.appendChild(track);
      win.tracks.push(timelineTrack(v, canvas));
    });
    status.setAttribute("data-timeline-bars", String(bars));
  }
  function redrawTracks() { win.tracks.forEach(function (draw) { draw(); }); }
  function timelineTrack(v, canvas) {
    var b = v.bars, n = b.length / 4, maxDepth = 0;
    for (var i = 0; i < n; i++) {
      if (b[4 * i + 3] > maxDepth) { maxDepth = b[4 * i + 3]; }
    }
    var rows = Math.min(maxDepth + 1, 60);
    var ratio = window.devicePixelRatio || 1;
    var cssW = canvas.parentNode.clientWidth || 1000, cssH = RULER + rows * BAR + 2;
    canvas.width = cssW * ratio; canvas.height = cssH * ratio;
    canvas.style.height = cssH + "px";
    var ctx = canvas.getContext("2d");
    function draw() {
      var t0 = win.t0, t1 = win.t1;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, cssW, cssH);
      ctx.font = "10px system-ui, sans-serif";
      var sc = cssW / (t1 - t0);
      // ruler: about six ticks at round times
      var step = Math.pow(10, Math.floor(Math.log(Math.max(1, (t1 - t0) / 6)) / Math.LN10));
      if ((t1 - t0) / step > 12) { step *= 5; } else if ((t1 - t0) / step > 6) { step *= 2; }
      ctx.fillStyle = "#6b6f76"; ctx.strokeStyle = "#dcdcd8";
      for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
        var tx = (t - t0) * sc;
        ctx.beginPath(); ctx.moveTo(tx + 0.5, 0); ctx.lineTo(tx + 0.5, cssH); ctx.stroke();
        ctx.fillText("+" + fmtNs(t), tx + 3, 11);
      }
      for (var i = 0; i < n; i++) {
        var d = b[4 * i + 3];
        if (d >= rows) { continue; }
        var s = b[4 * i + 1], w = Math.max(0, b[4 * i + 2]);
        if (s > t1 || s + w < t0) { continue; }
        var x = (s - t0) * sc, pw = w * sc;
        if (pw < 0.3) { continue; }
        var y = RULER + d * BAR;
        ctx.fillStyle = color(b[4 * i]);
        ctx.fillRect(x, y, Math.max(pw - 0.5, 0.5), BAR - 1);
        if (pw > 40) {
          ctx.fillStyle = "#1d1f21";
          ctx.save(); ctx.beginPath(); ctx.rect(x, y, pw - 2, BAR); ctx.clip();
          ctx.fillText(fname(b[4 * i]), Math.max(x, 0) + 2, y + 10);
          ctx.restore();
        }
      }
    }
    function timeAt(ev) {
      var r = canvas.getBoundingClientRect();
      return win.t0 + (ev.clientX - r.left) / r.width * (win.t1 - win.t0);
    }
    function barAt(ev) {
      var r = canvas.getBoundingClientRect();
      var t = timeAt(ev);
      var d = Math.floor((ev.clientY - r.top - RULER) / BAR);
      for (var i = n - 1; i >= 0; i--) {
        if (b[4 * i + 3] === d && b[4 * i + 1] <= t && t <= b[4 * i + 1] + Math.max(0, b[4 * i + 2])) { return i; }
      }
      return -1;
    }
    var drag = null;
    canvas.addEventListener("mousemove", function (ev) {
      if (drag) {
        var dt = (ev.clientX - drag.x) / canvas.getBoundingClientRect().width * (drag.t1 - drag.t0);
        win.t0 = drag.t0 - dt; win.t1 = drag.t1 - dt; redrawTracks(); return;
      }
      var i = barAt(ev);
      if (i < 0) { hideTip(); return; }
      showTip(ev, b[4 * i], null);
      var extra = el("div", null, "this call: " + fmtNs(b[4 * i + 2]) + ", from +" + fmtNs(b[4 * i + 1]));
      tip.insertBefore(extra, tip.children[2] || null);
    });
    canvas.addEventListener("mouseleave", function () { drag = null; hideTip(); });
    canvas.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, t0: win.t0, t1: win.t1 }; });
    window.addEventListener("mouseup", function () { drag = null; });
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var at = timeAt(ev);
      var span = Math.max((win.t1 - win.t0) * (ev.deltaY > 0 ? 1.25 : 0.8), 100);
      win.t0 = at - (at - win.t0) * span / (win.t1 - win.t0); win.t1 = win.t0 + span;
      redrawTracks();
    }, { passive: false });
    canvas.addEventListener("dblclick", function () { win.t0 = 0; win.t1 = win.end; redrawTracks(); });
    draw();
    return draw;
  }

  // ---- page -----------------------------------------------------------------------
  function section(id, title) {
    var s = el("section"); s.id = id;
    s.appendChild(el("h2", null, title));
    var hint = el("p", "hint");
    s.appendChild(hint);
    return { s: s, hint: hint };
  }
  function drawAll() {
    drawFlame(); drawTree(); drawTable(); drawTimeline();
  }
  function build() {
    var header = el("header");
    header.appendChild(el("h1", null, D.title));
    var meta = D.origin + " \u00b7 " + D.generator;
    if (D.total_ns) { meta += " \u00b7 traced for " + fmtNs(D.total_ns); }
    header.appendChild(el("span", "meta", meta));
    var controls = el("div", "controls");
    var label = el("label", null, "Thread ");
    var select = el("select"); select.id = "mt-thread";
    views.forEach(function (v, i) {
      var o = el("option", null, v.name + (i && v.ident !== null ? " (" + v.ident + ")" : ""));
      o.value = String(i); select.appendChild(o);
    });
    select.disabled = views.length < 2;
    select.addEventListener("change", function () { current = views[+select.value]; zoomed = null; drawAll(); });
    label.appendChild(select);
    controls.appendChild(label);
    var search = el("input"); search.type = "search"; search.id = "mt-search";
    search.placeholder = "search / filter functions or files";
    var timer = null;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { query = search.value.trim(); drawFlame(); drawTree(); drawTable(); }, 120);
    });
    controls.appendChild(search);
    var nav = el("nav");
    [["#mt-flame", "Flame graph"], ["#mt-tree", "Call tree"], ["#mt-table", "Statistics"], ["#mt-timeline", "Timeline"]].forEach(function (a) {
      var link = el("a", null, a[1]); link.href = a[0]; nav.appendChild(link);
    });
    controls.appendChild(nav);
    header.appendChild(controls);
    var notes = el("ul"); notes.id = "mt-notes";
    D.notes.forEach(function (t) { notes.appendChild(el("li", null, t)); });
    header.appendChild(notes);
    document.body.appendChild(header);

    var main = el("main");
    if (D.links && D.links.length) {
      var ls = section("mt-links", "Traced tests");
      ls.hint.textContent = "One report per traced test.";
      var ul = el("ul");
      D.links.forEach(function (l) {
        var li = el("li"), a = el("a", null, l[0]);
        a.href = l[1];
        li.appendChild(a);
        if (l[2]) { li.appendChild(el("span", "meta", "  " + l[2])); }
        ul.appendChild(li);
      });
      ls.s.appendChild(ul); main.appendChild(ls.s);
    }
    var fs = section("mt-flame", "Flame graph");
    flameHint = fs.hint;
    crumbs = el("div", "crumbs"); fs.s.appendChild(crumbs);
    flameBox = el("div", "flame"); fs.s.appendChild(flameBox);
    var ts = section("mt-tree", "Call tree");
    treeHint = ts.hint; treeBox = el("div", "tree"); ts.s.appendChild(treeBox);
    var ss = section("mt-table", "Statistics");
    tableHint = ss.hint; tableBox = el("div", "tablewrap"); ss.s.appendChild(tableBox);
    var ls2 = section("mt-timeline", "Timeline");
    timeHint = ls2.hint; timeBox = el("div"); ls2.s.appendChild(timeBox);
    [fs.s, ts.s, ss.s, ls2.s].forEach(function (s) { main.appendChild(s); });
    document.body.appendChild(main);
    var errs = el("pre"); errs.id = "mt-errors"; document.body.appendChild(errs);
    document.body.appendChild(tip);
    document.body.appendChild(status);

    flameBox.addEventListener("click", function (ev) {
      var t = ev.target;
      if (t && t._node) { zoomed = { view: current, node: t._node }; drawFlame(); }
    });
    function hover(ev) {
      var t = ev.target;
      while (t && t !== document.body && !t.hasAttribute("data-fn")) { t = t.parentNode; }
      if (!t || t === document.body) { hideTip(); return; }
      showTip(ev, +t.getAttribute("data-fn"), t._node || null);
    }
    tableBox.addEventListener("click", function (ev) {
      var t = ev.target;
      while (t && t !== tableBox && t.tagName !== "TR") { t = t.parentNode; }
      if (!t || t === tableBox || !t.hasAttribute("data-fn")) { return; }
      // A row picks its function out in the flame graph and the tree.
      search.value = fname(+t.getAttribute("data-fn"));
      query = search.value;
      drawFlame(); drawTree(); drawTable();
      document.getElementById("mt-flame").scrollIntoView();
    });
    [flameBox, treeBox, tableBox].forEach(function (box) {
      box.addEventListener("mousemove", hover);
      box.addEventListener("mouseleave", hideTip);
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && zoomed) { zoomed = null; drawFlame(); }
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { drawFlame(); drawTimeline(); }, 150);
    });
    drawAll();
  }
  // ---- diff mode: two runs compared (monitrace diff BASE NEW -o x.html) -------
  // Each side's tree (exact paths, or rebuilt from caller edges) merged
  // path by path; frames are as wide as one side's inclusive time and
  // coloured by change: red = more calls or time in NEW, blue = less.
  var X = D.diff, widthSide = "new", diffRows = [], diffByFn = {};
  var STATUSES = ["changed", "added", "removed", "same"];
  var shownStatus = { changed: true, added: true, removed: true, same: false };
  function sideTree(s) {
    if (s.tree) { return flatTree(s.tree); }
    if (s.edges) { return edgeTree(s.edges, s.stats); }
    return null;
  }
  function diffNode(fn, b, n, parent) {
    var d = { fn: fn, b: b, n: n, parent: parent, depth: parent ? parent.depth + 1 : 0,
              bcalls: b ? b.calls : 0, btotal: b ? b.total : 0, bself: b ? b.self : 0,
              calls: n ? n.calls : 0, total: n ? n.total : 0, self: n ? n.self : 0,
              approx: !!((b && b.approx) || (n && n.approx)) };
    var merged = null, sortedFor = null;
    Object.defineProperty(d, "kids", { get: function () {
      if (!merged) {
        var by = {}, order = [];
        [b, n].forEach(function (side, i) {
          if (!side) { return; }
          side.kids.forEach(function (k) {
            var key = String(k.fn);
            if (!by[key]) { by[key] = [null, null]; order.push(key); }
            by[key][i] = k;
          });
        });
        merged = order.map(function (key) { return diffNode(+key, by[key][0], by[key][1], d); });
      }
      if (sortedFor !== widthSide) {
        merged.sort(function (x, y) { return flame.width(y) - flame.width(x) || fname(x.fn).localeCompare(fname(y.fn)); });
        sortedFor = widthSide;
      }
      return merged;
    } });
    return d;
  }
  // How a path changed: [kind, strength in -1..1]. Counts are exact, so
  // any change in them shows; times only beyond --min-change.
  function change(d) {
    if (d.fn < 0) { return ["none", 0]; }
    var bc = Math.round(d.bcalls), nc = Math.round(d.calls);
    if (!d.b || (bc === 0 && d.btotal === 0)) { return ["added", 1]; }
    if (!d.n || (nc === 0 && d.total === 0)) { return ["removed", -1]; }
    if (nc !== bc) {
      var s = (nc - bc) / Math.max(nc, bc);
      return [nc > bc ? "more" : "less", s > 0 ? Math.max(s, 0.25) : Math.min(s, -0.25)];
    }
    if (!X.calls_only && d.btotal > 0) {
      var r = d.total / d.btotal;
      if (Math.abs(r - 1) > X.min_change) {
        return [r > 1 ? "more" : "less", (d.total - d.btotal) / Math.max(d.total, d.btotal)];
      }
    }
    return ["same", 0];
  }
  function diffColor(d) {
    if (d.fn < 0) { return "#c9c9c4"; }
    var c = change(d), s = c[1];
    if (s === 0) { return "hsl(40,6%,84%)"; }
    var m = 0.3 + 0.7 * Math.min(1, Math.abs(s));
    var light = Math.round(86 - 30 * m), sat = Math.round(45 + 40 * m);
    return s > 0 ? "hsl(4," + sat + "%," + light + "%)" : "hsl(214," + sat + "%," + light + "%)";
  }
  function diffFlameHint() {
    return (D.tree_kind === "approximate" ? "Approximate (rebuilt from caller\u2192callee pairs; ~ marks estimated counts). " : "") +
      "Width: " + (widthSide === "new" ? "NEW" : "BASE") + "'s inclusive time, callers above callees. " +
      "Red: more calls or time on that path in NEW; blue: fewer or less (darker: a larger change); grey: unchanged " +
      (X.calls_only ? "calls." : "calls, time within " + Math.round(X.min_change * 100) + "%.") +
      " Click a frame to zoom, Escape to zoom out.";
  }
  function arrow(b, n, fmt) { return fmt(b) + " \u2192 " + fmt(n); }
  function ratio(b, n) {
    if (b === n) { return "1.00x"; }
    if (b <= 0) { return "new"; }
    if (n <= 0) { return "gone"; }
    return (n / b).toFixed(2) + "x";
  }
  function signed(n) { return (n > 0 ? "+" : n < 0 ? "\u2212" : "\u00b1") + fmtInt(Math.abs(n)); }
  function showDiffTip(ev, fn, node) {
    tip.textContent = "";
    tip.appendChild(el("div", "t", fname(fn)));
    if (fn >= 0) { tip.appendChild(el("div", null, floc(fn))); }
    var t = el("table"), rows = [];
    if (node) {
      var est = node.approx ? " (estimated)" : "";
      rows.push(["this path", change(node)[0]]);
      rows.push(["calls (base \u2192 new)" + est, arrow(node.bcalls, node.calls, fmtInt) + "  (" + signed(Math.round(node.calls) - Math.round(node.bcalls)) + ")"]);
      rows.push(["inclusive (path)", arrow(node.btotal, node.total, fmtNs) + "  " + ratio(node.btotal, node.total)]);
      rows.push(["self (path)", arrow(node.bself, node.self, fmtNs) + "  " + ratio(node.bself, node.self)]);
    }
    var r = diffByFn[fn];
    if (r) {
      rows.push(["function", r[1]]);
      rows.push(["calls (all)", arrow(r[2], r[3], fmtInt) + "  (" + signed(r[3] - r[2]) + ")"]);
      rows.push(["self (all)", arrow(r[4], r[5], fmtNs) + "  " + ratio(r[4], r[5])]);
      rows.push(["inclusive (all)", arrow(r[6], r[7], fmtNs) + "  " + ratio(r[6], r[7])]);
      if (r[8] >= 0 && r[9] >= 0) { rows.push(["p99", arrow(r[8], r[9], fmtNs) + "  " + ratio(r[8], r[9])]); }
    }
    rows.forEach(function (row) {
      var tr = el("tr"); tr.appendChild(el("td", null, row[0])); tr.appendChild(el("td", null, row[1]));
      t.appendChild(tr);
    });
    tip.appendChild(t);
    tip.hidden = false;
    moveTip(ev);
  }

  // Paths NEW no longer takes (no width when drawn by NEW): listed, the
  // largest first, from a bounded walk of the merged tree.
  var goneBox;
  function drawGone() {
    goneBox.textContent = "";
    var root = flame.root();
    if (!root) { return; }
    var gone = [], queue = [root], at = 0;
    while (at < queue.length && at < 20000) {
      var d = queue[at++];
      if (d.fn >= 0 && change(d)[0] === "removed") { gone.push(d); continue; }
      if (d.depth < 60) { Array.prototype.push.apply(queue, d.kids); }
    }
    if (!gone.length) { return; }
    gone.sort(function (a, b) { return b.btotal - a.btotal; });
    goneBox.appendChild(el("p", "hint", "Paths only BASE took (" + gone.length + "; switch the width to BASE to see them in the graph):"));
    var ul = el("ul");
    gone.slice(0, 40).forEach(function (d) {
      var names = [], p = d;
      while (p && p.fn !== -1) { names.unshift(fname(p.fn)); p = p.parent; }
      var li = el("li", "gone");
      li.setAttribute("data-fn", String(d.fn));
      li._node = d;
      li.appendChild(el("span", null, names.join(" \u203a ")));
      li.appendChild(el("span", "meta", "  " + fmtInt(d.bcalls) + " calls, " + fmtNs(d.btotal)));
      ul.appendChild(li);
    });
    goneBox.appendChild(ul);
  }

  // ---- the table of changes ---------------------------------------------------
  // A row: fn, status, base calls, new calls, base self, new self, base
  // inclusive, new inclusive, base p99, new p99 (ns; -1: unknown).
  var DCOLS = [
    ["function", function (r) { return fname(r[0]).toLowerCase(); }],
    ["status", function (r) { return STATUSES.indexOf(r[1]); }],
    ["calls (base \u2192 new)", function (r) { return r[3]; }],
    ["delta", function (r) { return Math.abs(r[3] - r[2]); }],
    ["self time", function (r) { return Math.abs(r[5] - r[4]); }],
    ["inclusive time", function (r) { return Math.abs(r[7] - r[6]); }],
    ["p99", function (r) { return r[8] > 0 && r[9] >= 0 ? r[9] / r[8] : -1; }]
  ];
  var dSort = -1, dAsc = false, diffBox, diffHint;
  function drawDiffTable() {
    diffBox.textContent = "";
    var rows = diffRows.filter(function (r) { return shownStatus[r[1]] && (!query || matches(r[0])); });
    if (dSort >= 0) {
      var key = DCOLS[dSort][1];
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = x < y ? -1 : x > y ? 1 : 0;
        return dAsc ? c : -c;
      });
    }
    var t = el("table"), thead = el("thead"), tr = el("tr");
    DCOLS.forEach(function (c, i) {
      var th = el("th", (i === 0 ? "fname" : "") + (i === dSort ? " sorted" + (dAsc ? " asc" : "") : ""), c[0]);
      th.addEventListener("click", function () {
        if (dSort === i) { dAsc = !dAsc; } else { dSort = i; dAsc = i === 0; }
        drawDiffTable();
      });
      tr.appendChild(th);
    });
    thead.appendChild(tr); t.appendChild(thead);
    var tbody = el("tbody"), shown = Math.min(rows.length, LIMIT);
    for (var i = 0; i < shown; i++) {
      var r = rows[i], row = el("tr", "st-" + r[1]);
      row.setAttribute("data-fn", String(r[0]));
      row.setAttribute("data-status", r[1]);
      var name = el("td", "fname");
      name.appendChild(el("span", null, fname(r[0])));
      name.appendChild(el("span", "file", floc(r[0])));
      row.appendChild(name);
      row.appendChild(el("td", "status", r[1]));
      row.appendChild(el("td", "num calls", arrow(r[2], r[3], fmtInt)));
      row.appendChild(el("td", "num delta", signed(r[3] - r[2])));
      row.appendChild(el("td", "num", X.calls_only ? "" : arrow(r[4], r[5], fmtNs) + " (" + ratio(r[4], r[5]) + ")"));
      row.appendChild(el("td", "num", X.calls_only ? "" : arrow(r[6], r[7], fmtNs) + " (" + ratio(r[6], r[7]) + ")"));
      row.appendChild(el("td", "num", r[8] >= 0 && r[9] >= 0 ? ratio(r[8], r[9]) : "\u2013"));
      tbody.appendChild(row);
    }
    t.appendChild(tbody);
    diffBox.appendChild(t);
    var counts = {};
    STATUSES.forEach(function (s) { counts[s] = 0; });
    diffRows.forEach(function (r) { counts[r[1]]++; });
    diffHint.textContent = counts.changed + " changed, " + counts.added + " added, " + counts.removed + " removed, " +
      counts.same + " unchanged. Calls are exact; a time change counts beyond " + Math.round(X.min_change * 100) +
      "%" + (X.calls_only ? " (compared: calls only)" : "") + ". Click a heading to sort, a row to find the function in the flame graph. " +
      (rows.length > shown ? "Showing " + shown + " of " + rows.length + " rows." : rows.length + " rows shown.");
    status.setAttribute("data-diff-rows", String(shown));
  }

  function buildDiff() {
    diffRows = X.rows;
    diffRows.forEach(function (r) { diffByFn[r[0]] = r; });
    var bt = sideTree(X.base), nt = sideTree(X.new);
    var root = bt || nt ? diffNode(-1, bt, nt, null) : null;
    flame.root = function () { return root; };
    flame.width = function (node) { return widthSide === "new" ? node.total : node.btotal; };
    flame.color = diffColor;
    flame.mark = function (div, node) { div.setAttribute("data-change", change(node)[0]); };

    var header = el("header");
    header.appendChild(el("h1", null, D.title));
    header.appendChild(el("span", "meta", "diff: BASE " + X.base.name + " (" + X.base.origin + ") \u2192 NEW " +
      X.new.name + " (" + X.new.origin + ") \u00b7 " + D.generator));
    var controls = el("div", "controls");
    var search = el("input"); search.type = "search"; search.id = "mt-search";
    search.placeholder = "search / filter functions or files";
    var timer = null;
    function redraw() { drawFlame(); drawDiffTable(); }
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { query = search.value.trim(); redraw(); }, 120);
    });
    controls.appendChild(search);
    STATUSES.forEach(function (s) {
      var label = el("label", "st-" + s), box = el("input");
      box.type = "checkbox"; box.checked = shownStatus[s]; box.id = "mt-show-" + s;
      box.addEventListener("change", function () { shownStatus[s] = box.checked; drawDiffTable(); });
      label.appendChild(box); label.appendChild(document.createTextNode(" " + s));
      controls.appendChild(label);
    });
    var widthBtn = el("button", null, "Width: NEW");
    widthBtn.id = "mt-width";
    widthBtn.addEventListener("click", function () {
      widthSide = widthSide === "new" ? "base" : "new";
      widthBtn.textContent = "Width: " + widthSide.toUpperCase();
      zoomed = null; drawFlame();
    });
    controls.appendChild(widthBtn);
    var nav = el("nav");
    [["#mt-flame", "Flame graph"], ["#mt-diff", "Changes"]].forEach(function (a) {
      var link = el("a", null, a[1]); link.href = a[0]; nav.appendChild(link);
    });
    controls.appendChild(nav);
    header.appendChild(controls);
    var notes = el("ul"); notes.id = "mt-notes";
    D.notes.forEach(function (t) { notes.appendChild(el("li", null, t)); });
    header.appendChild(notes);
    document.body.appendChild(header);

    var main = el("main");
    var fs = section("mt-flame", "Differential flame graph");
    flameHint = fs.hint;
    var legend = el("div", "legend");
    [["more in NEW", "hsl(4,85%,56%)"], ["less in NEW", "hsl(214,85%,56%)"], ["unchanged", "hsl(40,6%,84%)"]].forEach(function (l) {
      var sw = el("span", "swatch"); sw.style.background = l[1];
      legend.appendChild(sw); legend.appendChild(el("span", null, l[0]));
    });
    fs.s.appendChild(legend);
    crumbs = el("div", "crumbs"); fs.s.appendChild(crumbs);
    flameBox = el("div", "flame"); fs.s.appendChild(flameBox);
    goneBox = el("div", "gonelist"); fs.s.appendChild(goneBox);
    var ds = section("mt-diff", "Changes by function");
    diffHint = ds.hint; diffBox = el("div", "tablewrap"); ds.s.appendChild(diffBox);
    main.appendChild(fs.s); main.appendChild(ds.s);
    document.body.appendChild(main);
    var errs = el("pre"); errs.id = "mt-errors"; document.body.appendChild(errs);
    document.body.appendChild(tip);
    document.body.appendChild(status);

    flameBox.addEventListener("click", function (ev) {
      var t = ev.target;
      if (t && t._node) { zoomed = { view: current, node: t._node }; drawFlame(); }
    });
    function hover(ev) {
      var t = ev.target;
      while (t && t !== document.body && !t.hasAttribute("data-fn")) { t = t.parentNode; }
      if (!t || t === document.body) { hideTip(); return; }
      showTip(ev, +t.getAttribute("data-fn"), t._node || null);
    }
    diffBox.addEventListener("click", function (ev) {
      var t = ev.target;
      while (t && t !== diffBox && t.tagName !== "TR") { t = t.parentNode; }
      if (!t || t === diffBox || !t.hasAttribute("data-fn")) { return; }
      search.value = fname(+t.getAttribute("data-fn"));
      query = search.value;
      redraw();
      document.getElementById("mt-flame").scrollIntoView();
    });
    [flameBox, goneBox, diffBox].forEach(function (box) {
      box.addEventListener("mousemove", hover);
      box.addEventListener("mouseleave", hideTip);
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && zoomed) { zoomed = null; drawFlame(); }
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(drawFlame, 150);
    });
    drawFlame(); drawGone(); drawDiffTable();
  }

  try {
    if (D.diff) { buildDiff(); } else { build(); }
    status.setAttribute("data-functions", String(F.length));
    status.setAttribute("data-ready", "1");
    // Time from navigation to a drawn page, for the size and speed checks.
    status.setAttribute("data-render-ms", String(Math.round(performance.now())));
    document.body.setAttribute("data-mt-ready", "1");
  } catch (e) {
    fail("error: " + (e && e.stack ? e.stack : e));
  }
})();
