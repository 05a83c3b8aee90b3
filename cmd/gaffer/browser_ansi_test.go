package main

// Tests of web/static/ansi.js, the terminal model that renders one log line,
// in a real Chromium on a real server page (so its Content-Security-Policy
// applies): a table of inputs against a canonical serialization of the DOM
// they produce, a hostile sample, and random input.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
)

// ansiSerialize is a JS function that writes the nodes under an element as
// a canonical string: text as text ("<" and "&" escaped, so markup in the
// output cannot pass for an element), elements as <tag attr="value"…> with
// every attribute in name order and the "ansi-" prefix dropped from classes.
const ansiSerialize = `function ansiSer(el) {
  var out = "";
  el.childNodes.forEach(function (n) {
    if (n.nodeType === 3) { out += n.data.replace(/&/g, "&amp;").replace(/</g, "&lt;"); return; }
    if (n.nodeType !== 1) { out += "<?" + n.nodeType + ">"; return; }
    var tag = n.tagName.toLowerCase(), attrs = [];
    for (var i = 0; i < n.attributes.length; i++) {
      var a = n.attributes[i], v = a.value;
      if (a.name === "class") v = v.replace(/\bansi-/g, "");
      attrs.push(" " + a.name + "=" + JSON.stringify(v));
    }
    attrs.sort();
    out += "<" + tag + attrs.join("") + ">" + ansiSer(n) + "</" + tag + ">";
  });
  return out;
}`

// ansiPage opens a server page in a fresh browser with ansi.js and
// ansi.css loaded as the job page loads them.
func ansiPage(t *testing.T) *tab {
	t.Helper()
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	b.do(chromedp.Navigate(ts.URL + "/"))
	evalJS[bool](b, `(function () {
	  var l = document.createElement("link"); l.rel = "stylesheet"; l.href = "/static/ansi.css"; l.id = "ansicss";
	  l.onload = function () { window.__ansiCSS = true; };
	  document.head.appendChild(l);
	  var s = document.createElement("script"); s.src = "/static/ansi.js";
	  document.head.appendChild(s);
	  return true;
	})()`)
	b.waitJS("ansi.js and ansi.css", `typeof GafferANSI === "object" && window.__ansiCSS`)
	evalJS[bool](b, `window.ansiSer = `+ansiSerialize+`, true`)
	return b
}

// renderLines renders each case's lines with ansi.js, the state carried
// from line to line as the page carries it per host and stream, and returns
// for each case its lines' serializations joined by "|".
func renderLines(t *testing.T, b *tab, cases [][]string) []string {
	t.Helper()
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	return evalJS[[]string](b, `(function (cases) {
	  return cases.map(function (lines) {
	    var st = GafferANSI.newState();
	    return lines.map(function (line) {
	      var div = document.createElement("div");
	      st = GafferANSI.render(div, line, st);
	      return ansiSer(div);
	    }).join("|");
	  });
	})(`+string(in)+`)`)
}

