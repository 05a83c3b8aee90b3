package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/gaffer-dev/gaffer"
)

// printer writes records as "host | text", or "host file | text" for a
// follow job's: stdout records to out, the others to errOut, continuing
// lines that arrived in parts. Output is
// buffered; switching between out and errOut flushes the other, so the
// two keep their order on a shared terminal.
//
// On a terminal (and without NO_COLOR) host prefixes, the "!" of stderr and
// Gaffer's own lines are coloured and the output's own colours kept. Every
// other escape sequence is dropped, everywhere. A "\r" (a progress bar) is
// shown as a terminal would, but never over the host prefix: on a terminal
// the prefix is printed again after it; elsewhere a line is written as a
// terminal would finally show it ("10%\r20%\r100%" is "100%").
type printer struct {
	out, errOut        *bufio.Writer
	outTTY, errTTY     bool // a terminal: "\r" and "\b" are passed on
	outColor, errColor bool // a terminal and NO_COLOR unset
	progress           bool // errOut is a terminal: keep a progress line at the bottom
	timestamps         bool // each line starts with its record's time
	width              int  // host column width
	fileWidth          int  // file column width: 0 until a record with a file
	status             string
	refreshed          time.Time     // a follow job's state last read for the progress line
	shown              bool          // the progress line is on screen
	last               *bufio.Writer // the writer written last

	hosts    map[string]*hostPrefix
	lastHost *hostPrefix
	scratch  []byte

	// The open line: a record whose "\n" has not come yet.
	open       bool
	openHost   *hostPrefix
	openStream int
	linePrefix []byte // re-printed after "\r" on a terminal
	col        int    // terminal: characters after the prefix, for "\b"
	pending    []byte // elsewhere: the line's text, held until its end to resolve "\r"
	spilled    bool   // pending outgrew maxPending and was written as it was
}

// maxPending bounds the text of one unfinished line held to resolve its
// "\r"s when the output is not a terminal; past it the line is written as
// it comes.
const maxPending = 1 << 20

// Record streams, as indexes into hostPrefix.pre.
const (
	streamOut = iota
	streamErr
	streamSystem
)

func streamIndex(s []byte) int {
	switch string(s) {
	case "stdout":
		return streamOut
	case "stderr":
		return streamErr
	}
	return streamSystem
}

