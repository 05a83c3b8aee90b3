package archive_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// FuzzStreamIndex gives the readers a stream index (.sdx) damaged any way
// (cut, a bit flipped, any bytes after it) beside a good data file. Nothing
// panics, and every query answers exactly as the naive model: a damaged
// index costs speed, never records.
func FuzzStreamIndex(f *testing.F) {
	f.Add(uint32(1<<31), uint32(1<<31), []byte{}, false)
	f.Add(uint32(100), uint32(1<<31), []byte{}, true)
	f.Add(uint32(1<<31), uint32(77), []byte{}, false)
	f.Add(uint32(1<<31), uint32(1<<31), []byte("\x05\x00\x00\x00garbage"), true)
	f.Add(uint32(12), uint32(9), []byte("M\x00\x00\x00\x00\x00"), false)

	all := interleaved(3000)
	for i := range all { // web-1's stdout comes from two followed files
		if all[i].Host == "web-1" && all[i].Stream == gaffer.Stdout {
			all[i].File = []string{"/var/log/a.log", "/var/log/b.log"}[min(all[i].Seq%13, 1)]
		}
	}
	f.Fuzz(func(t *testing.T, cutAt, flipAt uint32, tail []byte, complete bool) {
		a, dir := newArchive(t)
		writeLog(t, a, 1, all, complete)
		name := "1.sdx"
		if !complete {
			name += ".partial"
		}
		p := filepath.Join(dir, name)
		sdx, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if int(cutAt) < len(sdx) {
			sdx = sdx[:cutAt]
		}
		if int(flipAt) < len(sdx)*8 {
			sdx[flipAt/8] ^= 1 << (flipAt % 8)
		}
		sdx = append(sdx, tail...)
		if err := os.WriteFile(p, sdx, 0o600); err != nil {
			t.Fatal(err)
		}

		filters := []gaffer.LogFilter{{Host: "db"}, {Host: "web-2"}, {Stream: gaffer.System}, {Host: "nope"},
			{File: "/var/log/a.log"}, {Host: "web-1", File: "/var/log/b.log"}, {Host: "db", File: "/var/log/b.log"}}
		for _, fl := range filters {
			for _, r := range []gaffer.LogRange{
				{Filter: fl, After: 0, Limit: 5},
				{Filter: fl, After: 1600, Limit: 50},
				{Filter: fl, Before: 2500, Limit: 7},
				{Filter: fl, Before: gaffer.TailSeq, Limit: 3},
			} {
				got, end, err := a.ReadRange(ctx, 1, r)
				if err != nil {
					t.Fatal(err)
				}
				want, wantEnd := modelRange(all, complete, r)
				if !slices.EqualFunc(got, want, sameRecord) || end != wantEnd {
					t.Fatalf("ReadRange(%+v) = %s, %v; want %s, %v", r, seqs(got), end, seqs(want), wantEnd)
				}
			}
		}
		sum, err := a.Summary(ctx, 1)
		if err != nil {
			t.Fatal(err)
		} else if want := modelSummary(all, complete); !sameSummary(sum, want) {
			t.Fatalf("Summary = %s, want %s", fmt.Sprint(*sum), fmt.Sprint(*want))
		}
	})
}
