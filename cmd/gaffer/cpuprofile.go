package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names a file that `gaffer serve` writes a CPU profile of its
// whole life to (read with `go tool pprof`). Unset, the default, nothing is
// profiled. It is for measuring (the benchmarks set it when asked to, see
// bench/doc.go), not an option for operators, so it is no flag.
const cpuProfileEnv = "GAFFER_CPUPROFILE"

// startCPUProfile starts the profile cpuProfileEnv asks for; the function
// it returns stops it and closes the file.
func startCPUProfile() (stop func(), err error) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
