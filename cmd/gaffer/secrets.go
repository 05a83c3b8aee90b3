package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

// readSecretFile reads --secret-file: one value a line, blank lines and a
// trailing "\r" ignored. Errors name the line, never its value.
func readSecretFile(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(expandHome(path))
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	var values []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "":
			continue
		case len(line) < gaffer.MinSecretValue:
			return nil, fmt.Errorf("--secret-file %s, line %d: shorter than %d bytes, too short to mask without hiding ordinary output", path, i+1, gaffer.MinSecretValue)
		}
		values = append(values, line)
	}
	return values, nil
}

// secretsFromEnv adds the variables named in names (comma-separated) to
// secrets with their values from this process's environment, so that the
// values are never on a command line.
func secretsFromEnv(secrets map[string]string, names string) error {
	for _, name := range strings.Split(names, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return fmt.Errorf("%s is not set in this environment (--secret takes a variable's name, not its value)", name)
		}
		secrets[name] = v
	}
	return nil
}