func TestBrowserANSIRender(t *testing.T) {
	const E = "\x1b"
	cases := []struct {
		name  string
		lines []string
		want  string
	}{
		{"plain", []string{"hello world"}, `hello world`},
		{"empty", []string{""}, ``},
		{"html is text", []string{`a & b <b>bold</b> &lt;`}, `a &amp; b &lt;b>bold&lt;/b> &amp;lt;`},
		{"tab kept", []string{"a\tb"}, "a\tb"},

		// SGR
		{"16 fg", []string{E + "[31mred" + E + "[0m plain"}, `<span class="fg-1">red</span> plain`},
		{"bright fg", []string{E + "[90mgrey" + E + "[97mwhite"}, `<span class="fg-8">grey</span><span class="fg-15">white</span>`},
		{"16 bg", []string{E + "[41mx" + E + "[107my" + E + "[49mz"}, `<span class="bg-1">x</span><span class="bg-15">y</span>z`},
		{"default fg", []string{E + "[32;44mab" + E + "[39mc"}, `<span class="fg-2 bg-4">ab</span><span class="bg-4">c</span>`},
		{"empty params reset", []string{E + "[1;31mx" + E + "[my"}, `<span class="fg-1 b">x</span>y`},
		{"empty param is 0", []string{E + "[1;;3mx"}, `<span class="i">x</span>`},
		{"attributes", []string{E + "[1mb" + E + "[2md" + E + "[22;3mi" + E + "[23;4mu" + E + "[24;9ms" + E + "[29;8mh" + E + "[28mn"},
			`<span class="b">b</span><span class="b dim">d</span><span class="i">i</span><span class="u">u</span><span class="s">s</span><span class="hidden">h</span>n`},
		{"underline strike", []string{E + "[4;9mx"}, `<span class="u s">x</span>`},
		{"21 ends bold", []string{E + "[1mx" + E + "[21my"}, `<span class="b">x</span>y`},
		{"reverse default", []string{E + "[7mrev" + E + "[27mno"}, `<span class="fg-rev bg-rev">rev</span>no`},
		{"reverse colours", []string{E + "[31;42;7mx"}, `<span class="fg-2 bg-1">x</span>`},
		{"reverse fg only", []string{E + "[33;7mx"}, `<span class="fg-rev bg-3">x</span>`},
		{"256 low", []string{E + "[38;5;9mx"}, `<span class="fg-9">x</span>`},
		{"256 cube", []string{E + "[38;5;196mx" + E + "[48;5;21my"}, `<span style="color: rgb(255, 0, 0);">x</span><span style="color: rgb(255, 0, 0); background-color: rgb(0, 0, 255);">y</span>`},
		{"256 grey", []string{E + "[38;5;232ma" + E + "[38;5;255mb"}, `<span style="color: rgb(8, 8, 8);">a</span><span style="color: rgb(238, 238, 238);">b</span>`},
		{"24-bit", []string{E + "[38;2;1;2;3;48;2;250;251;252mx"}, `<span style="color: rgb(1, 2, 3); background-color: rgb(250, 251, 252);">x</span>`},
		{"24-bit then attr", []string{E + "[38;2;10;20;30;1mx"}, `<span class="b" style="color: rgb(10, 20, 30);">x</span>`},
		{"colon 256", []string{E + "[38:5:208mx"}, `<span style="color: rgb(255, 135, 0);">x</span>`},
		{"colon rgb with colour space", []string{E + "[38:2::10:20:30mx"}, `<span style="color: rgb(10, 20, 30);">x</span>`},
		{"colon rgb", []string{E + "[48:2:10:20:30mx"}, `<span style="background-color: rgb(10, 20, 30);">x</span>`},
		{"colon underline off", []string{E + "[4mx" + E + "[4:0my"}, `<span class="u">x</span>y`},
		{"bad colour ignored", []string{E + "[38;5;300mx" + E + "[38;2;1;2;999my"}, `xy`},
		{"unknown colour form", []string{E + "[38;7;1mx"}, `x`},
		{"default colour after 256", []string{E + "[38;5;100;48;5;100mx" + E + "[39;49my"}, `<span style="color: rgb(135, 135, 0); background-color: rgb(135, 135, 0);">x</span>y`},
		{"state carried", []string{E + "[1;31mone", "two" + E + "[0m", "three"}, `<span class="fg-1 b">one</span>|<span class="fg-1 b">two</span>|three`},

		// \r, \b, erase, cursor moves
		{"cr overwrite", []string{"abc\rX"}, `Xbc`},
		{"progress", []string{"10%\r20%\r100%"}, `100%`},
		{"cr at end", []string{"slow 10%\r"}, `slow 10%`},
		{"cr erase", []string{"downloading 10%\r" + E + "[Kdone"}, `done`},
		{"cr keeps colours", []string{E + "[31mabc\r" + E + "[32mX"}, `<span class="fg-2">X</span><span class="fg-1">bc</span>`},
		{"backspace", []string{"ab\bX", "\b\bq"}, `aX|q`},
		{"erase to end", []string{"abcdef" + E + "[3D" + E + "[K"}, `abc`},
		{"erase to end 0K", []string{"abcdef" + E + "[3D" + E + "[0Kx"}, `abcx`},
		{"erase to start", []string{"abcdef" + E + "[3D" + E + "[1K"}, `    ef`},
		{"erase line", []string{"abcdef" + E + "[2KX"}, `      X`},
		{"erase line then cr", []string{"abcdef" + E + "[2K\rX"}, `X`},
		{"cursor forward", []string{"a" + E + "[3Cb" + E + "[Cc"}, `a   b c`},
		{"cursor back", []string{"abcd" + E + "[2DX" + E + "[DY"}, `abYd`},
		{"cursor back past start", []string{"ab" + E + "[9DX"}, `Xb`},
		{"cursor column", []string{"abcdef" + E + "[3GX" + E + "[GY" + E + "[9Gz"}, `YbXdef  z`},
		{"wide code point is one cell", []string{"😀b\rX"}, `Xb`},
		{"huge move is bounded", []string{E + "[999999999Cx"}, strings.Repeat(" ", 4096) + "x"},

		// OSC 8
		{"link BEL", []string{E + "]8;;https://example.com/a?b=1\alink" + E + "]8;;\a after"},
			`<a class="link" href="https://example.com/a?b=1" rel="noopener noreferrer" target="_blank">link</a> after`},
		{"link ST params", []string{E + "]8;id=1;http://example.com/\x1b\\" + E + "[1mbold" + E + "[0m plain" + E + "]8;;\x1b\\ out"},
			`<a class="link" href="http://example.com/" rel="noopener noreferrer" target="_blank"><span class="b">bold</span> plain</a> out`},
		{"link across lines", []string{E + "]8;;https://example.com/\aone", "two" + E + "]8;;\a three"},
			`<a class="link" href="https://example.com/" rel="noopener noreferrer" target="_blank">one</a>|<a class="link" href="https://example.com/" rel="noopener noreferrer" target="_blank">two</a> three`},
		{"link javascript", []string{E + "]8;;javascript:alert(1)\aclick" + E + "]8;;\a"}, `click`},
		{"link data", []string{E + "]8;;data:text/html,<script>alert(1)</script>\aclick" + E + "]8;;\a"}, `click`},
		{"link file", []string{E + "]8;;file:///etc/passwd\aclick" + E + "]8;;\a"}, `click`},
		{"link relative", []string{E + "]8;;/jobs/1\aclick" + E + "]8;;\a"}, `click`},
		{"link quote", []string{E + "]8;;https://e.example/\"><img src=x>\aq" + E + "]8;;\a"},
			`<a class="link" href="https://e.example/%22%3E%3Cimg%20src=x%3E" rel="noopener noreferrer" target="_blank">q</a>`},

		// dropped
		{"title", []string{"a" + E + "]0;title\ab" + E + "]2;t2" + E + "\\c"}, `abc`},
		{"clipboard", []string{"a" + E + "]52;c;ZWNobyBoaQ==\ab"}, `ab`},
		{"unterminated osc", []string{"a" + E + "]0;title"}, `a`},
		{"csi private", []string{E + "[?25l" + E + "[?1049hx" + E + "[>4;1m" + E + "[=5uy"}, `xy`},
		{"other csi", []string{"a" + E + "[2J" + E + "[H" + E + "[5;5Hb" + E + "[1Ac" + E + "[6n"}, `abc`},
		{"csi intermediate", []string{"a" + E + "[0 qb" + E + "[!pc"}, `abc`},
		{"dcs apc pm sos", []string{"a" + E + "Pq#0;2;0;0;0" + E + "\\b" + E + "_apc" + E + "\\c" + E + "^pm" + E + "\\d" + E + "Xsos" + E + "\\e"}, `abcde`},
		{"esc single", []string{"a" + E + "7b" + E + "8c" + E + "(Bd" + E + "=e" + E + "cf"}, `abcdef`},
		{"lone esc", []string{"a" + E + "\x00b" + E}, `ab`},
		{"c0", []string{"a\x00b\x01c\x07d\x0be\x0cf\x7fg\nh"}, `abcdefgh`},
		{"c1", []string{"a\u0080b\u0085c\u009b31md\u009de"}, `abc31mde`},
		{"cut csi", []string{"a" + E + "[31\x07b"}, `ab`},
		{"unterminated csi", []string{"a" + E + "[31"}, `a`},
	}
	b := ansiPage(t)
	in := make([][]string, len(cases))
	for i, c := range cases {
		in[i] = c.lines
	}
	got := renderLines(t, b, in)
	if len(got) != len(cases) {
		t.Fatalf("%d results for %d cases", len(got), len(cases))
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: %q\n got: %s\nwant: %s", c.name, c.lines, got[i], c.want)
		}
	}

	// plain() is the text render shows.
	for _, c := range cases {
		want := evalJS[string](b, `(function (l) { var d = document.createElement("div"); GafferANSI.render(d, l, GafferANSI.newState()); return d.textContent; })(`+jsString(c.lines[0])+`)`)
		if p := evalJS[string](b, `GafferANSI.plain(`+jsString(c.lines[0])+`)`); p != want {
			t.Errorf("%s: plain %q, render shows %q", c.name, p, want)
		}
	}

	// The common line costs one text node; a coloured line without cursor
	// work one span.
	if n := evalJS[string](b, `(function () { var d = document.createElement("div"); GafferANSI.render(d, "just text\tand a tab", GafferANSI.newState()); return d.childNodes.length + ":" + d.firstChild.nodeType; })()`); n != "1:3" {
		t.Errorf("a plain line made %s nodes (count:type), want one text node", n)
	}

	// The state is a value: rendering from the same state twice gives the
	// same line (the page seeds a range opened in the middle with it).
	if s := evalJS[string](b, `(function () {
	  var st = GafferANSI.render(document.createElement("div"), "\x1b[1;38;5;196m\x1b]8;;https://example.com/\x07x", GafferANSI.newState());
	  var a = document.createElement("div"), c = document.createElement("div");
	  GafferANSI.render(a, "y\x1b[0m\x1b]8;;\x07z", st);
	  GafferANSI.render(c, "y", st);
	  return ansiSer(a) + "|" + ansiSer(c);
	})()`); s != `<a class="link" href="https://example.com/" rel="noopener noreferrer" target="_blank"><span class="b" style="color: rgb(255, 0, 0);">y</span></a>z|<a class="link" href="https://example.com/" rel="noopener noreferrer" target="_blank"><span class="b" style="color: rgb(255, 0, 0);">y</span></a>` {
		t.Errorf("from a carried state: %s", s)
	}

	// Past the bound of its memo (thousands of distinct colours) ansi.js
	// draws the same.
	if s := evalJS[string](b, `(function () {
	  var st = GafferANSI.newState();
	  for (var i = 0; i < 20000; i++) st = GafferANSI.render(document.createElement("div"), "\x1b[38;2;" + (i % 256) + ";" + (i >> 8) + ";7m" + i + "\x1b[1m", st);
	  var d = document.createElement("div");
	  GafferANSI.render(d, "\x1b[0;31mred\x1b[38;2;1;2;3mx\x1b[0m", st);
	  return ansiSer(d);
	})()`); s != `<span class="fg-1">red</span><span style="color: rgb(1, 2, 3);">x</span>` {
		t.Errorf("after 20000 colours: %s", s)
	}

	// Colours hold under the page's Content-Security-Policy: classes from
	// ansi.css and CSSOM styles both apply.
	if s := evalJS[string](b, `(function () {
	  var d = document.createElement("div"); document.body.appendChild(d);
	  GafferANSI.render(d, "\x1b[31ma\x1b[38;2;1;2;3mb\x1b[0;7mc", GafferANSI.newState());
	  var r = Array.prototype.map.call(d.children, function (s) { var cs = getComputedStyle(s); return cs.color + "/" + cs.backgroundColor; }).join(" ");
	  d.remove();
	  return r;
	})()`); s != "rgb(247, 118, 142)/rgba(0, 0, 0, 0) rgb(1, 2, 3)/rgba(0, 0, 0, 0) rgb(17, 20, 24)/rgb(216, 222, 233)" {
		t.Errorf("computed colours: %s", s)
	}
	b.checkClean("ansi render")

	// Figures (logged, not asserted): lines rendered per second.
	for _, m := range []struct{ name, line string }{
		{"plain", "2026-12-01T17:40:00Z worker-7 processed batch 1234 of 5678 in 12.3 ms"},
		{"coloured", "\x1b[32mINFO\x1b[0m 2026-12-01 \x1b[1mworker-7\x1b[22m processed batch \x1b[38;5;208m1234\x1b[39m in 12.3 ms"},
		{"progress", "[=====>    ] 50%\r[========> ] 80%\r[==========] 100%\x1b[K"},
	} {
		perSec := evalJS[float64](b, `(function (line) {
		  var log = document.createElement("div"), st = GafferANSI.newState(), n = 0, t0 = performance.now();
		  while (performance.now() - t0 < 500) {
		    for (var i = 0; i < 1000; i++) { var d = document.createElement("div"); st = GafferANSI.render(d, line, st); log.appendChild(d); }
		    n += 1000;
		    if (log.childNodes.length > 20000) log.textContent = "";
		  }
		  return n / ((performance.now() - t0) / 1000);
		})(`+jsString(m.line)+`)`)
		t.Logf("render %s lines: %.0f lines/s (into detached divs)", m.name, perSec)
	}
}

