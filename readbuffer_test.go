package gaffer_test

import (
	"bytes"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// TestReadBufferCopyData: each copy follows the last in the buffer's
// memory while it has room, with no room to grow into the next; past that
// a new array takes over and the copies made before keep theirs.
func TestReadBufferCopyData(t *testing.T) {
	buf := gaffer.ReadBuffer{Data: make([]byte, 0, 8)}
	mem := buf.Data[:1]
	a := buf.CopyData([]byte("abc"))
	b := buf.CopyData([]byte("defg"))
	if string(a) != "abc" || string(b) != "defg" || cap(a) != 3 || cap(b) != 4 {
		t.Fatalf("copies %q (cap %d), %q (cap %d); want \"abc\" (3), \"defg\" (4)", a, cap(a), b, cap(b))
	}
	if &a[0] != &mem[0] || &b[0] != &mem[:4][3] {
		t.Error("the copies are not in the buffer's memory, one after the other")
	}
	big := bytes.Repeat([]byte("x"), 100)
	c := buf.CopyData(big)
	if !bytes.Equal(c, big) || &c[0] == &mem[0] {
		t.Errorf("a copy past the buffer's room: %q, in the old memory %v", c, &c[0] == &mem[0])
	}
	if string(a) != "abc" || string(b) != "defg" {
		t.Errorf("growing changed the copies made before: %q, %q", a, b)
	}
	if len(buf.Data) != 100 || cap(buf.Data) < 100 {
		t.Errorf("after growing, the buffer holds %d of %d bytes; want the new copy alone", len(buf.Data), cap(buf.Data))
	}
	var empty gaffer.ReadBuffer
	if d := empty.CopyData(nil); len(d) != 0 {
		t.Errorf("a copy of nothing: %q", d)
	}
}
