// The style sheet and the script embedded in every flame graph. The script
// reads the frames from the SVG itself (data-x: start, data-v: value, data-d:
// depth, data-n: name), so the page needs nothing but its own markup.
//
// Zoom: a click on a frame lays out that frame's subtree across the full
// width, its ancestors full width below it, and hides everything else;
// a click on the root frame, "Reset zoom" or Escape undoes it.
// Search: a regular expression (a plain string when it is not one) colours
// matching frames and prints their share, counting nested matches once.
// A link may carry both: page.html#zoom=NAME&search=TEXT.
// Hottest path: from the zoomed frame up, the widest child at each level,
// measured on the rendered page; it is written into #hotpath (text and a
// JSON data-path attribute) after every layout, and data-rendered on the
// <svg> counts the frames laid out, so that a headless browser's DOM dump
// shows what was really drawn.
//
// Both texts sit in CDATA sections: they must never contain "]]>".
#pragma once

#include <string_view>

namespace profpre {

inline constexpr std::string_view kFlameCss = R"CSS(
#controls { font: 13px sans-serif; padding: 6px 8px; color: #222; }
#controls .title { font-weight: bold; margin-bottom: 5px; white-space: nowrap; overflow: hidden; }
#search { width: 280px; }
#matched { margin-left: 8px; color: #7a1f8a; }
#controls .legend { margin-top: 5px; font-size: 12px; white-space: nowrap; overflow: hidden; }
#controls .lib { margin-right: 12px; }
#controls .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 3px;
  border: 1px solid #777; vertical-align: middle; }
g.f { cursor: pointer; }
g.f rect { stroke: #fbfbf8; stroke-width: 0.6; }
g.f:hover rect { stroke: #000; }
g.f text { pointer-events: none; fill: #111; }
#details { font-size: 12px; fill: #222; }
#hotpath { font: 12px sans-serif; color: #222; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; padding: 0 4px; }
)CSS";

inline constexpr std::string_view kFlameScript = R"JS(
(function () {
  'use strict';
  var svg = document.getElementById('flame');
  var width = Number(svg.getAttribute('data-width'));
  var charWidth = Number(svg.getAttribute('data-char-width'));
  var pad = 3;
  var matchColor = '#d21fd9';
  var frames = Array.prototype.map.call(document.querySelectorAll('g.f'), function (g) {
    var rect = g.querySelector('rect');
    return {
      g: g, rect: rect, text: g.querySelector('text'),
      x: Number(g.getAttribute('data-x')), v: Number(g.getAttribute('data-v')),
      d: Number(g.getAttribute('data-d')), name: g.getAttribute('data-n'),
      fill: rect.getAttribute('fill'), title: g.querySelector('title').textContent
    };
  });
  var total = frames.length ? frames[0].v : 0;
  var zoomed = 0;
  var details = document.getElementById('details');
  var hotpath = document.getElementById('hotpath');
  var matched = document.getElementById('matched');
  var search = document.getElementById('search');

  function fit(name, w) {
    var chars = Math.floor((w - 2 * pad) / charWidth);
    if (chars < 3) return '';
    if (name.length <= chars) return name;
    return name.slice(0, chars - 2) + '..';
  }

  function inside(f, z) {
    return f.x >= z.x && f.x + f.v <= z.x + z.v;
  }

  function place(f, x, w) {
    f.g.style.display = '';
    f.rect.setAttribute('x', x.toFixed(2));
    f.rect.setAttribute('width', w.toFixed(2));
    f.text.setAttribute('x', (x + pad).toFixed(2));
    f.text.textContent = fit(f.name, w);
  }

  function layout() {
    var z = frames[zoomed];
    var shown = 0;
    frames.forEach(function (f) {
      var x = 0, w = 0;
      if (f.d <= z.d) {
        if (f.x <= z.x && z.x + z.v <= f.x + f.v) w = width;
      } else if (inside(f, z)) {
        x = (f.x - z.x) / z.v * width;
        w = f.v / z.v * width;
      }
      if (w < 0.1) {
        f.g.style.display = 'none';
        return;
      }
      place(f, x, w);
      shown++;
    });
    svg.setAttribute('data-rendered', String(shown));
    showHotPath();
  }

  // The widest visible child, by the width the browser rendered.
  function widestChild(parent) {
    var best = null, bestWidth = 0;
    frames.forEach(function (f) {
      if (f.d !== parent.d + 1 || f.g.style.display === 'none' || !inside(f, parent)) return;
      var w = f.rect.getBoundingClientRect().width;
      if (w > bestWidth) {
        best = f;
        bestWidth = w;
      }
    });
    return best;
  }

  function showHotPath() {
    var names = [];
    for (var f = frames[zoomed]; f !== null; f = widestChild(f)) names.push(f.name);
    hotpath.setAttribute('data-path', JSON.stringify(names));
    hotpath.textContent = 'Hottest path: ' + names.join(' \u203a ');
  }

  function percent(part) {
    return total > 0 ? (100 * part / total).toFixed(1) + '%' : '-';
  }

  function pattern(text) {
    if (text === '') return null;
    try {
      return new RegExp(text, 'i');
    } catch (e) {
      return new RegExp(text.replace(/[.*+?^${}()|\[\]\\\/]/g, '\\$&'), 'i');
    }
  }

  // Matching frames are coloured; nested matches are counted once.
  function find(text) {
    var re = pattern(text);
    var spans = [];
    frames.forEach(function (f) {
      var hit = re !== null && f.d > 0 && re.test(f.name);
      f.rect.setAttribute('fill', hit ? matchColor : f.fill);
      if (hit) spans.push([f.x, f.x + f.v]);
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var covered = 0, end = -Infinity;
    spans.forEach(function (s) {
      if (s[1] <= end) return;
      covered += s[1] - Math.max(s[0], end);
      end = s[1];
    });
    matched.setAttribute('data-share', re === null ? '' : String(covered / (total || 1)));
    matched.textContent = re === null ? '' :
        spans.length + ' frames match: ' + percent(covered) + ' of the total';
  }

  function zoom(index) {
    zoomed = index;
    layout();
  }

  frames.forEach(function (f, index) {
    f.g.addEventListener('click', function () { zoom(index); });
    f.g.addEventListener('mouseenter', function () { details.textContent = f.title; });
    f.g.addEventListener('mouseleave', function () { details.textContent = ''; });
  });
  document.getElementById('reset').addEventListener('click', function () { zoom(0); });
  search.addEventListener('input', function () { find(search.value); });
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') return;
    search.value = '';
    find('');
    zoom(0);
  });
  if (frames.length) layout();
  // A link can carry a zoom and a search: page.html#zoom=main&search=malloc
  var zoomTo = /[#&]zoom=([^&]*)/.exec(location.hash);
  if (zoomTo) {
    var name = decodeURIComponent(zoomTo[1]);
    var index = frames.findIndex(function (f) { return f.name === name; });
    if (index >= 0) zoom(index);
  }
  var searchFor = /[#&]search=([^&]*)/.exec(location.hash);
  if (searchFor) {
    search.value = decodeURIComponent(searchFor[1]);
    find(search.value);
  }
}());
)JS";

}  // namespace profpre
