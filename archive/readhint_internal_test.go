package archive

import "testing"

// Held frames are bounded over all jobs: past maxHeldBytes a hint keeps
// its offset but not its frame, and a frame taken (get), replaced or
// forgotten gives its bytes back.
func TestHeldFramesBounded(t *testing.T) {
	var rh readHints
	const size = 1 << 20
	held := func() *heldBlock { return &heldBlock{body: make([]byte, 0, size)} }
	fit := maxHeldBytes / size
	for job := int64(1); job <= int64(fit); job++ {
		if !rh.put(job, 1, 2, 100, held(), rh.epoch) {
			t.Fatalf("job %d: a held frame within the bound was refused", job)
		}
	}
	if rh.put(int64(fit)+1, 1, 2, 100, held(), rh.epoch) {
		t.Fatal("a held frame past the bound was kept")
	}
	if off, h, ok, _ := rh.get(int64(fit)+1, 2); !ok || off != 100 || h != nil {
		t.Fatalf("the refused frame's hint: %d %v %v; want its offset, no frame", off, h, ok)
	}
	if _, h, ok, _ := rh.get(1, 2); !ok || h == nil {
		t.Fatal("a held frame was not handed out")
	}
	if _, h, _, _ := rh.get(1, 2); h != nil {
		t.Fatal("a held frame was handed out twice")
	}
	if !rh.put(int64(fit)+2, 1, 2, 100, held(), rh.epoch) {
		t.Fatal("the bytes of a frame handed out were not given back")
	}
	rh.forget(2)
	rh.put(3, 2, 3, 200, nil, rh.epoch) // replaces job 3's hint, and its frame
	if rh.heldBytes != (fit-2)*size {
		t.Fatalf("%d bytes held, want %d", rh.heldBytes, (fit-2)*size)
	}
}

// A read in flight when its log is cut, recreated or deleted must not put
// back the hint or frame it took from the old file: put after forget keeps
// nothing, and says so, so that the reader keeps its buffer.
func TestHintPutAfterForget(t *testing.T) {
	var rh readHints
	held := &heldBlock{body: make([]byte, 0, 1<<10)}
	if !rh.put(1, 1, 2, 100, held, rh.epoch) {
		t.Fatal("a held frame within the bound was refused")
	}
	_, h, _, epoch := rh.get(1, 2)
	if h == nil {
		t.Fatal("the held frame was not handed out")
	}
	rh.forget(1) // the log is cut while the read goes on
	if rh.put(1, 2, 3, 200, h, epoch) {
		t.Fatal("a frame of a forgotten log was kept")
	}
	if _, _, ok, _ := rh.get(1, 3); ok {
		t.Fatal("a read that began before forget left a hint after it")
	}
	if rh.heldBytes != 0 {
		t.Fatalf("%d bytes held, want 0", rh.heldBytes)
	}
}
