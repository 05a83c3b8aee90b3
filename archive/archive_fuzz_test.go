package archive_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// The file format, written out again from the package comment, so that the
// fuzz targets check the reader against the documentation rather than
// against itself.
const (
	fuzzLogMagic = "GAFLOG1\n"
	fuzzIdxMagic = "GAFIDX1\n"
	fuzzMaxBody  = 20 + math.MaxUint8 + math.MaxUint16 + archive.MaxData
)

var fuzzCRC = crc32.MakeTable(crc32.Castagnoli)

// encodeFrame is rec as a frame of the data file.
func encodeFrame(rec *gaffer.Record) []byte {
	var body []byte
	var ts int64
	if !rec.TS.IsZero() {
		ts = rec.TS.UnixNano()
	}
	var flags byte
	if rec.NL {
		flags = 1
	}
	body = binary.LittleEndian.AppendUint64(body, uint64(rec.Seq))
	body = binary.LittleEndian.AppendUint64(body, uint64(ts))
	body = append(body, flags, byte(len(rec.Stream)))
	body = binary.LittleEndian.AppendUint16(body, uint16(len(rec.Host)))
	body = append(body, rec.Stream...)
	body = append(body, rec.Host...)
	body = append(body, rec.Data...)
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(body, fuzzCRC))
	return append(b, body...)
}

// encodeBatch is run as a batch frame: records with the next seqs and the
// same host, stream, file and TS.
func encodeBatch(run []gaffer.Record) []byte {
	r0 := &run[0]
	var ts int64
	if !r0.TS.IsZero() {
		ts = r0.TS.UnixNano()
	}
	flags := byte(8)
	if r0.File != "" {
		flags |= 2
	}
	body := binary.LittleEndian.AppendUint64(nil, uint64(r0.Seq))
	body = binary.LittleEndian.AppendUint64(body, uint64(ts))
	body = append(body, flags, byte(len(r0.Stream)))
	body = binary.LittleEndian.AppendUint16(body, uint16(len(r0.Host)))
	body = append(body, r0.Stream...)
	body = append(body, r0.Host...)
	if r0.File != "" {
		body = binary.LittleEndian.AppendUint16(body, uint16(len(r0.File)))
		body = append(body, r0.File...)
	}
	body = binary.AppendUvarint(body, uint64(len(run)))
	for _, r := range run {
		v := uint64(len(r.Data)) << 2
		if r.Alert {
			v |= 2
		}
		if r.NL {
			v |= 1
		}
		body = binary.AppendUvarint(body, v)
	}
	for _, r := range run {
		body = append(body, r.Data...)
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(body, fuzzCRC))
	return append(b, body...)
}

// validFrames is what a reader must see in a data file: the records of the
// frames from the start up to the first that is short, over-long,
// malformed or fails its CRC.
func validFrames(file []byte) []gaffer.Record {
	recs, _ := validFrameEnds(file)
	return recs
}

// validFrameEnds is validFrames, and for each record the offset after its
// frame.
func validFrameEnds(file []byte) (recs []gaffer.Record, ends []int) {
	if len(file) < len(fuzzLogMagic) || string(file[:len(fuzzLogMagic)]) != fuzzLogMagic {
		return nil, nil
	}
	for off := len(fuzzLogMagic); ; {
		frame, n := decodeFuzzFrame(file[off:])
		if n <= 0 {
			return recs, ends
		}
		off += n
		for range frame {
			ends = append(ends, off)
		}
		recs = append(recs, frame...)
	}
}

