package qemutest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const debianEntry = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

func TestParseEntry(t *testing.T) {
	e := ParseEntry(debianEntry)
	if !e.Enabled || e.Flags != "POF" || e.Magic != aarch64Magic || e.Interpreter != "/usr/libexec/qemu-binfmt/aarch64-binfmt-P" {
		t.Fatalf("%+v", e)
	}
	if e := ParseEntry("disabled\n"); e.Enabled || e.Magic != "" {
		t.Fatalf("%+v", e)
	}
}

// TestFindEntry over fake binfmt_misc directories: each way the set-up
// can be missing gives a reason that says what to do.
func TestFindEntry(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  string // in the error; "" for success
	}{
		"registered with F": {map[string]string{"status": "enabled\n", "register": "", "qemu-aarch64": debianEntry}, ""},
		"not mounted":       {nil, "not mounted"},
		"disabled":          {map[string]string{"status": "disabled\n"}, "is disabled"},
		"no entry":          {map[string]string{"status": "enabled\n", "python3.11": "enabled\nmagic 420d0d0a\n"}, "qemu-user-static"},
		"without F":         {map[string]string{"status": "enabled\n", "qemu-aarch64": strings.Replace(debianEntry, "POF", "P", 1)}, "without F"},
		"entry disabled":    {map[string]string{"status": "enabled\n", "qemu-aarch64": strings.Replace(debianEntry, "enabled", "disabled", 1)}, "is disabled"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "binfmt_misc")
			if tc.files != nil {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for f, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			a, err := findEntry(dir)
			if tc.want == "" {
				if err != nil || a.Entry != "qemu-aarch64" || a.Flags != "POF" {
					t.Fatalf("%+v, %v", a, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one that says %q", err, tc.want)
			}
		})
	}
}
