package gaffer_test

import (
	"bytes"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

type sink struct {
	mu   sync.Mutex
	recs []gaffer.Record
}

func (s *sink) emit(r []gaffer.Record) {
	s.mu.Lock()
	s.recs = append(s.recs, gaffer.CloneRecords(r)...) // emit's records are the Framer's until it returns
	s.mu.Unlock()
}

func (s *sink) all() []gaffer.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gaffer.Record(nil), s.recs...)
}

func TestFramer(t *testing.T) {
	type want struct {
		text string
		nl   bool
	}
	for _, tc := range []struct {
		name   string
		writes []string
		max    int
		want   []want
	}{
		{"lines", []string{"a\nb\n"}, 0, []want{{"a", true}, {"b", true}}},
		{"split across writes", []string{"hel", "lo\nwor", "ld\n"}, 0, []want{{"hello", true}, {"world", true}}},
		{"carriage return kept", []string{"10%\r50%\r100%\r\n"}, 0, []want{{"10%\r50%\r100%\r", true}}},
		{"empty lines", []string{"\n\n"}, 0, []want{{"", true}, {"", true}}},
		{"no final newline", []string{"a\nlast"}, 0, []want{{"a", true}, {"last", false}}},
		{"long line split", []string{"abcdefghij\n"}, 4, []want{{"abcd", false}, {"efgh", false}, {"ij", true}}},
		{"long line exact", []string{"abcdefgh\n"}, 4, []want{{"abcd", false}, {"efgh", true}}},
		{"long partial", []string{"abcdef"}, 4, []want{{"abcd", false}, {"ef", false}}},
		{"nul and invalid utf8", []string{"\x00\xff\xfe\n"}, 0, []want{{"\x00\xff\xfe", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sink
			f := gaffer.NewFramer("h", gaffer.Stdout, tc.max, time.Hour, s.emit)
			for _, w := range tc.writes {
				f.Write([]byte(w))
			}
			f.Close()
			got := s.all()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				if string(got[i].Data) != w.text || got[i].NL != w.nl || got[i].Host != "h" || got[i].Stream != gaffer.Stdout {
					t.Errorf("record %d: got %q nl=%v, want %q nl=%v", i, got[i].Data, got[i].NL, w.text, w.nl)
				}
			}
		})
	}
}

