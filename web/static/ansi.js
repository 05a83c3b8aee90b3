// ansi.js renders one line of program output as a terminal shows it: SGR
// colours and attributes, "\r", "\b", erase-in-line and cursor moves within
// the line, and OSC 8 links to http(s) only. Every other escape and control
// character is dropped. Text only ever goes into the page as text nodes.
//
//   var st = GafferANSI.newState();
//   st = GafferANSI.render(el, line, st); // appends to el, returns the state after the line
//   GafferANSI.plain(line)                 // the visible text only
//   GafferANSI.after(line, st)             // the state after the line, nothing drawn
//
// The state carries the SGR attributes and an open OSC 8 link from one line
// to the next (per host and stream); it is immutable, so a caller may keep
// one per line to reopen the log anywhere.
//
// A tab is kept as one tab character (one cell); the browser's tab-size (8)
// lays it out. A cell is one code point (wide characters count as one).
var GafferANSI = (function () {
  "use strict";

  var BOLD = 1, DIM = 2, ITALIC = 4, UNDER = 8, REVERSE = 16, HIDDEN = 32, STRIKE = 64;

  // A pen is what a terminal draws text with. fg and bg: -1 the default,
  // 0..255 a palette index, 256 + 0xRRGGBB a 24-bit colour. link: the href
  // of an open OSC 8 link (already checked to be http or https) or null.
  // Pens are never changed once made, so lines and callers may share them.
  function Pen(fg, bg, attrs, link) {
    this.fg = fg;
    this.bg = bg;
    this.attrs = attrs;
    this.link = link;
    this.next = null; // memo: SGR parameters -> the pen after them
    this.nNext = 0;
    this.tmpl = null; // memo: the span this pen draws with, to clone
  }
  var DEFAULT = new Pen(-1, -1, 0, null);

  function samePen(a, b) {
    return a === b || (a.fg === b.fg && a.bg === b.bg && a.attrs === b.attrs && a.link === b.link);
  }
  function plainPen(p) {
    return p.fg === -1 && p.bg === -1 && p.attrs === 0;
  }

  // SPECIAL finds what is not plain text: C0 controls but tab, DEL, C1.
  var SPECIAL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;
  var SPECIAL_G = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

  // The cursor never goes past this column unless the line is longer, so a
  // hostile ESC[99999999C cannot make a huge line of padding.
  var MAXCOL = 4096;

  // Line is the row of cells a terminal keeps. While text is only appended
  // it holds whole chunks (one entry per piece of text); the first write or
  // erase before its end splits it into one cell per code point.
  function Line() {
    this.cells = [];
    this.pens = [];
    this.chunked = true;
    this.len = 0; // columns
    this.col = 0; // cursor
  }

  function cpLen(s) {
    var n = s.length;
    if (!/[\uD800-\uDFFF]/.test(s)) return n;
    for (var i = 0; i < s.length - 1; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
      }
    }
    return n;
  }

  // pushCells appends s to cells/pens one code point per cell.
  function pushCells(cells, pens, s, pen) {
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          cells.push(s.substr(i, 2));
          pens.push(pen);
          i++;
          continue;
        }
      }
      cells.push(s.charAt(i));
      pens.push(pen);
    }
  }

  function explode(line) {
    if (!line.chunked) return;
    var cells = [], pens = [];
    for (var i = 0; i < line.cells.length; i++) pushCells(cells, pens, line.cells[i], line.pens[i]);
    line.cells = cells;
    line.pens = pens;
    line.chunked = false;
  }

  function spaces(n) {
    return new Array(n + 1).join(" ");
  }

  function write(line, s, pen) {
    if (line.col >= line.len) {
      if (line.col > line.len) { // the cursor moved past the end: blank cells
        var pad = spaces(line.col - line.len);
        if (line.chunked) { line.cells.push(pad); line.pens.push(DEFAULT); } else pushCells(line.cells, line.pens, pad, DEFAULT);
        line.len = line.col;
      }
      if (line.chunked) {
        line.cells.push(s);
        line.pens.push(pen);
        var n = cpLen(s);
        line.len += n;
        line.col += n;
      } else {
        pushCells(line.cells, line.pens, s, pen);
        line.len = line.cells.length;
        line.col = line.len;
      }
      return;
    }
    // Overwrite from the cursor on, as a terminal does.
    explode(line);
    var tmpC = [], tmpP = [];
    pushCells(tmpC, tmpP, s, pen);
    for (var i = 0; i < tmpC.length; i++) {
      line.cells[line.col] = tmpC[i];
      line.pens[line.col] = pen;
      line.col++;
    }
    line.len = line.cells.length;
  }

  function clearLine(line) {
    line.cells = [];
    line.pens = [];
    line.chunked = true;
    line.len = 0;
  }

  // erase is ESC[nK. Erased cells are blanks; blanks at the end of the line
  // are not kept (a terminal shows nothing there either).
  function erase(line, mode) {
    if (mode === 0) {
      if (line.col === 0) clearLine(line);
      else if (line.col < line.len) {
        explode(line);
        line.cells.length = line.col;
        line.pens.length = line.col;
        line.len = line.col;
      }
    } else if (mode === 1) {
      if (line.col >= line.len - 1) clearLine(line);
      else {
        explode(line);
        for (var i = 0; i <= line.col; i++) { line.cells[i] = " "; line.pens[i] = DEFAULT; }
      }
    } else if (mode === 2) {
      clearLine(line);
    }
  }

  function moveTo(line, col) {
    if (col < 0) col = 0;
    var max = line.len > MAXCOL ? line.len : MAXCOL;
    line.col = col > max ? max : col;
  }

  // num reads one numeric parameter: empty is 0; -1 if it is out of range.
  function num(s) {
    if (s === undefined) return -1;
    if (s === "") return 0;
    if (s.length > 9) return -1;
    var n = +s;
    return n === n ? n : -1;
  }

  function rgb(r, g, b) {
    if (r < 0 || r > 255 || g < 0 || g > 255 || b < 0 || b > 255) return null;
    return 256 + ((r << 16) | (g << 8) | b);
  }

  // colonColour reads 38:5:n, 38:2:r:g:b and 38:2:cs:r:g:b (ITU T.416).
  function colonColour(sub) {
    var kind = num(sub[1]);
    if (kind === 5) {
      var n = num(sub[2]);
      return n >= 0 && n <= 255 ? n : null;
    }
    if (kind === 2) {
      if (sub.length >= 6) return rgb(num(sub[3]), num(sub[4]), num(sub[5]));
      if (sub.length === 5) return rgb(num(sub[2]), num(sub[3]), num(sub[4]));
    }
    return null;
  }

  // sgr returns the pen after "ESC[" + ps + "m". Output repeats the same
  // few sequences, so each pen remembers where they lead: the same pens come
  // back (cheap to compare) and nothing is parsed twice.
  function sgr(pen, ps) {
    if (pen.next === null) pen.next = Object.create(null);
    var memo = pen.next[ps];
    if (memo !== undefined) return memo;
    var r = sgrParse(pen, ps);
    if (pen.nNext < 64 && memoLeft > 0) { pen.next[ps] = r; pen.nNext++; memoLeft--; }
    return r;
  }
  // Memoized pens stay reachable from DEFAULT for the life of the page:
  // a bound keeps varied (or hostile) output from growing the memo for ever.
  var memoLeft = 4096;

  function sgrParse(pen, ps) {
    var fg = pen.fg, bg = pen.bg, a = pen.attrs;
    var parts = ps.split(";");
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i], c;
      if (p.indexOf(":") >= 0) {
        var sub = p.split(":");
        c = num(sub[0]);
        if (c === 38 || c === 48 || c === 58) {
          var col = colonColour(sub);
          if (col !== null) {
            if (c === 38) fg = col;
            else if (c === 48) bg = col;
          }
          continue;
        }
        if (c === 4) { // 4:0 no underline, 4:1..5 underline styles
          a = num(sub[1]) === 0 ? a & ~UNDER : a | UNDER;
          continue;
        }
      } else {
        c = num(p);
      }
      if (c === 38 || c === 48 || c === 58) {
        var kind = num(parts[i + 1]), v = null;
        if (kind === 5) {
          var n = num(parts[i + 2]);
          if (n >= 0 && n <= 255) v = n;
          i += 2;
        } else if (kind === 2) {
          v = rgb(num(parts[i + 2]), num(parts[i + 3]), num(parts[i + 4]));
          i += 4;
        } else {
          break; // unknown colour form: the rest cannot be read reliably
        }
        if (v !== null) {
          if (c === 38) fg = v;
          else if (c === 48) bg = v;
        }
        continue;
      }
      if (c === 0) { fg = -1; bg = -1; a = 0; }
      else if (c === 1) a |= BOLD;
      else if (c === 2) a |= DIM;
      else if (c === 3) a |= ITALIC;
      else if (c === 4) a |= UNDER;
      else if (c === 7) a |= REVERSE;
      else if (c === 8) a |= HIDDEN;
      else if (c === 9) a |= STRIKE;
      else if (c === 21) a &= ~BOLD;
      else if (c === 22) a &= ~(BOLD | DIM);
      else if (c === 23) a &= ~ITALIC;
      else if (c === 24) a &= ~UNDER;
      else if (c === 27) a &= ~REVERSE;
      else if (c === 28) a &= ~HIDDEN;
      else if (c === 29) a &= ~STRIKE;
      else if (c >= 30 && c <= 37) fg = c - 30;
      else if (c === 39) fg = -1;
      else if (c >= 40 && c <= 47) bg = c - 40;
      else if (c === 49) bg = -1;
      else if (c >= 90 && c <= 97) fg = c - 90 + 8;
      else if (c >= 100 && c <= 107) bg = c - 100 + 8;
      // anything else (blink, fonts, overline…) is ignored
    }
    if (fg === pen.fg && bg === pen.bg && a === pen.attrs) return pen;
    if (fg === -1 && bg === -1 && a === 0 && pen.link === null) return DEFAULT;
    return new Pen(fg, bg, a, pen.link);
  }

  // osc8 returns the pen after "ESC]8;params;uri": a link only to a URI
  // that parses as http or https; anything else shows as text only.
  function osc8(pen, body) {
    var semi = body.indexOf(";", 2);
    var href = null;
    if (semi >= 0) {
      var uri = body.slice(semi + 1);
      if (uri !== "") {
        try {
          var u = new URL(uri);
          if (u.protocol === "http:" || u.protocol === "https:") href = u.href;
        } catch (e) {
          href = null;
        }
      }
    }
    if (href === pen.link) return pen;
    return new Pen(pen.fg, pen.bg, pen.attrs, href);
  }

  // stringEnd finds the end of an OSC/DCS/APC/PM/SOS string from i: the
  // index after its terminator (BEL, ESC \ or ST), or -1 with none. A
  // string cut by another ESC ends there (the ESC starts a new sequence).
  function stringEnd(text, i) {
    for (var n = text.length; i < n; i++) {
      var c = text.charCodeAt(i);
      if (c === 0x07 || c === 0x9c) return { body: i, next: i + 1 };
      if (c === 0x1b) return { body: i, next: text.charAt(i + 1) === "\\" ? i + 2 : i };
    }
    return null;
  }

  // parse runs the line through the terminal model from pen st; with
  // penOnly it only follows the pen (for after()), drawing nothing.
  function parse(text, st, penOnly) {
    var line = new Line(), pen = st, i = 0, n = text.length;
    while (i < n) {
      SPECIAL_G.lastIndex = i;
      var m = SPECIAL_G.exec(text);
      var j = m ? m.index : n;
      if (j > i && !penOnly) write(line, text.slice(i, j), pen);
      if (!m) break;
      var c = text.charCodeAt(j);
      i = j + 1;
      if (penOnly && c !== 0x1b) continue;
      if (c === 0x0d) line.col = 0;
      else if (c === 0x08) { if (line.col > 0) line.col--; }
      else if (c === 0x1b && i < n) {
        var e = text.charCodeAt(i);
        if (e === 0x5b) { // CSI: parameters 0x30-0x3F, intermediates 0x20-0x2F, final 0x40-0x7E
          var k = i + 1, ps = k;
          while (k < n && (e = text.charCodeAt(k)) >= 0x30 && e <= 0x3f) k++;
          var pe = k;
          while (k < n && (e = text.charCodeAt(k)) >= 0x20 && e <= 0x2f) k++;
          if (k >= n) { i = n; break; }
          e = text.charCodeAt(k);
          if (e < 0x40 || e > 0x7e) { i = k; continue; } // cut short: drop it, go on at that character
          i = k + 1;
          if (pe !== k) continue; // intermediates: not one we draw
          var params = text.slice(ps, pe);
          if (!/^[0-9;:]*$/.test(params)) continue; // private (?, <, =, >)
          var f = text.charAt(k);
          if (f === "m") pen = sgr(pen, params);
          else if (!penOnly && params.indexOf(":") < 0) {
            var v = params === "" ? 0 : num(params);
            if (f === "K") erase(line, v);
            else if (f === "C") moveTo(line, line.col + (v > 0 ? v : 1));
            else if (f === "D") moveTo(line, line.col - (v > 0 ? v : 1));
            else if (f === "G") moveTo(line, (v > 0 ? v : 1) - 1);
          }
        } else if (e === 0x5d || e === 0x50 || e === 0x58 || e === 0x5e || e === 0x5f) { // OSC, DCS, SOS, PM, APC
          var end = stringEnd(text, i + 1);
          if (end === null) { i = n; break; }
          if (e === 0x5d && text.charAt(i + 1) === "8" && text.charAt(i + 2) === ";") pen = osc8(pen, text.slice(i + 1, end.body));
          i = end.next;
        } else if (e >= 0x20 && e <= 0x2f) { // ESC, intermediates, final (charset selection…)
          var q = i + 1;
          while (q < n && (e = text.charCodeAt(q)) >= 0x20 && e <= 0x2f) q++;
          i = q < n && e >= 0x30 && e <= 0x7e ? q + 1 : q;
        } else if (e >= 0x30 && e <= 0x7e) {
          i++; // ESC 7, ESC c, ESC =…: nothing to draw
        }
        // ESC before a control or any other character: the ESC alone is dropped
      }
      // every other control character is dropped
    }
    return { line: line, pen: pen };
  }

  function colourCSS(v) {
    var r, g, b;
    if (v >= 256) {
      v -= 256;
      r = (v >> 16) & 255; g = (v >> 8) & 255; b = v & 255;
    } else if (v >= 232) {
      r = g = b = 8 + 10 * (v - 232);
    } else {
      v -= 16;
      var lv = [0, 95, 135, 175, 215, 255];
      r = lv[Math.floor(v / 36)]; g = lv[Math.floor(v / 6) % 6]; b = lv[v % 6];
    }
    return "rgb(" + r + ", " + g + ", " + b + ")";
  }

  // styled appends s drawn with pen to parent: a text node for the default
  // look, else a span with classes (16 colours, attributes) and CSSOM
  // colours (256 and 24-bit), computed from numbers, never from the input.
  function styled(parent, s, pen) {
    if (plainPen(pen)) {
      parent.appendChild(document.createTextNode(s));
      return;
    }
    if (pen.tmpl === null) pen.tmpl = template(pen);
    var span = pen.tmpl.cloneNode(false);
    span.appendChild(document.createTextNode(s));
    parent.appendChild(span);
  }

  function template(pen) {
    var span = document.createElement("span");
    var cls = [];
    var fg = pen.fg, bg = pen.bg, a = pen.attrs;
    if (a & REVERSE) {
      fg = pen.bg; bg = pen.fg;
      if (fg === -1) cls.push("ansi-fg-rev");
      if (bg === -1) cls.push("ansi-bg-rev");
    }
    if (fg >= 0 && fg < 16) cls.push("ansi-fg-" + fg);
    else if (fg >= 16) span.style.color = colourCSS(fg);
    if (bg >= 0 && bg < 16) cls.push("ansi-bg-" + bg);
    else if (bg >= 16) span.style.backgroundColor = colourCSS(bg);
    if (a & BOLD) cls.push("ansi-b");
    if (a & DIM) cls.push("ansi-dim");
    if (a & ITALIC) cls.push("ansi-i");
    if (a & UNDER) cls.push("ansi-u");
    if (a & STRIKE) cls.push("ansi-s");
    if (a & HIDDEN) cls.push("ansi-hidden");
    if (cls.length) span.className = cls.join(" ");
    return span;
  }

  function anchor(href) {
    var a = document.createElement("a");
    a.href = href;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.className = "ansi-link";
    return a;
  }

  function emit(el, line) {
    var cells = line.cells, pens = line.pens, n = cells.length;
    var a = null, aLink = null, i = 0;
    while (i < n) {
      var pen = pens[i], j = i + 1;
      while (j < n && samePen(pens[j], pen)) j++;
      var s = j - i === 1 ? cells[i] : cells.slice(i, j).join("");
      var parent = el;
      if (pen.link !== null) {
        if (a === null || aLink !== pen.link) {
          a = anchor(pen.link);
          aLink = pen.link;
          el.appendChild(a);
        }
        parent = a;
      } else {
        a = null;
      }
      styled(parent, s, pen);
      i = j;
    }
  }

  function toText(text) {
    if (typeof text === "string") return text;
    return text === null || text === undefined ? "" : String(text);
  }

  function newState() {
    return DEFAULT;
  }

  function render(el, text, state) {
    var st = state instanceof Pen ? state : DEFAULT;
    text = toText(text);
    if (!SPECIAL.test(text)) { // the common line: one text node (or one span)
      if (text !== "") {
        if (st.link === null) styled(el, text, st);
        else { var a = anchor(st.link); el.appendChild(a); styled(a, text, st); }
      }
      return st;
    }
    var r = parse(text, st);
    emit(el, r.line);
    return r.pen;
  }

  function plain(text) {
    text = toText(text);
    if (!SPECIAL.test(text)) return text;
    return parse(text, DEFAULT).line.cells.join("");
  }

  // after returns the state after the line without drawing it: what the
  // caller needs to carry the state over lines it does not show.
  function after(text, state) {
    var st = state instanceof Pen ? state : DEFAULT;
    text = toText(text);
    if (text.indexOf("\x1b") < 0) return st;
    return parse(text, st, true).pen;
  }

  return { newState: newState, render: render, plain: plain, after: after };
})();