// decodeFuzzFrame decodes the frame at the start of b as the package
// comment describes it: its records and its length, or n 0 if it is none.
func decodeFuzzFrame(b []byte) (recs []gaffer.Record, n int) {
	if len(b) < 8 {
		return nil, 0
	}
	l := binary.LittleEndian.Uint32(b)
	if l < 20 || l > fuzzMaxBody || uint64(len(b)-8) < uint64(l) {
		return nil, 0
	}
	body := b[8 : 8+l]
	if crc32.Checksum(body, fuzzCRC) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0
	}
	sl, hl := int(body[17]), int(binary.LittleEndian.Uint16(body[18:]))
	if 20+sl+hl > len(body) {
		return nil, 0
	}
	flags := body[16]
	rec := gaffer.Record{
		Seq:    int64(binary.LittleEndian.Uint64(body)),
		NL:     flags&1 != 0,
		Alert:  flags&4 != 0,
		Stream: gaffer.Stream(body[20 : 20+sl]),
		Host:   string(body[20+sl : 20+sl+hl]),
	}
	if ts := int64(binary.LittleEndian.Uint64(body[8:])); ts != 0 {
		rec.TS = time.Unix(0, ts).UTC()
	}
	rest := body[20+sl+hl:]
	if flags&2 != 0 {
		if len(rest) < 2 || 2+int(binary.LittleEndian.Uint16(rest)) > len(rest) {
			return nil, 0
		}
		fl := int(binary.LittleEndian.Uint16(rest))
		rec.File, rest = string(rest[2:2+fl]), rest[2+fl:]
	}
	if flags&8 == 0 {
		rec.Data = rest
		return []gaffer.Record{rec}, 8 + int(l)
	}
	if flags&5 != 0 {
		return nil, 0
	}
	count, k := binary.Uvarint(rest)
	if k <= 0 || count < 1 || count > uint64(len(rest)) || rec.Seq > math.MaxInt64-int64(count-1) {
		return nil, 0
	}
	lens := make([]uint64, count)
	total := uint64(0)
	for i := range lens {
		v, n := binary.Uvarint(rest[k:])
		if n <= 0 || v>>2 > archive.MaxData {
			return nil, 0
		}
		k += n
		lens[i] = v
		total += v >> 2
	}
	data := rest[k:]
	if total != uint64(len(data)) {
		return nil, 0
	}
	for i, v := range lens {
		r := rec
		r.Seq += int64(i)
		r.NL, r.Alert = v&1 != 0, v&2 != 0
		r.Data, data = data[:v>>2], data[v>>2:]
		recs = append(recs, r)
	}
	return recs, 8 + int(l)
}

// someFrame reports where in b, at or after from, a frame that decodes
// holds rec (-1: nowhere).
func someFrame(b []byte, from int, rec gaffer.Record) int {
	for off := from; off < len(b); off++ {
		recs, _ := decodeFuzzFrame(b[off:])
		for _, r := range recs {
			if sameRecord(r, rec) {
				return off
			}
		}
	}
	return -1
}

// encodeIndex is an index file whose entries (seq, offset) have valid CRCs,
// followed by tail as it is (a torn entry).
func encodeIndex(entries [][2]int64, tail []byte) []byte {
	b := []byte(fuzzIdxMagic)
	for _, e := range entries {
		start := len(b)
		b = binary.LittleEndian.AppendUint64(b, uint64(e[0]))
		b = binary.LittleEndian.AppendUint64(b, uint64(e[1]))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], fuzzCRC))
	}
	return append(b, tail...)
}

