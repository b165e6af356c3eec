package transfer_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// sshContext starts a test sshd and an SSH child context (this test
// binary, uploaded) under root.
func sshContext(t testing.TB, root *actors.Node) (*ssh.Context, *sshtest.Server) {
	t.Helper()
	cache := filepath.Join(t.TempDir(), "xdg")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.Config{Env: []string{"XDG_CACHE_HOME=" + cache, "SHLVL=1",
		"TRANSFER_TEST_NO_SAMPLER=1"}})
	var env []string
	if v := os.Getenv("GORACE"); v != "" {
		env = append(env, "GORACE="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := ssh.Start(ctx, root, ssh.Options{
		Common:          spawn.Common{Env: env, Name: "ssh-host", Grace: time.Second},
		Host:            srv.User + "@" + srv.Addr,
		ConfigFile:      "none",
		Agent:           "none",
		IdentityFiles:   []string{srv.UserKey},
		KnownHostsFiles: []string{srv.KnownHosts},
	})
	if err != nil {
		t.Fatalf("ssh.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c, srv
}

// TestFile_OverSSH pushes to and pulls from a context on an SSH host.
func TestFile_OverSSH(t *testing.T) {
	root := newRoot(t, actors.Config{})
	c, _ := sshContext(t, root)
	data := make([]byte, 3<<20+1)
	_, _ = pattern{}.Read(data)
	dir := t.TempDir()
	dst := filepath.Join(dir, "over-ssh")
	if _, err := tr(root).Push(timeout(t), c.ID(), bytes.NewReader(data), dst, &transfer.FileOptions{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, dst, data, 0o600)
	var back bytes.Buffer
	if _, err := tr(root).Pull(timeout(t), c.ID(), dst, &back, nil); err != nil || !bytes.Equal(back.Bytes(), data) {
		t.Fatalf("pull over SSH: %d bytes, %v", back.Len(), err)
	}
}

// BenchmarkPushFile_SSH pushes a 64 MiB file per op to a context on an
// SSH host on loopback; BenchmarkScp copies the same file with scp to the
// same sshd. Run them in one go test run to compare.
func BenchmarkPushFile_SSH(b *testing.B) {
	root := newRoot(b, actors.Config{})
	c, _ := sshContext(b, root)
	benchPush(b, root, c.ID())
}

func BenchmarkScp(b *testing.B) {
	if _, err := exec.LookPath("scp"); err != nil {
		b.Skip("no scp")
	}
	srv := sshtest.Start(b, sshtest.Config{Env: []string{"SHLVL=1"}})
	dir := b.TempDir()
	src := benchFile(b, dir)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command("scp", "-O", "-q", "-B", "-F", "none", "-i", srv.UserKey,
			"-o", "UserKnownHostsFile="+srv.KnownHosts, "-o", "StrictHostKeyChecking=yes",
			"-P", strconv.Itoa(srv.Port), src, srv.User+"@"+srv.Host+":"+filepath.Join(dir, "scp-dst"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("scp: %v: %s", err, out)
		}
	}
}
