package sse

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Event
	}{
		{"one event", "id: 1\nevent: line\ndata: {\"seq\":1}\n\n",
			[]Event{{ID: "1", Type: "line", Data: []byte(`{"seq":1}`)}}},
		{"CRLF and no space after the colon", "event:end\r\ndata:{}\r\n\r\n",
			[]Event{{Type: "end", Data: []byte(`{}`)}}},
		{"comments and retry are skipped", ": ping\n\nretry: 2000\n\nevent: status\ndata: x\n\n",
			[]Event{{Type: "status", Data: []byte("x")}}},
		{"an event cut short by the end is dropped", "event: line\ndata: 1\n\nevent: line\ndata: 2\n",
			[]Event{{Type: "line", Data: []byte("1")}}},
		{"empty stream", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Event
			if err := Read(strings.NewReader(tt.in), func(ev Event) bool { got = append(got, ev); return true }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadStopsWhenToldAndReportsErrors(t *testing.T) {
	n := 0
	err := Read(strings.NewReader("event: a\n\nevent: b\n\n"), func(Event) bool { n++; return false })
	if err != nil || n != 1 {
		t.Errorf("got %d events, error %v; want 1, nil", n, err)
	}
	boom := errors.New("connection reset")
	err = Read(io.MultiReader(strings.NewReader("event: a\n\n"), errReader{boom}), func(Event) bool { return true })
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want %v", err, boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
