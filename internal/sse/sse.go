// Package sse reads Server-Sent Events streams: the one parser of the CLI,
// its tests and the load program that plays thousands of browsers.
package sse

import (
	"bufio"
	"bytes"
	"io"
)

// MaxLine is the longest line a stream may have (a line event's data is
// one line of output, which the server caps well below this).
const MaxLine = 16 << 20

// Event is one Server-Sent Event.
type Event struct {
	ID   string
	Type string // the event field: line, gap, status, end...
	Data []byte
}

// Reader reads a stream event by event. Its buffer starts small and grows
// with the longest line, so thousands of readers stay cheap.
type Reader struct {
	sc *bufio.Scanner
}

func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, MaxLine)
	return &Reader{sc: sc}
}

// Next returns the next event, or io.EOF when the stream ended (an event
// it cut short is dropped), or the read error. Events without a type
// (comments, keep-alives) are skipped.
func (r *Reader) Next() (Event, error) {
	var ev Event
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if ev.Type != "" {
				return ev, nil
			}
			ev = Event{}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "id":
			ev.ID = string(value)
		case "event":
			ev.Type = string(value)
		case "data":
			ev.Data = append(ev.Data, value...)
		}
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, err
	}
	return Event{}, io.EOF
}

// Read calls fn for each event of r until fn returns false or the stream
// ends (nil at EOF).
func Read(r io.Reader, fn func(Event) bool) error {
	rd := NewReader(r)
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if !fn(ev) {
			return nil
		}
	}
}