// jsString quotes s as a JavaScript string literal (JSON is one).
func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// Hostile output never becomes markup, a link to a script, or a dialog,
// and is shown literally.
func TestBrowserANSIHostile(t *testing.T) {
	const E = "\x1b"
	b := ansiPage(t)
	lines := []string{
		`<script>alert(1)</script>`,
		`<img src=x onerror=alert(1)>`,
		`<img src=x onerror="window.__xss=1">`,
		E + "[31m<img src=x onerror=alert(2)>" + E + "[0m",
		E + "]8;;javascript:alert(3)\a<b>click</b>" + E + "]8;;\a",
		E + "]8;;data:text/html;base64,PHNjcmlwdD5hbGVydCg0KTwvc2NyaXB0Pg==\aclick" + E + "]8;;" + E + "\\",
		E + "]8;;JaVaScRiPt:alert(5)\aclick" + E + "]8;;\a",
		E + "]8;; javascript:alert(6)\aclick" + E + "]8;;\a",
		E + "]52;c;PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==\a" + E + "]0;<script>alert(8)</script>\atitle",
		E + "[?1049h" + E + "[?25l" + E + "[?2004hprivate",
		"nul\x00c1\u0085\u009b\u009d0;x\u009cend",
		E + "P<script>alert(9)</script>" + E + "\\dcs",
		"\r<svg onload=alert(10)>" + E + "[K\r" + E + "[2C<iframe src=javascript:alert(11)>",
	}
	in, _ := json.Marshal(lines)
	shown := evalJS[[]string](b, `(function (lines) {
	  var log = document.createElement("div"); log.id = "hostile"; document.body.appendChild(log);
	  var st = GafferANSI.newState();
	  return lines.map(function (l) {
	    var d = document.createElement("div"); log.appendChild(d);
	    st = GafferANSI.render(d, l, st);
	    return d.textContent;
	  });
	})(`+string(in)+`)`)
	want := []string{
		`<script>alert(1)</script>`,
		`<img src=x onerror=alert(1)>`,
		`<img src=x onerror="window.__xss=1">`,
		`<img src=x onerror=alert(2)>`,
		`<b>click</b>`,
		`click`,
		`click`,
		`click`,
		`title`,
		`private`,
		`nulc10;xend`,
		`dcs`,
		`<s<iframe src=javascript:alert(11)>`,
	}
	for i := range want {
		if i >= len(shown) || shown[i] != want[i] {
			t.Errorf("line %d %q shows %q, want %q", i, lines[i], at(shown, i), want[i])
		}
	}
	// Give an image or frame that was made by mistake time to fail or load
	// (this is not a timing assertion: nothing must ever happen).
	time.Sleep(500 * time.Millisecond)
	if s := evalJS[string](b, `(function () {
	  var h = document.getElementById("hostile");
	  var bad = h.querySelectorAll("*:not(div):not(span):not(a)").length;
	  var links = Array.prototype.filter.call(h.querySelectorAll("a"), function (a) { return !/^https?:$/.test(a.protocol); }).length;
	  return bad + " " + links + " " + document.querySelectorAll("script:not([src]), img, svg, iframe").length + " " + typeof window.__xss;
	})()`); s != "0 0 0 undefined" {
		t.Errorf("hostile output made elements or ran: %s", s)
	}
	if title := evalJS[string](b, `document.title`); strings.Contains(title, "alert") {
		t.Errorf("the title changed to %q", title)
	}
	b.checkClean("hostile")
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<missing>"
}

