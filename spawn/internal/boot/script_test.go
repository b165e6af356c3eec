package boot

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// maxScript bounds the size of the bootstrap command (docs/bootstrap.md
// quotes its size).
const maxScript = 3800

func TestScript_OneLineAndQuotable(t *testing.T) {
	if strings.ContainsAny(Script(), "'!\n") || strings.Contains(Script(), `\\`) {
		t.Error("minified script holds a quote, '!', a newline or a backslash pair")
	}
	for _, shell := range []string{"sh", "dash", "bash", "busybox"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			continue
		}
		args := []string{"-n", "-c", Script()}
		if shell == "busybox" {
			args = append([]string{"sh"}, args...)
		}
		if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v: %s", shell, err, out)
		}
	}
	t.Logf("script: %d bytes", len(Script()))
	if len(Script()) > maxScript {
		t.Errorf("script is %d bytes, over %d: update docs/bootstrap.md or shrink it", len(Script()), maxScript)
	}
}

func TestShellQuote_ThroughARealShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"", "plain", "two words", "it's", `"dq"`, "$HOME", "`id`", "a\\b", "semi;colon", "*", "~", "tab\there", "ünïcode", "'''", "-n"} {
		out, err := exec.Command(sh, "-c", "printf %s "+ShellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("ShellQuote(%q) = %s came back as %q (%v)", s, ShellQuote(s), out, err)
		}
	}
}

// TestArgv_ThroughALoginShell runs ShellLine(Argv(...)) with the script
// replaced by one that prints its arguments, as an SSH server's login
// shell would run it.
func TestArgv_ThroughALoginShell(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	table := []PlatformDigest{{"linux/amd64", "aa"}, {"linux/arm64", "bb"}}
	argv := Argv("/bin/sh", "DEBUG", table, []string{"/x y", "/z"}, []string{"A=1", "B=it's $x"})
	argv[2] = `for a do printf "[%s]" "$a"; done`
	out, err := exec.Command("/bin/sh", "-c", ShellLine(argv)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "[DEBUG][linux/amd64=aa linux/arm64=bb][/x y:/z][A=1][B=it's $x]"
	if string(out) != want {
		t.Fatalf("arguments %s, want %s", out, want)
	}
}
