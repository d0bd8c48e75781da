// techradar radar: draws the techs as blips on rings of priority, high in the
// centre, medium around it, low outside. Inline SVG drawn by plain JavaScript:
// nothing to build and nothing loaded from elsewhere. app.js hands it the list
// on every refresh through techradarRadar.render(techs).
"use strict";

window.techradarRadar = (() => {
  const svgNS = "http://www.w3.org/2000/svg"; // a namespace name, never fetched
  // The rings as fractions of the radar's radius. The outer rings are wider
  // because most techs have few mentions and so sit there.
  const rings = [
    { priority: "high", label: "High", inner: 0, outer: 0.36 },
    { priority: "medium", label: "Medium", inner: 0.36, outer: 0.68 },
    { priority: "low", label: "Low", inner: 0.68, outer: 1 },
  ];
  const maxBlips = 150; // more would be dots too small to read: the table lists them all
  const minSize = 260; // px; the radar's side follows its column between these
  const maxSize = 600;
  const padding = 4; // px between the outer ring and the edge
  const smallestRadius = 5; // a blip's radius, growing with mentions up to the largest
  const largestRadius = 15;
  const crowdedRadius = 3.5; // the least a blip shrinks to in a crowded ring
  const gap = 2.5; // px kept between two blips
  const roomyGap = 16; // px between two blips when their ring has room, for the labels
  const fillTarget = 0.42; // share of a ring's area blips may cover before they shrink
  const placementTries = 500; // candidate spots per blip before taking the least bad one
  const labelFont = 12; // px
  const smallLabelFont = 11; // px, on a radar narrower than 420 px
  const labelChars = 18; // longer names are cut with an ellipsis
  const shortLabelChars = 9; // and cut shorter where the longer label finds no room
  const ringLabelFont = 11;

  // fnv1a hashes a string to 32 bits, so that a tech's spot depends on its id
  // only and does not move between refreshes.
  function fnv1a(text) {
    let hash = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    return (hash >>> 0) / 4294967296;
  }

  function ringOf(priority) {
    return rings.find((ring) => ring.priority === priority) || rings[rings.length - 1];
  }

  // blipRadius grows with the logarithm of mentions, so that a tech mentioned
  // a thousand times is larger than one mentioned ten times but still fits.
  function blipRadius(mentions) {
    const m = Math.max(0, Number(mentions) || 0);
    return Math.min(largestRadius, smallestRadius + 2.3 * Math.log2(1 + m));
  }

  function shortName(name, chars) {
    return name.length > chars ? name.slice(0, chars - 1).trimEnd() + "…" : name;
  }

  // How far the circle (x, y, r) reaches into the rectangle box; 0 if apart.
  function circleIntoBox(x, y, r, box) {
    const nx = Math.max(box.x, Math.min(x, box.x + box.w));
    const ny = Math.max(box.y, Math.min(y, box.y + box.h));
    return Math.max(0, r - Math.hypot(x - nx, y - ny));
  }

  function boxesMeet(a, b) {
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  }

  // layout places the techs on a radar of side size, in px. It is a pure
  // function of the list, the size and measure (the width of a label), so the
  // same list gives the same picture. Each blip gets a spot in its ring: first
  // the one its id hashes to, then spots on a spiral around it until one is
  // clear of the blips placed before it. Techs are placed oldest first, so that
  // a new tech does not push the old ones around.
  function layout(techs, size, measure) {
    const centre = size / 2;
    const radius = size / 2 - padding;
    const measureText = measure || ((text, font) => text.length * font * 0.6);
    const ringLabels = rings.map((ring) => {
      const y = ring.inner === 0 ? centre - radius * ring.outer * 0.55 : centre - radius * (ring.inner + ring.outer) / 2;
      const w = measureText(ring.label.toUpperCase(), ringLabelFont) + 8;
      const h = ringLabelFont + 6;
      return { priority: ring.priority, text: ring.label, x: centre, y, box: { x: centre - w / 2, y: y - h / 2, w, h } };
    });

    const shown = techs.slice(0, maxBlips);
    const byRing = new Map(rings.map((ring) => [ring, []]));
    for (const tech of shown) byRing.get(ringOf(tech.priority)).push(tech);

    const placed = [];
    // Placed blips are kept in a grid of cells wider than any two blips and
    // their gap, so that a candidate spot is checked against its neighbours only.
    const cell = 2 * largestRadius + roomyGap + gap;
    const grid = new Map();
    const cellKey = (x, y) => Math.floor(x / cell) * 4096 + Math.floor(y / cell);
    // clashAt is how far a blip at (x, y) reaches into its neighbours or the
    // ring labels; 0 or less is clear. first stops at the first clash found.
    function clashAt(x, y, r, spacing, first) {
      let clash = 0;
      const cx = Math.floor(x / cell);
      const cy = Math.floor(y / cell);
      for (let i = cx - 1; i <= cx + 1; i++) {
        for (let j = cy - 1; j <= cy + 1; j++) {
          const near = grid.get(i * 4096 + j);
          if (!near) continue;
          for (const other of near) {
            const dx = x - other.x;
            const dy = y - other.y;
            const into = r + other.r + spacing - Math.sqrt(dx * dx + dy * dy);
            if (into > clash) {
              clash = into;
              if (first) return clash;
            }
          }
        }
      }
      for (const label of ringLabels) clash = Math.max(clash, circleIntoBox(x, y, r + gap, label.box));
      return clash;
    }
    for (const [ring, members] of byRing) {
      members.sort((a, b) => String(a.createdAt || "").localeCompare(String(b.createdAt || "")) || String(a.id).localeCompare(String(b.id)));
      const inner = radius * ring.inner;
      const outer = radius * ring.outer;
      // A crowded ring shrinks its blips so that they still fit side by side.
      const area = Math.PI * (outer * outer - inner * inner);
      const need = members.reduce((sum, tech) => sum + Math.PI * (blipRadius(tech.mentions) + gap) ** 2, 0);
      const shrink = need > 0 ? Math.min(1, Math.sqrt(fillTarget * area / need)) : 1;
      // Candidate spots step along a sunflower spiral, densely enough to cover
      // the whole ring within placementTries.
      const step = Math.max(2, (2 * outer) / Math.sqrt(placementTries));
      for (const tech of members) {
        const r = Math.max(crowdedRadius, blipRadius(tech.mentions) * shrink);
        const low = ring.inner === 0 ? 0 : inner + r + gap;
        const high = Math.max(low, outer - r - gap);
        const angle = fnv1a(String(tech.id)) * 2 * Math.PI;
        const distance = low + (0.15 + 0.7 * fnv1a(tech.id + "/distance")) * (high - low);
        const startX = centre + distance * Math.cos(angle);
        const startY = centre + distance * Math.sin(angle);
        // A ring with room first looks for a spot with space for a label
        // around the blip, then for any free spot, and last takes the spot
        // that overlaps least.
        const spacings = shrink === 1 ? [roomyGap, gap] : [gap];
        let bestX = startX; // a ring too thin for the blip leaves it at its hashed spot
        let bestY = startY;
        let bestClash = Infinity;
        for (let pass = 0; pass < spacings.length && bestClash > 0; pass++) {
          const last = pass === spacings.length - 1;
          for (let k = 0; k < placementTries; k++) {
            const spiral = step * Math.sqrt(k);
            const turn = k * 2.399963; // the golden angle
            const x = startX + spiral * Math.cos(turn);
            const y = startY + spiral * Math.sin(turn);
            const dx = x - centre;
            const dy = y - centre;
            const d = Math.sqrt(dx * dx + dy * dy);
            if (d < low || d > high) continue;
            const clash = clashAt(x, y, r, spacings[pass], !last);
            if (clash <= 0 || (last && clash < bestClash)) {
              bestX = x;
              bestY = y;
              bestClash = clash;
              if (clash <= 0) break;
            }
          }
        }
        const blip = { id: tech.id, name: tech.name, priority: ring.priority, mentions: tech.mentions, x: bestX, y: bestY, r, label: null };
        placed.push(blip);
        const key = cellKey(bestX, bestY);
        if (!grid.has(key)) grid.set(key, []);
        grid.get(key).push(blip);
      }
    }

    // Labels go right, left, above, below or at a corner of their blip, the
    // most mentioned first; a label with no free spot is left out (hover, focus
    // and the table still name the tech).
    const taken = ringLabels.map((label) => label.box);
    const byMentions = [...placed].sort((a, b) => b.mentions - a.mentions || String(a.id).localeCompare(String(b.id)));
    const font = size < 420 ? smallLabelFont : labelFont;
    for (const blip of byMentions) {
      // A long name that finds no room is tried again cut shorter.
      const full = shortName(String(blip.name), labelChars);
      const texts = full.length > shortLabelChars + 1 ? [full, shortName(full, shortLabelChars)] : [full];
      for (const text of texts) {
        if (placeLabel(blip, text)) break;
      }
    }

    function placeLabel(blip, text) {
      const w = measureText(text, font);
      const h = font + 2;
      const side = blip.r * 0.7; // a corner spot starts off the blip's diagonal
      const spots = [
        { anchor: "start", box: { x: blip.x + blip.r + 3, y: blip.y - h / 2, w, h } },
        { anchor: "end", box: { x: blip.x - blip.r - 3 - w, y: blip.y - h / 2, w, h } },
        { anchor: "middle", box: { x: blip.x - w / 2, y: blip.y - blip.r - 1 - h, w, h } },
        { anchor: "middle", box: { x: blip.x - w / 2, y: blip.y + blip.r + 1, w, h } },
        { anchor: "start", box: { x: blip.x + side + 1, y: blip.y - side - h, w, h } },
        { anchor: "start", box: { x: blip.x + side + 1, y: blip.y + side, w, h } },
        { anchor: "end", box: { x: blip.x - side - 1 - w, y: blip.y - side - h, w, h } },
        { anchor: "end", box: { x: blip.x - side - 1 - w, y: blip.y + side, w, h } },
      ];
      for (const spot of spots) {
        const b = spot.box;
        if (b.x < 0 || b.y < 0 || b.x + b.w > size || b.y + b.h > size) continue;
        if (taken.some((other) => boxesMeet(b, other))) continue;
        if (placed.some((other) => other !== blip && circleIntoBox(other.x, other.y, other.r + 1, b) > 0)) continue;
        taken.push(b);
        const x = spot.anchor === "start" ? b.x : spot.anchor === "end" ? b.x + b.w : b.x + b.w / 2;
        blip.label = { text, font, anchor: spot.anchor, dx: x - blip.x, dy: b.y + b.h / 2 - blip.y };
        return true;
      }
      return false;
    }

    return {
      size,
      centre,
      rings: rings.map((ring) => ({ priority: ring.priority, label: ring.label, inner: radius * ring.inner, outer: radius * ring.outer })),
      ringLabels,
      blips: placed,
      hidden: techs.length - shown.length,
    };
  }

  // ---------------------------------------------------------------- drawing

  const root = document.getElementById("radar");
  if (!root) return { layout, render() {} };
  const svg = root.querySelector("svg");
  const ringLayer = svg.querySelector(".radar-rings");
  const blipLayer = svg.querySelector(".radar-blips");
  const desc = svg.querySelector("desc");
  const tip = root.querySelector(".radar-tip");
  const tipName = tip.querySelector(".radar-tip-name");
  const tipPriority = tip.querySelector(".radar-tip-priority");
  const tipMentions = tip.querySelector(".radar-tip-mentions");

  const blips = new Map(); // tech id -> { g, circle, count, label, tech, blip }
  let lastTechs = null;
  let lastKey = "";
  let drawnOnce = false;
  let tipFor = null; // the id whose numbers the tip shows
  let tipPinned = false; // a tap keeps the tip open until the next tap elsewhere

  function el(name, attrs) {
    const node = document.createElementNS(svgNS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  // measure gives a label's width as the browser draws it, cached per text.
  const widths = new Map();
  const probe = el("text", { class: "radar-probe", x: -1000, y: -1000, "aria-hidden": "true" });
  svg.append(probe);
  function measure(text, font) {
    const key = font + "\u0000" + text;
    let w = widths.get(key);
    if (w === undefined) {
      probe.style.fontSize = font + "px";
      probe.textContent = text;
      w = probe.getComputedTextLength() || text.length * font * 0.6;
      if (widths.size > 2000) widths.clear(); // bounded: names come and go
      widths.set(key, w);
    }
    return w;
  }

  function currentSize() {
    const width = root.clientWidth || maxSize;
    return Math.round(Math.max(minSize, Math.min(maxSize, width)));
  }

  function drawRings(picture) {
    const c = picture.centre;
    const parts = [];
    for (const ring of [...picture.rings].reverse()) {
      parts.push(el("circle", { class: "radar-ring radar-ring-" + ring.priority, cx: c, cy: c, r: ring.outer, "data-priority": ring.priority, "data-inner": ring.inner.toFixed(2), "data-outer": ring.outer.toFixed(2) }));
    }
    const outer = picture.rings[picture.rings.length - 1].outer;
    parts.push(el("line", { class: "radar-axis", x1: c - outer, y1: c, x2: c + outer, y2: c }));
    parts.push(el("line", { class: "radar-axis", x1: c, y1: c - outer, x2: c, y2: c + outer }));
    for (const label of picture.ringLabels) {
      const text = el("text", { class: "radar-ring-label radar-ring-label-" + label.priority, x: label.x, y: label.y, "text-anchor": "middle", "dominant-baseline": "central" });
      text.textContent = label.text;
      parts.push(text);
    }
    ringLayer.replaceChildren(...parts);
  }

  function describe(tech) {
    const n = tech.mentions;
    return `${tech.name}: ${tech.priority} priority, ${n} ${n === 1 ? "mention" : "mentions"}`;
  }

  function newBlip(id) {
    const g = el("g", { class: "blip", role: "img", tabindex: -1, "data-id": id });
    const circle = el("circle", { cx: 0, cy: 0 });
    const count = el("text", { class: "blip-count", x: 0, y: 0, "text-anchor": "middle", "dominant-baseline": "central", "aria-hidden": "true" });
    const label = el("text", { class: "blip-label", "dominant-baseline": "central", "aria-hidden": "true" });
    g.append(circle, count, label);
    return { g, circle, count, label };
  }

  function fillBlip(entry, tech, blip) {
    const { g, circle, count, label } = entry;
    g.setAttribute("class", "blip blip-" + blip.priority);
    g.dataset.name = tech.name;
    g.dataset.priority = blip.priority;
    g.dataset.mentions = String(tech.mentions);
    g.setAttribute("aria-label", describe(tech));
    // CSS transforms, not the attribute, so that a blip that moves glides there.
    g.style.transform = `translate(${blip.x.toFixed(1)}px, ${blip.y.toFixed(1)}px)`;
    circle.setAttribute("r", blip.r.toFixed(2));
    // The count is written inside the blip when it fits there.
    const digits = String(tech.mentions);
    const countFont = Math.min(11, blip.r * 0.95);
    const fits = blip.r >= 8 && digits.length * countFont * 0.62 <= 2 * blip.r - 3;
    count.textContent = fits ? digits : "";
    count.style.fontSize = countFont.toFixed(1) + "px";
    if (blip.label) {
      label.textContent = blip.label.text;
      label.style.fontSize = blip.label.font + "px";
      label.setAttribute("x", blip.label.dx.toFixed(1));
      label.setAttribute("y", blip.label.dy.toFixed(1));
      label.setAttribute("text-anchor", blip.label.anchor);
    } else {
      label.textContent = "";
    }
    entry.tech = tech;
    entry.blip = blip;
  }

  function flash(g) {
    g.classList.remove("blip-flash");
    void g.getBoundingClientRect(); // restarts the animation on a blip that flashed before
    g.classList.add("blip-flash");
  }

  // draw lays the techs out again and updates the blips in place, keyed by id,
  // like the table's rows; a tech whose mentions changed flashes.
  function draw(techs, force) {
    const size = currentSize();
    const key = size + "|" + techs.map((t) => `${t.id}\u0000${t.name}\u0000${t.priority}\u0000${t.mentions}\u0000${t.createdAt || ""}`).join("\u0001");
    if (!force && key === lastKey) return;
    lastKey = key;
    const picture = layout(techs, size, measure);
    svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
    drawRings(picture);

    const byId = new Map(techs.map((tech) => [tech.id, tech]));
    const seen = new Set();
    // The blips follow the table's order, which is also the order of Tab and arrow keys.
    const order = new Map(techs.map((tech, index) => [tech.id, index]));
    const ordered = [...picture.blips].sort((a, b) => order.get(a.id) - order.get(b.id));
    ordered.forEach((blip, index) => {
      seen.add(blip.id);
      const tech = byId.get(blip.id);
      let entry = blips.get(blip.id);
      const changed = !entry || entry.tech.mentions !== tech.mentions;
      if (!entry) {
        entry = newBlip(blip.id);
        blips.set(blip.id, entry);
      }
      fillBlip(entry, tech, blip);
      if (blipLayer.children[index] !== entry.g) blipLayer.insertBefore(entry.g, blipLayer.children[index] || null);
      if (changed && drawnOnce) flash(entry.g);
    });
    for (const [id, entry] of blips) {
      if (!seen.has(id)) {
        entry.g.remove();
        blips.delete(id);
      }
    }
    // One Tab stop for the whole radar; arrows move between blips.
    const focused = blipLayer.querySelector(".blip:focus");
    const stop = focused || blipLayer.querySelector('.blip[tabindex="0"]') || blipLayer.firstElementChild;
    for (const g of blipLayer.children) g.setAttribute("tabindex", g === stop ? "0" : "-1");

    const counts = Object.fromEntries(rings.map((ring) => [ring.priority, 0]));
    for (const blip of picture.blips) counts[blip.priority]++;
    let text = `Rings of priority: high in the centre, then medium, then low outside. ${counts.high} high, ${counts.medium} medium, ${counts.low} low. ` +
      "Each dot is a technology; the more mentions, the larger the dot. The table lists the same technologies.";
    if (picture.hidden > 0) text += ` The ${picture.hidden} least mentioned are in the table only.`;
    desc.textContent = text;

    if (!drawnOnce) {
      drawnOnce = true;
      // Blips glide only from the second drawing on, not in from the corner.
      requestAnimationFrame(() => svg.classList.add("radar-live"));
    }
    if (tipFor) {
      const entry = blips.get(tipFor);
      if (entry) showTip(entry); else hideTip();
    }
  }

  function render(techs) {
    lastTechs = Array.isArray(techs) ? techs : [];
    root.hidden = lastTechs.length === 0;
    if (!root.hidden) draw(lastTechs, false);
  }

  // ------------------------------------------------------------- the tip

  function showTip(entry) {
    const { tech, blip } = entry;
    tipFor = tech.id;
    tipName.textContent = tech.name;
    tipPriority.className = "radar-tip-priority priority priority-" + blip.priority;
    tipPriority.textContent = blip.priority;
    tipMentions.textContent = `${tech.mentions} ${tech.mentions === 1 ? "mention" : "mentions"}`;
    tip.dataset.id = tech.id;
    tip.hidden = false;
    // The tip sits above the blip, or below it near the top, inside the radar.
    const box = svg.getBoundingClientRect();
    const rootBox = root.getBoundingClientRect();
    const scale = box.width / (Number(svg.viewBox.baseVal.width) || box.width);
    const x = box.left - rootBox.left + blip.x * scale;
    const y = box.top - rootBox.top + blip.y * scale;
    const r = blip.r * scale;
    const w = tip.offsetWidth;
    const h = tip.offsetHeight;
    const left = Math.max(0, Math.min(root.clientWidth - w, x - w / 2));
    const top = y - r - 8 - h >= 0 ? y - r - 8 - h : y + r + 8;
    tip.style.left = left.toFixed(0) + "px";
    tip.style.top = top.toFixed(0) + "px";
  }

  function hideTip() {
    tipFor = null;
    tipPinned = false;
    tip.hidden = true;
  }

  function entryOf(target) {
    const g = target instanceof Element ? target.closest(".blip") : null;
    return g ? blips.get(g.dataset.id) : undefined;
  }

  svg.addEventListener("pointerover", (event) => {
    const entry = entryOf(event.target);
    if (entry && !tipPinned) showTip(entry);
  });
  svg.addEventListener("pointerout", (event) => {
    const entry = entryOf(event.target);
    if (entry && !tipPinned && !entry.g.contains(event.relatedTarget) && document.activeElement !== entry.g) hideTip();
  });
  svg.addEventListener("click", (event) => {
    const entry = entryOf(event.target);
    if (!entry) return;
    tipPinned = true;
    // The tapped blip takes the focus too, so that the keys go on from it.
    if (document.activeElement !== entry.g) entry.g.focus({ preventScroll: true });
    showTip(entry);
  });
  document.addEventListener("click", (event) => {
    if (tipPinned && !(event.target instanceof Element && event.target.closest("#radar .blip"))) hideTip();
  });
  svg.addEventListener("focusin", (event) => {
    const entry = entryOf(event.target);
    if (!entry) return;
    for (const g of blipLayer.children) g.setAttribute("tabindex", g === entry.g ? "0" : "-1");
    showTip(entry);
  });
  svg.addEventListener("focusout", (event) => {
    if (!svg.contains(event.relatedTarget) && !tipPinned) hideTip();
  });
  svg.addEventListener("keydown", (event) => {
    const entry = entryOf(event.target);
    if (!entry) return;
    const all = [...blipLayer.children];
    const at = all.indexOf(entry.g);
    let next = -1;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = Math.min(all.length - 1, at + 1);
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = Math.max(0, at - 1);
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = all.length - 1;
    else if (event.key === "Escape") { hideTip(); return; }
    else return;
    event.preventDefault();
    all[next].focus();
  });

  // A narrower or wider column draws the radar again at its new size.
  if (typeof ResizeObserver === "function") {
    let pending = false;
    new ResizeObserver(() => {
      if (pending || !lastTechs || root.hidden) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        draw(lastTechs, false);
      });
    }).observe(root);
  }

  return { layout, render };
})();