// Random input never makes render, plain or after throw, never makes an
// element other than span and a (links only http or https), plain() is
// always the text render shows, and after() the state render returns.
func TestBrowserANSIFuzz(t *testing.T) {
	b := ansiPage(t)
	res := evalJS[string](b, `(function () {
	  var seed = 12345;
	  function rnd(n) { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; }
	  var pieces = ["\x1b", "\x1b[", "\x1b]", "\x1b]8;;", "https://example.com/", "javascript:x", "\x07", "\x1b\\", ";", ":", "38", "48", "5", "2", "255", "999999999999", "m", "K", "C", "D", "G", "?", "\r", "\b", "\t", "\n", "\u009b", "\u0085", "\ud83d", "\ude00", "😀", "<b>", "&", "x", "yz"];
	  var errors = 0, first = "", mismatch = 0, firstMismatch = "", bad = 0, st = GafferANSI.newState();
	  for (var k = 0; k < 20000; k++) {
	    var s = "", n = rnd(30);
	    for (var i = 0; i < n; i++) s += rnd(3) === 0 ? String.fromCharCode(rnd(0x10000)) : pieces[rnd(pieces.length)];
	    try {
	      var d = document.createElement("div");
	      st = GafferANSI.render(d, s, k % 7 === 0 ? GafferANSI.newState() : st);
	      var d2 = document.createElement("div");
	      GafferANSI.render(d2, s, GafferANSI.newState());
	      if (GafferANSI.plain(s) !== d2.textContent) { mismatch++; if (!firstMismatch) firstMismatch = JSON.stringify(s); }
	      // after() ends in the same state as render().
	      var p1 = document.createElement("div"), p2 = document.createElement("div");
	      GafferANSI.render(p1, "x", GafferANSI.render(document.createElement("div"), s, st));
	      GafferANSI.render(p2, "x", GafferANSI.after(s, st));
	      if (ansiSer(p1) !== ansiSer(p2)) { mismatch++; if (!firstMismatch) firstMismatch = "after " + JSON.stringify(s); }
	      d.querySelectorAll("*").forEach(function (e) {
	        if (e.tagName !== "SPAN" && e.tagName !== "A") bad++;
	        if (e.tagName === "A" && !/^https?:$/.test(e.protocol)) bad++;
	      });
	    } catch (e) {
	      errors++;
	      if (!first) first = JSON.stringify(s) + ": " + e;
	    }
	  }
	  // Odd arguments: not a string, not a state.
	  [null, undefined, 42, {}, [], "\x1b[31m"].forEach(function (v) {
	    try { GafferANSI.render(document.createElement("div"), v, {fg: "x", link: "javascript:alert(1)"}); GafferANSI.plain(v); }
	    catch (e) { errors++; if (!first) first = String(v) + ": " + e; }
	  });
	  return errors + " " + mismatch + " " + bad + " " + first + " " + firstMismatch;
	})()`)
	if res != "0 0 0  " {
		t.Errorf("random input: errors, plain mismatches, bad elements: %s", res)
	}
	b.checkClean("fuzz")
}