// FuzzArchiveRead gives the reader any data file, complete or partial, and
// any index (entries with valid CRCs pointing anywhere, then any bytes).
// Nothing panics; every record Read returns is a whole frame of the file
// whose CRC matched; without an index Read returns exactly the valid frames;
// Raw returns exactly their bytes; Seal keeps exactly the valid frames up to
// the first seq that does not increase, and then reads see the end.
func FuzzArchiveRead(f *testing.F) {
	ts := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	recs := []gaffer.Record{
		{Seq: 1, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("hello"), NL: true},
		{Seq: 2, TS: ts, Host: "web-1", Stream: gaffer.Stderr, Data: []byte("nul\x00inside\x00"), NL: true},
		{Seq: 3, TS: ts, Host: "web-2", Stream: gaffer.Stdout, Data: []byte("bad utf-8 \xff\xfe\xc3("), NL: false},
		{Seq: 4, TS: ts, Host: "web-2", Stream: gaffer.Stdout, Data: []byte("10%\r20%\r"), NL: true},
		{Seq: 6, TS: ts, Host: "", Stream: gaffer.System, Data: []byte{}, NL: true},
		{Seq: 7, TS: time.Time{}, Host: "h", Stream: gaffer.Stdout, Data: nil, NL: false},
		{Seq: 8, TS: ts, Host: "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh", Stream: "custom", Data: []byte("x"), NL: true},
	}
	good := []byte(fuzzLogMagic)
	var offs []int64
	for i := range recs {
		offs = append(offs, int64(len(good)))
		good = append(good, encodeFrame(&recs[i])...)
	}
	idx := func(entries ...[2]int64) []byte {
		var b []byte
		for _, e := range entries {
			b = binary.LittleEndian.AppendUint64(b, uint64(e[0]))
			b = binary.LittleEndian.AppendUint64(b, uint64(e[1]))
		}
		return b
	}
	cut := func(b []byte, n int) []byte { return append([]byte(nil), b[:n]...) }
	flip := func(b []byte, at int) []byte { b = slices.Clone(b); b[at] ^= 1; return b }
	add := func(log, entries, tail []byte) {
		f.Add(log, entries, tail, int64(0), true)
		f.Add(log, entries, tail, int64(3), false)
	}
	// The damage of TestTornTail, and some of the index.
	add(good, idx([2]int64{1, offs[0]}), nil)
	add(good, nil, nil)
	add(cut(good, len(good)-1), nil, []byte{1, 2, 3, 4, 5, 6, 7})
	add(cut(good, int(offs[6])+3), nil, nil)
	add(cut(good, int(offs[6])+8), nil, nil)
	add(cut(good, int(offs[6])+13), nil, nil)
	add(flip(good, len(good)-2), nil, nil)
	add(append(slices.Clone(good), make([]byte, 64)...), nil, nil)
	add(append(slices.Clone(good), 255, 255, 255, 255, 1, 2), nil, nil)
	add([]byte(fuzzLogMagic), nil, nil)
	add(cut(good, 5), nil, nil)
	add(nil, nil, nil)
	add([]byte("not a log at all"), nil, nil)
	add(good, idx([2]int64{1, offs[0]}, [2]int64{4, offs[3]}), nil)
	add(good, idx([2]int64{1, offs[0]}, [2]int64{4, offs[3] + 1}), nil) // points into a frame
	add(good, idx([2]int64{4, offs[3]}, [2]int64{1, offs[0]}), nil)     // out of order
	add(good, idx([2]int64{1, 1 << 40}, [2]int64{-1, -8}), nil)
	// Seqs that do not increase, and a frame whose lengths overrun its body.
	dup := append(slices.Clone(good), encodeFrame(&recs[0])...)
	add(dup, nil, nil)
	bad := encodeFrame(&recs[0])
	bad[8+18] = 0xff // host length past the body; CRC fixed below
	binary.LittleEndian.PutUint32(bad[4:], crc32.Checksum(bad[8:], fuzzCRC))
	add(append([]byte(fuzzLogMagic), bad...), nil, nil)
	// Batch frames, between record frames: whole, torn, and with lengths
	// that do not add up.
	run := []gaffer.Record{
		{Seq: 9, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("one"), NL: true},
		{Seq: 10, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: nil, NL: true, Alert: true},
		{Seq: 11, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("three, no newline")},
	}
	filed := []gaffer.Record{
		{Seq: 13, Host: "h", Stream: gaffer.Stdout, File: "/var/log/a.log", Data: []byte("a"), NL: true},
		{Seq: 14, Host: "h", Stream: gaffer.Stdout, File: "/var/log/a.log", Data: []byte("b"), NL: true},
	}
	batched := append(append(slices.Clone(good), encodeBatch(run)...), encodeFrame(&gaffer.Record{Seq: 12, Host: "h", Stream: gaffer.Stderr, Data: []byte("x")})...)
	batched = append(batched, encodeBatch(filed)...)
	add(batched, nil, nil)
	add(batched, idx([2]int64{1, offs[0]}, [2]int64{10, int64(len(good))}), nil) // an entry inside a batch frame
	add(cut(batched, len(batched)-3), nil, nil)
	add(cut(batched, len(good)+20), nil, nil)
	short := encodeBatch(run)
	short[len(short)-1] = 0 // no change in length: make the lengths lie instead
	short = short[:len(short)-1]
	binary.LittleEndian.PutUint32(short, uint32(len(short)-8))
	binary.LittleEndian.PutUint32(short[4:], crc32.Checksum(short[8:], fuzzCRC))
	add(append(slices.Clone(good), short...), nil, nil)

	f.Fuzz(func(t *testing.T, log, entries, idxTail []byte, after int64, complete bool) {
		dir := t.TempDir()
		a, err := archive.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		suffix := ".partial"
		if complete {
			suffix = ""
		}
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(dir, name+suffix), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("1.log", log)
		var ents [][2]int64
		for e := entries; len(e) >= 16; e = e[16:] {
			ents = append(ents, [2]int64{int64(binary.LittleEndian.Uint64(e)), int64(binary.LittleEndian.Uint64(e[8:]))})
		}
		hasIndex := len(ents) > 0 || len(idxTail) > 0
		if hasIndex {
			write("1.idx", encodeIndex(ents, idxTail))
		}
		magicOK := len(log) < len(fuzzLogMagic) || string(log[:len(fuzzLogMagic)]) == fuzzLogMagic
		valid := validFrames(log)

		// Every record read is a whole frame of the file.
		for _, after := range []int64{after, 0, -1, math.MaxInt64} {
			got, end, err := a.Read(ctx, 1, after, 0)
			if err != nil {
				// The index only makes reads faster: a bad one is no error.
				if magicOK {
					t.Fatalf("Read(after=%d): %v", after, err)
				}
				continue
			} else if !magicOK {
				t.Fatalf("Read(after=%d) of a file that is not a log: no error", after)
			}
			if len(got) > archive.DefaultReadLimit {
				t.Fatalf("Read(after=%d) = %d records, over the limit", after, len(got))
			}
			// In file order, so each is searched for from the frame of the
			// one before.
			for i, at := 0, 0; i < len(got); i++ {
				if got[i].Seq <= after {
					t.Fatalf("Read(after=%d) returned seq %d", after, got[i].Seq)
				} else if at = someFrame(log, at, got[i]); at < 0 {
					t.Fatalf("Read(after=%d) returned %+v, which is in no frame of the file", after, got[i])
				}
			}
			if end && !complete {
				t.Fatalf("Read(after=%d): end on a partial log", after)
			}
			if hasIndex {
				continue
			}
			// Without an index, Read scans from the start: exactly the
			// valid frames after `after`, and the end once they are all read.
			var want []gaffer.Record
			for _, r := range valid {
				if r.Seq > max(after, 0) {
					want = append(want, r)
				}
			}
			full := len(got) == archive.DefaultReadLimit || dataSize(got) >= gaffer.MaxReadBytes
			if !sameRecords(got, want[:min(len(want), len(got))]) || len(got) < len(want) && !full {
				t.Fatalf("Read(after=%d) = %d records %+v\nwant %d: %+v", after, len(got), got, len(want), want)
			} else if end && len(got) < len(want) {
				t.Fatalf("Read(after=%d): end after %d of %d records", after, len(got), len(want))
			} else if complete && !full && !end {
				t.Fatalf("Read(after=%d): no end on a complete log read to its end", after)
			}
		}

		// Raw is each stream's bytes of the valid frames, whatever the index.
		if len(valid) > 0 {
			h, s := valid[0].Host, valid[0].Stream
			var want bytes.Buffer
			for _, r := range valid {
				if r.Host == h && r.Stream == s {
					gaffer.Rebuild(&want, []gaffer.Record{r})
				}
			}
			var got bytes.Buffer
			if err := a.Raw(ctx, 1, h, s, &got); err != nil {
				t.Fatalf("Raw: %v", err)
			} else if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("Raw = %q, want %q", got.Bytes(), want.Bytes())
			}
		} else if err := a.Raw(ctx, 1, "h", gaffer.Stdout, io.Discard); err != nil && magicOK {
			t.Fatalf("Raw: %v", err)
		}

		if complete {
			return
		}
		// Seal keeps the valid frames while their seqs increase.
		err = a.Seal(ctx, 1)
		if !magicOK {
			if err == nil {
				t.Fatal("Seal of a file that is not a log: no error")
			}
			return
		} else if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		var kept []gaffer.Record
		for _, r := range valid {
			if r.Seq <= 0 || len(kept) > 0 && r.Seq <= kept[len(kept)-1].Seq {
				break
			}
			kept = append(kept, r)
		}
		var got []gaffer.Record
		for after := int64(0); ; {
			recs, end, err := a.Read(ctx, 1, after, 0)
			if err != nil {
				t.Fatalf("Read after Seal: %v", err)
			}
			got = append(got, recs...)
			if end {
				break
			} else if len(recs) == 0 {
				t.Fatalf("Read(after=%d) after Seal: nothing and no end", after)
			}
			after = recs[len(recs)-1].Seq
		}
		if !sameRecords(got, kept) {
			t.Fatalf("after Seal: %d records %+v\nwant %d: %+v", len(got), got, len(kept), kept)
		}
		if err := a.Seal(ctx, 1); err != nil {
			t.Fatalf("second Seal: %v", err)
		}
	})
}

