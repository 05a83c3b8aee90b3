package archive_test

import (
	"hash/maphash"
	"path/filepath"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// BenchmarkRaw reads a stream's bytes back (Archive.Raw) into a maphash,
// as the end-of-job check does, for the bench shapes (GAFFER_BENCH_SEQ,
// GAFFER_BENCH_200 change their counts).
func BenchmarkRaw(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			_, batches, _, output := shape.batches(b)
			a, _, _ := writeBatches(b, filepath.Join(b.TempDir(), "logs"), batches)
			var h maphash.Hash
			b.SetBytes(output)
			for b.Loop() {
				h.Reset()
				if err := a.Raw(ctx, 1, "web-1", gaffer.Stdout, &h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
