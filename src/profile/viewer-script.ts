/**
 * The script embedded in every flame graph SVG: details on hover, click to zoom, reset, regex search with the share
 * of samples matched, Ctrl-F, and `?s=regex` / `?x=...&d=...` in the URL to restore a view. Plain browser JavaScript;
 * it must not contain the CDATA terminator.
 */
export const viewerScript = String.raw`
(function () {
  'use strict';
  var svg = document.documentElement;
  var total = +svg.getAttribute('data-total');
  var pad = +svg.getAttribute('data-pad');
  var fontSize = +svg.getAttribute('data-font-size');
  var minWidth = +svg.getAttribute('data-min-width');
  var nameType = svg.getAttribute('data-name-type');
  var width = +svg.getAttribute('width');
  var details, unzoomButton, searchButton, caseButton, matchedText;
  var frames = [];
  var zoomed = null;
  var searchTerm = null;
  var ignoreCase = false;
  var matchColour = 'rgb(230,0,230)';

  function label(name, w) {
    var fits = Math.floor((w - 6) / (fontSize * 0.59));
    if (fits < 3) return '';
    return name.length <= fits ? name : name.slice(0, fits - 2) + '..';
  }

  function place(f, x, w) {
    f.rect.setAttribute('x', x.toFixed(1));
    f.rect.setAttribute('width', w.toFixed(1));
    f.text.setAttribute('x', (x + 3).toFixed(1));
    f.text.textContent = label(f.name, w);
  }

  function init() {
    details = document.getElementById('details').firstChild;
    unzoomButton = document.getElementById('unzoom');
    searchButton = document.getElementById('search');
    caseButton = document.getElementById('ignorecase');
    matchedText = document.getElementById('matched');
    var groups = document.getElementById('frames').getElementsByTagName('g');
    for (var i = 0; i < groups.length; i++) {
      var g = groups[i];
      var title = g.getElementsByTagName('title')[0].textContent;
      var f = {
        g: g,
        rect: g.getElementsByTagName('rect')[0],
        text: g.getElementsByTagName('text')[0],
        title: title,
        name: title.slice(0, title.lastIndexOf(' (')),
        x: +g.getAttribute('data-x'),
        v: +g.getAttribute('data-v'),
        d: +g.getAttribute('data-d'),
        fill: null,
      };
      f.fill = f.rect.getAttribute('fill');
      g.__frame = f;
      frames.push(f);
    }
    var container = document.getElementById('frames');
    container.addEventListener('click', function (e) {
      var f = frameOf(e.target);
      if (f) zoom(f);
    });
    container.addEventListener('mouseover', function (e) {
      var f = frameOf(e.target);
      if (f) details.nodeValue = nameType + ' ' + f.title;
    });
    container.addEventListener('mouseout', function () {
      details.nodeValue = ' ';
    });
    unzoomButton.addEventListener('click', unzoom);
    searchButton.addEventListener('click', function () {
      if (searchTerm === null) askSearch();
      else resetSearch();
    });
    caseButton.addEventListener('click', function () {
      ignoreCase = !ignoreCase;
      caseButton.style.fontWeight = ignoreCase ? 'bold' : 'normal';
      if (searchTerm !== null) search(searchTerm);
    });
    window.addEventListener('keydown', function (e) {
      if ((e.ctrlKey || e.metaKey) && e.key === 'f') {
        e.preventDefault();
        askSearch();
      } else if (e.key === 'Escape') {
        resetSearch();
        unzoom();
      }
    });
    var params = new URLSearchParams(window.location.search);
    if (params.get('x') !== null && params.get('d') !== null) {
      for (var j = 0; j < frames.length; j++) {
        if (frames[j].x === +params.get('x') && frames[j].d === +params.get('d')) zoom(frames[j]);
      }
    }
    if (params.get('s')) search(params.get('s'));
  }

  function frameOf(node) {
    while (node && node !== svg) {
      if (node.__frame) return node.__frame;
      node = node.parentNode;
    }
    return null;
  }

  function zoom(target) {
    zoomed = target;
    var scale = (width - 2 * pad) / target.v;
    var end = target.x + target.v;
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      var inside = f.x >= target.x && f.x + f.v <= end + 1e-9;
      if (f.d >= target.d && inside) {
        var w = f.v * scale;
        f.g.classList.remove('parent');
        f.g.classList.toggle('hide', w < minWidth);
        place(f, pad + (f.x - target.x) * scale, w);
      } else if (f.d < target.d && f.x <= target.x && f.x + f.v >= end - 1e-9) {
        f.g.classList.add('parent');
        f.g.classList.remove('hide');
        place(f, pad, width - 2 * pad);
      } else {
        f.g.classList.add('hide');
      }
    }
    unzoomButton.classList.remove('hide');
  }

  function unzoom() {
    if (zoomed === null) return;
    zoomed = null;
    var scale = total > 0 ? (width - 2 * pad) / total : 0;
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      f.g.classList.remove('parent', 'hide');
      place(f, pad + f.x * scale, f.v * scale);
    }
    unzoomButton.classList.add('hide');
  }

  function askSearch() {
    var term = window.prompt('Search for (regular expression):', searchTerm === null ? '' : searchTerm);
    if (term) search(term);
  }

  function resetSearch() {
    searchTerm = null;
    for (var i = 0; i < frames.length; i++) frames[i].rect.setAttribute('fill', frames[i].fill);
    matchedText.textContent = ' ';
    searchButton.textContent = 'Search';
  }

  function search(term) {
    var re;
    try {
      re = new RegExp(term, ignoreCase ? 'i' : '');
    } catch (err) {
      matchedText.textContent = 'Invalid regular expression';
      return;
    }
    searchTerm = term;
    var matches = [];
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      if (f.d > 0 && re.test(f.name)) {
        f.rect.setAttribute('fill', matchColour);
        matches.push(f);
      } else {
        f.rect.setAttribute('fill', f.fill);
      }
    }
    // Nested matches (recursion, a caller and its callee) cover the same samples: count their union once.
    matches.sort(function (a, b) { return a.x - b.x || b.v - a.v; });
    var covered = 0, reach = -Infinity;
    for (var j = 0; j < matches.length; j++) {
      var m = matches[j];
      var start = Math.max(m.x, reach);
      var stop = m.x + m.v;
      if (stop > start) covered += stop - start;
      if (stop > reach) reach = stop;
    }
    var share = total > 0 ? (100 * covered) / total : 0;
    matchedText.textContent = 'Matched: ' + share.toFixed(1) + '% (' + matches.length + ' frames)';
    searchButton.textContent = 'Reset Search';
  }

  if (document.readyState === 'loading') window.addEventListener('load', init);
  else init();
})();
`;