func sameRecords(a, b []gaffer.Record) bool {
	return slices.EqualFunc(a, b, sameRecord)
}

// dataSize is what Read's byte bound counts: the records' Size.
func dataSize(recs []gaffer.Record) int {
	n := 0
	for i := range recs {
		n += recs[i].Size()
	}
	return n
}

// FuzzArchiveRoundTrip writes records made from the input, reads them back
// (Read at every seq, Raw of every stream), then damages the data file (a
// flipped bit, or a cut) and checks that reads return only records that
// were written, in order and without gaps, and that Seal keeps exactly the
// records before the damage.
func FuzzArchiveRoundTrip(f *testing.F) {
	f.Add([]byte("hello\nnul\x00inside\x00\n\xff\xfe\xc3(\n10%\r20%\r\n\n"), uint8(0), uint8(3), uint32(40), true, false)
	f.Add([]byte("a\nb\nc\nd\ne\nf\n"), uint8(2), uint8(1), uint32(9), false, true)
	f.Add([]byte("x\n"), uint8(255), uint8(0), uint32(0), true, true)
	f.Add([]byte("\x03custom stream line\n\x02system\n\x01err\n"), uint8(1), uint8(2), uint32(1000), false, false)
	f.Add([]byte("a1\na2\na3\na4\na5\na6\n\na8\na9\n"), uint8(3), uint8(200), uint32(3000), false, true)
	f.Add([]byte("a1\na2\na3\na4\na5\na6\n\na8\na9\n"), uint8(1), uint8(7), uint32(77), false, false)

	f.Fuzz(func(t *testing.T, input []byte, reps, batch uint8, damageAt uint32, complete, cutIt bool) {
		// Records: one per line of input, repeated to cross index entries;
		// the line's first byte picks host, stream and a gap in the seqs.
		lines := bytes.Split(input, []byte("\n"))
		var recs []gaffer.Record
		seq := int64(0)
		streams := []gaffer.Stream{gaffer.Stdout, gaffer.Stderr, gaffer.System, "custom"}
		for r := 0; r <= int(reps%4)*100; r += 100 {
			for i, l := range lines {
				var c byte
				if len(l) > 0 {
					c = l[0]
				}
				seq += 1 + int64(c&0x10)
				recs = append(recs, gaffer.Record{
					Seq:    seq,
					TS:     time.Unix(1_700_000_000+int64(r+i/4), 1).UTC(), // runs of four may share a frame
					Host:   []string{"web-1", "web-2", ""}[int(c>>2)%3],
					Stream: streams[c&3],
					Data:   l,
					NL:     i < len(lines)-1,
				})
			}
		}

		dir := t.TempDir()
		a, err := archive.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := a.Create(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		for rest, n := recs, 1+int(batch); len(rest) > 0; {
			k := min(n, len(rest))
			if err := w.Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		if complete {
			err = w.Complete()
		} else {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}

		// Round trip: Read after every seq (and just before it), Raw of
		// every stream.
		for i := range recs {
			// Around the ends and the index entries, and some between.
			if i >= 20 && len(recs)-i > 20 && (i+2)%archive.IndexEvery > 4 && i%97 != 0 {
				continue
			}
			for _, after := range []int64{recs[i].Seq - 1, recs[i].Seq} {
				got, end, err := a.Read(ctx, 1, after, 3)
				if err != nil {
					t.Fatal(err)
				}
				from := i
				if after == recs[i].Seq {
					from++
				}
				want := recs[from:min(from+3, len(recs))]
				if !sameRecords(got, want) {
					t.Fatalf("Read(after=%d, 3) = %+v\nwant %+v", after, got, want)
				} else if wantEnd := complete && from+3 >= len(recs); end != wantEnd {
					t.Fatalf("Read(after=%d, 3): end %v, want %v", after, end, wantEnd)
				}
				checkReadLines(t, a, after, 3, got, end)
			}
		}
		type key struct {
			host   string
			stream gaffer.Stream
		}
		raw := map[key]*bytes.Buffer{}
		for _, r := range recs {
			k := key{r.Host, r.Stream}
			if raw[k] == nil {
				raw[k] = &bytes.Buffer{}
			}
			gaffer.Rebuild(raw[k], []gaffer.Record{r})
		}
		for k, want := range raw {
			var got bytes.Buffer
			if err := a.Raw(ctx, 1, k.host, k.stream, &got); err != nil {
				t.Fatal(err)
			} else if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("Raw(%q, %s) = %q, want %q", k.host, k.stream, got.Bytes(), want.Bytes())
			}
		}

		// Damage the data file: frames wholly before the damage survive.
		path := filepath.Join(dir, "1.log")
		if !complete {
			path += ".partial"
		}
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		whole := slices.Clone(file)
		at := int(damageAt % uint32(len(file)))
		if cutIt {
			file = file[:at]
		} else {
			file[at] ^= 1 << (damageAt % 8)
		}
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		// The frames as the package comment describes them.
		written, ends := validFrameEnds(whole)
		if !sameRecords(written, recs) {
			t.Fatalf("the data file holds %d records %+v\nwant %d: %+v", len(written), written, len(recs), recs)
		}
		intact := 0
		for intact < len(ends) && ends[intact] <= at {
			intact++
		}
		if at < len(fuzzLogMagic) {
			// (A cut header is FuzzArchiveRead's business.) The magic is
			// checked when a data file is opened: by an archive opened
			// after the damage (a restart), not by one that keeps the file
			// of a partial log open from before it.
			fresh, err := archive.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := fresh.Read(ctx, 1, 0, 0); err == nil && !cutIt {
				t.Fatal("Read of a log with a damaged magic: no error")
			}
			return
		}

		bySeq := map[int64]int{}
		for i, r := range recs {
			bySeq[r.Seq] = i
		}
		for _, after := range []int64{0, recs[len(recs)/2].Seq, recs[len(recs)-1].Seq - 1} {
			got, end, err := a.Read(ctx, 1, after, 0)
			if err != nil {
				t.Fatalf("Read(after=%d) of a damaged log: %v", after, err)
			}
			checkReadLines(t, a, after, 0, got, end)
			for j := range got {
				i, ok := bySeq[got[j].Seq]
				if !ok || !sameRecord(got[j], recs[i]) {
					t.Fatalf("Read(after=%d) of a damaged log returned %+v, never written", after, got[j])
				} else if j > 0 && i != bySeq[got[j-1].Seq]+1 {
					t.Fatalf("Read(after=%d) of a damaged log skipped from seq %d to %d", after, got[j-1].Seq, got[j].Seq)
				}
			}
			if after == 0 && len(got) < min(intact, archive.DefaultReadLimit) && dataSize(got) < gaffer.MaxReadBytes {
				t.Fatalf("Read(after=0) of a log damaged at %d: %d records, want the %d before it", at, len(got), intact)
			}
		}
		if complete {
			return
		}
		if err := a.Seal(ctx, 1); err != nil {
			t.Fatalf("Seal: %v", err)
		}
		var got []gaffer.Record
		for after := int64(0); ; {
			page, end, err := a.Read(ctx, 1, after, 0)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if end {
				break
			} else if len(page) == 0 {
				t.Fatalf("Read(after=%d) after Seal: nothing and no end", after)
			}
			after = page[len(page)-1].Seq
		}
		if !sameRecords(got, recs[:intact]) {
			t.Fatalf("after Seal of a log damaged at %d: %d records, want %d", at, len(got), intact)
		}
	})
}

// checkReadLines checks that ReadLines after `after`, with Read's limit,
// reads what Read did: the same records (but for fewer at the end where the
// two reads' byte bounds differ), and the same end.
func checkReadLines(t *testing.T, a *archive.Archive, after int64, limit int, read []gaffer.Record, readEnd bool) {
	t.Helper()
	var l gaffer.Lines
	end, err := a.ReadLines(ctx, 1, after, limit, &l)
	if err != nil {
		t.Fatalf("ReadLines(after=%d): %v", after, err)
	}
	got := l.Records(nil)
	n := min(len(got), len(read))
	if !sameRecords(got[:n], read[:n]) || len(got) > 0 != (len(read) > 0) {
		t.Fatalf("ReadLines(after=%d) = %+v\nRead gave %+v", after, got, read)
	}
	if len(got) == len(read) && end != readEnd {
		t.Fatalf("ReadLines(after=%d): end %v; Read's %v", after, end, readEnd)
	}
}