// A prompt without a newline shows up after a short quiet time.
func TestFramerQuietFlush(t *testing.T) {
	var s sink
	f := gaffer.NewFramer("h", gaffer.Stdout, 0, 20*time.Millisecond, s.emit)
	f.Write([]byte("Password: "))
	deadline := time.Now().Add(5 * time.Second)
	for len(s.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	f.Write([]byte("ok\n"))
	f.Close()
	got := s.all()
	if len(got) != 2 || string(got[0].Data) != "Password: " || got[0].NL || string(got[1].Data) != "ok" || !got[1].NL {
		t.Fatalf("got %+v", got)
	}
}

// Whatever the chunking, Rebuild gives back the exact bytes.
func TestFramerRebuildExact(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for n := 0; n < 200; n++ {
		input := make([]byte, rng.Intn(5000))
		for i := range input {
			switch rng.Intn(10) {
			case 0:
				input[i] = '\n'
			case 1:
				input[i] = '\r'
			default:
				input[i] = byte(rng.Intn(256))
			}
		}
		var s sink
		f := gaffer.NewFramer("h", gaffer.Stderr, 1+rng.Intn(300), time.Hour, s.emit)
		writePieces(f, input, rng)
		f.Close()
		var buf bytes.Buffer
		gaffer.Rebuild(&buf, s.all())
		if !bytes.Equal(buf.Bytes(), input) {
			t.Fatalf("case %d: rebuilt %d bytes, want %d", n, buf.Len(), len(input))
		}
	}
}

// writePieces writes input to f in pieces of random lengths.
func writePieces(f *gaffer.Framer, input []byte, rng *rand.Rand) {
	for rest := input; len(rest) > 0; {
		k := 1 + rng.Intn(len(rest))
		f.Write(rest[:k])
		rest = rest[k:]
	}
}

// The capture gets every byte the records are made of, masked as they are,
// in order: what Rebuild makes of all the records emitted, once the Framer
// is closed, whatever the chunks and however a secret is split.
func TestFramerCapture(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const secret = "hunter2hunter2"
	for n := 0; n < 200; n++ {
		var input []byte
		for size := rng.Intn(5000); len(input) < size; {
			switch rng.Intn(12) {
			case 0:
				input = append(input, '\n')
			case 1:
				input = append(input, secret[:1+rng.Intn(len(secret))]...)
			default:
				input = append(input, byte('a'+rng.Intn(26)))
			}
		}
		var s sink
		var capture bytes.Buffer
		f := gaffer.NewFramer("h", gaffer.Stdout, 1+rng.Intn(300), time.Hour, s.emit)
		f.SetMasker(gaffer.NewMasker(secret))
		f.SetCapture(&capture)
		writePieces(f, input, rng)
		f.Close()
		var want bytes.Buffer
		gaffer.Rebuild(&want, s.all())
		if !bytes.Equal(capture.Bytes(), want.Bytes()) {
			t.Fatalf("case %d: captured %q, the records hold %q", n, capture.Bytes(), want.Bytes())
		}
		if bytes.Contains(capture.Bytes(), []byte(secret)) {
			t.Fatalf("case %d: the capture shows the secret", n)
		}
	}
}

// Records own their bytes: the caller reuses its read buffer, records of
// one write share a buffer, and still no record's Data changes after it was
// emitted, through later writes or through appends to a neighbour's Data.
func TestFramerRecordsDoNotAlias(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		writes []string
		want   []string // every record's text, in order
	}{
		{"lines", 0, []string{"one\ntwo\nthr", "ee\nfour\n", "five\nsix\n"}, []string{"one", "two", "three", "four", "five", "six"}},
		{"cut lines", 3, []string{"abcdefg\nhi", "jklmn\nop\n"}, []string{"abc", "def", "g", "hij", "klm", "n", "op"}},
		{"partial exactly max", 3, []string{"abc", "def\ngh"}, []string{"abc", "def", "gh"}},
		{"pending grows past the buffer", 0, []string{"a\nbb", strings.Repeat("c", 200), "\nd\n"}, []string{"a", "bb" + strings.Repeat("c", 200), "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			f := gaffer.NewFramer("h", gaffer.Stdout, tc.max, time.Hour, func(recs []gaffer.Record) {
				// Appending to a record's Data, while emit has it, must
				// not reach the next one's.
				for i := range recs {
					_ = append(recs[i].Data, "XXXXXXXX"...)
				}
				for i := range recs {
					got = append(got, string(recs[i].Data))
				}
			})
			buf := make([]byte, 256)
			for _, w := range tc.writes {
				n := copy(buf, w)
				f.Write(buf[:n])
				// The next write arrives in the same buffer: scribble.
				for i := range buf {
					buf[i] = '#'
				}
			}
			f.Close()
			if !slices.Equal(got, tc.want) {
				t.Errorf("records %q, want %q", got, tc.want)
			}
		})
	}
}

// Framing reuses its buffers: a chunk of whole lines costs no allocation
// once they have grown (5 million short lines were 5 million Records to
// allocate and collect).
func TestFramerAllocatesNothingPerChunk(t *testing.T) {
	f := gaffer.NewFramer("h", gaffer.Stdout, 0, time.Hour, func([]gaffer.Record) {})
	chunk := []byte(strings.Repeat("1234567\n", 4096))
	f.Write(chunk)
	if n := testing.AllocsPerRun(50, func() { f.Write(chunk) }); n != 0 {
		t.Errorf("%v allocations per chunk, want 0", n)
	}
	// A line cut between chunks too.
	half := chunk[:len(chunk)/2+3]
	if n := testing.AllocsPerRun(50, func() { f.Write(half); f.Write(chunk[len(half):]) }); n != 0 {
		t.Errorf("%v allocations per chunk with a line cut between them, want 0", n)
	}
}

// Reads over SSH come in mixed sizes: a full read buffer, then what one
// packet brought. The buffers a big chunk grew are kept through the small
// ones between, not let go and grown again (a copy per doubling, and write
// barriers for every Record moved).
func TestFramerKeepsBuffersThroughMixedChunks(t *testing.T) {
	f := gaffer.NewFramer("h", gaffer.Stdout, 0, time.Hour, func([]gaffer.Record) {})
	big := []byte(strings.Repeat("1234567\n", gaffer.MaxReadBuffer/8))
	small := big[:32<<10]
	f.Write(big)
	if n := testing.AllocsPerRun(50, func() { f.Write(big); f.Write(small); f.Write(small); f.Write(big) }); n != 0 {
		t.Errorf("%v allocations per big and small chunks, want 0", n)
	}
}