func newPrinter(out, errOut io.Writer) *printer {
	noColor := os.Getenv("NO_COLOR") != ""
	p := &printer{out: bufio.NewWriterSize(out, 64<<10), errOut: bufio.NewWriterSize(errOut, 16<<10),
		outTTY: isTerminal(out), errTTY: isTerminal(errOut)}
	p.outColor = p.outTTY && !noColor
	p.errColor = p.errTTY && !noColor
	p.progress = p.errTTY
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// hostPrefix holds the prefixes of one host (and file), per stream.
type hostPrefix struct {
	name, file       string
	width, fileWidth int
	pre              [3][]byte
	alert            []byte // pre[streamOut] of a record that matched an alert, in colour
}

// maxFileWidth: a longer file name is not padded to (it would push every
// other line's text far right).
const maxFileWidth = 48

var hostColors = []string{"36", "33", "35", "32", "34", "96", "93", "95", "92", "94"}

const sgrReset = "\x1b[0m"

func (p *printer) host(name, file []byte) *hostPrefix {
	if len(file) > 0 && p.fileWidth < maxFileWidth {
		if n := utf8.RuneCount(file); n > p.fileWidth {
			p.fileWidth = min(n, maxFileWidth)
		}
	}
	if hp := p.lastHost; hp != nil && hp.name == string(name) && hp.file == string(file) && hp.width == p.width && hp.fileWidth == p.fileWidth {
		return hp
	}
	key := string(name)
	if len(file) > 0 {
		key += "\x00" + string(file)
	}
	hp := p.hosts[key]
	if hp == nil || hp.width != p.width || hp.fileWidth != p.fileWidth {
		hp = p.newHostPrefix(string(name), string(file))
		if p.hosts == nil {
			p.hosts = map[string]*hostPrefix{}
		}
		p.hosts[key] = hp
	}
	p.lastHost = hp
	return hp
}

// pad pads s with spaces to width characters.
func pad(s string, width int) string {
	if n := width - utf8.RuneCountInString(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}

func (p *printer) newHostPrefix(name, file string) *hostPrefix {
	hp := &hostPrefix{name: name, file: file, width: p.width, fileWidth: p.fileWidth}
	padded := pad(name, p.width)
	h := fnv.New32a()
	h.Write([]byte(name))
	colored := "\x1b[" + hostColors[h.Sum32()%uint32(len(hostColors))] + "m" + padded + sgrReset
	if p.fileWidth > 0 {
		// The file column; lines without a file (Gaffer's own about a
		// host) leave it blank, so the text still lines up.
		paddedFile := pad(file, p.fileWidth)
		padded += " " + paddedFile
		colored += " " + paddedFile
	}
	hp.pre[streamOut] = []byte(padded + " | ")
	if p.outColor {
		hp.pre[streamOut] = []byte(colored + " | ")
		hp.alert = []byte(colored + " \x1b[1;7;31m|" + sgrReset + " ")
	}
	hp.pre[streamErr] = []byte(padded + " ! ")
	hp.pre[streamSystem] = []byte(padded + " * ")
	if p.errColor {
		hp.pre[streamErr] = []byte(colored + " \x1b[1;31m!" + sgrReset + " ")
		// Gaffer's own lines are dim to the end (see lineEnd).
		hp.pre[streamSystem] = []byte(colored + " \x1b[2m* ")
	}
	return hp
}

func (p *printer) writer(stream int) (w *bufio.Writer, tty, color bool) {
	if stream == streamOut {
		return p.out, p.outTTY, p.outColor
	}
	return p.errOut, p.errTTY, p.errColor
}

// use makes w the writer in use, flushing the other first.
func (p *printer) use(w *bufio.Writer) {
	if p.last != nil && p.last != w && p.last.Buffered() > 0 {
		p.last.Flush()
	}
	p.last = w
}

// flush writes out what is buffered.
func (p *printer) flush() error {
	err := p.out.Flush()
	if e := p.errOut.Flush(); err == nil {
		err = e
	}
	return err
}

// appendPrefix appends a line's prefix: its time (with --timestamps) and
// pre, its host's (and file's).
func (p *printer) appendPrefix(b []byte, r *logRecord, pre []byte) []byte {
	if p.timestamps {
		b = appendTimestamp(b, r.TS)
		b = append(b, ' ')
	}
	return append(b, pre...)
}

// appendTimestamp appends an RFC 3339 time with its fraction padded to 9
// digits, so the columns after it line up.
func appendTimestamp(b, ts []byte) []byte {
	const base = len("2006-01-02T15:04:05")
	if len(ts) < base+1 || ts[len(ts)-1] != 'Z' {
		return append(b, ts...)
	}
	b = append(b, ts[:base]...)
	frac := ts[base : len(ts)-1]
	if len(frac) > 0 && frac[0] == '.' {
		frac = frac[1:]
	}
	b = append(b, '.')
	b = append(b, frac...)
	for i := len(frac); i < 9; i++ {
		b = append(b, '0')
	}
	return append(b, 'Z')
}

// plain reports whether text needs no care: no control byte but tab.
func plain(text []byte) bool {
	for _, c := range text {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// printRecord prints one record (a gaffer.Record, from tests and callers
// that hold one).
func (p *printer) printRecord(r gaffer.Record) {
	ts, _ := r.TS.MarshalText()
	p.record(&logRecord{Seq: r.Seq, TS: ts, Host: []byte(r.Host), Stream: []byte(r.Stream), File: []byte(r.File),
		Text: []byte(r.Text()), NL: r.NL, Alert: r.Alert})
}

func (p *printer) record(r *logRecord) {
	stream := streamIndex(r.Stream)
	hp := p.host(r.Host, r.File)
	w, tty, color := p.writer(stream)
	pre := hp.pre[stream]
	if r.Alert && stream == streamOut && color {
		pre = hp.alert
	}
	p.clearProgress()
	if p.open && (p.openHost != hp || p.openStream != stream) {
		p.endLine()
	}
	p.use(w)
	if !p.open {
		if r.NL && plain(r.Text) {
			// The common case: a whole line, nothing to interpret.
			if p.timestamps {
				p.scratch = appendTimestamp(p.scratch[:0], r.TS)
				p.scratch = append(p.scratch, ' ')
				w.Write(p.scratch)
			}
			w.Write(pre)
			w.Write(r.Text)
			if stream == streamSystem && color {
				w.WriteString(sgrReset)
			}
			w.WriteByte('\n')
			p.drawProgress()
			return
		}
		p.open, p.openHost, p.openStream = true, hp, stream
		p.linePrefix = p.appendPrefix(p.linePrefix[:0], r, pre)
		p.col, p.pending, p.spilled = 0, p.pending[:0], false
		if tty {
			w.Write(p.linePrefix)
		}
	}
	if tty {
		p.termText(w, r.Text, r.NL, color)
	} else {
		p.pending = append(p.pending, r.Text...)
		if len(p.pending) > maxPending {
			if !p.spilled {
				w.Write(p.linePrefix)
				p.spilled = true
			}
			p.scratch = flatten(p.scratch[:0], p.pending)
			w.Write(p.scratch)
			p.pending = p.pending[:0]
		}
	}
	if r.NL {
		p.endLine()
	}
	p.drawProgress()
}

// endLine ends the open line.
func (p *printer) endLine() {
	w, tty, color := p.writer(p.openStream)
	p.use(w)
	if !tty {
		if !p.spilled {
			w.Write(p.linePrefix)
		}
		p.scratch = flatten(p.scratch[:0], p.pending)
		w.Write(p.scratch)
	}
	if p.openStream == streamSystem && color {
		w.WriteString(sgrReset)
	}
	w.WriteByte('\n')
	p.open = false
}

// termText writes text to a terminal: colours kept if color, "\r" followed
// by the line's prefix again, "\b" only within the text, erase-line as
// erase to the end of the line (never the prefix), other escapes dropped.
func (p *printer) termText(w *bufio.Writer, text []byte, nl, color bool) {
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\r':
			i++
			if nl && i == len(text) {
				break // "\r\n": nothing follows on this line
			}
			w.WriteByte('\r')
			w.Write(p.linePrefix)
			p.col = 0
		case c == '\b':
			i++
			if p.col > 0 {
				w.WriteByte('\b')
				p.col--
			}
		case c == 0x1b:
			n, kind := escapeAt(text[i:])
			switch {
			case kind == escSGR && color:
				w.Write(text[i : i+n])
			case kind == escEraseRight || kind == escEraseLine:
				w.WriteString("\x1b[K")
			}
			i += n
		case (c < 0x20 && c != '\t') || c == 0x7f:
			i++
		default:
			j := i
			for j < len(text) {
				c := text[j]
				if (c < 0x20 && c != '\t') || c == 0x7f {
					break
				}
				if utf8.RuneStart(c) {
					p.col++
				}
				j++
			}
			w.Write(text[i:j])
			i = j
		}
	}
}

// Kinds of escape sequences.
const (
	escOther      = iota
	escSGR        // colours and styles
	escEraseRight // ESC[K, ESC[0K
	escEraseLeft  // ESC[1K
	escEraseLine  // ESC[2K
)

// escapeAt measures the escape sequence at the start of b (b[0] is ESC);
// an unfinished one runs to the end of b.
func escapeAt(b []byte) (n int, kind int) {
	if len(b) < 2 {
		return len(b), escOther
	}
	switch c := b[1]; {
	case c == '[':
		i := 2
		for i < len(b) && b[i] >= 0x30 && b[i] <= 0x3f {
			i++
		}
		params := b[2:i]
		for i < len(b) && b[i] >= 0x20 && b[i] <= 0x2f {
			i++
		}
		if i >= len(b) || b[i] < 0x40 || b[i] > 0x7e {
			return i, escOther
		}
		switch b[i] {
		case 'm':
			for _, c := range params {
				if (c < '0' || c > '9') && c != ';' && c != ':' {
					return i + 1, escOther
				}
			}
			return i + 1, escSGR
		case 'K':
			switch string(params) {
			case "", "0":
				return i + 1, escEraseRight
			case "1":
				return i + 1, escEraseLeft
			case "2":
				return i + 1, escEraseLine
			}
		}
		return i + 1, escOther
	case c == ']':
		// OSC (titles, clipboard, links): up to BEL or ESC \.
		for i := 2; i < len(b); i++ {
			if b[i] == 0x07 {
				return i + 1, escOther
			}
			if b[i] == 0x1b && i+1 < len(b) && b[i+1] == '\\' {
				return i + 2, escOther
			}
		}
		return len(b), escOther
	case c >= '@' && c <= '_':
		return 2, escOther
	}
	return 1, escOther
}

// flatten appends text as a terminal would finally show it on one line:
// "\r" goes back to the line's start and what follows overwrites, "\b"
// steps back, erase-line sequences erase; every escape sequence and other
// control byte is dropped.
func flatten(dst, text []byte) []byte {
	if plain(text) {
		return append(dst, text...)
	}
	var line []rune
	cur := 0
	put := func(r rune) {
		for len(line) < cur {
			line = append(line, ' ')
		}
		if cur == len(line) {
			line = append(line, r)
		} else {
			line[cur] = r
		}
		cur++
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\r':
			cur = 0
			i++
		case c == '\b':
			cur = max(cur-1, 0)
			i++
		case c == 0x1b:
			n, kind := escapeAt(text[i:])
			switch kind {
			case escEraseRight:
				line = line[:min(cur, len(line))]
			case escEraseLeft:
				for k := 0; k <= cur && k < len(line); k++ {
					line[k] = ' '
				}
			case escEraseLine:
				line = line[:0]
			}
			i += n
		case (c < 0x20 && c != '\t') || c == 0x7f:
			i++
		default:
			r, size := utf8.DecodeRune(text[i:])
			put(r)
			i += size
		}
	}
	for _, r := range line {
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

func (p *printer) clearProgress() {
	if p.shown {
		p.use(p.errOut)
		p.errOut.WriteString("\r\x1b[K")
		p.shown = false
	}
}

func (p *printer) drawProgress() {
	if p.progress && p.status != "" && !p.open {
		p.use(p.errOut)
		p.errOut.WriteString("\r\x1b[K" + p.status)
		p.shown = true
	}
}

// notice writes a message of the server's, such as a notice of records
// it lost, between the log's lines.
func (p *printer) notice(msg string) {
	p.clearProgress()
	if p.open {
		p.endLine()
	}
	p.use(p.errOut)
	p.errOut.WriteString("gaffer: ")
	p.errOut.Write(flatten(nil, []byte(msg)))
	p.errOut.WriteByte('\n')
	p.drawProgress()
}

// job updates the progress line from a job's status.
func (p *printer) job(j *gaffer.Job) {
	done, failed := 0, 0
	for _, r := range j.Runs {
		if n := utf8.RuneCountInString(r.Host); n > p.width {
			p.width = n
		}
		if r.Status.Done() {
			done++
			if r.Status != gaffer.StatusSucceeded {
				failed++
			}
		}
	}
	p.status = fmt.Sprintf("%d/%d done", done, len(j.Runs))
	if failed > 0 {
		p.status += fmt.Sprintf(", %d failed", failed)
	}
	if len(j.Follow) > 0 {
		p.status = followStatus(j)
	}
	p.clearProgress()
	p.drawProgress()
}

// followStatus sums up a follow job's hosts and files for the progress
// line: "2 following, 1 reconnecting; 1 file missing".
func followStatus(j *gaffer.Job) string {
	count := map[string]int{}
	var order []string
	add := func(what string) {
		if count[what] == 0 {
			order = append(order, what)
		}
		count[what]++
	}
	missing, failing := 0, 0
	for _, r := range j.Runs {
		switch {
		case r.Status.Done():
			add(string(r.Status))
		case r.Follow == nil || r.Follow.State == "":
			add(gaffer.FollowConnecting)
		default:
			add(r.Follow.State)
		}
		if r.Follow == nil {
			continue
		}
		for _, f := range r.Follow.Files {
			switch f.State {
			case gaffer.FileMissing:
				missing++
			case gaffer.FileError:
				failing++
			}
		}
	}
	var parts []string
	for _, what := range order {
		parts = append(parts, fmt.Sprintf("%d %s", count[what], what))
	}
	s := strings.Join(parts, ", ")
	if missing > 0 {
		s += fmt.Sprintf("; %d missing", missing)
	}
	if failing > 0 {
		s += fmt.Sprintf("; %d unreadable", failing)
	}
	return s
}

// finish ends an open line and the progress line, and flushes.
func (p *printer) finish() error {
	p.clearProgress()
	if p.open {
		p.endLine()
	}
	return p.flush()
}
