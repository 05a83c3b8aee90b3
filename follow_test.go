package gaffer

import (
	"reflect"
	"testing"
)

func TestFollowSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec FollowSpec
		ok   bool
	}{
		{"one glob", FollowSpec{Paths: []string{"/var/log/*.log"}}, true},
		{"no path", FollowSpec{}, false},
		{"empty path", FollowSpec{Paths: []string{" "}}, false},
		{"newline", FollowSpec{Paths: []string{"/a\n/b"}}, false},
		{"position", FollowSpec{Paths: []string{"/a"}, Positions: []FilePosition{{Path: "/a", FileID: "2049:12", Offset: 5}}}, true},
		{"bad file id", FollowSpec{Paths: []string{"/a"}, Positions: []FilePosition{{Path: "/a", FileID: "12", Offset: 5}}}, false},
		{"negative offset", FollowSpec{Paths: []string{"/a"}, Positions: []FilePosition{{Path: "/a", FileID: "1:2", Offset: -1}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.spec.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// Positions follow the events: opened, read, truncated, done.
func TestFollowPositions(t *testing.T) {
	p := NewFollowPositions([]FilePosition{{Path: "/a", FileID: "1:1", Offset: 3}})
	for _, ev := range []FollowEvent{
		{Kind: FollowLines, Path: "/a", FileID: "1:1", Offset: 3, End: 10},
		{Kind: FollowOpened, Path: "/a", FileID: "1:2", Offset: 0},
		{Kind: FollowLines, Path: "/a", FileID: "1:2", Offset: 0, End: 4},
		{Kind: FollowOpened, Path: "/b", FileID: "1:3", Offset: 7},
		{Kind: FollowTruncated, Path: "/b", FileID: "1:3"},
		{Kind: FollowDone, Path: "/a", FileID: "1:1"},
		{Kind: FollowAway},
	} {
		p.Apply(ev)
	}
	want := []FilePosition{{Path: "/a", FileID: "1:2", Offset: 4}, {Path: "/b", FileID: "1:3", Offset: 0}}
	if got := p.List(); !reflect.DeepEqual(got, want) {
		t.Errorf("positions %+v, want %+v", got, want)
	}
}
