package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must return a config or an
// error, never panic, and a config it returns must validate again.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"seed.yaml", "two-tenants.yaml", "lab.yaml", "distributed-gateway.yaml", "dual-stack.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "examples", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatal("config and error both returned")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not validate again: %v", err)
		}
	})
}
