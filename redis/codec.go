package redis

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Entry encoding. One stream entry holds a run of consecutive records in a
// compact binary form, so data bytes (NUL, invalid UTF-8) round-trip exactly
// and a 1000-line batch costs a couple of XADDs, not a thousand:
//
//	version byte (1), uvarint first seq, uvarint count, then per record:
//	flags byte, varint unix seconds, uvarint nanoseconds,
//	[uvarint len, host]    unless flagSameHost (same host as previous record)
//	[uvarint len, stream]  only for a stream other than stdout/stderr/system
//	[uvarint len, file]    only with flagFile (a follow job's file)
//	uvarint len, data
const (
	codecVersion = 1

	flagStream   = 0x03 // stream code: 0 stdout, 1 stderr, 2 system, 3 other (named)
	flagNL       = 0x04
	flagSameHost = 0x08
	flagFile     = 0x10
	flagAlert    = 0x20
)

// Entries are split at these bounds: big enough to batch well (see the
// XADD figures in ENVIRONMENT.md), small enough that a reader needing a few
// records does not fetch megabytes.
const (
	maxEntryBytes   = 64 << 10
	maxEntryRecords = 512
)

var errCorrupt = errors.New("corrupt live log entry")

// encodeEntries splits recs (consecutive seqs) into entries and encodes
// each. last[i] is the seq of the newest record in entry i.
func encodeEntries(recs []gaffer.Record) (blobs [][]byte, last []int64) {
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && n < maxEntryRecords {
			size += len(recs[n].Data) + len(recs[n].Host) + len(recs[n].File) + 24
			n++
			if size >= maxEntryBytes {
				break
			}
		}
		blobs = append(blobs, encodeEntry(recs[:n], size))
		last = append(last, recs[n-1].Seq)
		recs = recs[n:]
	}
	return blobs, last
}

func encodeEntry(recs []gaffer.Record, sizeHint int) []byte {
	b := make([]byte, 0, sizeHint+32)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(recs[0].Seq))
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		var flags byte
		switch r.Stream {
		case gaffer.Stdout:
		case gaffer.Stderr:
			flags = 1
		case gaffer.System:
			flags = 2
		default:
			flags = 3
		}
		if r.NL {
			flags |= flagNL
		}
		sameHost := i > 0 && r.Host == recs[i-1].Host
		if sameHost {
			flags |= flagSameHost
		}
		if r.File != "" {
			flags |= flagFile
		}
		if r.Alert {
			flags |= flagAlert
		}
		b = append(b, flags)
		b = binary.AppendVarint(b, r.TS.Unix())
		b = binary.AppendUvarint(b, uint64(r.TS.Nanosecond()))
		if !sameHost {
			b = appendString(b, r.Host)
		}
		if flags&flagStream == 3 {
			b = appendString(b, string(r.Stream))
		}
		if flags&flagFile != 0 {
			b = appendString(b, r.File)
		}
		b = binary.AppendUvarint(b, uint64(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEntry appends to dst the records of entry b with seq > after, at
// most limit of them. Their Data alias b, capped so appends never reach
// into a neighbour.
func decodeEntry(dst []gaffer.Record, b []byte, after int64, limit int) ([]gaffer.Record, error) {
	d := decoder{b: b}
	if d.byte() != codecVersion {
		return dst, errCorrupt
	}
	first := int64(d.uvarint())
	n := d.uvarint()
	var host string
	for i := uint64(0); i < n && d.err == nil && len(dst) < limit; i++ {
		flags := d.byte()
		sec := d.varint()
		nsec := d.uvarint()
		if flags&flagSameHost == 0 {
			host = string(d.bytes())
		}
		var stream gaffer.Stream
		switch flags & flagStream {
		case 0:
			stream = gaffer.Stdout
		case 1:
			stream = gaffer.Stderr
		case 2:
			stream = gaffer.System
		default:
			stream = gaffer.Stream(d.bytes())
		}
		var file string
		if flags&flagFile != 0 {
			file = string(d.bytes())
		}
		data := d.bytes()
		seq := first + int64(i)
		if seq <= after || d.err != nil {
			continue
		}
		dst = append(dst, gaffer.Record{
			Seq:    seq,
			TS:     time.Unix(sec, int64(nsec)).UTC(),
			Host:   host,
			Stream: stream,
			Data:   data[:len(data):len(data)],
			NL:     flags&flagNL != 0,
			File:   file,
			Alert:  flags&flagAlert != 0,
		})
	}
	return dst, d.err
}

// decoder reads an entry; the first error sticks and later reads return zero
// values, so decodeEntry checks once per record.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