// The colour and escape sample printed by a real job renders on the real
// job page as a terminal shows it, and nothing in it runs, links anywhere
// but http(s), or changes the page.
func TestBrowserANSIJobPage(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: strings.Join([]string{
		`printf '\033[31mred\033[0m \033[1;38;5;208mbold orange\033[0m \033[48;2;10;20;30mtruecolour\033[0m\n'`,
		`printf '\033]8;;https://example.com/docs\033\\docs\033]8;;\033\\ and \033]8;;javascript:alert(1)\007js\033]8;;\007 \033]8;;data:text/html,x\007data\033]8;;\007\n'`,
		`printf '<script>alert(1)</script> <img src=x onerror=alert(2)> <img src=x onerror="window.__xss=1">\n'`,
		`printf 'progress 10%%\r\033[Kprogress 100%%\n'`,
		`printf '\033]0;evil title\007\033]52;c;ZXZpbA==\007\033[?1049h\033[2J\033P+q\033\\after escapes\n'`,
		`printf '\033[7mreverse\033[27m \033[4munder\033[24m \033[9mstrike\033[0m\n'`,
		`printf 'tab\there\n'`,
		`printf '\033[32mgreen carried\n'`,
		`printf 'still green\033[0m\n'`,
		`printf 'nul\000 c1\302\205 bell\007 end\n'`,
	}, "; ")})
	v := b.newTab(t)
	v.openJob(ts, job.ID)
	v.waitEnded()
	if st := ts.waitJob(t, job.ID).Status; st != gaffer.StatusSucceeded {
		t.Fatalf("sample job %s", st)
	}
	evalJS[bool](v, `window.ansiSer = `+ansiSerialize+`, true`)
	got := evalJS[[]string](v, `Array.prototype.map.call(document.querySelectorAll("#log .line.stdout .text"), function (el) { return el.textContent; })`)
	want := []string{
		"red bold orange truecolour",
		"docs and js data",
		`<script>alert(1)</script> <img src=x onerror=alert(2)> <img src=x onerror="window.__xss=1">`,
		"progress 100%",
		"after escapes",
		"reverse under strike",
		"tab\there",
		"green carried",
		"still green",
		"nul c1 bell end",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the job page shows\n%q\nwant\n%q", got, want)
	}
	lines := evalJS[[]string](v, `Array.prototype.map.call(document.querySelectorAll("#log .line.stdout .text"), ansiSer)`)
	for _, w := range []struct {
		line int
		has  string
	}{
		{0, `<span class="fg-1">red</span>`},
		{0, `<span class="b" style="color: rgb(255, 135, 0);">bold orange</span>`},
		{0, `<span style="background-color: rgb(10, 20, 30);">truecolour</span>`},
		{1, `<a class="link" href="https://example.com/docs" rel="noopener noreferrer" target="_blank">docs</a> and js data`},
		{5, `<span class="fg-rev bg-rev">reverse</span> <span class="u">under</span> <span class="s">strike</span>`},
		{7, `<span class="fg-2">green carried</span>`},
		{8, `<span class="fg-2">still green</span>`},
	} {
		if w.line >= len(lines) || !strings.Contains(lines[w.line], w.has) {
			t.Errorf("line %d is drawn as %s, want it to contain %s", w.line, at(lines, w.line), w.has)
		}
	}
	// The page links ansi.css: a class colour is the palette's.
	if c := evalJS[string](v, `(function () { var s = document.querySelector("#log .ansi-fg-1"); return s ? getComputedStyle(s).color : "none"; })()`); c != "rgb(247, 118, 142)" {
		t.Errorf("red on the job page is %s", c)
	}
	time.Sleep(500 * time.Millisecond) // let a wrongly made image fail (nothing must happen)
	if s := evalJS[string](v, `(function () {
	  var links = Array.prototype.filter.call(document.querySelectorAll("#log a"), function (a) { return !/^https?:$/.test(a.protocol); }).length;
	  return document.querySelectorAll("#log script, #log img, #log iframe, #log svg, #log object, #log embed").length + " " + links + " " + typeof window.__xss + " " + /evil/.test(document.title);
	})()`); s != "0 0 undefined false" {
		t.Errorf("the sample made elements, links, ran or changed the title: %s", s)
	}
	v.checkClean("colour sample")
}
