package archive_test

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/gaffer-dev/gaffer/archive"
)

// BenchmarkArchiveZstd answers whether the archive should compress its
// frames with zstd: it writes the shapes of BenchmarkArchiveBatches, then
// compresses each frame's body on its own (a reader must still start at
// any frame) at zstd's fastest and default levels, and decompresses it.
// Beside each, in the same run: the archive's own write of the same
// records (compression would add its CPU to the job's) and its Read of
// the whole log (decompression would add to every read). Run it with
// -benchtime 1x.
func BenchmarkArchiveZstd(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			n, batches, _, output := shape.batches(b)
			mb := float64(output) / 1e6
			for b.Loop() {
				a, _, writeCPU := writeBatches(b, filepath.Join(b.TempDir(), "logs"), batches)
				_, readCPU := readWhole(b, a, n)
				bodies, err := archive.FrameBodies(a, 1)
				if err != nil {
					b.Fatal(err)
				}
				var plain int64
				for _, body := range bodies {
					plain += int64(len(body)) + 8 // the frame's header stays
				}
				b.Logf("%d lines, %.1f MB output in %d frames: data file %.3f× the output; archive write %.0f MB/cpu-s, Read %.0f MB/cpu-s",
					n, mb, len(bodies), float64(plain)/float64(output), mb/writeCPU.Seconds(), mb/readCPU.Seconds())
				b.ReportMetric(float64(plain)/float64(output), "plain_x_output")
				b.ReportMetric(mb/writeCPU.Seconds(), "write_MB/cpu-s")
				b.ReportMetric(mb/readCPU.Seconds(), "read_MB/cpu-s")

				for _, lv := range []struct {
					name  string
					level zstd.EncoderLevel
				}{{"fastest", zstd.SpeedFastest}, {"default", zstd.SpeedDefault}} {
					enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lv.level), zstd.WithEncoderConcurrency(1))
					if err != nil {
						b.Fatal(err)
					}
					dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
					if err != nil {
						b.Fatal(err)
					}
					comp := make([][]byte, len(bodies))
					var packed int64
					cpu0 := cpuTime(b)
					for i, body := range bodies {
						comp[i] = enc.EncodeAll(body, nil)
						packed += int64(len(comp[i])) + 8
					}
					encCPU := cpuTime(b) - cpu0
					var out []byte
					start := time.Now()
					cpu0 = cpuTime(b)
					for i, c := range comp {
						if out, err = dec.DecodeAll(c, out[:0]); err != nil {
							b.Fatal(err)
						} else if !bytes.Equal(out, bodies[i]) {
							b.Fatalf("frame %d came back different", i)
						}
					}
					decCPU, dec1 := cpuTime(b)-cpu0, time.Since(start)
					enc.Close()
					dec.Close()
					b.Logf("zstd %s per frame: %.3f× the output (%.1f× smaller than plain); compress %.0f MB/cpu-s (%.2f× the archive write's CPU), decompress %.0f MB/cpu-s (%.2f× the Read's CPU; %v)",
						lv.name, float64(packed)/float64(output), float64(plain)/float64(packed),
						mb/encCPU.Seconds(), encCPU.Seconds()/writeCPU.Seconds(),
						mb/decCPU.Seconds(), decCPU.Seconds()/readCPU.Seconds(), dec1.Round(time.Millisecond))
					b.ReportMetric(float64(packed)/float64(output), lv.name+"_x_output")
					b.ReportMetric(mb/encCPU.Seconds(), lv.name+"_compress_MB/cpu-s")
					b.ReportMetric(mb/decCPU.Seconds(), lv.name+"_decompress_MB/cpu-s")
				}
			}
		})
	}
}
