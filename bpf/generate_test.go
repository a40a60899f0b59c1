package bpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate recompiles xdp_gw.c with the exact go:generate line
// of gen.go into a temp dir and fails if the committed gw_bpfel.{go,o} differ.
// It skips without clang unless XGW_REQUIRE_CLANG=1 (set that in CI).
func TestGeneratedUpToDate(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		if os.Getenv("XGW_REQUIRE_CLANG") == "1" {
			t.Fatal("clang not found and XGW_REQUIRE_CLANG=1")
		}
		t.Skip("clang not found: cannot check the committed bpf2go output")
	}
	args := generateArgs(t)
	tmp := t.TempDir()
	// Insert before the positional <ident> <source>: flags must come first.
	args = append([]string{args[0], args[1], "-output-dir", tmp, "-go-package", "bpf"}, args[2:]...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=bpf", "GOFILE=gen.go")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go: %v\n%s", err, out)
	}
	for _, f := range []string{"gw_bpfel.go", "gw_bpfel.o"} {
		want, err := os.ReadFile(filepath.Join(tmp, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./bpf` and commit", f)
		}
	}
}

// generateArgs returns the go:generate line of gen.go after "go", split like
// a shell would for double-quoted words.
func generateArgs(t *testing.T) []string {
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		rest, ok := strings.CutPrefix(line, "//go:generate go ")
		if !ok {
			continue
		}
		var args []string
		for i, part := range strings.Split(rest, `"`) {
			if i%2 == 1 {
				args = append(args, part)
			} else {
				args = append(args, strings.Fields(part)...)
			}
		}
		return args
	}
	t.Fatal("no go:generate line in gen.go")
	return nil
}