func TestDeriveStatus(t *testing.T) {
	run := func(ss ...gaffer.Status) []*gaffer.Run {
		var rs []*gaffer.Run
		for _, s := range ss {
			rs = append(rs, &gaffer.Run{Status: s})
		}
		return rs
	}
	for _, tc := range []struct {
		runs []*gaffer.Run
		want gaffer.Status
	}{
		{run(gaffer.StatusQueued, gaffer.StatusQueued), gaffer.StatusQueued},
		{run(gaffer.StatusQueued, gaffer.StatusSucceeded), gaffer.StatusRunning},
		{run(gaffer.StatusRunning, gaffer.StatusFailed), gaffer.StatusRunning},
		{run(gaffer.StatusSucceeded, gaffer.StatusSucceeded), gaffer.StatusSucceeded},
		{run(gaffer.StatusSucceeded, gaffer.StatusFailed), gaffer.StatusFailed},
		{run(gaffer.StatusCanceled, gaffer.StatusFailed), gaffer.StatusCanceled},
		{run(gaffer.StatusTimedOut, gaffer.StatusSucceeded), gaffer.StatusTimedOut},
		{run(gaffer.StatusInterrupted, gaffer.StatusCanceled), gaffer.StatusInterrupted},
	} {
		if got := gaffer.DeriveStatus(tc.runs); got != tc.want {
			t.Errorf("DeriveStatus: got %s, want %s", got, tc.want)
		}
	}
}

func TestResolveHosts(t *testing.T) {
	inv := []gaffer.Host{
		{Name: "web-1", Labels: map[string]string{"role": "web", "env": "prod"}},
		{Name: "web-2", Labels: map[string]string{"role": "web", "env": "dev"}},
		{Name: "db-1", Labels: map[string]string{"role": "db"}},
	}
	got, err := gaffer.ResolveHosts(inv, []string{"db-1"}, "role=web,env=prod")
	if err != nil || len(got) != 2 || got[0].Name != "web-1" || got[1].Name != "db-1" {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := gaffer.ResolveHosts(inv, []string{"x", "db-1"}, ""); err == nil || err.Error() != "unknown host: x (see GET /api/hosts or `gaffer hosts`)" {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := gaffer.ResolveHosts(inv, nil, "role=cache"); err == nil {
		t.Fatal("empty selection accepted")
	}
	if _, err := gaffer.ResolveHosts(inv, nil, "role"); err == nil {
		t.Fatal("bad selector accepted")
	}
}

func TestGrowReadBuffer(t *testing.T) {
	for _, c := range []struct{ size, n, want int }{
		{gaffer.MinReadBuffer, gaffer.MinReadBuffer, 2 * gaffer.MinReadBuffer}, // full: double
		{gaffer.MinReadBuffer, 100, gaffer.MinReadBuffer},                      // not full: keep
		{gaffer.MaxReadBuffer, gaffer.MaxReadBuffer, gaffer.MaxReadBuffer},     // at the cap
	} {
		if got := len(gaffer.GrowReadBuffer(make([]byte, c.size), c.n)); got != c.want {
			t.Errorf("GrowReadBuffer(%d bytes, read %d) = %d bytes, want %d", c.size, c.n, got, c.want)
		}
	}
}

// BenchmarkFramer frames `seq`-like output (short lines) and 200-byte lines
// in the chunks an executor reads, full read buffers or (mixed) a full one
// then two of an SSH packet's size: ns per line, the framer alone.
func BenchmarkFramer(b *testing.B) {
	for _, bc := range []struct {
		name  string
		line  int
		mixed bool
	}{{"seq", 7, false}, {"seq-mixed", 7, true}, {"200B", 200, false}} {
		b.Run(bc.name, func(b *testing.B) {
			line := strings.Repeat("x", bc.line-1) + "\n"
			big := []byte(strings.Repeat(line, gaffer.MaxReadBuffer/len(line)))
			chunks := [][]byte{big}
			if bc.mixed {
				small := big[:32<<10]
				chunks = append(chunks, small, small)
			}
			lines, size := 0, 0
			for _, c := range chunks {
				lines += bytes.Count(c, []byte("\n"))
				size += len(c)
			}
			f := gaffer.NewFramer("h", gaffer.Stdout, 0, time.Hour, func([]gaffer.Record) {})
			defer f.Close()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, c := range chunks {
					f.Write(c)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
		})
	}
}
