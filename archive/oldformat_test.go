package archive_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// TestOldFormatFixtures reads logs that the archive wrote before batch
// frames (at e4c9a29, one frame per record): a command's complete log, a
// follow job's partial log (files, alerts, gaps in seqs), and a retained
// log trimmed by age (segments). Every query answers as the model over the
// records written (testdata/v1/*/1.want.json.gz), and the partial one
// seals, whole or torn.
func TestOldFormatFixtures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		complete bool
	}{{"cmd", true}, {"follow", false}, {"retained", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "v1", tc.name))); err != nil {
				t.Fatal(err)
			}
			want := readFixture(t, filepath.Join(dir, "1.want.json.gz"))
			a, err := archive.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			rnd := rand.New(rand.NewPCG(7, 7))
			if tc.complete {
				assertRecords(t, readAll(t, a, 1, 0), want)
			} else {
				assertRecords(t, readValid(t, a, 1), want)
			}
			checkModel(t, rnd, a, want, tc.complete, true)
			for _, r := range []gaffer.Record{want[0], want[len(want)/2], want[len(want)-1]} {
				assertRaw(t, a, want, r.Host, r.Stream)
			}
			if tc.complete {
				return
			}
			// Sealed whole, then torn in its last frame and sealed.
			torn := t.TempDir()
			if err := os.CopyFS(torn, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			if err := a.Seal(ctx, 1); err != nil {
				t.Fatal(err)
			}
			assertRecords(t, readAll(t, a, 1, 0), want)
			checkModel(t, rnd, a, want, true, true)

			p := filepath.Join(torn, "1.log.partial")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			truncate(t, p, fi.Size()-1)
			b, err := archive.Open(torn)
			if err != nil {
				t.Fatal(err)
			} else if err := b.Seal(ctx, 1); err != nil {
				t.Fatal(err)
			}
			assertRecords(t, readAll(t, b, 1, 0), want[:len(want)-1])
			checkModel(t, rnd, b, want[:len(want)-1], true, true)
		})
	}
}

// assertRaw checks Raw of one stream against the records.
func assertRaw(t *testing.T, a *archive.Archive, recs []gaffer.Record, host string, stream gaffer.Stream) {
	t.Helper()
	var got, want bytes.Buffer
	gaffer.Rebuild(&want, filter(recs, host, stream))
	if err := a.Raw(ctx, 1, host, stream, &got); err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("Raw(%q, %s): %d bytes, want %d", host, stream, got.Len(), want.Len())
	}
}

// fixtureRecord is a record as testdata keeps it: every field, data exact
// (base64 in JSON).
type fixtureRecord struct {
	Seq    int64
	TS     int64 // Unix ns; 0 for the zero time
	Host   string
	Stream string
	File   string
	Data   []byte
	NL     bool
	Alert  bool
}

func readFixture(t *testing.T, path string) []gaffer.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var xs []fixtureRecord
	if err := json.NewDecoder(zr).Decode(&xs); err != nil {
		t.Fatal(err)
	}
	recs := make([]gaffer.Record, len(xs))
	for i, x := range xs {
		recs[i] = gaffer.Record{Seq: x.Seq, Host: x.Host, Stream: gaffer.Stream(x.Stream), File: x.File, Data: x.Data, NL: x.NL, Alert: x.Alert}
		if x.TS != 0 {
			recs[i].TS = time.Unix(0, x.TS).UTC()
		}
	}
	return recs
}
